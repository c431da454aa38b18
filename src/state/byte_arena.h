// Storage for the znodes' byte blocks (a short header, the path, the data), apart from the heap.
//
// Why not malloc: glibc gives every block a 16-byte-rounded chunk with an 8-byte header (a 120-byte
// znode block takes 128), and the blocks of a tree interleave in the heap with the short-lived
// allocations around them (log entries, requests, replies). When those are freed, the holes they leave
// between long-lived znode blocks stay resident. Here blocks are carved from slabs that hold nothing
// else (the first 16 KiB, each next one twice the last, up to 4 MiB, so that the many small trees of
// tests, snapshot checks and fuzzing stay small), in 8-byte size classes with a free list each:
//   - a request takes a freed block of its class, else the rest of the current slab, else part of a
//     freed block of a larger class (the remainder goes back to its own class), else a new slab;
//   - blocks above kMaxSmall bytes are separate heap blocks the arena owns (their index in front).
// Freed memory is reused by blocks of the same or a smaller size, never handed back to the system:
// a tree that shrinks keeps its slabs until it is cleared or destroyed.
//
// Not thread-safe; owned by a NodeStore. Pointers stay valid until released or the arena is cleared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace conclave::state {

class ByteArena {
 public:
  static constexpr size_t kGrain = 8;
  static constexpr size_t kMaxSmall = 4096;
  // Slab sizes: 16 KiB doubling to 4 MiB, each less what the allocator keeps in front of a block,
  // so that a slab maps whole pages.
  static constexpr size_t kSlabOverhead = 64;
  static constexpr size_t kFirstSlabBytes = (size_t(16) << 10) - kSlabOverhead;
  static constexpr size_t kSlabBytes = (size_t(4) << 20) - kSlabOverhead;
  /// The size of the `i`th slab (from 0).
  static constexpr size_t slab_bytes(size_t i) {
    return i >= 8 ? kSlabBytes : ((kFirstSlabBytes + kSlabOverhead) << i) - kSlabOverhead;
  }

  ByteArena() = default;
  ByteArena(const ByteArena&) = delete;
  ByteArena& operator=(const ByteArena&) = delete;
  /// The moved-from arena is left empty.
  ByteArena(ByteArena&& other) noexcept { *this = std::move(other); }
  ByteArena& operator=(ByteArena&& other) noexcept;

  /// `n` (> 0) bytes, 8-aligned. Give the same `n` back to release().
  char* allocate(size_t n);
  void release(char* p, size_t n);
  /// Frees every block and slab.
  void clear();

  /// Memory held from the system: slabs plus large blocks.
  size_t held_bytes() const { return slab_bytes_ + large_bytes_; }
  /// Bytes in blocks handed out and not released (rounded up to their class).
  size_t used_bytes() const { return used_bytes_; }

  static size_t rounded(size_t n) { return (n + kGrain - 1) / kGrain * kGrain; }

 private:
  static constexpr size_t kClasses = kMaxSmall / kGrain + 1;  // class c holds blocks of c * kGrain bytes
  void push_free(char* p, size_t cls);
  char* pop_free(size_t cls);
  char* split_larger(size_t cls);

  std::vector<std::unique_ptr<char[]>> slabs_;
  char* bump_ = nullptr;  // the unused rest of the newest slab
  char* bump_end_ = nullptr;
  std::array<char*, kClasses> free_{};  // each freed block holds the next one's address
  std::array<uint64_t, (kClasses + 63) / 64> nonempty_{};  // classes whose free list is not empty
  std::vector<std::unique_ptr<char[]>> large_;  // each block starts with its index here
  size_t slab_bytes_ = 0;
  size_t large_bytes_ = 0;
  size_t used_bytes_ = 0;
};

}  // namespace conclave::state
