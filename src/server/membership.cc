#include "server/membership.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.h"
#include "common/log.h"
#include "state/cluster_config.h"

namespace conclave::server {
namespace {

raft::ConfChangeType to_raft(MemberChangeSpec::Kind k) {
  switch (k) {
    case MemberChangeSpec::Kind::kAddVoter: return raft::ConfChangeType::kAddVoter;
    case MemberChangeSpec::Kind::kAddLearner: return raft::ConfChangeType::kAddLearner;
    case MemberChangeSpec::Kind::kRemove: break;
  }
  return raft::ConfChangeType::kRemove;
}

}  // namespace

Membership::Membership(RaftDriver& driver, Proposals& proposals, const state::DataTree& tree, uint64_t node_id,
                       uint64_t first_context, Hooks hooks)
    : driver_(driver),
      proposals_(proposals),
      tree_(tree),
      node_id_(node_id),
      hooks_(std::move(hooks)),
      seq_(first_context - 1) {}

// ---- requests ----

void Membership::change(MembershipRequest request, Done done) {
  if (!hooks_.send) {
    done({state::Code::kUnimplemented, "this node runs alone (no --peers): membership changes need a clustered node", 0});
    return;
  }
  auto& core = driver_.core();
  if (core.role() == raft::Role::kLeader) return start(std::move(request), std::move(done));
  uint64_t leader = core.leader();
  if (leader == 0) {
    done({state::Code::kConnectionLoss, "no leader is known; try again", 0});
    return;
  }
  uint64_t ctx = (node_id_ << 48) | (++seq_ & 0xFFFFFFFFFFFFull);
  forwarded_[ctx] = Forwarded{std::move(done), hooks_.monotonic_ms() + kTimeoutMs, 0, {}};
  std::string payload(1, static_cast<char>(kChange));
  Writer w(payload);
  w.u64(ctx);
  w.raw(encode_membership_request(request));
  hooks_.send(leader, std::move(payload));
}

void Membership::on_change(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t ctx = r.u64();
  MembershipRequest request;
  auto reply = [this, from, ctx](const MembershipResult& res) {
    std::string ack(1, static_cast<char>(kChangeAck));
    Writer w(ack);
    w.u64(ctx);
    w.i32(static_cast<int32_t>(res.code));
    w.blob(res.message);
    w.u64(static_cast<uint64_t>(res.index));
    if (hooks_.send) hooks_.send(from, std::move(ack));
  };
  if (!r.ok()) return;
  if (!decode_membership_request(r.rest(), &request)) return reply({state::Code::kMarshallingError, "malformed request", 0});
  if (driver_.core().role() != raft::Role::kLeader)
    return reply({state::Code::kConnectionLoss, "the peer asked is not the leader", 0});
  start(std::move(request), reply);
}

void Membership::on_change_ack(std::string_view body) {
  Reader r(body);
  uint64_t ctx = r.u64();
  MembershipResult res;
  res.code = static_cast<state::Code>(r.i32());
  res.message = std::string(r.blob());
  res.index = static_cast<int64_t>(r.u64());
  if (!r.ok()) return;
  auto it = forwarded_.find(ctx);
  if (it == forwarded_.end() || it->second.wait_index) return;
  if (res.code == state::Code::kOk && static_cast<raft::Index>(res.index) > driver_.applied_index()) {
    it->second.wait_index = static_cast<raft::Index>(res.index);
    it->second.result = std::move(res);
    return;
  }
  Done done = std::move(it->second.done);
  forwarded_.erase(it);
  done(res);
}

void Membership::start(MembershipRequest request, Done done) {
  auto& core = driver_.core();
  // One reconfiguration at a time, as ZooKeeper: a second one would be checked against a
  // configuration that the first is about to change.
  if (!jobs_.empty()) {
    done({state::Code::kReconfigInProgress, "a reconfiguration is in progress; try again", 0});
    return;
  }
  for (const auto& c : request.changes)
    if (c.id == 0) {
      done({state::Code::kBadArguments, "server id 0 is not valid", 0});
      return;
    }
  state::ClusterConfig cfg = tree_.cluster_config();
  if (request.from_version != -1 && request.from_version != cfg.version) {
    done({state::Code::kBadVersion,
          fmt::format("Reconfiguration from version {:x} failed -- last seen version is {:x}", request.from_version,
                      cfg.version),
          0});
    return;
  }
  // Simulate the changes on the current configuration; members already in the asked-for role
  // need no entry. Raft cannot demote a voter in one step: it is removed, then added as learner.
  raft::ConfState next = core.conf();
  Job job;
  for (const auto& c : request.changes) {
    if (c.kind == MemberChangeSpec::Kind::kRemove) {
      if (!next.contains(c.id)) continue;
      next.voters.erase(c.id);
      next.learners.erase(c.id);
      job.steps.push_back({raft::ConfChangeType::kRemove, c.id, "", ""});
      continue;
    }
    std::string address = c.address;
    if (address.empty()) {
      auto line = cfg.servers.find(c.id);
      if (line != cfg.servers.end()) address = line->second.quorum_address();
    }
    if (address.empty() || !state::spec_from_raft_address(address, false)) {
      done({state::Code::kBadArguments, fmt::format("server {}: no Raft address (host:port) given", c.id), 0});
      return;
    }
    const bool voter = c.kind == MemberChangeSpec::Kind::kAddVoter;
    if (voter && next.voters.count(c.id)) continue;
    if (!voter && next.learners.count(c.id)) continue;
    if (!voter && next.voters.count(c.id)) {
      job.steps.push_back({raft::ConfChangeType::kRemove, c.id, "", ""});
      next.voters.erase(c.id);
    }
    job.steps.push_back({to_raft(c.kind), c.id, address, c.spec});
    (voter ? next.voters : next.learners).insert(c.id);
    if (voter) next.learners.erase(c.id);
  }
  if (next.voters.empty()) {
    done({state::Code::kBadArguments, "Reconfig failed - new configuration must include at least 1 follower", 0});
    return;
  }
  size_t live = 0;
  for (auto v : next.voters) {
    int64_t ago = v == node_id_ ? 0 : hooks_.heard_ms_ago(v);
    if (ago >= 0 && ago < kLiveMs) ++live;
  }
  if (live < next.voters.size() / 2 + 1) {
    done({state::Code::kNewConfigNoQuorum,
          "Reconfig failed - there must be a connected and synced quorum in new configuration", 0});
    return;
  }
  if (!request.authorized) {
    done({state::Code::kNoAuth, "only the super user may reconfigure", 0});
    return;
  }
  // The leader's own removal goes last: once it is applied this node steps down and could
  // not propose the rest.
  std::stable_partition(job.steps.begin(), job.steps.end(), [this](const raft::ConfChange& cc) {
    return !(cc.type == raft::ConfChangeType::kRemove && cc.node == node_id_);
  });
  if (job.steps.empty()) {
    done({state::Code::kOk, "", 0});
    return;
  }
  job.deadline_ms = hooks_.monotonic_ms() + kTimeoutMs;
  job.done = std::move(done);
  jobs_.push_back(std::move(job));
  advance();
}

void Membership::advance() {
  auto& core = driver_.core();
  while (!jobs_.empty()) {
    Job& j = jobs_.front();
    if (j.waiting_for && driver_.applied_index() < j.waiting_for) return;
    if (j.next == j.steps.size()) {
      finish_front({state::Code::kOk, "", static_cast<int64_t>(j.last)});
      continue;
    }
    if (core.role() != raft::Role::kLeader) {
      finish_front({state::Code::kConnectionLoss, "leadership changed during the reconfiguration", 0});
      continue;
    }
    const auto& step = j.steps[j.next];
    auto st = core.propose_conf_change(step);
    if (!st) {
      // Another change (an earlier term's) is still being applied: the next tick retries.
      if (st.error().code == Errc::kUnavailable) return;
      finish_front({state::Code::kBadArguments, fmt::format("server {}: {}", step.node, st.error().message), 0});
      continue;
    }
    j.next++;
    j.waiting_for = j.last = core.last_index();
    log::info("node", "membership: proposed {} of server {} at index {}",
              step.type == raft::ConfChangeType::kRemove ? "removal" : step.type == raft::ConfChangeType::kAddVoter
                                                                           ? "addition as voter"
                                                                           : "addition as learner",
              step.node, j.last);
    driver_.schedule_drive();
    return;
  }
}

void Membership::finish_front(MembershipResult r) {
  Done done = std::move(jobs_.front().done);
  jobs_.pop_front();
  if (done) done(r);
}

void Membership::applied_through(raft::Index index) {
  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    if (it->second.wait_index && it->second.wait_index <= index) {
      Done done = std::move(it->second.done);
      MembershipResult r = std::move(it->second.result);
      it = forwarded_.erase(it);
      done(r);
    } else {
      ++it;
    }
  }
  if (!jobs_.empty()) advance();
}

void Membership::tick() {
  int64_t now = hooks_.monotonic_ms();
  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    if (now > it->second.deadline_ms) {
      Done done = std::move(it->second.done);
      it = forwarded_.erase(it);
      done({state::Code::kConnectionLoss, "no answer from the leader in time; the outcome is unknown", 0});
    } else {
      ++it;
    }
  }
  while (!jobs_.empty() && now > jobs_.front().deadline_ms)
    finish_front({state::Code::kConnectionLoss, "the reconfiguration did not complete in time; the outcome is unknown", 0});
  advance();
  announce();
}

void Membership::leadership_lost() {
  while (!jobs_.empty()) finish_front({state::Code::kConnectionLoss, "leadership lost; the outcome is unknown", 0});
}

void Membership::announce() {
  if (announcing_ || !hooks_.send || !hooks_.own_spec) return;
  int64_t now = hooks_.monotonic_ms();
  if (now - last_announce_ms_ < 1000) return;
  const auto& core = driver_.core();
  if (!core.conf().contains(node_id_) || core.leader() == 0) return;
  std::string spec = hooks_.own_spec();
  auto mine = state::parse_server_spec(spec);
  if (!mine) return;
  auto cfg = tree_.cluster_config();
  auto line = cfg.servers.find(node_id_);
  if (line != cfg.servers.end() && (line->second.has_client() || !mine->has_client())) return;
  state::Command cmd;
  cmd.kind = state::CommandKind::kMembership;
  cmd.member.change = state::MemberChange::kAnnounce;
  cmd.member.id = node_id_;
  cmd.member.spec = std::move(spec);
  announcing_ = true;
  last_announce_ms_ = now;
  proposals_.propose(std::move(cmd), [this](const state::ApplyResult&) { announcing_ = false; });
}

}  // namespace conclave::server
