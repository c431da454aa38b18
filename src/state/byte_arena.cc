#include "state/byte_arena.h"

#include <bit>
#include <cstring>

#include "common/assert.h"

namespace conclave::state {

namespace {
constexpr size_t kLargePrefix = 16;  // the block's index in large_, keeping the payload 16-aligned
}

void ByteArena::push_free(char* p, size_t cls) {
  std::memcpy(p, &free_[cls], sizeof(char*));
  free_[cls] = p;
  nonempty_[cls / 64] |= uint64_t(1) << (cls % 64);
}

char* ByteArena::pop_free(size_t cls) {
  char* p = free_[cls];
  if (!p) return nullptr;
  std::memcpy(&free_[cls], p, sizeof(char*));
  if (!free_[cls]) nonempty_[cls / 64] &= ~(uint64_t(1) << (cls % 64));
  return p;
}

// A freed block of the smallest larger class, cut to `cls`; the rest is freed in its own class.
char* ByteArena::split_larger(size_t cls) {
  size_t word = (cls + 1) / 64;
  uint64_t bits = nonempty_[word] & (~uint64_t(0) << ((cls + 1) % 64));
  while (bits == 0) {
    if (++word == nonempty_.size()) return nullptr;
    bits = nonempty_[word];
  }
  const size_t bigger = word * 64 + static_cast<size_t>(std::countr_zero(bits));
  char* p = pop_free(bigger);
  push_free(p + cls * kGrain, bigger - cls);
  return p;
}

char* ByteArena::allocate(size_t n) {
  CONCLAVE_ASSERT(n > 0, "empty arena block");
  if (n > kMaxSmall) {
    auto block = std::make_unique_for_overwrite<char[]>(kLargePrefix + n);
    const uint64_t at = large_.size();
    std::memcpy(block.get(), &at, sizeof at);
    char* p = block.get() + kLargePrefix;
    large_.push_back(std::move(block));
    large_bytes_ += kLargePrefix + n;
    used_bytes_ += n;
    return p;
  }
  const size_t cls = (n + kGrain - 1) / kGrain;
  const size_t size = cls * kGrain;
  used_bytes_ += size;
  if (char* p = pop_free(cls)) return p;
  if (static_cast<size_t>(bump_end_ - bump_) >= size) {
    char* p = bump_;
    bump_ += size;
    return p;
  }
  if (char* p = split_larger(cls)) return p;
  if (bump_end_ != bump_) push_free(bump_, static_cast<size_t>(bump_end_ - bump_) / kGrain);  // the old slab's tail
  const size_t slab = slab_bytes(slabs_.size());
  slabs_.push_back(std::make_unique_for_overwrite<char[]>(slab));
  slab_bytes_ += slab;
  bump_ = slabs_.back().get() + size;
  bump_end_ = slabs_.back().get() + slab;
  return slabs_.back().get();
}

void ByteArena::release(char* p, size_t n) {
  if (!p) return;
  if (n > kMaxSmall) {
    uint64_t at;
    std::memcpy(&at, p - kLargePrefix, sizeof at);
    CONCLAVE_ASSERT(at < large_.size() && large_[at].get() + kLargePrefix == p, "release of a block the arena does not hold");
    if (at + 1 != large_.size()) {
      large_[at] = std::move(large_.back());
      std::memcpy(large_[at].get(), &at, sizeof at);
    }
    large_.pop_back();
    large_bytes_ -= kLargePrefix + n;
    used_bytes_ -= n;
    return;
  }
  const size_t cls = (n + kGrain - 1) / kGrain;
  used_bytes_ -= cls * kGrain;
  push_free(p, cls);
}

ByteArena& ByteArena::operator=(ByteArena&& other) noexcept {
  if (this == &other) return *this;
  slabs_ = std::move(other.slabs_);
  large_ = std::move(other.large_);
  bump_ = other.bump_;
  bump_end_ = other.bump_end_;
  free_ = other.free_;
  nonempty_ = other.nonempty_;
  slab_bytes_ = other.slab_bytes_;
  large_bytes_ = other.large_bytes_;
  used_bytes_ = other.used_bytes_;
  other.clear();
  return *this;
}

void ByteArena::clear() {
  slabs_.clear();
  large_.clear();
  bump_ = bump_end_ = nullptr;
  free_.fill(nullptr);
  nonempty_.fill(0);
  slab_bytes_ = large_bytes_ = used_bytes_ = 0;
}

}  // namespace conclave::state
