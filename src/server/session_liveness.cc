#include "server/session_liveness.h"

#include <vector>

#include "common/bytes.h"

namespace conclave::server {

SessionLiveness::SessionLiveness(RaftDriver& driver, const state::DataTree& tree, int64_t relay_ms, Hooks hooks)
    : driver_(driver), tree_(tree), relay_ms_(relay_ms), hooks_(std::move(hooks)) {}

void SessionLiveness::touch(state::SessionId id) { tracker_.touch(id, tree_, hooks_.monotonic_ms()); }

void SessionLiveness::closing(state::SessionId id) { tracker_.closing(id); }

void SessionLiveness::on_touch(std::string_view body) {
  Reader r(body);
  uint32_t n = r.u32();
  if (!r.ok() || n > r.remaining() / 8) return;
  int64_t now = hooks_.monotonic_ms();
  for (uint32_t i = 0; i < n; ++i) tracker_.touch_remote(r.i64(), tree_, now);
}

void SessionLiveness::role_changed(bool leader) { tracker_.set_leader(leader, tree_, hooks_.monotonic_ms()); }

void SessionLiveness::tree_replaced() { tracker_.restore(tree_, hooks_.monotonic_ms()); }

void SessionLiveness::relay() {
  int64_t now = hooks_.monotonic_ms();
  auto& core = driver_.core();
  if (core.role() == raft::Role::kLeader || !hooks_.send || now - last_relay_ms_ < relay_ms_) return;
  last_relay_ms_ = now;
  auto ids = tracker_.take_touched();
  uint64_t leader = core.leader();
  if (ids.empty() || leader == 0) return;
  std::string payload(1, static_cast<char>(kTouch));
  Writer w(payload);
  w.u32(static_cast<uint32_t>(ids.size()));
  for (auto id : ids) w.i64(id);
  hooks_.send(leader, std::move(payload));
}

void SessionLiveness::expire() {
  for (auto id : tracker_.expired(tree_, hooks_.monotonic_ms())) {
    if (hooks_.expiring) hooks_.expiring(id);
    state::Command cmd;
    cmd.kind = state::CommandKind::kCloseSession;
    cmd.session = id;
    hooks_.propose(std::move(cmd), [this, id] { tracker_.close_failed(id); });
  }
}

}  // namespace conclave::server
