#include "trace/tracer.h"

#include <algorithm>

#include "common/log.h"

namespace conclave::trace {

Tracer::Tracer(TracerOptions options)
    : options_(std::move(options)), store_(options_.max_spans), rng_{(uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()},
      tokens_(options_.max_per_second) {
  local_.service_name = intern(lower_case(options_.service_name));
  local_.ip = options_.ip;
  local_.port = options_.port;
}

uint64_t Tracer::nonzero_random() {
  uint64_t v;
  do v = rng_(); while (v == 0);
  return v;
}

bool Tracer::decide(Sampling caller, int64_t now_ms) {
  if (caller == Sampling::kDeny) return false;
  if (caller == Sampling::kAccept || caller == Sampling::kDebug) return true;
  if (options_.probability <= 0) return false;
  if (options_.probability < 1 && std::uniform_real_distribution<double>(0, 1)(rng_) >= options_.probability)
    return false;
  // Token bucket: max_per_second decisions, refilled continuously.
  tokens_ = std::min(options_.max_per_second, tokens_ + (now_ms - tokens_at_ms_) * options_.max_per_second / 1000.0);
  tokens_at_ms_ = now_ms;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool Tracer::sample(const Incoming& in, int64_t now_ms) {
  bool yes = decide(in.sampling, now_ms);
  ++(yes ? sampled_ : not_sampled_);
  return yes;
}

void Tracer::begin(Span& s, const Incoming& in) {
  if (in.trace_id.valid()) {
    s.trace_id = in.trace_id;
    s.parent_id = in.parent_id;
  } else {
    s.trace_id = TraceId{nonzero_random(), nonzero_random()};
  }
  s.id = nonzero_random();
  s.debug = in.sampling == Sampling::kDebug;
  s.local = local_;
}

std::optional<Span> Tracer::start(const Incoming& in, int64_t now_ms) {
  std::optional<Span> s;  // the one return: made in the caller's object
  if (sample(in, now_ms)) begin(s.emplace(), in);
  return s;
}

Span Tracer::child(const Span& parent, Name name, Kind kind, int64_t now_us) {
  return child(parent_of(parent), name, kind, now_us);
}

Span Tracer::child(const Parent& parent, Name name, Kind kind, int64_t now_us) {
  Span s;
  fill_child(s, parent, name, kind, now_us);
  return s;
}

Span& Tracer::child(std::optional<Span>& into, const Parent& parent, Name name, Kind kind, int64_t now_us) {
  Span& s = into.emplace();
  fill_child(s, parent, name, kind, now_us);
  return s;
}

void Tracer::fill_child(Span& s, const Parent& parent, Name name, Kind kind, int64_t now_us) {
  s.trace_id = parent.trace_id;
  s.parent_id = parent.span_id;
  s.id = nonzero_random();
  s.name = name;
  s.kind = kind;
  s.timestamp_us = now_us;
  s.debug = parent.debug;
  s.local = local_;
}

void Tracer::set_active(std::optional<Parent> p) {
  if (p) log::set_trace_ids(p->trace_id.high, p->trace_id.low, p->span_id);
  else if (active_) log::clear_trace_ids();
  active_ = p;
}

void Tracer::finish(Span&& span, int64_t end_us) {
  span.duration_us = std::max<int64_t>(end_us - span.timestamp_us, 1);
  if (sink_) sink_(span);
  store_.add(span);
}

}  // namespace conclave::trace
