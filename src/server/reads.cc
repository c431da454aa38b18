#include "server/reads.h"

#include "common/bytes.h"

namespace conclave::server {

Reads::Reads(RaftDriver& driver, uint64_t node_id, int64_t timeout_ms, uint64_t first_context, Hooks hooks)
    : driver_(driver), node_id_(node_id), timeout_ms_(timeout_ms), hooks_(std::move(hooks)), seq_(first_context - 1) {}

uint64_t Reads::next_context() { return (node_id_ << 48) | (++seq_ & 0xFFFFFFFFFFFFull); }

void Reads::read_index(Done done) {
  auto& core = driver_.core();
  uint64_t ctx = next_context();
  if (core.role() == raft::Role::kLeader) {
    if (!core.read_index(ctx)) return done(false);
    requests_[ctx] = Request{std::move(done), 0, 0, hooks_.monotonic_ms() + timeout_ms_};
    driver_.schedule_drive();
    return;
  }
  uint64_t leader = core.leader();
  if (!leader || !hooks_.send) return done(false);
  requests_[ctx] = Request{std::move(done), 0, 0, hooks_.monotonic_ms() + timeout_ms_};
  std::string payload(1, static_cast<char>(kAsk));
  Writer w(payload);
  w.u64(ctx);
  hooks_.send(leader, std::move(payload));
}

void Reads::on_read_state(uint64_t context, raft::Index index) {
  auto it = requests_.find(context);
  if (it == requests_.end()) return;
  Request req = std::move(it->second);
  requests_.erase(it);
  if (req.peer) {
    std::string answer(1, static_cast<char>(kAnswer));
    Writer w(answer);
    w.u64(req.peer_context);
    w.u64(index);
    if (hooks_.send) hooks_.send(req.peer, std::move(answer));
    return;
  }
  waiting_.emplace(index, std::move(req.done));
  applied();
}

void Reads::on_ask(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t peer_ctx = r.u64();
  if (!r.ok() || !hooks_.send) return;
  auto& core = driver_.core();
  uint64_t ctx = next_context();
  if (core.role() != raft::Role::kLeader || !core.read_index(ctx)) {
    std::string answer(1, static_cast<char>(kAnswer));
    Writer w(answer);
    w.u64(peer_ctx);
    w.u64(0);
    hooks_.send(from, std::move(answer));
    return;
  }
  requests_[ctx] = Request{{}, from, peer_ctx, hooks_.monotonic_ms() + timeout_ms_};
  driver_.schedule_drive();
}

void Reads::on_answer(std::string_view body) {
  Reader r(body);
  uint64_t ctx = r.u64();
  raft::Index index = r.u64();
  if (!r.ok()) return;
  auto it = requests_.find(ctx);
  if (it == requests_.end() || it->second.peer) return;
  Done done = std::move(it->second.done);
  requests_.erase(it);
  if (index == 0) return done(false);
  waiting_.emplace(index, std::move(done));
  applied();
}

void Reads::applied() {
  raft::Index applied = driver_.applied_index();
  while (!waiting_.empty() && waiting_.begin()->first <= applied) {
    Done done = std::move(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
    done(true);
  }
}

void Reads::tick() {
  int64_t now = hooks_.monotonic_ms();
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (now > it->second.deadline_ms) {
      Done done = std::move(it->second.done);
      it = requests_.erase(it);
      if (done) done(false);
    } else {
      ++it;
    }
  }
}

}  // namespace conclave::server
