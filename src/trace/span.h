// A span in Zipkin v2's model (its JSON form is in trace/zipkin_json.h, so that front-ends can hold
// spans without the JSON library's headers).
//
// Made to be cheap to create, move and store, since a traced write makes five of them: its texts
// are Names (trace/name.h), its addresses and annotations are held inline, and its tags are one
// packed buffer (trace/tags.h). Moving a span copies a few hundred bytes and allocates nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "trace/context.h"
#include "trace/name.h"
#include "trace/tags.h"

namespace conclave::trace {

enum class Kind { kUnset, kServer, kClient, kProducer, kConsumer };

/// An IP literal, held inline (an address with a long IPv6 zone is cut at kMax characters).
class Address {
 public:
  static constexpr size_t kMax = 63;
  Address() = default;
  Address& operator=(std::string_view s) {
    size_ = static_cast<uint8_t>(std::min(s.size(), kMax));
    std::memcpy(text_, s.data(), size_);
    return *this;
  }
  std::string_view view() const { return {text_, size_}; }
  operator std::string_view() const { return view(); }
  bool empty() const { return size_ == 0; }
  friend bool operator==(const Address& a, std::string_view b) { return a.view() == b; }

 private:
  uint8_t size_ = 0;
  char text_[kMax];  // only the first size_ are read (not cleared)
};

struct Endpoint {
  Name service_name;  // lower case, as Zipkin stores it
  Address ip;         // v4 or v6 literal (empty when unknown)
  uint16_t port = 0;
};

struct Annotation {
  int64_t timestamp_us = 0;  // epoch microseconds
  Name value;
  bool operator==(const Annotation& o) const { return timestamp_us == o.timestamp_us && value == o.value; }
};

/// A span's annotations, at most kMax, inline: the write path marks one event ("committed").
/// An annotation past kMax is not kept.
class Annotations {
 public:
  static constexpr size_t kMax = 4;
  Annotations() = default;
  Annotations(std::initializer_list<Annotation> list) {
    for (const auto& a : list) add(a.timestamp_us, a.value);
  }
  void add(int64_t timestamp_us, Name value) {
    if (size_ < kMax) items_[size_++] = Annotation{timestamp_us, value};
  }
  const Annotation* begin() const { return items_; }
  const Annotation* end() const { return items_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool operator==(const Annotations& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }

 private:
  uint32_t size_ = 0;
  Annotation items_[kMax];
};

struct Span {
  // User-provided, so that a span made with `Span()` or `emplace()` is not zeroed whole first
  // (value-initialization would clear the inline buffers the members leave uncleared).
  Span() {}
  TraceId trace_id;
  uint64_t id = 0;
  uint64_t parent_id = 0;  // 0: a root span
  Name name;               // lower case
  Kind kind = Kind::kUnset;
  int64_t timestamp_us = 0;  // epoch microseconds
  int64_t duration_us = 0;
  Endpoint local;
  Endpoint remote;
  bool debug = false;
  bool shared = false;
  Annotations annotations;
  Tags tags;
};

}  // namespace conclave::trace
