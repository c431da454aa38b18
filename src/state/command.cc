#include "state/command.h"

namespace conclave::state {
namespace {

constexpr uint8_t kVersion = 1;
enum OpTag : uint8_t { kCreate = 1, kDelete = 2, kSetData = 3, kSetAcl = 4, kCheck = 5 };

void put_acl(Writer& w, const AclList& acl) {
  w.u32(static_cast<uint32_t>(acl.size()));
  for (const auto& a : acl) {
    w.i32(a.perms);
    w.blob(a.id.scheme);
    w.blob(a.id.id);
  }
}
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

struct OpWriter {
  Writer& w;
  void operator()(const CreateOp& o) {
    w.u8(kCreate);
    w.blob(o.path);
    w.blob(o.data);
    w.boolean(o.data_null);
    put_acl(w, o.acl);
    w.i32(static_cast<int32_t>(o.mode));
    w.i64(o.ttl_ms);
  }
  void operator()(const DeleteOp& o) {
    w.u8(kDelete);
    w.blob(o.path);
    w.i32(o.version);
  }
  void operator()(const SetDataOp& o) {
    w.u8(kSetData);
    w.blob(o.path);
    w.blob(o.data);
    w.boolean(o.data_null);
    w.i32(o.version);
  }
  void operator()(const SetAclOp& o) {
    w.u8(kSetAcl);
    w.blob(o.path);
    put_acl(w, o.acl);
    w.i32(o.version);
  }
  void operator()(const CheckOp& o) {
    w.u8(kCheck);
    w.blob(o.path);
    w.i32(o.version);
  }
};

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

}  // namespace

void encode_command(const Command& c, Bytes& out) {
  Writer w(out);
  w.u8(kVersion);
  w.u8(static_cast<uint8_t>(c.kind));
  w.i64(c.session);
  w.i64(c.time_ms);
  w.u32(static_cast<uint32_t>(c.auth.size()));
  for (const auto& id : c.auth) {
    w.blob(id.scheme);
    w.blob(id.id);
  }
  w.boolean(c.multi);
  w.u32(static_cast<uint32_t>(c.ops.size()));
  for (const auto& op : c.ops) std::visit(OpWriter{w}, op);
  w.i32(c.timeout_ms);
  w.blob(c.password);
  w.blob(c.reap_path);
  w.blob(c.trace);
  w.u64(c.origin);
}

bool decode_command(std::string_view bytes, Command* c) {
  Reader r(bytes);
  if (r.u8() != kVersion) return false;
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

}  // namespace conclave::state
