// conclave_loadgen: a load generator for ZooKeeper-protocol servers (Conclave, Apache ZooKeeper)
// and etcd's v3 HTTP gateway, plus a measurement of the machine's floors (fdatasync latency,
// loopback round trip).
//
// One thread drives all connections with poll(); each connection keeps up to --outstanding
// requests in flight (ZooKeeper pipelines them; etcd over HTTP/1.1 gets one per connection).
// Each request goes out in its own write(), as client libraries send them (--send batched
// coalesces bursts instead: an engine figure). bench/zkc_loadgen.cc drives the same ZooKeeper
// load through the official C client library.
// Output: a readable table and one JSON line (prefix "RESULT ") with ops/s and latency
// percentiles per operation.
//
//   conclave_loadgen --protocol zk --hosts 127.0.0.1:2181 --connections 16 --outstanding 8
//       --mix get=90,set=10 --keys 10000 --value-size 100 --duration 10
//   conclave_loadgen --floor --dir /var/lib/conclave
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/digest.h"
#include "report.h"

using namespace conclave;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string protocol = "zk";
  std::vector<std::string> hosts{"127.0.0.1:2181"};
  int connections = 8;
  int outstanding = 8;
  int value_size = 100;
  int keys = 10000;
  int wide_children = 1000;
  double duration_s = 10;
  std::map<std::string, int> mix{{"get", 90}, {"set", 10}};
  std::string prefix = "/bench";
  bool prepare = true;
  bool prepare_only = false;
  bool floor = false;
  std::string dir = "/tmp";
  int idle_sessions = 0;
  int fanout = 0;
  int server_pid = 0;
  // How requests reach the socket. Client libraries (the ZooKeeper C and Java clients, kazoo,
  // Curator) write each request on its own as the application issues it: "per-request", the
  // default and what the headline figures use. "batched" writes every burst of requests in one
  // write(), which only a tuned pipelining client does: an engine figure, labelled so.
  bool batched = false;
};

enum Op { kGet, kSet, kCreateSeq, kCreateDelete, kExists, kChildren, kMulti, kWatchFanout, kNumOps };
const char* kOpNames[] = {"get", "set", "create_seq", "create_delete", "exists", "children", "multi", "watch_fanout"};

int op_by_name(const std::string& n) {
  for (int i = 0; i < kNumOps; ++i)
    if (n == kOpNames[i]) return i;
  return -1;
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "conclave_loadgen: %s\n", msg.c_str());
  std::exit(2);
}

int dial(const std::string& hp) {
  auto colon = hp.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(hp.substr(colon + 1))));
  inet_pton(AF_INET, hp.substr(0, colon).c_str(), &a.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("cannot connect to " + hp + ": " + strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die(std::string("write failed: ") + strerror(errno));
    off += static_cast<size_t>(n);
  }
}

// ---------------- ZooKeeper protocol ----------------

std::string frame(const std::string& body) {
  std::string f;
  Writer w(f);
  w.u32(static_cast<uint32_t>(body.size()));
  w.raw(body);
  return f;
}

struct ZkConn {
  int fd = -1;
  std::string in;
  int32_t next_xid = 1;
  struct Inflight {
    int32_t xid;
    int op;
    Clock::time_point start;
    bool second_half = false;  // create_delete: the delete
    std::string path;
  };
  std::deque<Inflight> inflight;
  uint64_t seq = 0;
  int id = 0;
};

void zk_handshake(ZkConn& c) {
  std::string b;
  Writer w(b);
  w.i32(0);
  w.i64(0);
  w.i32(30000);
  w.i64(0);
  w.blob(std::string(16, '\0'));
  w.boolean(false);
  write_all(c.fd, frame(b));
  char buf[256];
  size_t got = 0;
  while (got < 4 + 37) {
    ssize_t n = read(c.fd, buf + got, sizeof buf - got);
    if (n <= 0) die("handshake failed");
    got += static_cast<size_t>(n);
    if (got >= 4) {
      Reader r(std::string_view(buf, 4));
      if (got >= 4 + r.u32()) break;
    }
  }
  Reader r(std::string_view(buf + 4, got - 4));
  r.i32();
  int32_t timeout = r.i32();
  if (timeout == 0) die("server refused the session");
}

std::string zk_acl() {
  std::string b;
  Writer w(b);
  w.i32(1);
  w.i32(31);
  w.blob("world");
  w.blob("anyone");
  return b;
}

std::string zk_request(int32_t xid, int32_t type, const std::function<void(Writer&)>& body) {
  std::string b;
  Writer w(b);
  w.i32(xid);
  w.i32(type);
  body(w);
  return frame(b);
}

std::string zk_create(int32_t xid, const std::string& path, const std::string& data, int32_t flags) {
  static const std::string acl = zk_acl();
  return zk_request(xid, 1, [&](Writer& w) {
    w.blob(path);
    w.blob(data);
    w.raw(acl);
    w.i32(flags);
  });
}

// Reads complete reply frames; returns (xid, err) pairs, skipping notifications and pings.
std::vector<std::pair<int32_t, int32_t>> zk_read_replies(ZkConn& c) {
  char buf[65536];
  ssize_t n = read(c.fd, buf, sizeof buf);
  if (n <= 0) die("connection closed by the server");
  c.in.append(buf, static_cast<size_t>(n));
  std::vector<std::pair<int32_t, int32_t>> out;
  size_t pos = 0;
  while (c.in.size() - pos >= 4) {
    Reader lr(std::string_view(c.in).substr(pos, 4));
    uint32_t len = lr.u32();
    if (c.in.size() - pos - 4 < len) break;
    Reader r(std::string_view(c.in).substr(pos + 4, len));
    int32_t xid = r.i32();
    r.i64();
    int32_t err = r.i32();
    if (xid >= 0) out.emplace_back(xid, err);
    pos += 4 + len;
  }
  c.in.erase(0, pos);
  return out;
}

// Sends `reqs` pipelined (window 256) on one connection and waits for all replies.
void zk_pipeline(ZkConn& c, const std::vector<std::string>& reqs, bool ignore_exists) {
  size_t sent = 0, done = 0;
  while (done < reqs.size()) {
    std::string batch;
    while (sent < reqs.size() && sent - done < 256) batch += reqs[sent++];
    if (!batch.empty()) write_all(c.fd, batch);
    for (auto [xid, err] : zk_read_replies(c)) {
      ++done;
      if (err != 0 && !(ignore_exists && err == -110)) die("prepare: request failed with " + std::to_string(err));
    }
  }
}

// ---------------- statistics ----------------

struct Stats {
  std::vector<uint32_t> lat_us[kNumOps];
  uint64_t errors[kNumOps] = {};
};

long rss_kb(int pid);

void report(Stats& s, double secs, const Options& o, const std::string& extra = "") {
  std::vector<bench::OpSamples> ops;
  for (int i = 0; i < kNumOps; ++i) ops.push_back({kOpNames[i], &s.lat_us[i], s.errors[i]});
  bench::print_report(ops, secs,
                      "\"protocol\":\"" + o.protocol + "\",\"send\":\"" + (o.batched ? "batched" : "per-request") +
                          "\",\"connections\":" + std::to_string(o.connections) +
                          ",\"outstanding\":" + std::to_string(o.outstanding) + extra);
}

// ---------------- ZooKeeper workload ----------------

void run_zk(const Options& o) {
  // Idle sessions: connected and established, then left alone for the whole run but for their
  // pings, which a thread sends as client libraries do (every third of the 30 s session timeout).
  std::vector<ZkConn> idle(static_cast<size_t>(o.idle_sessions));
  long rss_before_idle = o.server_pid ? rss_kb(o.server_pid) : -1;
  if (o.idle_sessions > 0) {
    auto t0 = Clock::now();
    for (size_t i = 0; i < idle.size(); ++i) {
      idle[i].fd = dial(o.hosts[i % o.hosts.size()]);
      zk_handshake(idle[i]);
    }
    std::printf("opened %d idle sessions in %.2f s\n", o.idle_sessions,
                std::chrono::duration<double>(Clock::now() - t0).count());
  }
  long rss_idle = o.server_pid && !idle.empty() ? rss_kb(o.server_pid) : -1;
  std::atomic<bool> stop_pings{false};
  uint64_t pings_sent = 0;
  std::thread pinger([&] {
    if (idle.empty()) return;
    std::string ping = frame(std::string("\xff\xff\xff\xfe\x00\x00\x00\x0b", 8));
    auto period = std::chrono::seconds(10);
    auto start = Clock::now();
    size_t next = 0;
    char scratch[4096];
    while (!stop_pings.load()) {
      // Session i pings at start + i * period / N + k * period.
      auto now = Clock::now();
      auto due = static_cast<size_t>(std::chrono::duration<double>(now - start) / period * double(idle.size()));
      for (; next < due && !stop_pings.load(); ++next) {
        auto& c = idle[next % idle.size()];
        write_all(c.fd, ping);
        ++pings_sent;
        while (recv(c.fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<ZkConn> conns(static_cast<size_t>(o.connections));
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = dial(o.hosts[i % o.hosts.size()]);
    conns[i].id = static_cast<int>(i);
    zk_handshake(conns[i]);
  }
  std::string value(static_cast<size_t>(o.value_size), 'v');
  if (o.prepare) {
    // Spread the keys over the connections so preparation is pipelined too.
    std::vector<std::string> base;
    int32_t xid = 1;
    for (auto p : {o.prefix, o.prefix + "/k", o.prefix + "/seq", o.prefix + "/cd", o.prefix + "/wide"})
      base.push_back(zk_create(xid++, p, "", 0));
    zk_pipeline(conns[0], base, true);
    std::vector<std::vector<std::string>> per(conns.size());
    for (int k = 0; k < o.keys; ++k)
      per[static_cast<size_t>(k) % conns.size()].push_back(
          zk_create(100000 + k, o.prefix + "/k/" + std::to_string(k), value, 0));
    for (int k = 0; k < o.wide_children; ++k)
      per[static_cast<size_t>(k) % conns.size()].push_back(
          zk_create(100000 + o.keys + k, o.prefix + "/wide/c" + std::to_string(k), "", 0));
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (size_t i = 0; i < conns.size(); ++i) ts.emplace_back([&, i] { zk_pipeline(conns[i], per[i], true); });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("prepared %d keys of %d bytes and %d wide children in %.2f s\n", o.keys, o.value_size, o.wide_children, secs);
    for (auto& c : conns) c.next_xid = 1;
  }
  if (o.prepare_only) {
    stop_pings.store(true);
    pinger.join();
    return;
  }

  std::vector<int> table;
  for (const auto& [name, weight] : o.mix) {
    int op = op_by_name(name);
    if (op < 0) die("unknown op in --mix: " + name);
    for (int i = 0; i < weight; ++i) table.push_back(op);
  }
  std::mt19937_64 rng(42);
  Stats stats;
  auto issue = [&](ZkConn& c) {
    int op = table[rng() % table.size()];
    int32_t xid = c.next_xid++;
    std::string key = o.prefix + "/k/" + std::to_string(rng() % static_cast<uint64_t>(o.keys));
    std::string req;
    std::string path;
    switch (op) {
      case kGet: req = zk_request(xid, 4, [&](Writer& w) { w.blob(key); w.boolean(false); }); break;
      case kExists: req = zk_request(xid, 3, [&](Writer& w) { w.blob(key); w.boolean(false); }); break;
      case kSet: req = zk_request(xid, 5, [&](Writer& w) { w.blob(key); w.blob(value); w.i32(-1); }); break;
      case kChildren: req = zk_request(xid, 8, [&](Writer& w) { w.blob(o.prefix + "/wide"); w.boolean(false); }); break;
      case kCreateSeq: req = zk_create(xid, o.prefix + "/seq/s-", value, 2); break;
      case kCreateDelete:
        path = o.prefix + "/cd/" + std::to_string(c.id) + "-" + std::to_string(c.seq++);
        req = zk_create(xid, path, value, 0);
        break;
      case kMulti: {
        static const std::string acl = zk_acl();
        req = zk_request(xid, 14, [&](Writer& w) {
          w.i32(13); w.boolean(false); w.i32(-1); w.blob(key); w.i32(-1);           // check
          w.i32(5); w.boolean(false); w.i32(-1); w.blob(key); w.blob(value); w.i32(-1);  // setData
          w.i32(-1); w.boolean(true); w.i32(-1);
        });
        break;
      }
    }
    c.inflight.push_back({xid, op, Clock::now(), false, path});
    return req;
  };
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  auto t0 = Clock::now();
  // Sends one request now (per-request mode) or appends it to this turn's burst (batched).
  auto put = [&](ZkConn& c, std::string& burst, std::string req) {
    if (o.batched) burst += req;
    else write_all(c.fd, req);
  };
  for (auto& c : conns) {
    std::string batch;
    for (int k = 0; k < o.outstanding; ++k) put(c, batch, issue(c));
    if (!batch.empty()) write_all(c.fd, batch);
  }
  std::vector<pollfd> pfds(conns.size());
  bool stopping = false;
  while (true) {
    size_t inflight = 0;
    for (auto& c : conns) inflight += c.inflight.size();
    if (stopping && inflight == 0) break;
    for (size_t i = 0; i < conns.size(); ++i) pfds[i] = {conns[i].fd, POLLIN, 0};
    if (poll(pfds.data(), pfds.size(), 1000) < 0) die("poll");
    auto now = Clock::now();
    if (now >= deadline) stopping = true;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& c = conns[i];
      std::string batch;
      for (auto [xid, err] : zk_read_replies(c)) {
        if (c.inflight.empty() || c.inflight.front().xid != xid) die("reply out of order");
        auto f = c.inflight.front();
        c.inflight.pop_front();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - f.start).count();
        if (f.op == kCreateDelete && !f.second_half) {
          // Follow the create with the delete of the same node; the pair counts as one op.
          int32_t dx = c.next_xid++;
          put(c, batch, zk_request(dx, 2, [&](Writer& w) { w.blob(f.path); w.i32(-1); }));
          c.inflight.push_back({dx, kCreateDelete, f.start, true, f.path});
          continue;
        }
        if (err != 0 && !(f.op == kMulti && err == 0)) stats.errors[f.op]++;
        else stats.lat_us[f.op].push_back(static_cast<uint32_t>(us));
        if (!stopping) put(c, batch, issue(c));
      }
      if (!batch.empty()) write_all(c.fd, batch);
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::string extra;
  if (!idle.empty()) {
    long rss_end = o.server_pid ? rss_kb(o.server_pid) : -1;
    auto per = [&](long kb) { return rss_before_idle > 0 && kb > 0 ? double(kb - rss_before_idle) * 1024.0 / double(idle.size()) : -1.0; };
    std::printf("%zu idle sessions, %llu pings sent; server memory per idle session %.0f B once opened, %.0f B at the end "
                "(with the active load's)\n",
                idle.size(), static_cast<unsigned long long>(pings_sent), per(rss_idle), per(rss_end));
    extra = ",\"idle_sessions\":" + std::to_string(idle.size()) + ",\"idle_pings\":" + std::to_string(pings_sent) +
            ",\"idle_bytes_per_session\":" + std::to_string(per(rss_idle)) +
            ",\"idle_bytes_per_session_end\":" + std::to_string(per(rss_end));
  }
  stop_pings.store(true);
  pinger.join();
  report(stats, secs, o, extra);
}

// ---------------- watch fan-out ----------------
// N watcher sessions hold a data watch on one node; a writer changes it and waits until every
// watcher has been notified; the watchers re-arm and the round repeats. One round = one
// "watch_fanout" op; its latency is from the write to the last notification.

void run_fanout(const Options& o) {
  std::string node = o.prefix + "-fan";
  ZkConn writer;
  writer.fd = dial(o.hosts[0]);
  zk_handshake(writer);
  zk_pipeline(writer, {zk_create(1, node, "x", 0)}, true);
  std::vector<ZkConn> watchers(static_cast<size_t>(o.fanout));
  for (size_t i = 0; i < watchers.size(); ++i) {
    watchers[i].fd = dial(o.hosts[i % o.hosts.size()]);
    zk_handshake(watchers[i]);
  }
  auto arm_all = [&] {
    for (auto& w : watchers) write_all(w.fd, zk_request(w.next_xid++, 4, [&](Writer& x) { x.blob(node); x.boolean(true); }));
    // Wait for every getData reply so that all watches are registered before the write.
    for (auto& w : watchers) {
      size_t got = 0;
      while (got == 0) got = zk_read_replies(w).size();
    }
  };
  Stats stats;
  std::string value(static_cast<size_t>(o.value_size), 'f');
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  auto t0 = Clock::now();
  while (Clock::now() < deadline) {
    arm_all();
    auto start = Clock::now();
    write_all(writer.fd, zk_request(writer.next_xid++, 5, [&](Writer& x) { x.blob(node); x.blob(value); x.i32(-1); }));
    // Notifications have xid -1: count frames per watcher until each has seen one.
    size_t pending = watchers.size();
    std::vector<bool> seen(watchers.size(), false);
    std::vector<pollfd> pfds(watchers.size());
    while (pending > 0) {
      for (size_t i = 0; i < watchers.size(); ++i) pfds[i] = {watchers[i].fd, static_cast<short>(seen[i] ? 0 : POLLIN), 0};
      if (poll(pfds.data(), pfds.size(), 5000) <= 0) die("watch notifications did not arrive");
      for (size_t i = 0; i < watchers.size(); ++i) {
        if (seen[i] || !(pfds[i].revents & POLLIN)) continue;
        char buf[4096];
        ssize_t n = read(watchers[i].fd, buf, sizeof buf);
        if (n <= 0) die("watcher connection closed");
        watchers[i].in.append(buf, static_cast<size_t>(n));
        size_t pos = 0;
        while (watchers[i].in.size() - pos >= 4) {
          Reader lr(std::string_view(watchers[i].in).substr(pos, 4));
          uint32_t len = lr.u32();
          if (watchers[i].in.size() - pos - 4 < len) break;
          Reader r(std::string_view(watchers[i].in).substr(pos + 4, len));
          if (r.i32() == -1 && !seen[i]) {
            seen[i] = true;
            --pending;
          }
          pos += 4 + len;
        }
        watchers[i].in.erase(0, pos);
      }
    }
    stats.lat_us[kWatchFanout].push_back(
        static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()));
    size_t got = 0;
    while (got == 0) got = zk_read_replies(writer).size();  // the setData reply
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%d watchers: %.0f notifications/s\n", o.fanout,
              double(stats.lat_us[kWatchFanout].size()) * o.fanout / secs);
  report(stats, secs, o);
}

// ---------------- etcd v3 over its HTTP/JSON gateway ----------------

struct HttpConn {
  int fd = -1;
  std::string in;
  bool busy = false;
  int op = 0;
  Clock::time_point start;
};

// Case-insensitive search for `name` (lower case, with the colon) in [head, head + len).
size_t find_header(const std::string& in, size_t len, const char* name) {
  size_t n = std::strlen(name);
  for (size_t i = 0; i + n <= len; ++i) {
    if (in[i] != '\n') continue;
    size_t j = 0;
    while (j < n && std::tolower(static_cast<unsigned char>(in[i + 1 + j])) == name[j]) ++j;
    if (j == n) return i + 1 + n;
  }
  return std::string::npos;
}

// Returns true and consumes one response when complete; sets *ok on a 200. Scans the head in
// place: the load generator shares the machine with the server and must stay cheap.
bool http_take_response(std::string& in, bool* ok) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  *ok = in.compare(0, 12, "HTTP/1.1 200") == 0;
  size_t cl = find_header(in, end, "content-length:");
  if (cl != std::string::npos) {
    size_t len = std::strtoul(in.c_str() + cl, nullptr, 10);
    if (in.size() < end + 4 + len) return false;
    in.erase(0, end + 4 + len);
    return true;
  }
  if (find_header(in, end, "transfer-encoding:") != std::string::npos) {
    size_t pos = end + 4;
    while (true) {
      auto le = in.find("\r\n", pos);
      if (le == std::string::npos) return false;
      size_t sz = std::strtoul(in.c_str() + pos, nullptr, 16);
      if (in.size() < le + 2 + sz + 2) return false;
      pos = le + 2 + sz + 2;
      if (sz == 0) {
        in.erase(0, pos);
        return true;
      }
    }
  }
  in.erase(0, end + 4);
  return true;
}

std::string etcd_request(const std::string& host, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string consul_request(const std::string& host, const char* method, const std::string& path,
                           const std::string& body) {
  return std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One request at a time per connection, replies as they come: how HTTP/1.1 clients (etcd's
// gateway clients, python-consul, Consul's Go api) use a keep-alive connection.
void run_etcd(const Options& o) {
  const bool consul = o.protocol == "consul";
  std::vector<HttpConn> conns(static_cast<size_t>(o.connections));
  for (size_t i = 0; i < conns.size(); ++i) conns[i].fd = dial(o.hosts[i % o.hosts.size()]);
  std::string value_b64 = base64_encode(std::string(static_cast<size_t>(o.value_size), 'v'));
  std::string value_raw(static_cast<size_t>(o.value_size), 'v');
  auto key_b64 = [&](int k) { return base64_encode(o.prefix + "/k/" + std::to_string(k)); };
  auto consul_path = [&](int k) { return "/v1/kv" + o.prefix + "/k/" + std::to_string(k); };
  auto put_request = [&](int k) {
    return consul ? consul_request(o.hosts[0], "PUT", consul_path(k), value_raw)
                  : etcd_request(o.hosts[0], "/v3/kv/put", "{\"key\":\"" + key_b64(k) + "\",\"value\":\"" + value_b64 + "\"}");
  };
  auto get_request = [&](int k) {
    return consul ? consul_request(o.hosts[0], "GET", consul_path(k), "")
                  : etcd_request(o.hosts[0], "/v3/kv/range", "{\"key\":\"" + key_b64(k) + "\"}");
  };
  auto blocking = [&](HttpConn& c, const std::string& req) {
    write_all(c.fd, req);
    bool ok = false;
    char buf[65536];
    while (!http_take_response(c.in, &ok)) {
      ssize_t n = read(c.fd, buf, sizeof buf);
      if (n <= 0) die("the server closed the connection");
      c.in.append(buf, static_cast<size_t>(n));
    }
    if (!ok) die("request failed");
  };
  if (o.prepare) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (size_t i = 0; i < conns.size(); ++i)
      ts.emplace_back([&, i] {
        for (int k = static_cast<int>(i); k < o.keys; k += static_cast<int>(conns.size()))
          blocking(conns[i], put_request(k));
      });
    for (auto& t : ts) t.join();
    std::printf("prepared %d keys in %.2f s\n", o.keys, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  if (o.prepare_only) return;
  std::vector<int> table;
  for (const auto& [name, weight] : o.mix) {
    int op = op_by_name(name);
    if (op != kGet && op != kSet) die("etcd and consul support only get and set in --mix");
    for (int i = 0; i < weight; ++i) table.push_back(op);
  }
  std::mt19937_64 rng(42);
  Stats stats;
  auto issue = [&](HttpConn& c) {
    int op = table[rng() % table.size()];
    int k = static_cast<int>(rng() % static_cast<uint64_t>(o.keys));
    std::string req = op == kGet ? get_request(k) : put_request(k);
    c.busy = true;
    c.op = op;
    c.start = Clock::now();
    write_all(c.fd, req);
  };
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  auto t0 = Clock::now();
  for (auto& c : conns) issue(c);
  std::vector<pollfd> pfds(conns.size());
  bool stopping = false;
  while (true) {
    bool any_busy = false;
    for (auto& c : conns) any_busy |= c.busy;
    if (stopping && !any_busy) break;
    for (size_t i = 0; i < conns.size(); ++i) pfds[i] = {conns[i].fd, POLLIN, 0};
    if (poll(pfds.data(), pfds.size(), 1000) < 0) die("poll");
    if (Clock::now() >= deadline) stopping = true;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& c = conns[i];
      char buf[65536];
      ssize_t n = read(c.fd, buf, sizeof buf);
      if (n <= 0) die("the server closed the connection");
      c.in.append(buf, static_cast<size_t>(n));
      bool ok = false;
      if (c.busy && http_take_response(c.in, &ok)) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.start).count();
        if (ok) stats.lat_us[c.op].push_back(static_cast<uint32_t>(us));
        else stats.errors[c.op]++;
        c.busy = false;
        if (!stopping) issue(c);
      }
    }
  }
  report(stats, std::chrono::duration<double>(Clock::now() - t0).count(), o);
}

// ---------------- Consul blocking-query fan-out ----------------
// N connections each hold a blocking GET on one key; one PUT wakes them all. Reports the wake-up
// latency distribution (PUT sent -> each reply received) and, with --server-pid, the server's
// resident memory per waiting query.

long rss_kb(int pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return kb;
}

std::string header_value(const std::string& head, const std::string& lower_name) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  auto p = lower.find("\r\n" + lower_name + ":");
  if (p == std::string::npos) return "";
  size_t s = p + 3 + lower_name.size();
  while (s < head.size() && head[s] == ' ') ++s;
  return head.substr(s, head.find("\r\n", s) - s);
}

std::string blocking_call(int fd, const std::string& req, std::string* head_out) {
  write_all(fd, req);
  std::string in;
  char buf[65536];
  bool ok = false;
  while (true) {
    std::string probe = in;
    if (http_take_response(probe, &ok)) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) die("the server closed the connection");
    in.append(buf, static_cast<size_t>(n));
  }
  if (head_out) *head_out = in.substr(0, in.find("\r\n\r\n"));
  return in;
}

void run_consul_fanout(const Options& o, int server_pid) {
  const std::string host = o.hosts[0];
  const std::string key = "/v1/kv" + o.prefix + "/fanout";
  int ctl = dial(host);
  std::string head;
  blocking_call(ctl, consul_request(host, "PUT", key, "v0"), nullptr);
  blocking_call(ctl, consul_request(host, "GET", key, ""), &head);
  std::string index = header_value(head, "x-consul-index");
  if (index.empty()) die("no X-Consul-Index in the reply");
  long rss_before = server_pid ? rss_kb(server_pid) : -1;
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(o.fanout));
  for (int i = 0; i < o.fanout; ++i) {
    int fd = dial(host);
    write_all(fd, consul_request(host, "GET", key + "?index=" + index + "&wait=5m", ""));
    fds.push_back(fd);
  }
  // Wait until the server holds them all.
  auto deadline = Clock::now() + std::chrono::seconds(120);
  long waiting = 0;
  while (Clock::now() < deadline) {
    std::string m = blocking_call(ctl, consul_request(host, "GET", "/metrics", ""), nullptr);
    auto p = m.find("\nconclave_consul_blocking_queries ");
    waiting = p == std::string::npos ? 0 : std::strtol(m.c_str() + p + std::strlen("\nconclave_consul_blocking_queries "), nullptr, 10);
    if (waiting >= o.fanout) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (waiting < o.fanout) die("the server holds only " + std::to_string(waiting) + " blocking queries");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss_with = server_pid ? rss_kb(server_pid) : -1;
  auto t0 = Clock::now();
  write_all(ctl, consul_request(host, "PUT", key, "v1"));
  std::vector<uint32_t> lat;
  std::vector<std::string> in(fds.size());
  int ep = epoll_create1(0);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  size_t remaining = fds.size();
  auto stop = Clock::now() + std::chrono::seconds(60);
  std::vector<epoll_event> events(1024);
  while (remaining > 0 && Clock::now() < stop) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int j = 0; j < n; ++j) {
      size_t i = events[static_cast<size_t>(j)].data.u64;
      char buf[8192];
      ssize_t got = read(fds[i], buf, sizeof buf);
      if (got <= 0) die("a waiting connection was closed");
      in[i].append(buf, static_cast<size_t>(got));
      bool ok = false;
      if (http_take_response(in[i], &ok)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
        --remaining;
        lat.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
      }
    }
  }
  close(ep);
  std::sort(lat.begin(), lat.end());
  double per_query = rss_before > 0 && rss_with > 0 ? double(rss_with - rss_before) * 1024.0 / o.fanout : -1;
  std::printf("fan-out %d blocking queries: woken %zu; wake-up p50 %.1f ms, p99 %.1f ms, max %.1f ms; server memory %.0f B per waiting query\n",
              o.fanout, lat.size(), bench::percentile_ms(lat, 50), bench::percentile_ms(lat, 99), lat.empty() ? 0.0 : lat.back() / 1000.0, per_query);
  std::printf("RESULT {\"protocol\":\"consul\",\"fanout\":%d,\"woken\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"bytes_per_query\":%.0f}\n",
              o.fanout, lat.size(), bench::percentile_ms(lat, 50), bench::percentile_ms(lat, 99), lat.empty() ? 0.0 : lat.back() / 1000.0, per_query);
  for (int fd : fds) close(fd);
  close(ctl);
  if (lat.size() != fds.size()) die("not every blocking query woke up");
}

// ---------------- physical floors ----------------

void run_floor(const Options& o) {
  std::string path = o.dir + "/conclave-floor-test";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("cannot create " + path);
  std::string block(4096, 'x');
  std::vector<uint32_t> lat;
  for (int i = 0; i < 200; ++i) {
    write_all(fd, block);
    auto t0 = Clock::now();
    fdatasync(fd);
    lat.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
  }
  close(fd);
  unlink(path.c_str());
  std::sort(lat.begin(), lat.end());
  // Loopback round trip: a ping-pong of 16-byte messages with an echo thread.
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(ls, 1);
  socklen_t al = sizeof a;
  getsockname(ls, reinterpret_cast<sockaddr*>(&a), &al);
  std::thread echo([ls] {
    int c = accept(ls, nullptr, nullptr);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b[16];
    while (true) {
      ssize_t n = read(c, b, sizeof b);
      if (n <= 0) break;
      if (write(c, b, static_cast<size_t>(n)) != n) break;
    }
    close(c);
  });
  int c = dial("127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  std::vector<uint32_t> rtt;
  char b[16] = {0};
  for (int i = 0; i < 20000; ++i) {
    auto t0 = Clock::now();
    if (write(c, b, 16) != 16) die("echo write");
    size_t got = 0;
    while (got < 16) {
      ssize_t n = read(c, b + got, 16 - got);
      if (n <= 0) die("echo read");
      got += static_cast<size_t>(n);
    }
    rtt.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
  }
  close(c);
  echo.join();
  close(ls);
  std::sort(rtt.begin(), rtt.end());
  double fsync_p50 = lat[lat.size() / 2] / 1000.0, fsync_p99 = lat[lat.size() * 99 / 100] / 1000.0;
  double rtt_p50 = rtt[rtt.size() / 2] / 1000.0, rtt_p99 = rtt[rtt.size() * 99 / 100] / 1000.0;
  std::printf("fdatasync (4 KiB append) in %s: p50 %.3f ms, p99 %.3f ms\n", o.dir.c_str(), fsync_p50, fsync_p99);
  std::printf("loopback TCP round trip: p50 %.1f us, p99 %.1f us\n", rtt_p50, rtt_p99);
  std::printf("RESULT {\"fdatasync_p50_ms\":%.3f,\"fdatasync_p99_ms\":%.3f,\"loopback_rtt_p50_us\":%.1f,\"loopback_rtt_p99_us\":%.1f}\n",
              fsync_p50, fsync_p99, rtt_p50, rtt_p99);
}

void usage() {
  std::puts(
      "Usage: conclave_loadgen [options]\n"
      "  --protocol zk|etcd|consul  wire protocol (default zk); consul: /v1/kv GET and PUT\n"
      "  --hosts H:P[,H:P...]    servers; connections are spread over them\n"
      "  --connections N         sessions/connections (default 8)\n"
      "  --outstanding K         requests in flight per connection (zk; default 8)\n"
      "  --send per-request|batched  one write() per request as client libraries do (default), or\n"
      "                          every burst in one write() (an engine figure, not what clients see)\n"
      "  --mix op=w,...          get set create_seq create_delete exists children multi (default get=90,set=10)\n"
      "  --keys M                keys prepared and addressed (default 10000)\n"
      "  --value-size B          bytes per value (default 100)\n"
      "  --wide-children W       children of the node read by `children` (default 1000)\n"
      "  --duration S            seconds of measured load (default 10)\n"
      "  --prefix P              key prefix (default /bench)\n"
      "  --no-prepare            assume the keys exist\n"
      "  --prepare-only          create the keys and exit\n"
      "  --idle-sessions N       also hold N idle sessions open during the run\n"
      "  --fanout N              watch fan-out: N sessions watch one node, a writer changes it\n"
      "                          (consul: N blocking queries on one key, one PUT wakes them)\n"
      "  --server-pid P          with consul --fanout: report the server's memory per waiting query\n"
      "  --floor [--dir D]       measure fdatasync latency in D and the loopback round trip");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--protocol") o.protocol = next();
    else if (a == "--hosts") {
      o.hosts.clear();
      std::string v = next();
      size_t s = 0;
      while (s <= v.size()) {
        auto c = v.find(',', s);
        o.hosts.push_back(v.substr(s, c == std::string::npos ? std::string::npos : c - s));
        if (c == std::string::npos) break;
        s = c + 1;
      }
    } else if (a == "--connections") o.connections = std::stoi(next());
    else if (a == "--outstanding") o.outstanding = std::stoi(next());
    else if (a == "--send") {
      std::string m = next();
      if (m != "per-request" && m != "batched") die("--send takes per-request or batched");
      o.batched = m == "batched";
    }
    else if (a == "--value-size") o.value_size = std::stoi(next());
    else if (a == "--keys") o.keys = std::stoi(next());
    else if (a == "--wide-children") o.wide_children = std::stoi(next());
    else if (a == "--duration") o.duration_s = std::stod(next());
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--no-prepare") o.prepare = false;
    else if (a == "--prepare-only") o.prepare_only = true;
    else if (a == "--floor") o.floor = true;
    else if (a == "--idle-sessions") o.idle_sessions = std::stoi(next());
    else if (a == "--fanout") o.fanout = std::stoi(next());
    else if (a == "--dir") o.dir = next();
    else if (a == "--server-pid") o.server_pid = std::stoi(next());
    else if (a == "--mix") {
      o.mix.clear();
      std::string v = next();
      size_t s = 0;
      while (s < v.size()) {
        auto c = v.find(',', s);
        std::string item = v.substr(s, c == std::string::npos ? std::string::npos : c - s);
        auto eq = item.find('=');
        if (eq == std::string::npos) die("--mix: expected op=weight");
        o.mix[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
        if (c == std::string::npos) break;
        s = c + 1;
      }
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  if (o.floor) run_floor(o);
  else if (o.fanout > 0 && o.protocol == "consul") run_consul_fanout(o, o.server_pid);
  else if (o.fanout > 0) run_fanout(o);
  else if (o.protocol == "zk") run_zk(o);
  else if (o.protocol == "etcd" || o.protocol == "consul") run_etcd(o);
  else die("unknown protocol " + o.protocol);
  return 0;
}
