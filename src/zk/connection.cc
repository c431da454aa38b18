#include "zk/connection.h"

#include <algorithm>
#include <array>

#include "common/digest.h"
#include "common/log.h"
#include "state/acl.h"
#include "state/path.h"
#include "trace/tracer.h"
#include "zk/protocol.h"
#include "zk/reconfig.h"
#include "zk/sasl.h"
#include "zk/server.h"

namespace conclave::zk {
namespace {

constexpr int32_t kSyncConnected = 3;

bool is_four_letter(std::string_view w) {
  static const char* kWords[] = {"ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "gtmk",
                                 "isro", "mntr", "srst", "stmk", "wchc", "wchp", "wchs", "dirs"};
  return std::any_of(std::begin(kWords), std::end(kWords), [&](const char* k) { return w == k; });
}

bool is_write(int32_t type) {
  switch (type) {
    case op::kCreate:
    case op::kCreate2:
    case op::kCreateContainer:
    case op::kCreateTtl:
    case op::kDelete:
    case op::kDeleteContainer:
    case op::kSetData:
    case op::kSetAcl:
    case op::kCheck:
      return true;
    default:
      return false;
  }
}

bool is_read(int32_t type) {
  switch (type) {
    case op::kExists:
    case op::kGetData:
    case op::kGetAcl:
    case op::kGetChildren:
    case op::kGetChildren2:
    case op::kPing:
    case op::kGetAllChildrenNumber:
    case op::kGetEphemerals:
    case op::kMultiRead:
    case op::kSetWatches:
    case op::kSetWatches2:
    case op::kAddWatch:
    case op::kRemoveWatches:
    case op::kCheckWatches:
    case op::kWhoAmI:
      return true;
    default:
      return false;
  }
}

int32_t code(state::Code c) { return static_cast<int32_t>(c); }

// The four-letter abbreviations ZooKeeper's `cons` shows as lop=.
const char* short_op_name(int32_t type) {
  switch (type) {
    case op::kCreate: case op::kCreate2: case op::kCreateContainer: case op::kCreateTtl: return "CREA";
    case op::kDelete: return "DELE";
    case op::kExists: return "EXIS";
    case op::kGetData: return "GETD";
    case op::kSetData: return "SETD";
    case op::kGetAcl: return "GACL";
    case op::kSetAcl: return "SACL";
    case op::kGetChildren: case op::kGetChildren2: return "GETC";
    case op::kSync: return "SYNC";
    case op::kPing: return "PING";
    case op::kCheck: return "CHEC";
    case op::kMulti: return "MULT";
    case op::kMultiRead: return "MLTR";
    case op::kSetWatches: case op::kSetWatches2: return "SETW";
    case op::kAddWatch: return "ADDW";
    case op::kRemoveWatches: return "REMW";
    case op::kCheckWatches: return "CHKW";
    case op::kGetEphemerals: return "GETE";
    case op::kGetAllChildrenNumber: return "GETACN";
    case op::kWhoAmI: return "HOMI";
    case op::kCloseSession: return "CLOS";
    default: return "UNKN";
  }
}

}  // namespace

Connection::Connection(ZkServer& server, net::Stream& stream, uint64_t id)
    : server_(server), stream_(stream), id_(id) {
  auth_.push_back(state::Id{"ip", stream.remote_address()});
  stats_.established_ms = server_.backend().wall_ms();
  server_.register_connection(this);
}

Connection::~Connection() {
  if (phase_ != Phase::kClosed) server_.unregister_connection(this);
}

void Connection::on_close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  server_.unregister_connection(this);
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  server_.unregister_connection(this);
  stream_.close();
}

void Connection::detach_session_and_close() {
  session_id_ = 0;
  close();
}

void Connection::malformed(const char* why) {
  server_.mutable_counters().malformed_frames++;
  log::warn("zk", "closing connection from {}:{} (session 0x{:x}): {}", stream_.remote_address(),
            stream_.remote_port(), session_id_, why);
  close();
}

void Connection::send(Bytes bytes) {
  if (phase_ == Phase::kClosed) return;
  ++sent_;
  server_.mutable_counters().packets_sent++;
  stream_.send(std::move(bytes));
}

void Connection::notify(state::EventType type, const std::string& path) {
  send(encode_notification(-1, type, kSyncConnected, path));
}

bool Connection::try_four_letter() {
  std::string_view word(inbuf_.data() + inbuf_pos_, 4);
  if (!is_four_letter(word)) return false;
  std::string reply = server_.four_letter(word);
  stream_.send(std::move(reply));
  close();
  return true;
}

void Connection::on_data(std::string_view bytes) {
  if (phase_ == Phase::kClosed) return;
  inbuf_.append(bytes.data(), bytes.size());
  while (phase_ != Phase::kClosed && phase_ != Phase::kAwaitSession) {
    size_t avail = inbuf_.size() - inbuf_pos_;
    if (avail < 4) break;
    if (phase_ == Phase::kAwaitConnect && received_ == 0 && try_four_letter()) return;
    Reader r(std::string_view(inbuf_).substr(inbuf_pos_, 4));
    int32_t len = r.i32();
    if (len < 0 || static_cast<uint32_t>(len) > server_.options().max_frame_bytes) {
      malformed("frame length out of bounds");
      return;
    }
    if (avail - 4 < static_cast<size_t>(len)) break;
    std::string_view frame(inbuf_.data() + inbuf_pos_ + 4, static_cast<size_t>(len));
    ++received_;
    server_.mutable_counters().packets_received++;
    bool ok = handle_frame(frame);
    inbuf_pos_ += 4 + static_cast<size_t>(len);
    if (!ok) return;
  }
  if (phase_ == Phase::kClosed) return;
  if (inbuf_pos_ == inbuf_.size()) {
    inbuf_.clear();
    inbuf_pos_ = 0;
  } else if (inbuf_pos_ > 64 * 1024) {
    inbuf_.erase(0, inbuf_pos_);
    inbuf_pos_ = 0;
  }
}

bool Connection::handle_frame(std::string_view frame) {
  if (phase_ == Phase::kAwaitConnect) return handle_connect(frame);
  return handle_request(frame);
}

bool Connection::handle_connect(std::string_view frame) {
  ConnectRequest req;
  if (!decode_connect(frame, &req)) {
    malformed("malformed ConnectRequest");
    return false;
  }
  auto& backend = server_.backend();
  const auto& tree = backend.tree();
  if (req.last_zxid_seen > tree.last_zxid()) {
    log::info("zk", "refusing session request from {}: client has seen zxid 0x{:x}, ours is 0x{:x}",
              stream_.remote_address(), req.last_zxid_seen, tree.last_zxid());
    close();
    return false;
  }
  const auto& opt = server_.options();
  int32_t timeout = std::clamp(req.timeout_ms, opt.min_session_timeout_ms, opt.max_session_timeout_ms);
  bool with_ro = req.has_read_only;
  if (req.session_id != 0) {
    const state::SessionInfo* s = tree.session(req.session_id);
    bool ok = s != nullptr && s->password == req.password;
    if (!ok) {
      log::info("zk", "invalid session 0x{:x} from {} ({})", req.session_id, stream_.remote_address(),
                s ? "wrong password" : "expired or unknown");
      // ZooKeeper 3.8 also drops the session's current connection in this case (its
      // reopenSession closes the owner before checking the password); clients reconnect.
      if (s)
        if (Connection* owner = server_.connection_for_session(req.session_id)) owner->close();
    }
    finish_connect(req.session_id, timeout, ok ? s->password : std::string(), ok, with_ro);
    return ok;
  }
  state::Command cmd;
  cmd.kind = state::CommandKind::kCreateSession;
  cmd.session = backend.next_session_id();
  cmd.time_ms = backend.wall_ms();
  cmd.timeout_ms = timeout;
  cmd.password = backend.random_bytes(16);
  phase_ = Phase::kAwaitSession;
  uint64_t self = id_;
  ZkServer* server = &server_;
  state::SessionId sid = cmd.session;
  std::string pw = cmd.password;
  backend.propose(std::move(cmd), [server, self, sid, timeout, pw, with_ro](const state::ApplyResult& r) {
    Connection* c = server->find_connection(self);
    if (!c) return;
    if (r.code == state::Code::kConnectionLoss) {
      c->close();  // no leader to create the session: the client retries, maybe elsewhere
      return;
    }
    c->finish_connect(sid, timeout, pw, r.code == state::Code::kOk, with_ro);
    if (c->phase_ == Phase::kReady) c->on_data({});  // process requests pipelined behind the connect
  });
  return false;  // stop parsing until the session exists
}

void Connection::finish_connect(state::SessionId id, int32_t timeout, const std::string& password,
                                bool ok, bool with_read_only) {
  ConnectResponse resp;
  if (ok) {
    resp.timeout_ms = timeout;
    resp.session_id = id;
    resp.password = password;
  } else {
    resp.password.assign(16, '\0');
  }
  send(encode_connect_response(resp, with_read_only));
  if (!ok) {
    close();
    return;
  }
  session_id_ = id;
  timeout_ms_ = timeout;
  phase_ = Phase::kReady;
  server_.bind_session(id, this, timeout);
}

bool Connection::handle_request(std::string_view frame) {
  Reader r(frame);
  int32_t xid = r.i32();
  int32_t type = r.i32();
  if (!r.ok()) {
    malformed("truncated request header");
    return false;
  }
  std::string_view body = r.rest();
  server_.touch_session(session_id_);
  if (type >= 0 && type < 128) server_.mutable_counters().requests_by_op[type]++;
  // The request's span goes into the slot enqueue() makes for it; one that made none is dropped.
  // While the request is dispatched, what it starts (a proposal, a forward) joins its span.
  current_span_ = start_span(xid, type, body);
  struct DropUnclaimed {
    std::unique_ptr<trace::Span>& span;
    ~DropUnclaimed() { span.reset(); }
  } drop_unclaimed{current_span_};
  trace::ActiveScope scope(server_.backend().tracer(),
                           current_span_ ? std::optional(trace::parent_of(*current_span_)) : std::nullopt);

  if (type == op::kAuth) {
    handle_auth(xid, body);
    return phase_ != Phase::kClosed;
  }
  if (type == op::kSasl) {
    handle_sasl(xid, body);
    return phase_ != Phase::kClosed;
  }
  if (type == op::kCloseSession) {
    state::Command cmd;
    cmd.kind = state::CommandKind::kCloseSession;
    cmd.session = session_id_;
    cmd.time_ms = server_.backend().wall_ms();
    server_.session_closing(session_id_);
    Pending* slot = enqueue(xid, type);
    slot->close_after = true;
    propose_into(slot, std::move(cmd), [](const Pending& p, const state::ApplyResult& r) {
      Bytes out;
      begin_reply(out, p.xid, r.zxid, 0);
      finish_frame(out, 0);
      return out;
    });
    return true;
  }
  if (type == op::kSync) {
    // A no-op through the log: when it is applied here, everything committed before the sync
    // has been applied too, so the next read is up to date (ZooKeeper's sync).
    Reader br(body);
    std::string path(br.blob());
    if (!br.ok()) {
      server_.mutable_counters().malformed_requests++;
      reply_error(xid, type, state::Code::kMarshallingError);
      return phase_ != Phase::kClosed;
    }
    state::Command cmd;
    cmd.kind = state::CommandKind::kNoop;
    cmd.session = session_id_;
    cmd.time_ms = server_.backend().wall_ms();
    propose_into(enqueue(xid, type, std::move(path)), std::move(cmd), [](const Pending& p, const state::ApplyResult& r) {
      Bytes out;
      begin_reply(out, p.xid, r.zxid, static_cast<int32_t>(r.code));
      if (r.code == state::Code::kOk) Writer(out).blob(p.body);
      finish_frame(out, 0);
      return out;
    });
    return true;
  }
  if (is_write(type)) {
    state::Op o;
    Reader br(body);
    if (!decode_write_op(type, br, &o)) {
      // ZooKeeper answers an undecodable body with MarshallingError and keeps the connection.
      server_.mutable_counters().malformed_requests++;
      reply_error(xid, type, state::Code::kMarshallingError);
      return phase_ != Phase::kClosed;
    }
    if (type == op::kCreateContainer) {
      auto& c = std::get<state::CreateOp>(o);
      if (c.mode != state::CreateMode::kContainer) c.mode = state::CreateMode::kContainer;
    }
    std::vector<state::Op> ops;
    ops.push_back(std::move(o));
    propose_write(xid, type, std::move(ops), false);
    return true;
  }
  if (type == op::kMulti) {
    std::vector<MultiElement> elems;
    if (!decode_multi(body, false, &elems)) {
      server_.mutable_counters().malformed_requests++;
      reply_error(xid, type, state::Code::kMarshallingError);
      return phase_ != Phase::kClosed;
    }
    std::vector<state::Op> ops;
    for (auto& e : elems) {
      if (e.type == op::kCreateContainer) std::get<state::CreateOp>(e.op).mode = state::CreateMode::kContainer;
      ops.push_back(std::move(e.op));
    }
    // Remember each element's op type for the reply encoding.
    std::string types;
    Writer tw(types);
    for (auto& e : elems) tw.i32(e.type);
    propose_write(xid, type, std::move(ops), true, std::move(types));
    return true;
  }
  if (is_read(type)) {
    enqueue_read(xid, type, body);
    return phase_ != Phase::kClosed;
  }
  if (type == op::kReconfig) {
    handle_reconfig(xid, body);
    return phase_ != Phase::kClosed;
  }
  if (type == op::kCreateSession) {
    reply_error(xid, type, state::Code::kMarshallingError);
    return phase_ != Phase::kClosed;
  }
  // ZooKeeper's UnimplementedRequestProcessor: reply Unimplemented, then close.
  log::info("zk", "unknown op type {} from {} (session 0x{:x}); closing", type, stream_.remote_address(), session_id_);
  Pending* p = enqueue(xid, type);
  begin_reply(p->reply, xid, -1, code(state::Code::kUnimplemented));
  finish_frame(p->reply, 0);
  p->done = true;
  p->close_after = true;
  flush();
  return false;
}

void Connection::handle_reconfig(int32_t xid, std::string_view body) {
  // ZooKeeper's order: reconfigEnabled, the request's syntax, then (on the leader) the version,
  // the new configuration's quorum, and last WRITE on /zookeeper/config (only the super user).
  const int32_t type = op::kReconfig;
  if (!server_.options().reconfig_enabled) return reply_error(xid, type, state::Code::kReconfigDisabled);
  Reader br(body);
  bool jn = false, ln = false, mn = false;
  std::string joining(br.blob(&jn)), leaving(br.blob(&ln)), members(br.blob(&mn));
  int64_t from_version = br.i64();
  if (!br.ok()) {
    server_.mutable_counters().malformed_requests++;
    return reply_error(xid, type, state::Code::kMarshallingError);
  }
  const auto& tree = server_.backend().tree();
  const state::Node* config = tree.find("/zookeeper/config");
  auto opt = [](bool is_null, const std::string& s) { return is_null ? std::nullopt : std::optional<std::string_view>(s); };
  auto parsed = parse_reconfig(opt(jn, joining), opt(ln, leaving), opt(mn, members), from_version,
                               tree.cluster_config());
  if (parsed.code != state::Code::kOk) {
    log::info("zk", "reconfig from session 0x{:x} refused: {}", session_id_, parsed.message);
    return reply_error(xid, type, parsed.code);
  }
  parsed.request.authorized = state::acl_allows(tree.acl_of(*config), state::perms::kWrite, auth_);
  Pending* slot = enqueue(xid, type);
  uint64_t self = id_;
  ZkServer* server = &server_;
  server_.backend().change_membership(std::move(parsed.request), [server, self, slot](const server::MembershipResult& r) {
    Connection* c = server->find_connection(self);
    if (!c) return;
    const auto& tree = server->backend().tree();
    Bytes out;
    begin_reply(out, slot->xid, tree.last_zxid(), static_cast<int32_t>(r.code));
    if (r.code == state::Code::kOk) {
      // GetDataResponse: the configuration as this node now has it.
      const state::Node* n = tree.find("/zookeeper/config");
      Writer w(out);
      w.blob(n->data());
      put_stat(w, tree.stat_of(*n));
    } else {
      log::info("zk", "reconfig from session 0x{:x} failed: {}", c->session_id_, r.message);
    }
    finish_frame(out, 0);
    slot->reply = std::move(out);
    if (r.code == state::Code::kConnectionLoss) slot->close_after = true;
    slot->done = true;
    c->flush();
  });
}

void Connection::reply_error(int32_t xid, int32_t type, state::Code c, std::string_view body) {
  Pending* p = enqueue(xid, type);
  begin_reply(p->reply, xid, server_.backend().tree().last_zxid(), static_cast<int32_t>(c));
  p->reply.append(body.data(), body.size());
  finish_frame(p->reply, 0);
  p->done = true;
  flush();
}

void Connection::propose_write(int32_t xid, int32_t type, std::vector<state::Op> ops, bool multi,
                               std::string multi_types) {
  auto& backend = server_.backend();
  state::Command cmd;
  cmd.kind = state::CommandKind::kTxn;
  cmd.session = session_id_;
  cmd.time_ms = backend.wall_ms();
  cmd.auth = auth_;
  cmd.multi = multi;
  cmd.ops = std::move(ops);
  propose_into(enqueue(xid, type, std::move(multi_types)), std::move(cmd),
               [this](const Pending& p, const state::ApplyResult& r) { return encode_write_reply(p, r); });
}

Connection::Pending* Connection::enqueue(int32_t xid, int32_t type, std::string body) {
  Pending p;
  p.xid = xid;
  p.type = type;
  p.body = std::move(body);
  p.start_us = server_.backend().monotonic_us();
  p.span = std::move(current_span_);
  queue_.push_back(std::move(p));
  // list::push_back keeps the addresses of existing elements; pop_front only invalidates the
  // popped element, and a slot is popped only once done. So the pointer stays valid while the
  // connection lives, and the completion checks that it does.
  return &queue_.back();
}

void Connection::propose_into(Pending* slot, state::Command cmd, Encoder encode) {
  uint64_t self = id_;
  ZkServer* server = &server_;
  server_.backend().propose(std::move(cmd), [server, self, slot, encode = std::move(encode)](const state::ApplyResult& r) {
    Connection* c = server->find_connection(self);
    if (!c) return;
    slot->reply = encode(*slot, r);
    // ConnectionLoss means the outcome is unknown (no leader, or leadership changed): tell the
    // client and let it reconnect, maybe elsewhere, as ZooKeeper's clients do.
    if (r.code == state::Code::kConnectionLoss) slot->close_after = true;
    slot->done = true;
    c->flush();
  });
}

void Connection::enqueue_read(int32_t xid, int32_t type, std::string_view body) {
  enqueue(xid, type, std::string(body))->is_read = true;
  flush();
}

void Connection::flush() {
  while (!queue_.empty() && phase_ != Phase::kClosed) {
    Pending& p = queue_.front();
    if (p.is_read && !p.done) {
      p.reply = execute_read(p);
      p.done = true;
    }
    if (!p.done) break;
    bool close_after = p.close_after;
    auto& ctr = server_.mutable_counters();
    const int64_t lat_us = std::max<int64_t>(0, server_.backend().monotonic_us() - p.start_us);
    if (p.type != op::kPing) {
      auto lat = static_cast<uint64_t>(lat_us / 1000);
      ctr.latency_by_op[p.type].observe_us(lat_us);
      ctr.latency_count++;
      ctr.latency_sum_ms += lat;
      ctr.latency_min_ms = std::min(ctr.latency_min_ms, lat);
      ctr.latency_max_ms = std::max(ctr.latency_max_ms, lat);
    }
    {
      int64_t lat = lat_us / 1000;
      stats_.last_op = short_op_name(p.type);
      if (p.xid >= 0) stats_.last_cxid = p.xid;
      stats_.last_response_ms = server_.backend().wall_ms();
      stats_.last_latency_ms = lat;
      stats_.min_latency_ms = stats_.min_latency_ms < 0 ? lat : std::min(stats_.min_latency_ms, lat);
      stats_.max_latency_ms = std::max(stats_.max_latency_ms, lat);
      stats_.sum_latency_ms += lat;
      stats_.responses++;
    }
    if (p.span) finish_span(p, p.reply);
    Bytes reply = std::move(p.reply);
    queue_.pop_front();
    if (!reply.empty()) send(std::move(reply));
    if (close_after) {
      if (phase_ != Phase::kClosed) {
        session_id_ = 0;
        close();
      }
      return;
    }
  }
}

Bytes Connection::encode_write_reply(const Pending& p, const state::ApplyResult& r) {
  Bytes out;
  last_zxid_ = r.zxid;
  if (p.type == op::kMulti) {
    begin_reply(out, p.xid, r.zxid, 0);
    Writer w(out);
    Reader types(p.body);
    bool failed = r.code != state::Code::kOk;
    for (const auto& res : r.results) {
      int32_t t = types.i32();
      if (failed || res.code != state::Code::kOk) {
        w.i32(op::kError);
        w.boolean(false);
        w.i32(code(res.code));
        w.i32(code(res.code));
        continue;
      }
      switch (t) {
        case op::kCreate:
        case op::kCreate2:  // ZooKeeper 3.8 answers create2 inside multi with a path-only result
          w.i32(op::kCreate);
          w.boolean(false);
          w.i32(0);
          w.blob(res.path);
          break;
        case op::kCreateTtl:
        case op::kCreateContainer:
          w.i32(op::kCreate2);
          w.boolean(false);
          w.i32(0);
          w.blob(res.path);
          put_stat(w, res.stat);
          break;
        case op::kSetData:
          w.i32(op::kSetData);
          w.boolean(false);
          w.i32(0);
          put_stat(w, res.stat);
          break;
        default:  // delete, check: header only
          w.i32(t);
          w.boolean(false);
          w.i32(0);
          break;
      }
    }
    w.i32(-1);
    w.boolean(true);
    w.i32(-1);
    finish_frame(out, 0);
    return out;
  }
  const state::OpResult* res = r.results.empty() ? nullptr : &r.results[0];
  state::Code c = res ? res->code : r.code;
  begin_reply(out, p.xid, r.zxid, code(c));
  if (c == state::Code::kOk && res) {
    Writer w(out);
    switch (p.type) {
      case op::kCreate:
        w.blob(res->path);
        break;
      case op::kCreate2:
      case op::kCreateTtl:
      case op::kCreateContainer:
        w.blob(res->path);
        put_stat(w, res->stat);
        break;
      case op::kSetData:
      case op::kSetAcl:
        put_stat(w, res->stat);
        break;
      default:
        break;
    }
  }
  finish_frame(out, 0);
  return out;
}

Bytes Connection::execute_read(const Pending& p) {
  const auto& tree = server_.backend().tree();
  auto& watches = server_.watches();
  int64_t zxid = tree.last_zxid();
  last_zxid_ = zxid;
  Bytes out;
  Reader r(p.body);
  auto error = [&](state::Code c) {
    out.clear();
    begin_reply(out, p.xid, zxid, code(c));
    finish_frame(out, 0);
    return out;
  };
  auto has_nul = [](std::string_view s) { return s.find('\0') != std::string_view::npos; };
  auto norm = [](std::string p) { return p.empty() ? std::string("/") : p; };  // "" reads as "/"
  // The common prologue of reads that need the node and READ permission on it.
  auto readable = [&](std::string& path, const state::Node** n) {
    path = norm(path);
    *n = tree.find(path);
    if (!*n) return state::Code::kNoNode;
    if (!state::acl_allows(tree.acl_of(**n), state::perms::kRead, auth_)) return state::Code::kNoAuth;
    return state::Code::kOk;
  };
  begin_reply(out, p.type == op::kPing ? xid::kPing : p.xid, zxid, 0);
  Writer w(out);
  switch (p.type) {
    case op::kPing:
      break;
    case op::kSync: {
      std::string path(r.blob());
      w.blob(path);
      break;
    }
    case op::kExists: {
      std::string path(r.blob());
      bool watch = r.boolean();
      if (!r.ok()) return error(state::Code::kMarshallingError);
      if (has_nul(path)) return error(state::Code::kBadArguments);
      path = norm(path);
      const state::Node* n = tree.find(path);
      if (watch) watches.add(id_, state::WatchKind::kData, path);
      if (!n) return error(state::Code::kNoNode);
      put_stat(w, tree.stat_of(*n));
      break;
    }
    case op::kGetData: {
      std::string path(r.blob());
      bool watch = r.boolean();
      if (!r.ok()) return error(state::Code::kMarshallingError);
      const state::Node* n = nullptr;
      if (auto c = readable(path, &n); c != state::Code::kOk) return error(c);
      if (watch) watches.add(id_, state::WatchKind::kData, path);
      if (n->data_null()) w.null_blob();
      else w.blob(n->data());
      put_stat(w, tree.stat_of(*n));
      break;
    }
    case op::kGetAcl: {
      std::string path(r.blob());
      if (!r.ok()) return error(state::Code::kMarshallingError);
      path = norm(path);
      const state::Node* n = tree.find(path);
      if (!n) return error(state::Code::kNoNode);
      const auto& acl = tree.acl_of(*n);
      if (!state::acl_allows(acl, state::perms::kRead | state::perms::kAdmin, auth_))
        return error(state::Code::kNoAuth);
      if (state::acl_allows(acl, state::perms::kAdmin, auth_)) {
        put_acl_list(w, acl);
      } else {
        // Without ADMIN, digest ids are masked (ZooKeeper 3.8 FinalRequestProcessor).
        state::AclList masked = acl;
        for (auto& a : masked) {
          if (a.id.scheme != "digest") continue;
          auto colon = a.id.id.find(':');
          if (colon != std::string::npos) a.id.id = a.id.id.substr(0, colon) + ":x";
        }
        put_acl_list(w, masked);
      }
      put_stat(w, tree.stat_of(*n));
      break;
    }
    case op::kGetChildren:
    case op::kGetChildren2: {
      std::string path(r.blob());
      bool watch = r.boolean();
      if (!r.ok()) return error(state::Code::kMarshallingError);
      const state::Node* n = nullptr;
      if (auto c = readable(path, &n); c != state::Code::kOk) return error(c);
      if (watch) watches.add(id_, state::WatchKind::kChild, path);
      w.i32(static_cast<int32_t>(n->child_count()));
      tree.for_each_child(*n, [&](std::string_view c) { w.blob(c); });
      if (p.type == op::kGetChildren2) put_stat(w, tree.stat_of(*n));
      break;
    }
    case op::kGetAllChildrenNumber: {
      std::string path(r.blob());
      if (!r.ok()) return error(state::Code::kMarshallingError);
      const state::Node* n = nullptr;
      if (auto c = readable(path, &n); c != state::Code::kOk) return error(c);
      w.i32(tree.count_descendants(path));
      break;
    }
    case op::kGetEphemerals: {
      std::string prefix(r.blob());
      if (!r.ok()) return error(state::Code::kMarshallingError);
      std::vector<std::string> out_paths;
      if (const state::SessionInfo* s = tree.session(session_id_)) {
        for (const auto& e : s->ephemerals)
          if (prefix == "/" || e.rfind(prefix, 0) == 0) out_paths.push_back(e);
      }
      put_string_vector(w, out_paths);
      break;
    }
    case op::kMultiRead: {
      std::vector<MultiElement> elems;
      if (!decode_multi(p.body, true, &elems)) {
        out.clear();
        begin_reply(out, p.xid, zxid, code(state::Code::kMarshallingError));
        Writer end(out);
        end.i32(-1);
        end.boolean(true);
        end.i32(-1);
        finish_frame(out, 0);
        return out;
      }
      for (const auto& e : elems) {
        // ZooKeeper 3.8 ignores the watch flags of multiRead's operations.
        std::string path = e.path;
        const state::Node* n = nullptr;
        state::Code c = readable(path, &n);
        if (c != state::Code::kOk) {
          w.i32(op::kError);
          w.boolean(false);
          w.i32(code(c));
          w.i32(code(c));
          continue;
        }
        w.i32(e.type);
        w.boolean(false);
        w.i32(0);
        if (e.type == op::kGetChildren) {
          w.i32(static_cast<int32_t>(n->child_count()));
          tree.for_each_child(*n, [&](std::string_view c2) { w.blob(c2); });
        } else {
          if (n->data_null()) w.null_blob();
          else w.blob(n->data());
          put_stat(w, tree.stat_of(*n));
        }
      }
      w.i32(-1);
      w.boolean(true);
      w.i32(-1);
      break;
    }
    case op::kSetWatches:
    case op::kSetWatches2: {
      int64_t rel = r.i64();
      std::vector<std::string> data, exist, child, persistent, recursive;
      bool ok = get_string_vector(r, &data) && get_string_vector(r, &exist) && get_string_vector(r, &child);
      if (ok && p.type == op::kSetWatches2)
        ok = get_string_vector(r, &persistent) && get_string_vector(r, &recursive);
      if (!ok) return error(state::Code::kMarshallingError);
      // ZooKeeper's DataTree.setWatches: fire what changed since `rel`, register the rest.
      for (const auto& path : data) {
        const state::Node* n = tree.find(path);
        if (!n) notify(state::EventType::kNodeDeleted, path);
        else if (n->mzxid > rel) notify(state::EventType::kNodeDataChanged, path);
        else watches.add(id_, state::WatchKind::kData, path);
      }
      for (const auto& path : exist) {
        if (tree.find(path)) notify(state::EventType::kNodeCreated, path);
        else watches.add(id_, state::WatchKind::kData, path);
      }
      for (const auto& path : child) {
        const state::Node* n = tree.find(path);
        if (!n) notify(state::EventType::kNodeDeleted, path);
        else if (n->pzxid() > rel) notify(state::EventType::kNodeChildrenChanged, path);
        else watches.add(id_, state::WatchKind::kChild, path);
      }
      for (const auto& path : persistent) watches.add(id_, state::WatchKind::kPersistent, path);
      for (const auto& path : recursive) watches.add(id_, state::WatchKind::kPersistentRecursive, path);
      break;
    }
    case op::kAddWatch: {
      std::string path(r.blob());
      int32_t mode = r.i32();
      if (!r.ok()) return error(state::Code::kMarshallingError);
      if (mode == 0) watches.add(id_, state::WatchKind::kPersistent, path);
      else if (mode == 1) watches.add(id_, state::WatchKind::kPersistentRecursive, path);
      else return error(state::Code::kMarshallingError);
      w.i32(0);  // ZooKeeper replies with an ErrorResponse(0) body
      break;
    }
    case op::kRemoveWatches:
    case op::kCheckWatches: {
      std::string path(r.blob());
      int32_t type = r.i32();
      if (!r.ok() || type < 1 || type > 3) return error(state::Code::kMarshallingError);
      // ZooKeeper's checkWatches walks the path's parents and fails with an internal error
      // (reported as MarshallingError) on a relative path.
      if (p.type == op::kCheckWatches && !path.empty() && path[0] != '/') return error(state::Code::kMarshallingError);
      bool found = p.type == op::kCheckWatches ? watches.any_on(path, type) : watches.remove(id_, path, type);
      if (!found) return error(state::Code::kNoWatcher);
      break;
    }
    case op::kWhoAmI: {
      w.i32(static_cast<int32_t>(auth_.size()));
      for (const auto& id : auth_) {
        w.blob(id.scheme);
        if (id.scheme == "digest") w.blob(id.id.substr(0, id.id.find(':')));
        else w.blob(id.id);
      }
      break;
    }
    default:
      return error(state::Code::kUnimplemented);
  }
  finish_frame(out, 0);
  return out;
}

namespace {

// Ops whose request record starts with the znode path.
bool path_first(int32_t type) {
  switch (type) {
    case op::kCreate: case op::kDelete: case op::kExists: case op::kGetData: case op::kSetData: case op::kGetAcl:
    case op::kSetAcl: case op::kGetChildren: case op::kSync: case op::kGetChildren2: case op::kCheck:
    case op::kCreate2: case op::kCheckWatches: case op::kRemoveWatches: case op::kCreateContainer:
    case op::kDeleteContainer: case op::kCreateTtl: case op::kGetEphemerals: case op::kGetAllChildrenNumber:
    case op::kAddWatch:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace {
/// A request's span name: its operation's name in lower case, as Zipkin keeps names.
trace::Name span_name(int32_t type) {
  thread_local std::array<trace::Name, 256> cache;  // operation codes are -128..127
  if (type < -128 || type > 127) return trace::intern(trace::lower_case(op_name(type)));
  trace::Name& name = cache[static_cast<size_t>(type + 128)];
  if (name.empty()) name = trace::intern(trace::lower_case(op_name(type)));
  return name;
}
}  // namespace

std::unique_ptr<trace::Span> Connection::start_span(int32_t xid, int32_t type, std::string_view body) {
  trace::Tracer* tracer = server_.backend().tracer();
  if (!tracer || type == op::kPing || type == op::kAuth || type == op::kSasl) return nullptr;
  if (!tracer->sample(joined_, server_.backend().monotonic_ms())) return nullptr;
  auto s = std::make_unique<trace::Span>();  // made where it stays: a span is a few hundred bytes
  tracer->begin(*s, joined_);
  const char* name = op_name(type);
  s->name = span_name(type);
  s->kind = trace::Kind::kServer;
  s->timestamp_us = server_.backend().wall_us();
  std::string_view path;
  bool has_path = false;
  if (path_first(type)) {
    Reader r(body);
    path = r.blob();
    has_path = r.ok();
  }
  s->tags.reserve(128 + path.size());  // op, xid, session, path, zxid, err (and error): inline for short paths
  s->tags.add("zk.op", name);
  s->tags.add("zk.xid", xid);
  s->tags.add_hex("zk.session", static_cast<uint64_t>(session_id_));
  if (has_path) s->tags.add("zk.path", path);
  s->remote.ip = stream_.remote_address();
  s->local.port = 0;  // the endpoint's port is the HTTP API's; this request came on the ZooKeeper port
  return s;
}

void Connection::finish_span(Pending& p, const Bytes& reply) {
  // The reply header: length, xid, zxid, err.
  if (reply.size() >= 20) {
    Reader r(std::string_view(reinterpret_cast<const char*>(reply.data()) + 8, 12));
    int64_t zxid = r.i64();
    int32_t err = r.i32();
    p.span->tags.add_hex("zk.zxid", static_cast<uint64_t>(zxid));
    p.span->tags.add("zk.err", err);
    // System errors (ZooKeeper's -1..-99: connection loss, timeouts, marshalling) mark a failure;
    // API errors (NoNode, BadVersion ...) are answers.
    if (err < 0 && err > -100) p.span->tags.add("error", err);
  }
  server_.backend().tracer()->finish(std::move(*p.span), server_.backend().wall_us());
  p.span.reset();
}

void Connection::handle_auth(int32_t xid, std::string_view body) {
  Reader r(body);
  r.i32();  // type, unused
  std::string scheme(r.blob());
  std::string auth(r.blob());
  Bytes reply;
  if (!r.ok()) {
    malformed("malformed auth packet");
    return;
  }
  if (scheme == "digest") {  // ZooKeeper's digest provider accepts any string
    std::string id = zk_digest(auth);
    state::Id digest_id{"digest", id};
    if (std::find(auth_.begin(), auth_.end(), digest_id) == auth_.end()) auth_.push_back(digest_id);
    if (!server_.options().super_digest.empty() && id == server_.options().super_digest) {
      state::Id super{"super", ""};
      if (std::find(auth_.begin(), auth_.end(), super) == auth_.end()) auth_.push_back(super);
    }
    begin_reply(reply, xid, 0, 0);
    finish_frame(reply, 0);
    send(std::move(reply));
    return;
  }
  if (scheme == "ip") {
    // IPAuthenticationProvider authenticates the connection's own address, whatever was sent.
    state::Id ip{"ip", stream_.remote_address()};
    if (std::find(auth_.begin(), auth_.end(), ip) == auth_.end()) auth_.push_back(ip);
    begin_reply(reply, xid, 0, 0);
    finish_frame(reply, 0);
    send(std::move(reply));
    return;
  }
  if (scheme == "b3" || scheme == "traceparent") {
    // Not an identity: the session's later requests join this trace context (an empty or
    // malformed value leaves it). docs/observability.md, "Tracing ZooKeeper requests".
    joined_ = trace::extract(
        [&](std::string_view name) { return name == scheme ? std::string_view(auth) : std::string_view(); });
    server_.session_joined(session_id_, joined_);
    begin_reply(reply, xid, 0, 0);
    finish_frame(reply, 0);
    send(std::move(reply));
    return;
  }
  log::info("zk", "authentication failed for scheme '{}' from {}", scheme, stream_.remote_address());
  begin_reply(reply, xid, 0, code(state::Code::kAuthFailed));
  finish_frame(reply, 0);
  send(std::move(reply));
  close();
}

void Connection::handle_sasl(int32_t xid, std::string_view body) {
  Reader r(body);
  std::string token(r.blob());
  if (!r.ok()) {
    malformed("malformed SASL request");
    return;
  }
  const auto& opt = server_.options();
  Bytes reply;
  std::string response;
  std::string user;
  SaslResult res = sasl_digest_md5_step(opt.sasl_users, opt.sasl_realm, token, &sasl_step_, &sasl_nonce_,
                                        server_.backend().random_bytes(16), &response, &user);
  if (res == SaslResult::kFailed) {
    log::info("zk", "SASL DIGEST-MD5 authentication failed from {}", stream_.remote_address());
    begin_reply(reply, xid, 0, code(state::Code::kAuthFailed));
    finish_frame(reply, 0);
    send(std::move(reply));
    close();
    return;
  }
  if (res == SaslResult::kDone) {
    state::Id id{"sasl", user};
    if (std::find(auth_.begin(), auth_.end(), id) == auth_.end()) auth_.push_back(id);
  }
  begin_reply(reply, xid, server_.backend().tree().last_zxid(), 0);
  Writer w(reply);
  w.blob(response);
  finish_frame(reply, 0);
  send(std::move(reply));
}

}  // namespace conclave::zk
