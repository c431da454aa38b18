// conclave_zkc_loadgen: ZooKeeper load driven through the official C client (libzookeeper_mt),
// so that the server sees exactly what an application on that library sends: one request per
// write from each session's I/O thread, replies dispatched by its completion thread.
//
// --sessions handles, each keeping --outstanding asynchronous get/set requests in flight; a
// completion issues the next request. Output matches conclave_loadgen's: a table and one JSON
// line prefixed "RESULT ".
//
//   conclave_zkc_loadgen --hosts 127.0.0.1:2181 --sessions 32 --outstanding 8 --mix get=90,set=10
#include <zookeeper/zookeeper.h>

#include "report.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string hosts = "127.0.0.1:2181";
  int sessions = 32;
  int outstanding = 8;
  int keys = 1000;
  int value_size = 100;
  double duration_s = 10;
  int get_weight = 90;
  int set_weight = 10;
  std::string prefix = "/bench-c";
  bool prepare = true;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "conclave_zkc_loadgen: %s\n", msg.c_str());
  std::exit(2);
}

enum Op { kGet, kSet, kNumOps };
const char* kOpNames[] = {"get", "set"};

struct Session;

// One request in flight: what the completion needs to record it and issue the next one.
struct Call {
  Session* session;
  Op op;
  Clock::time_point start;
};

struct Session {
  const Options* o = nullptr;
  zhandle_t* zh = nullptr;
  std::mt19937_64 rng;
  std::string value;
  // Written only by this handle's completion thread (and by the starter before the run).
  std::vector<uint32_t> lat_us[kNumOps];
  std::atomic<uint64_t> errors[kNumOps] = {};  // a synchronous failure is counted by the issuing thread
  std::atomic<bool>* stopping = nullptr;
  std::atomic<int> inflight{0};
  std::mutex m;  // guards connected
  std::condition_variable cv;
  bool connected = false;
};

void issue(Session& s);

void finish(Call* call, int rc) {
  Session& s = *call->session;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - call->start).count();
  if (rc == ZOK) s.lat_us[call->op].push_back(static_cast<uint32_t>(us));
  else s.errors[call->op]++;
  delete call;
  if (!s.stopping->load(std::memory_order_relaxed)) issue(s);
  s.inflight.fetch_sub(1);
}

void on_get(int rc, const char*, int, const struct Stat*, const void* data) {
  finish(static_cast<Call*>(const_cast<void*>(data)), rc);
}
void on_set(int rc, const struct Stat*, const void* data) { finish(static_cast<Call*>(const_cast<void*>(data)), rc); }

void issue(Session& s) {
  const Options& o = *s.o;
  Op op = static_cast<int>(s.rng() % static_cast<uint64_t>(o.get_weight + o.set_weight)) < o.get_weight ? kGet : kSet;
  std::string path = o.prefix + "/" + std::to_string(s.rng() % static_cast<uint64_t>(o.keys));
  auto* call = new Call{&s, op, Clock::now()};
  s.inflight.fetch_add(1);
  int rc = op == kGet ? zoo_aget(s.zh, path.c_str(), 0, on_get, call)
                      : zoo_aset(s.zh, path.c_str(), s.value.data(), static_cast<int>(s.value.size()), -1, on_set, call);
  if (rc != ZOK) {
    s.errors[op]++;
    s.inflight.fetch_sub(1);
    delete call;
  }
}

void watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  auto* s = static_cast<Session*>(ctx);
  if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
    std::lock_guard lk(s->m);
    s->connected = true;
    s->cv.notify_all();
  }
}

void usage() {
  std::printf(
      "conclave_zkc_loadgen: ZooKeeper get/set load through libzookeeper_mt\n"
      "  --hosts H:P[,H:P...]    connect string (sessions spread by the library)\n"
      "  --sessions N            client handles (default 32)\n"
      "  --outstanding K         asynchronous requests in flight per handle (default 8)\n"
      "  --mix get=G,set=S       weights (default get=90,set=10)\n"
      "  --keys N --value-size B znodes prepared under --prefix (default 1000 of 100 B)\n"
      "  --duration S            seconds (default 10)\n"
      "  --no-prepare            keys already exist\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--hosts") o.hosts = next();
    else if (a == "--sessions") o.sessions = std::stoi(next());
    else if (a == "--outstanding") o.outstanding = std::stoi(next());
    else if (a == "--keys") o.keys = std::stoi(next());
    else if (a == "--value-size") o.value_size = std::stoi(next());
    else if (a == "--duration") o.duration_s = std::stod(next());
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--no-prepare") o.prepare = false;
    else if (a == "--mix") {
      std::string m = next();
      o.get_weight = o.set_weight = 0;
      size_t pos = 0;
      while (pos < m.size()) {
        size_t comma = m.find(',', pos);
        std::string item = m.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        auto eq = item.find('=');
        if (eq == std::string::npos) die("bad --mix item " + item);
        int w = std::stoi(item.substr(eq + 1));
        if (item.substr(0, eq) == "get") o.get_weight = w;
        else if (item.substr(0, eq) == "set") o.set_weight = w;
        else die("--mix knows get and set only");
        pos = comma == std::string::npos ? m.size() : comma + 1;
      }
      if (o.get_weight + o.set_weight <= 0) die("--mix needs a positive weight");
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  static FILE* devnull = std::fopen("/dev/null", "w");  // the library reports every reconnect attempt
  if (devnull) zoo_set_log_stream(devnull);
  std::atomic<bool> stopping{false};
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < o.sessions; ++i) {
    auto s = std::make_unique<Session>();
    s->o = &o;
    s->rng.seed(static_cast<uint64_t>(i) * 7919 + 1);
    s->value.assign(static_cast<size_t>(o.value_size), 'v');
    s->stopping = &stopping;
    s->zh = zookeeper_init(o.hosts.c_str(), watcher, 30000, nullptr, s.get(), 0);
    if (!s->zh) die("zookeeper_init failed: " + std::string(std::strerror(errno)));
    sessions.push_back(std::move(s));
  }
  for (auto& s : sessions) {
    std::unique_lock lk(s->m);
    if (!s->cv.wait_for(lk, std::chrono::seconds(15), [&] { return s->connected; }))
      die("a session did not connect to " + o.hosts);
  }
  if (o.prepare) {
    zhandle_t* zh = sessions[0]->zh;
    std::string value(static_cast<size_t>(o.value_size), 'v');
    int rc = zoo_create(zh, o.prefix.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) die("create " + o.prefix + ": " + zerror(rc));
    for (int k = 0; k < o.keys; ++k) {
      std::string p = o.prefix + "/" + std::to_string(k);
      rc = zoo_create(zh, p.c_str(), value.data(), static_cast<int>(value.size()), &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) die("create " + p + ": " + zerror(rc));
    }
  }
  auto t0 = Clock::now();
  for (auto& s : sessions)
    for (int k = 0; k < o.outstanding; ++k) issue(*s);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000)));
  stopping = true;
  auto drain_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& s : sessions)
    while (s->inflight.load() > 0) {
      if (Clock::now() > drain_deadline) die("requests still in flight 30 s after the run");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& s : sessions) zookeeper_close(s->zh);

  std::vector<uint32_t> lat[kNumOps];
  uint64_t errors[kNumOps] = {};
  for (auto& s : sessions)
    for (int op = 0; op < kNumOps; ++op) {
      lat[op].insert(lat[op].end(), s->lat_us[op].begin(), s->lat_us[op].end());
      errors[op] += s->errors[op];
    }
  std::vector<conclave::bench::OpSamples> ops;
  for (int op = 0; op < kNumOps; ++op) ops.push_back({kOpNames[op], &lat[op], errors[op]});
  conclave::bench::print_report(ops, secs,
                      "\"protocol\":\"zk\",\"client\":\"libzookeeper_mt\",\"send\":\"per-request\",\"connections\":" +
                          std::to_string(o.sessions) + ",\"outstanding\":" + std::to_string(o.outstanding));
  return 0;
}
