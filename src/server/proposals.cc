#include "server/proposals.h"

#include <vector>

#include "common/bytes.h"
#include "common/log.h"

namespace conclave::server {

Proposals::Proposals(RaftDriver& driver, uint64_t node_id, int64_t forward_timeout_ms, Hooks hooks)
    : driver_(driver), node_id_(node_id), forward_timeout_ms_(forward_timeout_ms), hooks_(std::move(hooks)) {}

raft::Index Proposals::append(state::Command& cmd) {
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
  Bytes bytes;
  state::encode_command(cmd, bytes);
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
  if (core.role() == raft::Role::kLeader) {
    raft::Index idx = append(cmd);
    if (!idx) return unknown();
    pending_[origin] = Pending{std::move(done), idx, 0, 0};
    by_index_[idx] = origin;
    return;
  }
  uint64_t leader = core.leader();
  if (leader == 0 || !hooks_.send) return unknown();
  pending_[origin] = Pending{std::move(done), 0, hooks_.monotonic_ms() + forward_timeout_ms_, leader};
  std::string payload(1, static_cast<char>(kForward));
  Writer w(payload);
  w.u64(origin);
  Bytes bytes;
  state::encode_command(cmd, bytes);
  w.raw(bytes);
  hooks_.send(leader, std::move(payload));
}

void Proposals::on_forward(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t origin = r.u64();
  std::string_view bytes = r.rest();
  raft::Index index = 0;
  if (r.ok() && driver_.core().role() == raft::Role::kLeader) {
    state::Command c;
    if (state::decode_command(bytes, &c) && c.origin == origin) index = append(c);
  }
  std::string ack(1, static_cast<char>(kForwardAck));
  Writer w(ack);
  w.u64(origin);
  w.u64(index);
  if (hooks_.send) hooks_.send(from, std::move(ack));
}

void Proposals::on_forward_ack(std::string_view body) {
  Reader r(body);
  uint64_t origin = r.u64();
  raft::Index index = r.u64();
  if (!r.ok()) return;
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  if (index == 0) fail(origin, "the peer is not the leader");
  else if (index <= driver_.applied_index()) fail(origin, "lost in a leader change");
  else {
    it->second.index = index;
    by_index_[index] = origin;
  }
}

void Proposals::complete(uint64_t origin, const state::ApplyResult& r) {
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
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
}

void Proposals::fail(uint64_t origin, const char* why) {
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
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
