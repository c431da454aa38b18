// The node's tracer: decides which requests are sampled, makes their spans, and keeps finished
// spans in the SpanStore. Event-loop thread only; times come in as arguments.
//
// Sampling: a caller that says sampled (or debug) is always traced, one that says not sampled
// never is; otherwise a request is sampled with `probability`, at most `max_per_second` such
// decisions per second (a token bucket), so a burst cannot flood the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "trace/context.h"
#include "trace/span.h"
#include "trace/store.h"

namespace conclave::trace {

struct TracerOptions {
  double probability = 0.01;
  double max_per_second = 100;
  size_t max_spans = 10000;
  std::string service_name = "conclave";
  std::string ip;
  uint16_t port = 0;
};

/// What a child needs of its parent: the trace, the parent's id and whether it is a debug trace.
/// Small enough to copy into a proposal or a peer message.
struct Parent {
  TraceId trace_id;
  uint64_t span_id = 0;
  bool debug = false;
};
inline Parent parent_of(const Span& s) { return Parent{s.trace_id, s.id, s.debug}; }

/// Span and trace ids: SplitMix64 (Steele, Lea and Flood 2014), seeded once from the OS. Ids need
/// to be unlikely to collide, not unpredictable, and a write draws five or more of them.
struct IdGenerator {
  using result_type = uint64_t;
  uint64_t state;
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

class Tracer {
 public:
  explicit Tracer(TracerOptions options);

  /// Decides whether a request is traced: a span continuing `in` (or starting a trace), with its
  /// ids, debug flag and local endpoint, or nothing when not sampled. The caller names the span
  /// and stamps its start, so an unsampled request costs no name and no wall-clock read.
  std::optional<Span> start(const Incoming& in, int64_t now_ms);
  /// start() in two steps, for a caller that makes the span in place: whether the request is
  /// traced (counted), then the ids, debug flag and local endpoint of its span.
  bool sample(const Incoming& in, int64_t now_ms);
  void begin(Span& out, const Incoming& in);
  /// A child of `parent` in the same trace (always sampled: its parent was).
  Span child(const Span& parent, Name name, Kind kind, int64_t now_us);
  Span child(const Parent& parent, Name name, Kind kind, int64_t now_us);
  /// The same, made in place in `into` (a span is a few hundred bytes: one kept in a pending
  /// proposal is not moved there).
  Span& child(std::optional<Span>& into, const Parent& parent, Name name, Kind kind, int64_t now_us);

  /// The span of the request a front-end is handling right now: set around its synchronous
  /// dispatch, so that work the request starts (a proposal) becomes that span's child.
  /// Log lines written meanwhile carry the span's ids (common/log.h).
  void set_active(std::optional<Parent> p);
  const std::optional<Parent>& active() const { return active_; }
  /// Stores `span` (and hands it to the sink), ending it at `end_us`. What is left of it
  /// afterwards is only fit to be destroyed.
  void finish(Span&& span, int64_t end_us);
  /// Called with every finished span before it is stored (the exporter's queue).
  void set_sink(std::function<void(const Span&)> sink) { sink_ = std::move(sink); }

  SpanStore& store() { return store_; }
  const TracerOptions& options() const { return options_; }
  uint64_t sampled() const { return sampled_; }
  uint64_t not_sampled() const { return not_sampled_; }

 private:
  bool decide(Sampling caller, int64_t now_ms);
  void fill_child(Span& s, const Parent& parent, Name name, Kind kind, int64_t now_us);
  uint64_t nonzero_random();

  TracerOptions options_;
  Endpoint local_;  // the node's, in every span it makes
  SpanStore store_;
  std::function<void(const Span&)> sink_;
  std::optional<Parent> active_;
  IdGenerator rng_;
  double tokens_;
  int64_t tokens_at_ms_ = 0;
  uint64_t sampled_ = 0;
  uint64_t not_sampled_ = 0;
};

/// Makes `parent` the tracer's active span for a scope (nothing when either is absent), and
/// clears it after: what a front-end wraps around the synchronous dispatch of a traced request.
class ActiveScope {
 public:
  ActiveScope(Tracer* tracer, std::optional<Parent> parent) : tracer_(parent ? tracer : nullptr) {
    if (tracer_) tracer_->set_active(parent);
  }
  ~ActiveScope() {
    if (tracer_) tracer_->set_active(std::nullopt);
  }
  ActiveScope(const ActiveScope&) = delete;
  ActiveScope& operator=(const ActiveScope&) = delete;

 private:
  Tracer* tracer_;
};

}  // namespace conclave::trace
