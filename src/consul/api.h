// The Consul HTTP API front-end (part 1: KV, sessions, txn, status/agent basics, blocking
// queries), on the same replicated tree the ZooKeeper front-end serves.
//
// Stages of a request: route (server::HttpRouter) -> parse and validate parameters and bodies
// (params.h, key_path.h; bad input gets Consul's 400/413 and changes nothing) -> writes become one
// state::Command of KvOps or a session command, proposed through the replica (followers forward
// to the leader) and answered when applied -> reads honour the consistency mode (default: the
// leader's data, a follower first confirms a read point with the leader; ?consistent: a ReadIndex
// round; ?stale: this node), then block when ?index asks to (blocking.h) -> JSON out through
// Boost.JSON with X-Consul-Index / KnownLeader / LastContact / Effective-Consistency.
//
// Part 2 adds the registry: catalog.cc (/v1/catalog), health.cc (/v1/health), agent.cc (the agent's
// services and checks, its own catalog entry, TTL clocks, batched check results), with the JSON
// shapes in registry_json.h. The registry itself is state::Catalog, replicated with the tree.
//
// Files: api.cc (routes, common response headers, agent/self), kv.cc, sessions.cc, txn.cc.
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "consul/blocking.h"
#include "consul/check_runner.h"
#include "consul/filter.h"
#include "consul/params.h"
#include "server/http_router.h"
#include "server/replica.h"

namespace conclave::consul {

inline constexpr size_t kMaxValueBytes = 512 * 1024;  // Consul's kv_max_value_size
inline constexpr size_t kMaxTxnOps = 64;              // Consul's limit of operations per transaction

class ConsulApi : public server::ApplyObserver {
 public:
  using Respond = net::HttpHandler::Respond;
  ConsulApi(server::Replica& replica, server::HttpRouter& router);

  void on_applied(const state::Command& cmd, const state::ApplyResult& result) override;
  void on_tree_replaced() override;
  /// Periodic: blocking-query deadlines.
  void tick();
  std::string metrics_text() const;
  /// Probes for HTTP, TCP and UDP checks (net::make_prober on the node's loop); without one those
  /// checks report critical.
  void set_prober(std::unique_ptr<net::Prober> prober) {
    prober_ = std::move(prober);
    runner_.set_prober(prober_.get());
  }
  size_t blocking_queries() const { return blocking_.size(); }

 private:
  // A read that can run again: computes the response and the index it reflects.
  struct ReadResult {
    net::HttpResponse response;
    uint64_t index = 0;
    bool index_is_id = false;  // an ID, not a counter (events): a blocking read returns when it differs
  };
  using Read = std::function<ReadResult()>;
  /// Runs `read` under `opts` (consistency, blocking on `watch` prefix) and responds.
  void serve_read(const net::HttpRequest& req, const QueryOptions& opts, std::string watch, Read read,
                  Respond respond);
  void run_blocking(QueryOptions opts, std::string watch, std::string cache_key, Read read, Respond respond,
                    int64_t deadline_ms, bool timed_out);
  /// The read's result for the tree as it is now: computed once per applied index and request, for
  /// blocking queries (ten thousand of them woken by one PUT build their reply once).
  ReadResult cached_read(const std::string& key, const Read& read);
  void add_meta_headers(net::HttpResponse& r, const QueryOptions& opts, uint64_t index);
  /// What a write answers once its command is applied.
  using Reply = std::function<net::HttpResponse(const state::ApplyResult&)>;
  /// Proposes `cmd`, then answers with `reply`'s response, or Consul's 500 when the outcome is lost.
  /// `respond` is moved, never copied: it may hold the request's span and its connection.
  void propose(state::Command cmd, Respond respond, Reply reply);

  // kv.cc
  void kv(const net::HttpRequest& req, Respond respond);  // by method
  void kv_get(const net::HttpRequest& req, Respond respond);
  void kv_put(const net::HttpRequest& req, Respond respond);
  void kv_delete(const net::HttpRequest& req, Respond respond);
  // sessions.cc
  void session_create(const net::HttpRequest& req, Respond respond);
  void session_destroy(const net::HttpRequest& req, Respond respond);
  void session_renew(const net::HttpRequest& req, Respond respond);
  void session_read(const net::HttpRequest& req, Respond respond);  // info, list, node
  json::object session_json(state::SessionId id, const state::SessionInfo& s) const;
  // txn.cc
  void txn(const net::HttpRequest& req, Respond respond);
  // api.cc
  void agent_self(const net::HttpRequest& req, Respond respond);
  /// Parses ?filter= for rows with `fields` into `out` (null without one); false after answering
  /// 400 for a bad expression or an unknown selector.
  bool parse_filter(const net::HttpRequest& req, const std::vector<std::string>& fields,
                    std::shared_ptr<const Filter>* out, Respond& respond);
  /// Parses a JSON object body, or responds 400 and returns false.
  bool parse_body_object(const net::HttpRequest& req, json::value* body, Respond& respond);
  // catalog.cc
  void catalog_register(const net::HttpRequest& req, Respond respond);
  void catalog_deregister(const net::HttpRequest& req, Respond respond);
  void catalog_datacenters(const net::HttpRequest& req, Respond respond);
  void catalog_read(const net::HttpRequest& req, Respond respond);  // nodes, services, service, node(-services)
  /// Proposes catalog ops as one all-or-nothing command; answers `ok_body` (null: empty body) or
  /// the op's error as Consul's 500.
  void propose_catalog(std::vector<state::Op> ops, Respond respond, json::value ok_body);
  /// The blocking-query watch for a catalog index key.
  static std::string catalog_watch(std::string_view key);
  uint64_t catalog_index(std::string_view key) const;
  // health.cc
  void health_read(const net::HttpRequest& req, Respond respond);
  json::array service_health(std::string_view name, const std::vector<std::string>& tags,
                             const std::vector<std::string>& node_meta, bool passing_only) const;
  // agent.cc
  void agent_services(const net::HttpRequest& req, Respond respond);
  void agent_service(const net::HttpRequest& req, Respond respond);
  void agent_service_register(const net::HttpRequest& req, Respond respond);
  void agent_service_deregister(const net::HttpRequest& req, Respond respond);
  void agent_checks(const net::HttpRequest& req, Respond respond);
  void agent_check_register(const net::HttpRequest& req, Respond respond);
  void agent_check_deregister(const net::HttpRequest& req, Respond respond);
  void agent_check_ttl(const net::HttpRequest& req, Respond respond);  // pass, warn, fail, update
  void agent_maintenance(const net::HttpRequest& req, Respond respond);  // node and service
  void agent_health_service(const net::HttpRequest& req, Respond respond);
  state::NodeSpec own_node_spec() const;
  const state::Catalog::NodeEntry* own_node() const;
  /// Keeps this node's catalog entry and its serfHealth check registered (from tick()).
  void sync_own_node();
  /// On the leader: serfHealth of members it no longer hears from turns critical (from tick()).
  void monitor_members();
  // members.cc
  void agent_members(const net::HttpRequest& req, Respond respond);
  void autopilot_health(const net::HttpRequest& req, Respond respond);
  void agent_join(const net::HttpRequest& req, Respond respond);
  void agent_leave(const net::HttpRequest& req, Respond respond);
  void agent_force_leave(const net::HttpRequest& req, Respond respond);
  /// Alive as the leader hears it, or (elsewhere) as its serfHealth check says.
  bool member_alive(const server::MemberView& m, const state::Catalog::NodeEntry* n, bool is_leader) const;
  // events.cc
  void event_fire(const net::HttpRequest& req, Respond respond);
  void event_list(const net::HttpRequest& req, Respond respond);
  /// An applied kUserEvent: kept when its filters match this agent.
  void record_event(const state::Command& cmd, int64_t zxid);
  static constexpr size_t kMaxEvents = 256;
  static constexpr std::string_view kEventsWatch = "\x03events";
  void queue_check_update(const std::string& check_id, std::string status, std::string output,
                          std::function<void(bool)> done);
  /// Proposes every queued check result as one CheckUpdateOp (from tick()).
  void flush_check_updates();

 public:
  /// The JSON of the key at `path` (api.KVPair), `with_value` false for txn write results.
  json::object kv_entry_json(std::string_view path, bool with_value) const;
  json::object kv_read_json(const state::KvRead& kv, bool with_value) const;
  /// Highest index of anything that changed under a key prefix (never below the prefix's
  /// directory's child-change index, so deletes move it forward too).
  uint64_t prefix_index(std::string_view dir, std::string_view fragment) const;
  uint64_t global_index() const;

 private:
  server::Replica& replica_;
  const std::string datacenter_;  // fixed for the node's life
  BlockingQueries blocking_;
  std::unordered_map<std::string, ReadResult> read_cache_;  // valid while the tree is at read_cache_zxid_
  int64_t read_cache_zxid_ = -1;
  size_t read_cache_bytes_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t requests_ = 0;
  uint64_t blocking_wakeups_ = 0;

  // agent.cc state
  struct PendingCheck {
    std::string status;
    std::string output;
    std::vector<std::function<void(bool)>> waiters;
  };
  std::deque<json::object> events_;  // this agent's recent user events, oldest first
  std::unique_ptr<net::Prober> prober_;
  CheckRunner runner_;                                    // this node's checks
  std::map<std::string, PendingCheck> pending_checks_;    // results waiting for the next batch
  bool check_flush_in_flight_ = false;
  bool own_sync_in_flight_ = false;
  bool member_check_in_flight_ = false;
  int64_t leader_since_ms_ = -1;
  bool leaving_ = false;  // agent leave under way: the own catalog entry is not re-registered
  uint64_t check_batches_ = 0;
};

net::HttpResponse json_response(const json::value& v, int status = 200);
/// An all-or-nothing kTxn command of `ops` (catalog and check writes).
state::Command multi_command(std::vector<state::Op> ops);

}  // namespace conclave::consul
