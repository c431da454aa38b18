#include "zk/protocol.h"

namespace conclave::zk {

const char* op_name(int32_t type) {
  switch (type) {
    case op::kCreate: return "create";
    case op::kDelete: return "delete";
    case op::kExists: return "exists";
    case op::kGetData: return "getData";
    case op::kSetData: return "setData";
    case op::kGetAcl: return "getACL";
    case op::kSetAcl: return "setACL";
    case op::kGetChildren: return "getChildren";
    case op::kSync: return "sync";
    case op::kPing: return "ping";
    case op::kGetChildren2: return "getChildren2";
    case op::kCheck: return "check";
    case op::kMulti: return "multi";
    case op::kCreate2: return "create2";
    case op::kReconfig: return "reconfig";
    case op::kCheckWatches: return "checkWatches";
    case op::kRemoveWatches: return "removeWatches";
    case op::kCreateContainer: return "createContainer";
    case op::kDeleteContainer: return "deleteContainer";
    case op::kCreateTtl: return "createTTL";
    case op::kMultiRead: return "multiRead";
    case op::kAuth: return "auth";
    case op::kSetWatches: return "setWatches";
    case op::kSasl: return "sasl";
    case op::kGetEphemerals: return "getEphemerals";
    case op::kGetAllChildrenNumber: return "getAllChildrenNumber";
    case op::kSetWatches2: return "setWatches2";
    case op::kAddWatch: return "addWatch";
    case op::kWhoAmI: return "whoAmI";
    case op::kCreateSession: return "createSession";
    case op::kCloseSession: return "closeSession";
    default: return "unknown";
  }
}

bool decode_connect(std::string_view body, ConnectRequest* out) {
  Reader r(body);
  out->protocol_version = r.i32();
  out->last_zxid_seen = r.i64();
  out->timeout_ms = r.i32();
  out->session_id = r.i64();
  out->password = std::string(r.blob());
  if (!r.ok()) return false;
  if (r.remaining() >= 1) {
    out->read_only = r.boolean();
    out->has_read_only = true;
  }
  return true;
}

Bytes encode_connect_response(const ConnectResponse& resp, bool with_read_only) {
  Bytes out;
  Writer w(out);
  w.u32(0);
  w.i32(resp.protocol_version);
  w.i32(resp.timeout_ms);
  w.i64(resp.session_id);
  w.blob(resp.password);
  if (with_read_only) w.boolean(resp.read_only);
  finish_frame(out, 0);
  return out;
}

void begin_reply(Bytes& out, int32_t xid, int64_t zxid, int32_t err) {
  Writer w(out);
  w.u32(0);  // length, patched by finish_frame
  w.i32(xid);
  w.i64(zxid);
  w.i32(err);
}

void finish_frame(Bytes& out, size_t frame_start) {
  Writer w(out);
  w.patch_u32(frame_start, static_cast<uint32_t>(out.size() - frame_start - 4));
}

void put_stat(Writer& w, const state::Stat& s) {
  w.i64(s.czxid);
  w.i64(s.mzxid);
  w.i64(s.ctime);
  w.i64(s.mtime);
  w.i32(s.version);
  w.i32(s.cversion);
  w.i32(s.aversion);
  w.i64(s.ephemeral_owner);
  w.i32(s.data_length);
  w.i32(s.num_children);
  w.i64(s.pzxid);
}

void put_acl_list(Writer& w, const state::AclList& acl) {
  w.i32(static_cast<int32_t>(acl.size()));
  for (const auto& a : acl) {
    w.i32(a.perms);
    w.blob(a.id.scheme);
    w.blob(a.id.id);
  }
}

bool get_acl_list(Reader& r, state::AclList* acl) {
  int32_t n = r.i32();
  if (n == -1) {  // a null vector
    acl->clear();
    return r.ok();
  }
  if (n < 0 || static_cast<size_t>(n) > r.remaining()) return false;
  acl->resize(static_cast<size_t>(n));
  for (auto& a : *acl) {
    a.perms = r.i32();
    a.id.scheme = std::string(r.blob());
    a.id.id = std::string(r.blob());
  }
  return r.ok();
}

void put_string_vector(Writer& w, const std::vector<std::string>& v) {
  w.i32(static_cast<int32_t>(v.size()));
  for (const auto& s : v) w.blob(s);
}

bool get_string_vector(Reader& r, std::vector<std::string>* v) {
  int32_t n = r.i32();
  if (n == -1) {
    v->clear();
    return r.ok();
  }
  if (n < 0 || static_cast<size_t>(n) > r.remaining()) return false;
  v->resize(static_cast<size_t>(n));
  for (auto& s : *v) s = std::string(r.blob());
  return r.ok();
}

bool decode_create(Reader& r, int32_t type, state::CreateOp* op) {
  op->path = std::string(r.blob());
  op->data = std::string(r.blob(&op->data_null));
  if (!get_acl_list(r, &op->acl)) return false;
  int32_t flags = r.i32();
  op->mode = static_cast<state::CreateMode>(flags);
  op->ttl_ms = type == op::kCreateTtl ? r.i64() : -1;
  return r.ok();
}

bool decode_write_op(int32_t type, Reader& r, state::Op* out) {
  switch (type) {
    case op::kCreate:
    case op::kCreate2:
    case op::kCreateContainer:
    case op::kCreateTtl: {
      state::CreateOp o;
      if (!decode_create(r, type, &o)) return false;
      *out = std::move(o);
      return true;
    }
    case op::kDelete:
    case op::kDeleteContainer: {
      state::DeleteOp o;
      o.path = std::string(r.blob());
      o.version = type == op::kDelete ? r.i32() : -1;
      *out = std::move(o);
      return r.ok();
    }
    case op::kSetData: {
      state::SetDataOp o;
      o.path = std::string(r.blob());
      o.data = std::string(r.blob(&o.data_null));
      o.version = r.i32();
      *out = std::move(o);
      return r.ok();
    }
    case op::kSetAcl: {
      state::SetAclOp o;
      o.path = std::string(r.blob());
      if (!get_acl_list(r, &o.acl)) return false;
      o.version = r.i32();
      *out = std::move(o);
      return r.ok();
    }
    case op::kCheck: {
      state::CheckOp o;
      o.path = std::string(r.blob());
      o.version = r.i32();
      *out = std::move(o);
      return r.ok();
    }
    default:
      return false;
  }
}

bool decode_multi(std::string_view body, bool read_only, std::vector<MultiElement>* out) {
  Reader r(body);
  for (int guard = 0; guard < 1'000'000; ++guard) {
    int32_t type = r.i32();
    bool done = r.boolean();
    r.i32();  // err, unused in requests
    if (!r.ok()) return false;
    if (done) return true;
    MultiElement e;
    e.type = type;
    if (read_only) {
      if (type != op::kGetChildren && type != op::kGetData) return false;
      e.path = std::string(r.blob());
      e.watch = r.boolean();
    } else {
      if (type != op::kCreate && type != op::kCreate2 && type != op::kCreateTtl &&
          type != op::kCreateContainer && type != op::kDelete && type != op::kSetData &&
          type != op::kCheck)
        return false;
      if (!decode_write_op(type, r, &e.op)) return false;
    }
    if (!r.ok()) return false;
    out->push_back(std::move(e));
  }
  return false;
}

Bytes encode_notification(int64_t zxid, state::EventType type, int32_t keeper_state, std::string_view path) {
  Bytes out;
  begin_reply(out, xid::kNotification, zxid, 0);
  Writer w(out);
  w.i32(static_cast<int32_t>(type));
  w.i32(keeper_state);
  w.blob(path);
  finish_frame(out, 0);
  return out;
}

}  // namespace conclave::zk
