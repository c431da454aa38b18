#include "consul/check_runner.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/json.h"
#include "consul/params.h"

namespace conclave::consul {
namespace {

int64_t duration_of(const json::object& def, std::string_view name) {
  const json::value* v = def.if_contains(name);
  if (!v || !v->is_string()) return 0;
  return parse_duration_ms(v->as_string()).value_or(0);
}

int64_t int_of(const json::object& def, std::string_view name) {
  const json::value* v = def.if_contains(name);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::string string_of(const json::object& def, std::string_view name) {
  const json::value* v = def.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int rank(std::string_view status) {
  return status == state::kPassing ? 0 : status == state::kWarning ? 1 : 2;
}

}  // namespace

CheckRunner::CheckRunner(Report report, Deregister deregister)
    : report_(std::move(report)), deregister_(std::move(deregister)) {}

CheckRunner::Settings CheckRunner::parse(const state::CheckSpec& spec) {
  Settings s;
  s.type = spec.type;
  boost::system::error_code ec;
  json::value v = json::parse(spec.definition, ec);
  if (ec || !v.is_object()) return s;
  const auto& def = v.as_object();
  s.ttl_ms = duration_of(def, "TTL");
  s.interval_ms = duration_of(def, "Interval");
  s.timeout_ms = duration_of(def, "Timeout");
  if (s.timeout_ms <= 0) s.timeout_ms = 10000;  // Consul's default check timeout
  s.deregister_after_ms = duration_of(def, "DeregisterCriticalServiceAfter");
  s.success_before_passing = int_of(def, "SuccessBeforePassing");
  s.failures_before_critical = int_of(def, "FailuresBeforeCritical");
  s.failures_before_warning = int_of(def, "FailuresBeforeWarning");
  if (s.failures_before_warning == 0) s.failures_before_warning = s.failures_before_critical;
  s.http.url = string_of(def, "HTTP");
  s.http.method = string_of(def, "Method");
  if (s.http.method.empty()) s.http.method = "GET";
  s.http.body = string_of(def, "Body");
  s.http.timeout_ms = s.timeout_ms;
  if (const json::value* h = def.if_contains("Header"); h && h->is_object())
    for (const auto& [k, vals] : h->as_object())
      if (vals.is_array())
        for (const auto& x : vals.as_array())
          if (x.is_string()) s.http.headers.emplace_back(std::string(k), std::string(x.as_string()));
  s.address = s.type == "tcp" ? string_of(def, "TCP") : string_of(def, "UDP");
  s.alias_service = string_of(def, "AliasService");
  s.alias_node = string_of(def, "AliasNode");
  return s;
}

void CheckRunner::ttl_reported(const std::string& check_id, int64_t now_ms) {
  if (auto it = checks_.find(check_id); it != checks_.end() && it->second.settings.type == "ttl")
    it->second.next_ms = now_ms + it->second.settings.ttl_ms;
}

bool CheckRunner::differs_then_mark(const std::string& id, const std::string& status, const std::string& output) {
  Known& k = known_[id];
  if (k.status == status && k.output == output) return false;
  k.status = status;
  k.output = output;
  k.reported_ms = now_ms_;
  return true;
}

void CheckRunner::tick(const state::Catalog& catalog, const state::Catalog::NodeEntry* node, int64_t now_ms) {
  constexpr int64_t kReportRetryMs = 5000;  // a report lost with a leader change is made again
  now_ms_ = now_ms;
  ++tick_;
  if (node) {
    // In place: a thousand checks cost a map lookup each per tick, nothing is copied.
    for (const auto& [id, c] : node->checks) {
      const std::string& type = c.spec.type;
      if (type != "ttl" && type != "http" && type != "tcp" && type != "udp" && type != "alias") continue;
      Known& k = known_[id];
      if (k.modify_index != c.modify_index || (k.reported_ms >= 0 && now_ms - k.reported_ms > kReportRetryMs))
        k = Known{c.spec.status, c.spec.output, c.modify_index, -1};
      auto [it, fresh] = checks_.try_emplace(id);
      Running& r = it->second;
      if (fresh || r.definition != c.spec.definition) {
        r = Running{};
        r.definition = c.spec.definition;
        r.settings = parse(c.spec);
        r.generation = ++generation_;
        if (type == "ttl") r.next_ms = now_ms + r.settings.ttl_ms;
        else if (r.settings.interval_ms > 0)
          r.next_ms = now_ms + static_cast<int64_t>(rng_() % static_cast<uint64_t>(r.settings.interval_ms));
      }
      r.seen = tick_;
      r.service_id = c.spec.service_id;
      // DeregisterCriticalServiceAfter: the agent's reaper.
      if (c.spec.status == state::kCritical) {
        if (r.critical_since_ms < 0) r.critical_since_ms = now_ms;
        if (r.settings.deregister_after_ms > 0 && !r.service_id.empty() &&
            now_ms - r.critical_since_ms >= r.settings.deregister_after_ms) {
          deregister_(r.service_id);
          r.critical_since_ms = INT64_MAX / 2;  // once
        }
      } else {
        r.critical_since_ms = -1;
      }
      if (type == "ttl") {
        // Expired: critical, unless a client already failed it (its output stays).
        if (r.settings.ttl_ms > 0 && now_ms >= r.next_ms && k.status != state::kCritical &&
            differs_then_mark(id, std::string(state::kCritical), "TTL expired"))
          report_(id, std::string(state::kCritical), "TTL expired");
      } else if (type == "alias") {
        alias(id, r, catalog, node);
      } else if (!r.in_flight && r.settings.interval_ms > 0 && now_ms >= r.next_ms) {
        r.next_ms = now_ms + r.settings.interval_ms;
        probe(id, r, now_ms);
      }
    }
  }
  for (auto it = checks_.begin(); it != checks_.end();) {
    if (it->second.seen == tick_) {
      ++it;
      continue;
    }
    known_.erase(it->first);
    it = checks_.erase(it);
  }
}

void CheckRunner::probe(const std::string& id, Running& r, int64_t) {
  const Settings& s = r.settings;
  if (!prober_) return result(id, std::string(state::kCritical), "checks of this type cannot run on this agent");
  r.in_flight = true;
  ++probes_;
  uint64_t gen = r.generation;
  auto done = [this, id, gen, type = s.type, s](net::ProbeResult p) {
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.generation != gen) return;  // re-registered or gone
    it->second.in_flight = false;
    std::string status, output;
    if (type == "http") {
      if (!p.connected) {
        status = state::kCritical;
        output = fmt::format("HTTP {} {}: {}", s.http.method, s.http.url, p.error);
      } else {
        status = p.http_status >= 200 && p.http_status < 300 ? state::kPassing
                 : p.http_status == 429                     ? state::kWarning
                                                            : state::kCritical;
        output = fmt::format("HTTP {} {}: {} {} Output: {}", s.http.method, s.http.url, p.http_status, p.reason, p.body);
      }
    } else {
      const char* proto = type == "tcp" ? "TCP" : "UDP";
      status = p.connected ? state::kPassing : state::kCritical;
      output = p.connected ? fmt::format("{} connect {}: Success", proto, s.address)
                           : fmt::format("dial {} {}: {}", type, s.address, p.error);
    }
    result(id, status, std::move(output));
  };
  if (s.type == "http") prober_->http(s.http, std::move(done));
  else if (s.type == "tcp") prober_->tcp(s.address, s.timeout_ms, std::move(done));
  else prober_->udp(s.address, s.timeout_ms, std::move(done));
}

void CheckRunner::result(const std::string& id, const std::string& status, std::string output) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  Running& r = it->second;
  std::string final_status;
  // Consul's StatusHandler: passing and warning count as successes.
  if (status == state::kPassing || status == state::kWarning) {
    ++r.successes;
    r.failures = 0;
    if (r.successes >= r.settings.success_before_passing) final_status = status;
  } else {
    ++r.failures;
    r.successes = 0;
    if (r.failures >= r.settings.failures_before_critical) final_status = state::kCritical;
    else if (r.failures >= r.settings.failures_before_warning) final_status = state::kWarning;
  }
  if (final_status.empty()) return;
  if (output.size() > net::kMaxProbeBody) output.resize(net::kMaxProbeBody);
  if (differs_then_mark(id, final_status, output)) report_(id, std::move(final_status), std::move(output));
}

void CheckRunner::alias(const std::string& id, const Running& r, const state::Catalog& catalog,
                        const state::Catalog::NodeEntry* node) {
  const state::Catalog::NodeEntry* target = r.settings.alias_node.empty() ? node : catalog.node(r.settings.alias_node);
  std::string status = std::string(state::kPassing), output = "All checks passing.";
  if (!target) {
    status = state::kCritical;
    output = "Aliased node not found.";
  } else if (!r.settings.alias_service.empty() && !target->services.count(r.settings.alias_service)) {
    status = state::kCritical;
    output = "Aliased service not found.";
  } else {
    int worst = 0;
    for (const auto& [cid, c] : target->checks) {
      if (cid == id) continue;
      if (!c.spec.service_id.empty() && c.spec.service_id != r.settings.alias_service) continue;
      worst = std::max(worst, rank(c.spec.status));
    }
    if (worst == 1) {
      status = state::kWarning;
      output = "One or more checks are warning.";
    } else if (worst == 2) {
      status = state::kCritical;
      output = "One or more checks are critical.";
    }
  }
  if (differs_then_mark(id, status, output)) report_(id, std::move(status), std::move(output));
}

}  // namespace conclave::consul
