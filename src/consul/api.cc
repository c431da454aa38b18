#include "consul/api.h"

#include <fmt/format.h>

#include "common/digest.h"
#include "consul/key_path.h"
#include "state/path.h"

namespace conclave::consul {

net::HttpResponse json_response(const json::value& v, int status) {
  net::HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

state::Command multi_command(std::vector<state::Op> ops) {
  state::Command cmd;
  cmd.kind = state::CommandKind::kTxn;
  cmd.multi = true;
  cmd.ops = std::move(ops);
  return cmd;
}

ConsulApi::ConsulApi(server::Replica& replica, server::HttpRouter& router)
    : replica_(replica),
      datacenter_(replica.info().datacenter),
      runner_([this](const std::string& id, std::string status,
                     std::string output) { queue_check_update(id, std::move(status), std::move(output), nullptr); },
              [this](const std::string& service_id) {
                const auto* n = own_node();
                if (!n) return;
                state::Command cmd;
                cmd.kind = state::CommandKind::kTxn;
                cmd.multi = true;
                cmd.ops = {state::CatalogDeregisterOp{n->spec.name, service_id, ""}};
                replica_.propose(std::move(cmd), [](const state::ApplyResult&) {});
              }) {
  using R = const net::HttpRequest&;
  using Method = void (ConsulApi::*)(R, Respond);
  auto counted = [this](Method m) {
    return [this, m](R req, Respond respond) {
      ++requests_;
      (this->*m)(req, std::move(respond));
    };
  };
  router.prefix("/v1/kv/", {"GET", "PUT", "DELETE"}, counted(&ConsulApi::kv));
  router.exact("/v1/kv", {"GET", "PUT", "DELETE"}, [this](R req, Respond respond) {
    ++requests_;
    if (req.method == "GET") kv_get(req, std::move(respond));
    else respond(text_error(400, "Missing key name"));
  });
  router.exact("/v1/txn", {"PUT"}, counted(&ConsulApi::txn));
  router.exact("/v1/session/create", {"PUT"}, counted(&ConsulApi::session_create));
  router.prefix("/v1/session/destroy/", {"PUT"}, counted(&ConsulApi::session_destroy));
  router.prefix("/v1/session/renew/", {"PUT"}, counted(&ConsulApi::session_renew));
  router.prefix("/v1/session/info/", {"GET"}, counted(&ConsulApi::session_read));
  router.prefix("/v1/session/node/", {"GET"}, counted(&ConsulApi::session_read));
  router.exact("/v1/session/list", {"GET"}, counted(&ConsulApi::session_read));
  router.exact("/v1/agent/self", {"GET"}, counted(&ConsulApi::agent_self));

  router.exact("/v1/catalog/register", {"PUT"}, counted(&ConsulApi::catalog_register));
  router.exact("/v1/catalog/deregister", {"PUT"}, counted(&ConsulApi::catalog_deregister));
  router.exact("/v1/catalog/datacenters", {"GET"}, counted(&ConsulApi::catalog_datacenters));
  router.exact("/v1/catalog/nodes", {"GET"}, counted(&ConsulApi::catalog_read));
  router.exact("/v1/catalog/services", {"GET"}, counted(&ConsulApi::catalog_read));
  router.prefix("/v1/catalog/service/", {"GET"}, counted(&ConsulApi::catalog_read));
  router.prefix("/v1/catalog/node/", {"GET"}, counted(&ConsulApi::catalog_read));
  router.prefix("/v1/catalog/node-services/", {"GET"}, counted(&ConsulApi::catalog_read));
  for (const char* p : {"/v1/health/service/", "/v1/health/checks/", "/v1/health/node/", "/v1/health/state/"})
    router.prefix(p, {"GET"}, counted(&ConsulApi::health_read));

  router.exact("/v1/agent/services", {"GET"}, counted(&ConsulApi::agent_services));
  router.exact("/v1/agent/members", {"GET"}, counted(&ConsulApi::agent_members));
  router.exact("/v1/operator/autopilot/health", {"GET"}, counted(&ConsulApi::autopilot_health));
  // python-consul 0.7 sends GET here, as Consul before 1.0 accepted.
  router.prefix("/v1/agent/join/", {"PUT", "GET"}, counted(&ConsulApi::agent_join));
  router.exact("/v1/agent/leave", {"PUT"}, counted(&ConsulApi::agent_leave));
  router.prefix("/v1/agent/force-leave/", {"PUT", "GET"}, counted(&ConsulApi::agent_force_leave));
  router.prefix("/v1/event/fire/", {"PUT"}, counted(&ConsulApi::event_fire));
  router.exact("/v1/event/list", {"GET"}, counted(&ConsulApi::event_list));
  router.exact("/v1/agent/service/register", {"PUT"}, counted(&ConsulApi::agent_service_register));
  // GET as well as PUT on deregister, pass, warn and fail: Consul before 1.0 took GET there, and
  // python-consul 0.7.1 (Debian's) still sends it.
  router.prefix("/v1/agent/service/deregister/", {"PUT", "GET"}, counted(&ConsulApi::agent_service_deregister));
  router.prefix("/v1/agent/service/maintenance/", {"PUT"}, counted(&ConsulApi::agent_maintenance));
  router.prefix("/v1/agent/service/", {"GET"}, counted(&ConsulApi::agent_service));
  router.exact("/v1/agent/maintenance", {"PUT"}, counted(&ConsulApi::agent_maintenance));
  router.exact("/v1/agent/checks", {"GET"}, counted(&ConsulApi::agent_checks));
  router.exact("/v1/agent/check/register", {"PUT"}, counted(&ConsulApi::agent_check_register));
  router.prefix("/v1/agent/check/deregister/", {"PUT", "GET"}, counted(&ConsulApi::agent_check_deregister));
  for (const char* p : {"/v1/agent/check/pass/", "/v1/agent/check/warn/", "/v1/agent/check/fail/"})
    router.prefix(p, {"PUT", "GET"}, counted(&ConsulApi::agent_check_ttl));
  router.prefix("/v1/agent/check/update/", {"PUT"}, counted(&ConsulApi::agent_check_ttl));
  router.prefix("/v1/agent/health/service/id/", {"GET"}, counted(&ConsulApi::agent_health_service));
  router.prefix("/v1/agent/health/service/name/", {"GET"}, counted(&ConsulApi::agent_health_service));
}

void ConsulApi::on_applied(const state::Command& cmd, const state::ApplyResult& result) {
  if (cmd.kind == state::CommandKind::kUserEvent) record_event(cmd, result.zxid);
  for (const auto& t : result.triggers) blocking_.changed(t.path);
  for (const auto& key : result.catalog_changes) blocking_.changed(catalog_watch(key));
  // Catalog changes can invalidate sessions (a check gone critical, a node removed).
  if (cmd.kind == state::CommandKind::kCreateSession || cmd.kind == state::CommandKind::kCloseSession ||
      !result.catalog_changes.empty())
    blocking_.changed(BlockingQueries::kSessions);
}

void ConsulApi::on_tree_replaced() {
  read_cache_.clear();
  read_cache_bytes_ = 0;
  read_cache_zxid_ = -1;
  blocking_.changed_all();
}

void ConsulApi::tick() {
  blocking_.tick(replica_.monotonic_ms());
  sync_own_node();
  monitor_members();
  runner_.tick(replica_.tree().catalog(), own_node(), replica_.monotonic_ms());
  flush_check_updates();
}

std::string ConsulApi::metrics_text() const {
  return fmt::format(
      "# HELP conclave_consul_requests_total Consul API requests.\n# TYPE conclave_consul_requests_total counter\n"
      "conclave_consul_requests_total {}\n"
      "# HELP conclave_consul_blocking_queries Blocking queries waiting.\n# TYPE conclave_consul_blocking_queries gauge\n"
      "conclave_consul_blocking_queries {}\n"
      "# HELP conclave_consul_blocking_wakeups_total Blocking queries woken by a change.\n"
      "# TYPE conclave_consul_blocking_wakeups_total counter\nconclave_consul_blocking_wakeups_total {}\n"
      "# HELP conclave_consul_checks_running Health checks this agent runs.\n# TYPE conclave_consul_checks_running gauge\n"
      "conclave_consul_checks_running {}\n"
      "# HELP conclave_consul_check_probes_total HTTP, TCP and UDP check probes sent.\n"
      "# TYPE conclave_consul_check_probes_total counter\nconclave_consul_check_probes_total {}\n"
      "# HELP conclave_consul_check_batches_total Log entries carrying check results.\n"
      "# TYPE conclave_consul_check_batches_total counter\nconclave_consul_check_batches_total {}\n",
      requests_, blocking_.size(), blocking_wakeups_, runner_.running(), runner_.probes(), check_batches_);
}

uint64_t ConsulApi::global_index() const {
  return static_cast<uint64_t>(std::max<int64_t>(1, replica_.tree().last_zxid()));
}

uint64_t ConsulApi::prefix_index(std::string_view dir, std::string_view fragment) const {
  const auto& tree = replica_.tree();
  const state::Node* d = tree.find(dir);
  if (!d) {
    // The directory is gone: the index of its nearest existing ancestor's last child change.
    std::string_view p = dir;
    while (!d && !p.empty() && p != "/") {
      p = state::parent_of(p);
      d = tree.find(p);
    }
    return d ? std::max<uint64_t>(1, static_cast<uint64_t>(d->pzxid())) : global_index();
  }
  uint64_t index = static_cast<uint64_t>(d->pzxid());
  if (fragment.empty()) index = std::max<uint64_t>(index, static_cast<uint64_t>(d->mzxid));
  for (const auto& p : tree.prefix_subtree(dir, fragment)) {
    const state::Node* n = tree.find(p);
    index = std::max({index, static_cast<uint64_t>(n->mzxid), static_cast<uint64_t>(n->pzxid())});
  }
  return std::max<uint64_t>(index, 1);
}

json::object ConsulApi::kv_read_json(const state::KvRead& kv, bool with_value) const {
  json::object o;
  o["LockIndex"] = kv.lock_index;
  o["Key"] = path_to_key(kv.path);
  o["Flags"] = kv.flags;
  if (with_value && !kv.value.empty()) o["Value"] = base64_encode(kv.value);
  else o["Value"] = nullptr;
  if (kv.session) o["Session"] = replica_.tree().session_uuid(kv.session);
  o["CreateIndex"] = static_cast<uint64_t>(kv.create_index);
  o["ModifyIndex"] = static_cast<uint64_t>(kv.modify_index);
  return o;
}

json::object ConsulApi::kv_entry_json(std::string_view path, bool with_value) const {
  const auto& tree = replica_.tree();
  const state::Node* n = tree.find(path);
  if (!n) return json::object{};
  return kv_read_json(tree.kv_read(*n), with_value);
}

void ConsulApi::add_meta_headers(net::HttpResponse& r, const QueryOptions& opts, uint64_t index) {
  auto info = replica_.leader_view();
  r.headers.emplace_back("X-Consul-Index", std::to_string(std::max<uint64_t>(index, 1)));
  r.headers.emplace_back("X-Consul-KnownLeader", info.known_leader ? "true" : "false");
  r.headers.emplace_back("X-Consul-LastContact", std::to_string(info.last_contact_ms));
  const char* mode = opts.consistency == Consistency::kStale        ? "stale"
                     : opts.consistency == Consistency::kConsistent ? "consistent"
                                                                    : "leader";
  r.headers.emplace_back("X-Consul-Effective-Consistency", mode);
}

void ConsulApi::serve_read(const net::HttpRequest& req, const QueryOptions& opts, std::string watch, Read read,
                           Respond respond) {
  // Consul adds up to wait/16 of random jitter so that many watchers do not return together.
  int64_t wait = opts.wait_ms + (opts.wait_ms >= 16 ? static_cast<int64_t>(rng_() % (opts.wait_ms / 16)) : 0);
  int64_t deadline = replica_.monotonic_ms() + wait;
  // What the reply depends on: the path and every parameter but the blocking and consistency ones.
  std::string key = req.path;
  for (const auto& [k, v] : req.query)
    if (k != "index" && k != "wait" && k != "token" && k != "dc" && k != "stale" && k != "consistent")
      key += "\x1f" + k + "=" + v;
  auto start = [this, opts, watch = std::move(watch), key = std::move(key), read = std::move(read),
                respond = std::move(respond), deadline](bool ok) mutable {
    if (!ok) return respond(text_error(500, "No cluster leader"));
    run_blocking(opts, std::move(watch), std::move(key), std::move(read), std::move(respond), deadline, false);
  };
  bool local = opts.consistency == Consistency::kStale ||
               (opts.consistency == Consistency::kDefault && replica_.leader_view().is_leader);
  if (local) start(true);
  else replica_.read_index(std::move(start));
}

ConsulApi::ReadResult ConsulApi::cached_read(const std::string& key, const Read& read) {
  // Large enough for a health reply of thousands of instances: hundreds of blocking queries woken
  // by one change then build it once, and share its bytes instead of copying them (hashicorp/consul
  // #4984).
  constexpr size_t kMaxCachedBody = 16 * 1024 * 1024, kMaxCacheBytes = 64 * 1024 * 1024;
  constexpr size_t kShareFrom = 16 * 1024;
  int64_t zxid = replica_.tree().last_zxid();
  if (zxid != read_cache_zxid_ || read_cache_bytes_ > kMaxCacheBytes) {
    read_cache_.clear();
    read_cache_bytes_ = 0;
    read_cache_zxid_ = zxid;
  }
  if (auto it = read_cache_.find(key); it != read_cache_.end()) return it->second;
  ReadResult r = read();
  if (r.response.body.size() >= kShareFrom && !r.response.shared_body)
    r.response.shared_body = std::make_shared<const std::string>(std::move(r.response.body));
  size_t size = r.response.body_bytes().size();
  if (size <= kMaxCachedBody) {
    read_cache_bytes_ += key.size() + size;
    read_cache_.emplace(key, r);
  }
  return r;
}

void ConsulApi::run_blocking(QueryOptions opts, std::string watch, std::string cache_key, Read read, Respond respond,
                             int64_t deadline_ms, bool timed_out) {
  // Only blocking queries share replies: many wait for the same change; a plain read runs once.
  ReadResult r = opts.min_index != 0 ? cached_read(cache_key, read) : read();
  bool moved = r.index_is_id ? r.index != opts.min_index : r.index > opts.min_index;
  if (opts.min_index == 0 || moved || timed_out) {
    add_meta_headers(r.response, opts, r.index);
    respond(std::move(r.response));
    return;
  }
  blocking_.wait(watch, deadline_ms,
                 [this, opts, watch, cache_key = std::move(cache_key), read = std::move(read),
                  respond = std::move(respond), deadline_ms](bool timed_out) mutable {
                   if (!timed_out) ++blocking_wakeups_;
                   run_blocking(opts, std::move(watch), std::move(cache_key), std::move(read), std::move(respond),
                                deadline_ms, timed_out);
                 });
}

void ConsulApi::propose(state::Command cmd, Respond respond, Reply reply) {
  replica_.propose(std::move(cmd), [reply = std::move(reply), respond = std::move(respond)](const state::ApplyResult& r) {
    if (r.code == state::Code::kConnectionLoss)
      return respond(text_error(500, "rpc error: leadership lost or no cluster leader while committing"));
    respond(reply(r));
  });
}

void ConsulApi::agent_self(const net::HttpRequest& req, Respond respond) {
  auto info = replica_.info();
  std::string addr = info.client_address.substr(0, info.client_address.rfind(':'));
  json::object config{{"Datacenter", info.datacenter},
                      {"PrimaryDatacenter", info.datacenter},
                      {"NodeName", info.node_name},
                      {"NodeID", fmt::format("00000000-0000-0000-0000-{:012x}", info.node_id)},
                      {"Server", true},
                      {"Revision", "conclave"},
                      {"Version", "1.15.0"}};
  json::object member{{"Name", info.node_name},
                      {"Addr", addr},
                      {"Port", 8301},
                      {"Tags", json::object{{"dc", info.datacenter}, {"role", "consul"}, {"build", "1.15.0:conclave"}}},
                      {"Status", 1}};
  json::object out{{"Config", config},
                   {"DebugConfig", json::object{}},
                   {"Coord", nullptr},
                   {"Member", member},
                   {"Stats", json::object{}},
                   {"Meta", json::object{}}};
  respond(json_response(out));
}

}  // namespace conclave::consul
