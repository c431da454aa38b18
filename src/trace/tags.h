// A span's tags, packed: every (key, value) pair is appended to one buffer as
//   u32 key length, u32 value length, key bytes, value bytes
// so a span's usual handful of tags costs one allocation, numbers are formatted in place (no
// temporary strings), and the span store keeps the buffer as it is (trace/store.h).
// Reading yields (key, value) string_views in the order the tags were added.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

namespace conclave::trace {

class Tags {
 public:
  using value_type = std::pair<std::string_view, std::string_view>;

  Tags() = default;
  Tags(std::initializer_list<value_type> tags) {
    for (const auto& [k, v] : tags) add(k, v);
  }

  void add(std::string_view key, std::string_view value) {
    char* p = grow(key, value.size());
    std::memcpy(p, value.data(), value.size());
  }
  void add(std::string_view key, const char* value) { add(key, std::string_view(value)); }
  /// A number in decimal.
  template <std::integral T>
  void add(std::string_view key, T value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    add(key, std::string_view(digits, static_cast<size_t>(end - digits)));
  }
  /// A number in hex with a 0x prefix, as ZooKeeper prints session ids and zxids.
  void add_hex(std::string_view key, uint64_t value) {
    char digits[20] = {'0', 'x'};
    auto end = std::to_chars(digits + 2, digits + sizeof digits, value, 16).ptr;
    add(key, std::string_view(digits, static_cast<size_t>(end - digits)));
  }

  /// Room for `bytes` of packed tags (8 per tag plus its key and value) before the first add, for a
  /// span that knows it carries more than the stages' usual three numbers.
  void reserve(size_t bytes) { packed_.reserve(bytes); }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Tags::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;
    iterator() = default;
    explicit iterator(const char* p) : p_(p) {}
    value_type operator*() const {
      uint32_t k, v;
      std::memcpy(&k, p_, 4);
      std::memcpy(&v, p_ + 4, 4);
      return {std::string_view(p_ + 8, k), std::string_view(p_ + 8 + k, v)};
    }
    iterator& operator++() {
      uint32_t k, v;
      std::memcpy(&k, p_, 4);
      std::memcpy(&v, p_ + 4, 4);
      p_ += 8 + k + v;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }

   private:
    const char* p_ = nullptr;
  };
  iterator begin() const { return iterator(packed_.data()); }
  iterator end() const { return iterator(packed_.data() + packed_.size()); }

  /// The packed form, and the tags back from it (as the span store keeps them).
  std::string_view packed() const { return packed_; }
  static Tags from_packed(std::string_view bytes, uint32_t count) {
    Tags t;
    t.packed_.assign(bytes);
    t.count_ = count;
    return t;
  }

  /// Takes `buffer` (emptied, its capacity kept) as the storage for tags to come, and gives the
  /// storage back: how the tracer reuses the buffers of finished spans instead of allocating.
  void adopt(std::string&& buffer) {
    packed_ = std::move(buffer);
    packed_.clear();
    count_ = 0;
  }
  std::string release() {
    count_ = 0;
    return std::move(packed_);
  }

  bool operator==(const Tags& o) const { return count_ == o.count_ && packed_ == o.packed_; }

 private:
  // A stage's tags (three numbers: under 70 bytes) in one allocation small enough for malloc's
  // fast bins.
  static constexpr size_t kFirstReserve = 96;

  char* grow(std::string_view key, size_t value_size) {
    if (packed_.capacity() < kFirstReserve) packed_.reserve(kFirstReserve);
    size_t at = packed_.size();
    packed_.resize(at + 8 + key.size() + value_size);
    char* p = packed_.data() + at;
    auto k = static_cast<uint32_t>(key.size()), v = static_cast<uint32_t>(value_size);
    std::memcpy(p, &k, 4);
    std::memcpy(p + 4, &v, 4);
    std::memcpy(p + 8, key.data(), key.size());
    ++count_;
    return p + 8 + key.size();
  }

  std::string packed_;
  uint32_t count_ = 0;
};

}  // namespace conclave::trace
