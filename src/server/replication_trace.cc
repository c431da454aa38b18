#include "server/replication_trace.h"

#include <string>

#include "server/entry_codec.h"

namespace conclave::server {

void ReplicationTrace::on_send(const raft::Message& m) {
  if (!hooks_.tracer || m.type != raft::MessageType::kAppend) return;
  int64_t now = -1;
  for (const auto& e : m.entries) {
    if (e.type != raft::EntryType::kCommand || !is_traced_entry(e.data)) continue;
    EntryPayload p;
    if (!decode_entry(e.data, &p)) continue;
    auto key = std::make_pair(e.index, m.to);
    if (pending_.count(key)) continue;  // a retransmission: the span started with the first send
    if (pending_.size() >= kMaxPending) {
      pending_.erase(pending_.begin());
      ++dropped_;
    }
    if (now < 0) now = hooks_.wall_us();
    pending_.emplace(key, Pending{*p.parent, now});
  }
}

void ReplicationTrace::on_receive(const raft::Message& m) {
  if (!hooks_.tracer) return;
  if (m.type == raft::MessageType::kAppend) {
    if (!hooks_.await_wal) return;
    for (const auto& e : m.entries) {
      if (e.type != raft::EntryType::kCommand || !is_traced_entry(e.data)) continue;
      EntryPayload p;
      if (decode_entry(e.data, &p)) hooks_.await_wal(e.index, *p.parent);
    }
    return;
  }
  if (m.type != raft::MessageType::kAppendResp || m.reject || pending_.empty()) return;
  // The follower now holds everything through m.index: its spans for those entries end.
  int64_t now = -1;
  auto end = pending_.upper_bound(std::make_pair(m.index, UINT64_MAX));
  for (auto it = pending_.begin(); it != end;) {
    if (it->first.second != m.from) {
      ++it;
      continue;
    }
    if (now < 0) now = hooks_.wall_us();
    auto span = hooks_.tracer->child(it->second.parent, "replicate", trace::Kind::kClient, it->second.sent_us);
    span.remote.service_name = span.local.service_name;
    span.tags.add("raft.follower", m.from);
    span.tags.add("raft.index", it->first.first);
    hooks_.tracer->finish(std::move(span), now);
    it = pending_.erase(it);
  }
}

}  // namespace conclave::server
