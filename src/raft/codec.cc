#include "raft/codec.h"

namespace conclave::raft {

void encode_conf_state(const ConfState& c, Writer& w) {
  w.u32(static_cast<uint32_t>(c.voters.size()));
  for (auto v : c.voters) w.u64(v);
  w.u32(static_cast<uint32_t>(c.learners.size()));
  for (auto v : c.learners) w.u64(v);
}

bool decode_conf_state(Reader& r, ConfState* c) {
  c->voters.clear();
  c->learners.clear();
  uint32_t n = r.u32();
  if (n > 1024) return false;
  for (uint32_t i = 0; i < n; ++i) c->voters.insert(r.u64());
  n = r.u32();
  if (n > 1024) return false;
  for (uint32_t i = 0; i < n; ++i) c->learners.insert(r.u64());
  return r.ok();
}

void encode_message(const Message& m, Bytes& out) {
  Writer w(out);
  w.u8(static_cast<uint8_t>(m.type));
  w.u64(m.from);
  w.u64(m.to);
  w.u64(m.term);
  w.u64(m.index);
  w.u64(m.log_term);
  w.u64(m.commit);
  w.boolean(m.reject);
  w.u64(m.reject_hint);
  w.u64(m.context);
  w.u32(static_cast<uint32_t>(m.entries.size()));
  for (const auto& e : m.entries) {
    w.u64(e.term);
    w.u64(e.index);
    w.u8(static_cast<uint8_t>(e.type));
    w.blob(e.data);
  }
  w.boolean(m.snapshot.has_value());
  if (m.snapshot) {
    w.u64(m.snapshot->meta.index);
    w.u64(m.snapshot->meta.term);
    encode_conf_state(m.snapshot->meta.conf, w);
    w.u64(m.snapshot->data ? m.snapshot->data->size() : 0);
    if (m.snapshot->data) w.raw(*m.snapshot->data);
  }
  w.u64(m.replicated);
}

bool decode_message(std::string_view bytes, Message* m) {
  Reader r(bytes);
  uint8_t type = r.u8();
  if (type < 1 || type > static_cast<uint8_t>(MessageType::kTimeoutNow)) return false;
  m->type = static_cast<MessageType>(type);
  m->from = r.u64();
  m->to = r.u64();
  m->term = r.u64();
  m->index = r.u64();
  m->log_term = r.u64();
  m->commit = r.u64();
  m->reject = r.boolean();
  m->reject_hint = r.u64();
  m->context = r.u64();
  uint32_t n = r.u32();
  if (n > r.remaining() / 17) return false;
  m->entries.resize(n);
  for (auto& e : m->entries) {
    e.term = r.u64();
    e.index = r.u64();
    uint8_t et = r.u8();
    if (et < 1 || et > 3) return false;
    e.type = static_cast<EntryType>(et);
    e.data = std::string(r.blob());
  }
  if (r.boolean()) {
    Snapshot s;
    s.meta.index = r.u64();
    s.meta.term = r.u64();
    if (!decode_conf_state(r, &s.meta.conf)) return false;
    uint64_t len = r.u64();
    if (len > r.remaining()) return false;
    s.data = std::make_shared<const std::string>(r.raw(static_cast<size_t>(len)));
    m->snapshot = std::move(s);
  } else {
    m->snapshot.reset();
  }
  m->replicated = r.u64();
  return r.ok() && r.at_end();
}

}  // namespace conclave::raft
