// The Consul API front-end end to end, without sockets: each input is a sequence of HTTP requests
// (method, path, query, body), separated by 0x1e bytes, routed to the API on a fresh in-memory
// replica that applies proposals at once. Every request gets exactly one response, and after each
// one the tree stays consistent (its snapshot round-trips). A fresh replica per input keeps every
// finding replayable from its one input file.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/assert.h"
#include "consul/api.h"
#include "server/http_router.h"
#include "server/replica.h"
#include "state/tree.h"

using namespace conclave;

namespace {

class MemoryReplica : public server::Replica {
 public:
  const state::DataTree& tree() const override { return tree_; }
  void propose(state::Command cmd, Done done) override {
    cmd.time_ms = ++now_;
    auto r = tree_.apply(++index_, cmd);
    for (auto* o : observers_) o->on_applied(cmd, r);
    if (done) done(r);
  }
  void subscribe(server::ApplyObserver* o) override { observers_.push_back(o); }
  int64_t wall_ms() override { return now_; }
  int64_t monotonic_ms() override { return now_; }
  state::SessionId next_session_id() override { return ++sid_; }
  std::string random_bytes(size_t n) override {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(++rnd_ * 131);
    return s;
  }
  server::ReplicaInfo info() override {
    server::ReplicaInfo i;
    i.node_name = "node-1";
    i.is_leader = i.known_leader = true;
    i.client_address = "127.0.0.1:2181";
    return i;
  }
  state::DataTree tree_;
  std::vector<server::ApplyObserver*> observers_;
  int64_t index_ = 0, now_ = 1000;
  state::SessionId sid_ = 0x100;
  uint32_t rnd_ = 0;
};

const char* kMethods[] = {"GET", "PUT", "DELETE", "POST"};
const char* kPaths[] = {"/v1/kv/", "/v1/txn", "/v1/session/create", "/v1/session/destroy/", "/v1/session/renew/",
                        "/v1/session/info/", "/v1/session/list", "/v1/session/node/", "/v1/agent/self", "/v1/kv",
                        "/v1/catalog/", "/v1/health/", "/v1/agent/"};

}  // namespace

namespace {

// One request from `rec`: two selector bytes (method, path prefix), then path suffix '\n' query
// '\n' body.
bool parse_request(std::string_view rec, net::HttpRequest& req) {
  if (rec.size() < 3) return false;
  req.method = kMethods[static_cast<uint8_t>(rec[0]) % 4];
  std::string rest(rec.substr(2));
  auto nl1 = rest.find('\n');
  auto nl2 = nl1 == std::string::npos ? std::string::npos : rest.find('\n', nl1 + 1);
  std::string suffix = rest.substr(0, nl1);
  std::string query = nl1 == std::string::npos ? "" : rest.substr(nl1 + 1, nl2 == std::string::npos ? std::string::npos : nl2 - nl1 - 1);
  req.body = nl2 == std::string::npos ? "" : rest.substr(nl2 + 1);
  req.path = std::string(kPaths[static_cast<uint8_t>(rec[1]) % std::size(kPaths)]) + suffix;
  for (size_t start = 0; start <= query.size();) {
    auto amp = query.find('&', start);
    std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = kv.find('=');
    if (!kv.empty()) req.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  req.query.erase("index");  // a blocking query would wait for a change no input makes
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  MemoryReplica replica;
  server::HttpRouter router;
  consul::ConsulApi api(replica, router);
  replica.subscribe(&api);
  int requests = 0;
  for (size_t start = 0; start < input.size() && requests < 64;) {
    size_t end = input.find('\x1e', start);
    if (end == std::string_view::npos) end = input.size();
    net::HttpRequest req;
    const bool parsed = parse_request(input.substr(start, end - start), req);
    start = end + 1;
    if (!parsed) continue;
    ++requests;
    int responses = 0;
    router.handle(req, [&](net::HttpResponse r) {
      ++responses;
      CONCLAVE_ASSERT(r.status >= 200 && r.status < 600, "a real status");
    });
    api.tick();  // check results are answered once their batch (proposed on the tick) applies
    CONCLAVE_ASSERT(responses == 1, "every request is answered once, by the next tick");
    Bytes snap;
    replica.tree_.encode_snapshot(snap);
    state::DataTree copy;
    CONCLAVE_ASSERT(copy.decode_snapshot(snap) && copy.digest() == replica.tree_.digest(), "tree stays consistent");
  }
  return 0;
}
