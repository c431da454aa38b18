#include "server/proposals.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/log.h"
#include "server/entry_codec.h"
#include "server/forward_codec.h"

namespace conclave::server {

Proposals::Proposals(RaftDriver& driver, uint64_t node_id, int64_t forward_timeout_ms, uint64_t first_sequence,
                     Hooks hooks)
    : driver_(driver),
      node_id_(node_id),
      forward_timeout_ms_(forward_timeout_ms),
      hooks_(std::move(hooks)),
      seq_(first_sequence - 1) {}

raft::Index Proposals::append(state::Command& cmd, const trace::Span* span) {
  // The leader's clock is the one clock of the cluster: mtimes, TTLs and session expiry follow it.
  cmd.time_ms = hooks_.wall_ms();
  // A member may announce only its own line while it is a member; the other membership changes
  // come from Raft configuration entries, never from proposals.
  // While a membership change is in flight the announce waits (the member retries), so that a
  // removal cannot be followed by an announce that brings the removed member's line back.
  if (cmd.kind == state::CommandKind::kMembership &&
      (cmd.member.change != state::MemberChange::kAnnounce || !driver_.core().conf().contains(cmd.member.id) ||
       driver_.core().conf_change_pending()))
    return 0;
  scratch_.clear();
  state::encode_command(cmd, scratch_);
  Bytes bytes;
  if (span) {
    // The context rides in the entry, so every node that stores or applies it can join the trace.
    encode_traced_entry(trace::parent_of(*span), scratch_, bytes);
  } else {
    bytes.assign(scratch_);
  }
  auto idx = driver_.core().propose(std::move(bytes));
  if (!idx) return 0;
  driver_.schedule_drive();
  return *idx;
}

void Proposals::propose(state::Command cmd, Done done) {
  cmd.origin = (node_id_ << 48) | (++seq_ & 0xFFFFFFFFFFFFull);
  uint64_t origin = cmd.origin;
  auto& core = driver_.core();
  auto unknown = [&] {
    state::ApplyResult r;
    r.code = state::Code::kConnectionLoss;
    if (done) done(r);
  };
  const auto* parent = hooks_.tracer ? &hooks_.tracer->active() : nullptr;
  bool traced = parent && parent->has_value();
  if (core.role() == raft::Role::kLeader) {
    // The span is made where it stays (a span is a few hundred bytes), before the append: its id
    // goes into the entry.
    auto slot = pending_.try_emplace(origin).first;
    Pending& p = slot->second;
    if (traced) hooks_.tracer->child(p.span, **parent, "raft propose", trace::Kind::kUnset, hooks_.wall_us());
    raft::Index idx = append(cmd, p.span ? &*p.span : nullptr);
    if (!idx) {
      pending_.erase(slot);
      return unknown();
    }
    p.done = std::move(done);
    p.index = idx;
    by_index_.emplace(idx, origin);
    if (p.span) {
      p.span->tags.add("raft.index", idx);
      p.span->tags.add("raft.term", core.term());
      await_wal(idx, trace::parent_of(*p.span));
      await_commit(idx, origin);
    }
    return;
  }
  uint64_t leader = core.leader();
  if (leader == 0 || !hooks_.send) return unknown();
  auto& p = pending_[origin] =
      Pending(std::move(done), hooks_.monotonic_ms() + forward_timeout_ms_, leader);
  if (traced) {
    hooks_.tracer->child(p.span, **parent, "forward", trace::Kind::kClient, hooks_.wall_us());
    p.span->remote.service_name = p.span->local.service_name;
    p.span->tags.add("raft.leader", leader);
  }
  forward(origin, cmd, leader, p.span ? &*p.span : nullptr);
}

void Proposals::forward(uint64_t origin, const state::Command& cmd, uint64_t leader, const trace::Span* span) {
  std::string payload(1, static_cast<char>(span ? kForwardTraced : kForward));
  Bytes bytes;
  state::encode_command(cmd, bytes);
  ForwardBody f;
  if (span) f.parent = trace::parent_of(*span);
  f.origin = origin;
  f.command = bytes;
  encode_forward(f, payload);
  hooks_.send(leader, std::move(payload));
}

raft::Index Proposals::accept_forward(uint64_t from, uint64_t origin, std::string_view bytes, const trace::Span* span) {
  raft::Index index = 0;
  if (driver_.core().role() == raft::Role::kLeader) {
    state::Command c;
    if (state::decode_command(bytes, &c) && c.origin == origin) index = append(c, span);
  }
  std::string ack(1, static_cast<char>(kForwardAck));
  Writer w(ack);
  w.u64(origin);
  w.u64(index);
  w.u64(index ? driver_.core().term() : 0);
  if (hooks_.send) hooks_.send(from, std::move(ack));
  return index;
}

void Proposals::on_forward(uint64_t from, std::string_view body) {
  ForwardBody f;
  if (decode_forward(false, body, &f)) accept_forward(from, f.origin, f.command, nullptr);
}

void Proposals::on_forward_traced(uint64_t from, std::string_view body) {
  ForwardBody f;
  if (!decode_forward(true, body, &f)) return;
  const trace::Parent& parent = *f.parent;
  uint64_t origin = f.origin;
  // A span only for what is appended, and only as many as the tracer could have sampled. Its id
  // goes into the entry, so it is made before the append and dropped if nothing was appended.
  constexpr size_t kMaxLeaderSpans = 4096;
  std::optional<trace::Span> span;
  if (hooks_.tracer && parent.trace_id.valid() && leader_spans_.size() < kMaxLeaderSpans) {
    span = hooks_.tracer->child(parent, "raft propose", trace::Kind::kServer, hooks_.wall_us());
    span->remote.service_name = span->local.service_name;
  }
  raft::Index index = accept_forward(from, origin, f.command, span ? &*span : nullptr);
  if (!span || index == 0) return;
  span->tags.add("raft.index", index);
  span->tags.add("raft.term", driver_.core().term());
  span->tags.add("raft.forwarded_by", from);
  await_wal(index, trace::parent_of(*span));
  await_commit(index, origin);
  leader_spans_[origin] = LeaderSpan{std::move(*span), index};
}

const trace::Span* Proposals::span_of(uint64_t origin) const {
  if (auto it = pending_.find(origin); it != pending_.end() && it->second.span) return &*it->second.span;
  if (auto it = leader_spans_.find(origin); it != leader_spans_.end()) return &it->second.span;
  return nullptr;
}

void Proposals::await_wal(raft::Index index, const trace::Parent& parent) {
  if (!hooks_.tracer) return;
  constexpr size_t kMaxAwaiting = 4096;
  auto at = std::upper_bound(awaiting_wal_.begin(), awaiting_wal_.end(), index,
                             [](raft::Index i, const auto& e) { return i < e.first; });
  for (auto it = at; it != awaiting_wal_.begin() && (it - 1)->first == index; --it)
    if ((it - 1)->second.span_id == parent.span_id) return;  // the same entry sent again
  if (awaiting_wal_.size() >= kMaxAwaiting) {
    if (at == awaiting_wal_.begin()) return;  // older than everything kept: it would go first
    awaiting_wal_.pop_front();
  }
  awaiting_wal_.insert(at, {index, parent});
}

void Proposals::await_commit(raft::Index index, uint64_t origin) {
  constexpr size_t kMaxAwaiting = 4096;
  auto at = std::lower_bound(awaiting_commit_.begin(), awaiting_commit_.end(), index,
                             [](const auto& e, raft::Index i) { return e.first < i; });
  if (at != awaiting_commit_.end() && at->first == index) {
    at->second = origin;
    return;
  }
  if (awaiting_commit_.size() >= kMaxAwaiting) {
    if (at == awaiting_commit_.begin()) return;
    awaiting_commit_.pop_front();
  }
  awaiting_commit_.insert(at, {index, origin});
}

void Proposals::committed_through(raft::Index index, int64_t now_us) {
  while (!awaiting_commit_.empty() && awaiting_commit_.front().first <= index) {
    auto it = awaiting_commit_.begin();
    trace::Span* span = nullptr;
    if (auto p = pending_.find(it->second); p != pending_.end() && p->second.span) span = &*p->second.span;
    if (auto l = leader_spans_.find(it->second); !span && l != leader_spans_.end()) span = &l->second.span;
    if (span) span->annotations.add(now_us, "committed");
    awaiting_commit_.pop_front();
  }
}

void Proposals::entries_durable(uint64_t ticket, raft::Index first, raft::Index last, int64_t submitted_us) {
  if (!hooks_.tracer || awaiting_wal_.empty()) return;
  // Indexes below `first` were in batches durable before (or truncated): no span for them.
  while (!awaiting_wal_.empty() && awaiting_wal_.front().first < first) awaiting_wal_.pop_front();
  if (awaiting_wal_.empty() || awaiting_wal_.front().first > last) return;
  int64_t now = hooks_.wall_us();
  for (; !awaiting_wal_.empty() && awaiting_wal_.front().first <= last; awaiting_wal_.pop_front()) {
    const auto& [index, parent] = awaiting_wal_.front();
    auto span = hooks_.tracer->child(parent, "wal fsync", trace::Kind::kUnset, submitted_us);
    span.tags.add("wal.batch", ticket);
    span.tags.add("wal.entries", last - first + 1);
    span.tags.add("raft.index", index);
    hooks_.tracer->finish(std::move(span), now);
  }
}

void Proposals::finish_span(trace::Span& span, raft::Index index, const state::ApplyResult* r, const char* why) {
  if (index && span.kind == trace::Kind::kClient) span.tags.add("raft.index", index);
  if (r) span.tags.add("result", static_cast<int>(r->code));
  if (why) span.tags.add("error", why);
  hooks_.tracer->finish(std::move(span), hooks_.wall_us());
}

void Proposals::on_forward_ack(std::string_view body) {
  Reader r(body);
  uint64_t origin = r.u64();
  raft::Index index = r.u64();
  if (!r.ok()) return;
  raft::Term term = r.at_end() ? 0 : r.u64();
  if (!r.ok()) return;
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  if (index == 0) fail(origin, "the peer is not the leader");
  else if (index <= driver_.applied_index()) fail(origin, "lost in a leader change");
  else {
    it->second.index = index;
    it->second.term = term;
    by_index_.emplace(index, origin);
  }
}

void Proposals::complete(uint64_t origin, const state::ApplyResult& r) {
  if (!leader_spans_.empty()) {
    if (auto ls = leader_spans_.find(origin); ls != leader_spans_.end()) {
      finish_span(ls->second.span, ls->second.index, &r, nullptr);
      leader_spans_.erase(ls);
    }
  }
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
  if (it->second.span) finish_span(*it->second.span, it->second.index, &r, nullptr);
  pending_.erase(it);
  if (done) done(r);
}

void Proposals::applied_through(raft::Index index) {
  // Proposals whose index has now been applied with someone else's entry were lost (a leader
  // change truncated them).
  while (!by_index_.empty() && by_index_.begin()->first <= index) {
    uint64_t origin = by_index_.begin()->second;
    by_index_.erase(by_index_.begin());
    fail(origin, "lost in a leader change");  // no-op when it was answered already
  }
  // Forwarded proposals whose entries were applied with someone else's: their spans end here.
  for (auto it = leader_spans_.begin(); it != leader_spans_.end();) {
    if (it->second.index > index) {
      ++it;
      continue;
    }
    finish_span(it->second.span, it->second.index, nullptr, "lost in a leader change");
    it = leader_spans_.erase(it);
  }
}

void Proposals::fail(uint64_t origin, const char* why) {
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
  // The failure is logged, and answered, under the trace of the request that proposed it.
  std::optional<log::ScopedTrace> ids;
  if (it->second.span) {
    ids.emplace(it->second.span->trace_id.high, it->second.span->trace_id.low, it->second.span->id);
    finish_span(*it->second.span, it->second.index, nullptr, why);
  }
  pending_.erase(it);
  log::debug("node", "proposal {:x} failed: {}", origin, why);
  state::ApplyResult r;
  r.code = state::Code::kConnectionLoss;
  if (done) done(r);
}

void Proposals::tick() {
  int64_t now = hooks_.monotonic_ms();
  // Forwards to a node that is no longer the leader will not be answered: fail them now rather
  // than at the deadline, so clients retry against the new leader quickly.
  uint64_t leader = driver_.core().leader();
  std::vector<uint64_t> expired;
  for (const auto& [origin, p] : pending_)
    if (p.index == 0 && p.deadline_ms != 0 && (now > p.deadline_ms || p.forwarded_to != leader))
      expired.push_back(origin);
  for (auto origin : expired) fail(origin, "no answer from the leader");
  // Every entry after a committed one has a term at least as high (log matching), so an entry of
  // an earlier term above the commit index will never commit.
  const auto& core = driver_.core();
  const raft::Index commit = core.commit_index();
  const raft::Term commit_term = core.term_at(commit);
  expired.clear();
  for (const auto& [origin, p] : pending_)
    if (p.index > commit && p.term != 0 && commit_term > p.term) expired.push_back(origin);
  for (auto origin : expired) fail(origin, "replaced in a leader change");
}

void Proposals::leadership_lost() {
  // Proposals made as leader may still commit under the next leader, but we can no longer tell:
  // their clients get ConnectionLoss, as ZooKeeper's do when their server loses leadership.
  std::vector<uint64_t> mine;
  for (const auto& [origin, p] : pending_)
    if (p.index != 0) mine.push_back(origin);
  for (auto origin : mine) fail(origin, "leadership lost");
}

}  // namespace conclave::server
