#include "state/command.h"

#include <concepts>
#include <type_traits>

namespace conclave::state {
namespace {

enum OpTag : uint8_t { kCreate = 1, kDelete = 2, kSetData = 3, kSetAcl = 4, kCheck = 5 };

bool get_acl(Reader& r, AclList* acl) {
  uint32_t n = r.u32();
  if (n > r.remaining()) return false;
  acl->resize(n);
  for (auto& a : *acl) {
    a.perms = r.i32();
    a.id.scheme = std::string(r.blob());
    a.id.id = std::string(r.blob());
  }
  return r.ok();
}

bool get_op(Reader& r, Op* op) {
  switch (r.u8()) {
    case kCreate: {
      CreateOp o;
      o.path = std::string(r.blob());
      o.data = std::string(r.blob());
      o.data_null = r.boolean();
      if (!get_acl(r, &o.acl)) return false;
      o.mode = static_cast<CreateMode>(r.i32());
      o.ttl_ms = r.i64();
      *op = std::move(o);
      break;
    }
    case kDelete: {
      DeleteOp o;
      o.path = std::string(r.blob());
      o.version = r.i32();
      *op = std::move(o);
      break;
    }
    case kSetData: {
      SetDataOp o;
      o.path = std::string(r.blob());
      o.data = std::string(r.blob());
      o.data_null = r.boolean();
      o.version = r.i32();
      *op = std::move(o);
      break;
    }
    case kSetAcl: {
      SetAclOp o;
      o.path = std::string(r.blob());
      if (!get_acl(r, &o.acl)) return false;
      o.version = r.i32();
      *op = std::move(o);
      break;
    }
    case kCheck: {
      CheckOp o;
      o.path = std::string(r.blob());
      o.version = r.i32();
      *op = std::move(o);
      break;
    }
    default:
      return false;
  }
  return r.ok();
}


// Format 1: the hand-written layout that predates the field lists (read only).
bool decode_v1(Reader& r, Command* c) {
  uint8_t kind = r.u8();
  if (kind < 1 || kind > 5) return false;
  c->kind = static_cast<CommandKind>(kind);
  c->session = r.i64();
  c->time_ms = r.i64();
  uint32_t n = r.u32();
  if (n > r.remaining()) return false;
  c->auth.resize(n);
  for (auto& id : c->auth) {
    id.scheme = std::string(r.blob());
    id.id = std::string(r.blob());
  }
  c->multi = r.boolean();
  n = r.u32();
  if (n > r.remaining()) return false;
  c->ops.resize(n);
  for (auto& op : c->ops)
    if (!get_op(r, &op)) return false;
  c->timeout_ms = r.i32();
  c->password = std::string(r.blob());
  c->reap_path = std::string(r.blob());
  c->trace = std::string(r.blob());
  c->origin = r.u64();
  return r.ok() && r.at_end();
}


// ---- format 2: one field list per struct drives both directions ----

template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, Id>
void fields(V& v, T& o) { v(o.scheme); v(o.id); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, Acl>
void fields(V& v, T& o) { v(o.perms); v(o.id); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CreateOp>
void fields(V& v, T& o) { v(o.path); v(o.data); v(o.data_null); v(o.acl); v(o.mode); v(o.ttl_ms); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, DeleteOp>
void fields(V& v, T& o) { v(o.path); v(o.version); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, SetDataOp>
void fields(V& v, T& o) { v(o.path); v(o.data); v(o.data_null); v(o.version); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, SetAclOp>
void fields(V& v, T& o) { v(o.path); v(o.acl); v(o.version); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CheckOp>
void fields(V& v, T& o) { v(o.path); v(o.version); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, KvOp>
void fields(V& v, T& o) { v(o.verb); v(o.path); v(o.value); v(o.flags); v(o.index); v(o.session); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, KeyValue>
void fields(V& v, T& o) { v(o.key); v(o.value); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, TaggedAddress>
void fields(V& v, T& o) { v(o.tag); v(o.address); v(o.port); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, NodeSpec>
void fields(V& v, T& o) { v(o.name); v(o.id); v(o.address); v(o.tagged_addresses); v(o.meta); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, ServiceSpec>
void fields(V& v, T& o) {
  v(o.id); v(o.name); v(o.kind); v(o.tags); v(o.address); v(o.port); v(o.meta); v(o.tagged_addresses);
  v(o.weight_passing); v(o.weight_warning); v(o.enable_tag_override);
}
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CheckSpec>
void fields(V& v, T& o) {
  v(o.id); v(o.name); v(o.status); v(o.notes); v(o.output); v(o.service_id); v(o.type); v(o.definition);
}
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CheckStatus>
void fields(V& v, T& o) { v(o.node); v(o.check_id); v(o.status); v(o.output); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CatalogRegisterOp>
void fields(V& v, T& o) { v(o.node); v(o.has_service); v(o.service); v(o.checks); v(o.skip_node_update); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CatalogDeregisterOp>
void fields(V& v, T& o) { v(o.node); v(o.service_id); v(o.check_id); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CheckUpdateOp>
void fields(V& v, T& o) { v(o.updates); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, CatalogTxnOp>
void fields(V& v, T& o) { v(o.target); v(o.verb); v(o.node); v(o.node_name); v(o.service); v(o.check); v(o.index); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, ConsulSessionSpec>
void fields(V& v, T& o) {
  v(o.uuid); v(o.name); v(o.node); v(o.behavior); v(o.ttl_ms); v(o.lock_delay_ms); v(o.node_checks);
  v(o.service_checks);
}
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, MemberOp>
void fields(V& v, T& o) { v(o.change); v(o.id); v(o.raft_address); v(o.spec); }
template <class V, class T>
  requires std::same_as<std::remove_const_t<T>, Command>
void fields(V& v, T& c) {
  v(c.kind); v(c.session); v(c.time_ms); v(c.auth); v(c.multi); v(c.ops); v(c.timeout_ms); v(c.password);
  v(c.reap_path); v(c.trace); v(c.origin); v(c.consul); v(c.consul_session);
  if (v.format >= 4) v(c.event);
  if (v.format >= 6 && c.kind == CommandKind::kMembership) v(c.member);  // kind is read first
}

// Writes the current format: integers as (zigzag) varints, lengths and counts as varints, so
// the many zero and small fields of a command take one byte each. Older formats (fixed-width
// big-endian) only for tests that show they still decode.
struct Encoder {
  Writer& w;
  uint8_t format = kCommandFormat;
  bool varints() const { return format >= kVarintFormat; }
  void operator()(bool v) { w.boolean(v); }
  void operator()(uint8_t v) { w.u8(v); }
  void operator()(int32_t v) { varints() ? w.svarint(v) : w.i32(v); }
  void operator()(int64_t v) { varints() ? w.svarint(v) : w.i64(v); }
  void operator()(uint64_t v) { varints() ? w.uvarint(v) : w.u64(v); }
  void operator()(const std::string& v) { varints() ? w.vblob(v) : w.blob(v); }
  template <class E>
    requires std::is_enum_v<E>
  void operator()(E v) { (*this)(static_cast<std::underlying_type_t<E>>(v)); }
  template <class T>
  void operator()(const std::vector<T>& v) {
    varints() ? w.uvarint(v.size()) : w.u32(static_cast<uint32_t>(v.size()));
    for (const auto& x : v) (*this)(x);
  }
  void operator()(const Op& op) {
    w.u8(static_cast<uint8_t>(op.index()));
    std::visit([this](const auto& o) { fields(*this, o); }, op);
  }
  template <class T>
    requires(!std::is_enum_v<T> && !std::is_arithmetic_v<T>)
  void operator()(const T& o) { fields(*this, o); }
};

struct Decoder {
  Reader& r;
  uint8_t format = kCommandFormat;  // the entry's: fields added later are absent from older ones
  bool varints() const { return format >= kVarintFormat; }  // else fixed-width big-endian (2-6)
  void operator()(bool& v) { v = r.boolean(); }
  void operator()(uint8_t& v) { v = r.u8(); }
  void operator()(int32_t& v) {
    if (!varints()) {
      v = r.i32();
      return;
    }
    const int64_t x = r.svarint();
    if (x < INT32_MIN || x > INT32_MAX) return r.fail();
    v = static_cast<int32_t>(x);
  }
  void operator()(int64_t& v) { v = varints() ? r.svarint() : r.i64(); }
  void operator()(uint64_t& v) { v = varints() ? r.uvarint() : r.u64(); }
  void operator()(std::string& v) { v = std::string(varints() ? r.vblob() : r.blob()); }
  template <class E>
    requires std::is_enum_v<E>
  void operator()(E& v) {
    std::underlying_type_t<E> u{};
    (*this)(u);
    v = static_cast<E>(u);
  }
  template <class T>
  void operator()(std::vector<T>& v) {
    const uint64_t n = varints() ? r.uvarint() : r.u32();
    if (n > r.remaining()) return r.fail();
    v.resize(n);
    for (auto& x : v) (*this)(x);
  }
  template <size_t I = 0>
  void alternative(Op& op, size_t tag) {
    if constexpr (I < std::variant_size_v<Op>) {
      if (tag != I) return alternative<I + 1>(op, tag);
      std::variant_alternative_t<I, Op> o;
      fields(*this, o);
      op = std::move(o);
    } else {
      r.fail();
    }
  }
  void operator()(Op& op) { alternative(op, r.u8()); }
  template <class T>
    requires(!std::is_enum_v<T> && !std::is_arithmetic_v<T>)
  void operator()(T& o) { fields(*this, o); }
};

}  // namespace

void encode_command(const Command& c, Bytes& out) { encode_command_as(c, kCommandFormat, out); }

void encode_command_as(const Command& c, uint8_t format, Bytes& out) {
  Writer w(out);
  w.u8(format);
  Encoder e{w, format};
  fields(e, c);
}

void encode_record(Writer& w, const NodeSpec& v) { Encoder{w}(v); }
void encode_record(Writer& w, const ServiceSpec& v) { Encoder{w}(v); }
void encode_record(Writer& w, const CheckSpec& v) { Encoder{w}(v); }
bool decode_record(Reader& r, NodeSpec* v) { Decoder{r}(*v); return r.ok(); }
bool decode_record(Reader& r, ServiceSpec* v) { Decoder{r}(*v); return r.ok(); }
bool decode_record(Reader& r, CheckSpec* v) { Decoder{r}(*v); return r.ok(); }

bool decode_command(std::string_view bytes, Command* c) {
  Reader r(bytes);
  uint8_t format = r.u8();
  *c = Command{};
  if (format == 1) {
    if (!decode_v1(r, c)) return false;
  } else if (format >= 2 && format <= kCommandFormat) {
    Decoder d{r, format};
    fields(d, *c);
    if (!r.ok() || !r.at_end()) return false;
  } else {
    return false;
  }
  auto kind = static_cast<uint8_t>(c->kind);
  return kind >= 1 && kind <= 7;
}

}  // namespace conclave::state
