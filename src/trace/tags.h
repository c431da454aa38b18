// A span's tags, packed: every (key, value) pair is appended to one buffer as
//   u32 key length, u32 value length, key bytes, value bytes
// held inline up to kInline bytes (a request's or a stage's usual tags) and on the heap past
// that, so tagging a span usually allocates nothing; numbers are formatted in place (no
// temporary strings), and the span store keeps the buffer as it is (trace/store.h).
// Reading yields (key, value) string_views in the order the tags were added.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <bit>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/hex.h"

namespace conclave::trace {

class Tags {
 public:
  using value_type = std::pair<std::string_view, std::string_view>;
  static constexpr size_t kInline = 160;

  Tags() = default;
  Tags(std::initializer_list<value_type> tags) {
    for (const auto& [k, v] : tags) add(k, v);
  }
  Tags(const Tags& o) { *this = o; }
  Tags(Tags&& o) noexcept { *this = std::move(o); }
  Tags& operator=(const Tags& o) {
    if (this == &o) return *this;
    size_ = 0;
    count_ = o.count_;
    std::memcpy(room(o.size_), o.data(), o.size_);
    size_ = o.size_;
    return *this;
  }
  Tags& operator=(Tags&& o) noexcept {
    if (this == &o) return *this;
    if (o.heap_) {
      heap_ = std::move(o.heap_);
      capacity_ = o.capacity_;
    } else {
      heap_.reset();
      capacity_ = kInline;
      std::memcpy(inline_, o.inline_, sizeof inline_);  // whole: a fixed-size copy is the cheap one
    }
    size_ = o.size_;
    count_ = o.count_;
    o.capacity_ = kInline;
    o.size_ = o.count_ = 0;
    return *this;
  }

  // Inlined where tags are added: the keys are literals, so their copies are of a known size.
  [[gnu::always_inline]] void add(std::string_view key, std::string_view value) {
    char* p = grow(key, value.size());
    std::memcpy(p, value.data(), value.size());
  }
  [[gnu::always_inline]] void add(std::string_view key, const char* value) { add(key, std::string_view(value)); }
  /// A number in decimal.
  template <std::integral T>
  [[gnu::always_inline]] void add(std::string_view key, T value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    add(key, std::string_view(digits, static_cast<size_t>(end - digits)));
  }
  /// A number in hex with a 0x prefix, as ZooKeeper prints session ids and zxids.
  [[gnu::always_inline]] void add_hex(std::string_view key, uint64_t value) {
    char digits[18];
    hex16(value, digits + 2);
    // The prefix goes just before the first significant digit (the last one, for 0).
    int skip = value ? std::countl_zero(value) / 4 : 15;
    char* begin = digits + skip;
    begin[0] = '0';
    begin[1] = 'x';
    add(key, std::string_view(begin, static_cast<size_t>(18 - skip)));
  }

  /// Room for `bytes` of packed tags (8 per tag plus its key and value) in one allocation, for a
  /// span that knows it carries more than fits inline.
  void reserve(size_t bytes) { room(bytes - std::min(bytes, size_)); }
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
  iterator begin() const { return iterator(data()); }
  iterator end() const { return iterator(data() + size_); }

  /// The packed form, and the tags back from it (as the span store keeps them).
  std::string_view packed() const { return {data(), size_}; }
  static Tags from_packed(std::string_view bytes, uint32_t count) {
    Tags t;
    std::memcpy(t.room(bytes.size()), bytes.data(), bytes.size());
    t.size_ = bytes.size();
    t.count_ = count;
    return t;
  }

  bool operator==(const Tags& o) const { return count_ == o.count_ && packed() == o.packed(); }

 private:
  const char* data() const { return heap_ ? heap_.get() : inline_; }
  char* data() { return heap_ ? heap_.get() : inline_; }
  /// Where `more` bytes can go after the first size_: grows the buffer (to the heap) when needed.
  char* room(size_t more) {
    if (size_ + more > capacity_) [[unlikely]]
      move_to_heap(more);
    return data() + size_;
  }
  [[gnu::noinline]] void move_to_heap(size_t more) {
    size_t capacity = std::max(size_ + more, 2 * capacity_);
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    std::memcpy(bigger.get(), data(), size_);
    heap_ = std::move(bigger);
    capacity_ = capacity;
  }
  [[gnu::always_inline]] char* grow(std::string_view key, size_t value_size) {
    size_t n = 8 + key.size() + value_size;
    char* p = room(n);
    size_ += n;
    auto k = static_cast<uint32_t>(key.size()), v = static_cast<uint32_t>(value_size);
    std::memcpy(p, &k, 4);
    std::memcpy(p + 4, &v, 4);
    std::memcpy(p + 8, key.data(), key.size());
    ++count_;
    return p + 8 + key.size();
  }

  size_t size_ = 0;  // bytes used
  size_t capacity_ = kInline;
  uint32_t count_ = 0;
  std::unique_ptr<char[]> heap_;  // when more than kInline bytes
  char inline_[kInline];  // only the first size_ are read (not cleared: a span is made per stage)
};

}  // namespace conclave::trace
