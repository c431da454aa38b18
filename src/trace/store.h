// Recent spans, kept in memory and bounded: the store behind the node's Zipkin v2 read API
// (/api/v2/services, /spans, /traces, /trace/{id}). When full, the oldest span is dropped, and
// counted. Single-threaded (the event loop's); no clocks: callers pass times in.
//
// Adding a span is O(1) and allocates nothing: a span is packed (its fields, its addresses and
// tags, and its Names as views: their text lives as long as the process) into a ring of bytes,
// kBytesPerSpan per span of capacity, overwriting the oldest.
// With every request traced a node adds five spans per write; keeping them as objects, each a
// dozen allocations freed cold when dropped, cost more than the write itself. The read API,
// asked a few times a minute, unpacks what it scans (10 000 spans by default: milliseconds).
// So the store holds at most `capacity` spans and at most capacity * kBytesPerSpan bytes of
// them; a span larger than the whole ring is dropped, counted.
#pragma once

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "trace/span.h"

namespace conclave::trace {

struct TraceQuery {
  std::string service_name;  // "" = any
  std::string span_name;     // "" = any
  std::string remote_service_name;
  std::vector<std::pair<std::string, std::string>> annotation_query;  // tag key (value "" = key only)
  int64_t min_duration_us = 0;
  int64_t max_duration_us = 0;  // 0 = no bound
  int64_t end_ts_ms = 0;        // the window is (end - lookback, end]
  int64_t lookback_ms = 0;
  size_t limit = 10;
};

class SpanStore {
 public:
  static constexpr size_t kBytesPerSpan = 512;
  // The ring is not cleared: its pages become resident only as spans fill them.
  explicit SpanStore(size_t capacity)
      : capacity_(capacity), spans_(capacity), ring_size_(capacity * kBytesPerSpan),
        ring_(std::make_unique_for_overwrite<char[]>(ring_size_)) {}

  void add(const Span& s);
  size_t size() const { return spans_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t accepted() const { return accepted_; }

  std::vector<std::string> services() const;
  std::vector<std::string> span_names(const std::string& service) const;
  std::vector<std::string> remote_services(const std::string& service) const;
  /// Spans of one trace, in start order (empty when unknown).
  std::vector<Span> trace(const TraceId& id) const;
  /// Traces with at least one span matching the query, newest first, each in start order.
  std::vector<std::vector<Span>> traces(const TraceQuery& q) const;

 private:
  size_t capacity_;
  struct Stored {
    TraceId trace_id;
    uint64_t at;    // position in the byte stream; the bytes are at ring_[at % ring_size_]
    uint32_t size;  // the rest of the span, packed (store.cc)
  };
  std::string_view flat(const Stored& s) const { return {ring_.get() + s.at % ring_size_, s.size}; }
  /// The records of the stored spans, oldest first, in `capacity` slots reused in turn.
  class Records {
   public:
    explicit Records(size_t capacity) : slots_(capacity) {}
    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    const Stored& operator[](size_t i) const { return slots_[slot(i)]; }
    const Stored& front() const { return slots_[first_]; }
    void pop_front() {
      first_ = slot(1);
      --size_;
    }
    void push_back(const Stored& s) { slots_[slot(size_++)] = s; }  // the caller keeps size() < capacity

    class iterator {
     public:
      using iterator_category = std::bidirectional_iterator_tag;
      using value_type = Stored;
      using difference_type = std::ptrdiff_t;
      using pointer = const Stored*;
      using reference = const Stored&;
      iterator() = default;
      iterator(const Records* r, size_t i) : r_(r), i_(i) {}
      reference operator*() const { return (*r_)[i_]; }
      pointer operator->() const { return &(*r_)[i_]; }
      iterator& operator++() { return ++i_, *this; }
      iterator& operator--() { return --i_, *this; }
      iterator operator++(int) { auto old = *this; ++i_; return old; }
      iterator operator--(int) { auto old = *this; --i_; return old; }
      bool operator==(const iterator& o) const { return i_ == o.i_; }

     private:
      const Records* r_ = nullptr;
      size_t i_ = 0;
    };
    iterator begin() const { return {this, 0}; }
    iterator end() const { return {this, size_}; }
    std::reverse_iterator<iterator> rbegin() const { return std::reverse_iterator(end()); }
    std::reverse_iterator<iterator> rend() const { return std::reverse_iterator(begin()); }

   private:
    size_t slot(size_t i) const {
      size_t j = first_ + i;
      return j >= slots_.size() ? j - slots_.size() : j;
    }
    std::vector<Stored> slots_;
    size_t first_ = 0, size_ = 0;
  };
  Records spans_;
  static constexpr size_t kPrefetchAhead = 8, kPrefetchBytes = 1024;
  size_t ring_size_;
  std::unique_ptr<char[]> ring_;
  uint64_t head_ = 0;  // where the next span's bytes go
  uint64_t dropped_ = 0;
  uint64_t accepted_ = 0;
};

}  // namespace conclave::trace
