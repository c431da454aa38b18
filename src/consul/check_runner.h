// Runs this node's health checks, as a Consul agent runs those registered with it:
//   ttl    critical ("TTL expired") when no pass/warn/fail/update arrives within the TTL;
//   http   a request every Interval (method, headers, body, Timeout): 2xx passing, 429 warning,
//          anything else or no answer critical; output "HTTP GET <url>: 200 OK Output: <body>";
//   tcp    a connect every Interval: passing when it connects;
//   udp    a datagram every Interval: passing unless refused (ICMP port unreachable);
//   alias  mirrors the worst status of another service's checks (AliasService, AliasNode).
// SuccessBeforePassing / FailuresBeforeWarning / FailuresBeforeCritical filter results as
// Consul's StatusHandler does, and a service whose check stays critical for
// DeregisterCriticalServiceAfter is deregistered.
//
// The runner never writes: it reports a result only when it differs from the check's status
// and output in the catalog, and the agent batches reports into one log entry per tick.
// Event-loop thread only; probes go through net::Prober (a fake in tests).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>

#include "net/probe.h"
#include "state/catalog.h"

namespace conclave::consul {

class CheckRunner {
 public:
  using Report = std::function<void(const std::string& check_id, std::string status, std::string output)>;
  using Deregister = std::function<void(const std::string& service_id)>;
  CheckRunner(Report report, Deregister deregister);

  /// Probes for HTTP/TCP/UDP checks; without one those checks report critical "not runnable".
  void set_prober(net::Prober* prober) { prober_ = prober; }
  /// Reconciles with this node's checks (`node` may be null) and runs what is due.
  void tick(const state::Catalog& catalog, const state::Catalog::NodeEntry* node, int64_t now_ms);
  /// A client reported a TTL check: its clock restarts.
  void ttl_reported(const std::string& check_id, int64_t now_ms);
  size_t running() const { return checks_.size(); }
  uint64_t probes() const { return probes_; }

 private:
  struct Settings {
    std::string type;
    int64_t ttl_ms = 0, interval_ms = 0, timeout_ms = 0, deregister_after_ms = 0;
    int64_t success_before_passing = 0, failures_before_warning = 0, failures_before_critical = 0;
    net::HttpProbe http;
    std::string address;  // tcp / udp
    std::string alias_service, alias_node;
  };
  struct Running {
    std::string definition;
    Settings settings;
    int64_t next_ms = 0;       // next probe, or the TTL deadline
    bool in_flight = false;
    int64_t successes = 0, failures = 0;
    int64_t critical_since_ms = -1;
    std::string service_id;
    uint64_t generation = 0;  // set when (re)registered: late probe results of an older one are dropped
    uint64_t seen = 0;        // the tick that last found it in the catalog
  };
  static Settings parse(const state::CheckSpec& spec);
  void probe(const std::string& id, Running& r, int64_t now_ms);
  /// Applies the thresholds to a raw result and reports it.
  void result(const std::string& id, const std::string& status, std::string output);
  void alias(const std::string& id, const Running& r, const state::Catalog& catalog,
             const state::Catalog::NodeEntry* node);

  Report report_;
  Deregister deregister_;
  net::Prober* prober_ = nullptr;
  std::unordered_map<std::string, Running> checks_;
  /// What the catalog holds for a check, or what was last reported for it while that report is
  /// on its way through the log (so a result is reported once, not on every tick until applied).
  struct Known {
    std::string status, output;
    int64_t modify_index = -1;
    int64_t reported_ms = -1;  // -1: mirrors the catalog
  };
  bool differs_then_mark(const std::string& id, const std::string& status, const std::string& output);
  std::unordered_map<std::string, Known> known_;
  int64_t now_ms_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t probes_ = 0;
  uint64_t generation_ = 0;
  uint64_t tick_ = 0;
};

}  // namespace conclave::consul
