// The `conclave` command: `agent` runs a node; `version` prints versions.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "common/log.h"
#include "cli/agent_config.h"
#include "consul/api.h"
#include "dns/server.h"
#include "net/probe.h"
#include "net/udp.h"
#include "server/node.h"
#include "zk/server.h"

using namespace conclave;

namespace {

const char* kUsage =
    "Usage: conclave <command> [options]\n\n"
    "Commands:\n"
    "  agent     run a Conclave node (ZooKeeper protocol + HTTP API); see `conclave agent --help`\n"
    "  kv        read and write the Consul KV view: get, put, delete, export, import\n"
    "  lock      run a command while holding a lock: `conclave lock PREFIX CMD...`\n"
    "  catalog   list services and nodes: `conclave catalog services|nodes`\n"
    "  services  register and deregister services: `conclave services register FILE.json`\n"
    "  members   list the cluster's members and their health\n"
    "  watch     run a handler whenever a view changes: `conclave watch -type=key -key=K CMD`\n"
    "  trace     a trace as a timeline: `conclave trace ID`; the slowest recent ones: `conclave trace -recent`\n"
    "  operator  cluster membership: `conclave operator raft --help`\n"
    "  version   print the Conclave version and the ZooKeeper version it speaks\n";

int run_agent(const std::vector<std::string>& args) {
  auto parsed = cli::parse_agent_args(args);
  if (!parsed) {
    std::fprintf(stderr, "conclave agent: %s\n", parsed.error().message.c_str());
    return 2;
  }
  if (parsed->help) {
    std::fputs(cli::agent_usage().c_str(), stdout);
    return 0;
  }
  auto& opts = *parsed;
  log::set_format(opts.log_format == "json" ? log::Format::kJson : log::Format::kText);
  log::set_level(opts.log_level == "debug" ? log::Level::kDebug
                 : opts.log_level == "warn" ? log::Level::kWarn
                 : opts.log_level == "error" ? log::Level::kError
                                             : log::Level::kInfo);
  // Signals are taken by a dedicated thread so that the loop stops cleanly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every client connection is a descriptor (ZooKeeper sessions, Consul blocking queries): use
  // the whole hard limit, as ZooKeeper's and Consul's start scripts do.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  server::Node node(opts.node);
  auto st = node.start();
  if (!st) {
    log::error("main", "cannot start: {}", st.error().message);
    return 1;
  }
  // The front-ends, on the node's replica interface; the node keeps them until its loop is gone.
  auto zk = std::make_shared<zk::ZkServer>(node, opts.zk);
  node.adopt(zk);
  node.subscribe(zk.get());
  auto zk_port = node.listen(opts.zk_port, *zk);
  if (!zk_port) {
    log::error("main", "cannot start: {}", zk_port.error().message);
    return 1;
  }
  node.set_client_address(opts.node.bind + ":" + std::to_string(*zk_port));
  auto consul = std::make_shared<consul::ConsulApi>(node, node.router());
  consul->set_prober(net::make_prober(node.loop()));
  node.adopt(consul);
  node.subscribe(consul.get());
  node.every(std::chrono::milliseconds(50), [c = consul.get()] { c->tick(); });
  std::shared_ptr<dns::DnsServer> dns;
  std::unique_ptr<net::UdpServer> dns_udp;
  uint16_t dns_port = 0;
  if (opts.dns_port >= 0) {
    dns = std::make_shared<dns::DnsServer>(node, dns::ResolverConfig{opts.dns_domain, opts.node.datacenter});
    node.adopt(dns);
    auto udp = net::UdpServer::listen(node.loop(), opts.node.bind, static_cast<uint16_t>(opts.dns_port),
                                      [d = dns.get()](std::string_view q) { return d->on_datagram(q); });
    if (!udp) {
      log::error("main", "cannot start: {}", udp.error().message);
      return 1;
    }
    dns_udp = std::move(*udp);
    dns_port = dns_udp->port();
    auto tcp = node.listen(dns_port, *dns);
    if (!tcp) {
      log::error("main", "cannot start: DNS over TCP: {}", tcp.error().message);
      return 1;
    }
  }
  node.add_metrics([z = zk.get(), c = consul.get(), d = dns.get()] {
    return z->metrics_text() + c->metrics_text() + (d ? d->metrics_text() : std::string());
  });
  log::info("main", "conclave {} serving ZooKeeper on {}:{}, HTTP on {}:{} and DNS on {} (data dir {})",
            CONCLAVE_VERSION, opts.node.bind, *zk_port, opts.node.bind, node.http_port(),
            dns ? opts.node.bind + ":" + std::to_string(dns_port) : std::string("(off)"), opts.node.data_dir);
  if (opts.dev) {
    std::printf(
        "\n==> Conclave dev agent running (data in %s)\n"
        "    ZooKeeper:  %s:%u    e.g. /usr/share/zookeeper/bin/zkCli.sh -server %s:%u\n"
        "    HTTP API:   http://%s:%u    e.g. curl -X PUT -d hello http://%s:%u/v1/kv/hello  (the znode /hello)\n"
        "    DNS:        %s:%u (UDP, TCP)    e.g. dig @%s -p %u web.service.consul SRV\n"
        "    Metrics:    http://%s:%u/metrics\n"
        "    Stop with Ctrl-C.\n\n",
        opts.node.data_dir.c_str(), opts.node.bind.c_str(), *zk_port, opts.node.bind.c_str(), *zk_port,
        opts.node.bind.c_str(), node.http_port(), opts.node.bind.c_str(), node.http_port(), opts.node.bind.c_str(),
        dns_port, opts.node.bind.c_str(), dns_port, opts.node.bind.c_str(), node.http_port());
    std::fflush(stdout);
  }
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    log::info("main", "signal {} received; shutting down", sig);
    node.stop();
  });
  node.run();
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return 0;
}

const char* kOperatorUsage =
    "Usage: conclave operator raft <command> [--http-addr HOST:PORT] [args]\n\n"
    "Talks to a node's HTTP API (default 127.0.0.1:8500); changes go to the leader.\n\n"
    "Commands:\n"
    "  list-peers                        show voters and learners, and who leads\n"
    "  add-voter ID HOST:RAFTPORT        add a voting member\n"
    "  add-learner ID HOST:RAFTPORT      add a non-voting member (ZooKeeper observer)\n"
    "  remove-peer ID                    remove a member\n"
    "  transfer-leader ID                hand leadership to a voter\n";

int run_operator(std::vector<std::string> args) {
  std::string addr = cli::default_http_addr();
  std::vector<std::string> pos;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::fputs(kOperatorUsage, stdout);
      return 0;
    }
    if (args[i] == "--http-addr" && i + 1 < args.size()) addr = args[++i];
    else if (args[i].rfind("--http-addr=", 0) == 0) addr = args[i].substr(12);
    else pos.push_back(args[i]);
  }
  if (pos.size() < 2 || pos[0] != "raft") {
    std::fputs(kOperatorUsage, stderr);
    return 2;
  }
  const std::string& cmd = pos[1];
  std::string method, path;
  if (cmd == "list-peers" && pos.size() == 2) {
    method = "GET";
    path = "/v1/operator/raft/configuration";
  } else if ((cmd == "add-voter" || cmd == "add-learner") && pos.size() == 4) {
    method = "POST";
    path = "/v1/operator/raft/peer?id=" + pos[2] + "&address=" + pos[3] + (cmd == "add-learner" ? "&voter=false" : "");
  } else if (cmd == "remove-peer" && pos.size() == 3) {
    method = "DELETE";
    path = "/v1/operator/raft/peer?id=" + pos[2];
  } else if (cmd == "transfer-leader" && pos.size() == 3) {
    method = "POST";
    path = "/v1/operator/raft/transfer-leader?id=" + pos[2];
  } else {
    std::fputs(kOperatorUsage, stderr);
    return 2;
  }
  auto reply = cli::http_call(addr, method, path);
  if (!reply) {
    std::fprintf(stderr, "conclave operator: %s\n", reply.error().message.c_str());
    return 1;
  }
  std::fputs(reply->body.c_str(), reply->status == 200 ? stdout : stderr);
  if (!reply->body.empty() && reply->body.back() != '\n') std::fputc('\n', reply->status == 200 ? stdout : stderr);
  return reply->status == 200 ? 0 : 1;
}

// The agent's heap in transparent huge pages where the kernel offers them (glibc's
// glibc.malloc.hugetlb=1): a node holding 1M znodes faults its memory in 2 MiB at a time, which
// took a 1M-znode restart from 1.9 to 1.1 s on a VM, at the same resident size. glibc reads its
// tunables only at start, so the agent re-executes itself once with the tunable added.
// CONCLAVE_MALLOC_HUGEPAGES=0, or any glibc.malloc.hugetlb setting already given, leaves it alone.
void reexec_with_hugepage_heap(char** argv) {
  const char* opt = std::getenv("CONCLAVE_MALLOC_HUGEPAGES");
  if (opt && std::strcmp(opt, "0") == 0) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.hugetlb")) return;
  std::string value = tunables && *tunables ? std::string(tunables) + ":glibc.malloc.hugetlb=1" : "glibc.malloc.hugetlb=1";
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  ::unsetenv("GLIBC_TUNABLES");  // exec failed: carry on as we are
  if (tunables) ::setenv("GLIBC_TUNABLES", tunables, 1);
}

// Large blocks straight from mmap, always. glibc's default raises its mmap threshold each time a
// large mmapped block is freed (up to 32 MiB), so after the first snapshot its 4 MiB parts come
// from the heap instead, and once freed they stay resident there: 20-30 MB on a 1M-znode node,
// more or less depending on where the heap's top happened to be. A fixed threshold keeps them
// mapped and unmapped whole; the trim threshold is kept high so that the heap's top is not handed
// back and taken again on every burst of requests.
void fix_malloc_thresholds() {
  ::mallopt(M_MMAP_THRESHOLD, 512 << 10);
  ::mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "agent") == 0) {
    reexec_with_hugepage_heap(argv);
    fix_malloc_thresholds();
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "agent") return run_agent(args);
  if (cmd == "operator") return run_operator(args);
  if (cmd == "kv") return cli::run_kv(args);
  if (cmd == "lock") return cli::run_lock(args);
  if (cmd == "catalog") return cli::run_catalog(args);
  if (cmd == "services") return cli::run_services(args);
  if (cmd == "members") return cli::run_members(args);
  if (cmd == "watch") return cli::run_watch(args);
  if (cmd == "trace") return cli::run_trace(args);
  if (cmd == "version") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::puts("Usage: conclave version\n\nPrints the Conclave version and the ZooKeeper protocol version it speaks.");
      return 0;
    }
    std::printf("Conclave %s (ZooKeeper protocol %s)\n", CONCLAVE_VERSION, CONCLAVE_ZK_COMPAT_VERSION);
    return 0;
  }
  std::fprintf(stderr, "conclave: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
