// The `conclave` command: `agent` runs a node; `version` prints versions.
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "server/config.h"
#include "server/node.h"
#include "zk/server.h"

using namespace conclave;

namespace {

const char* kUsage =
    "Usage: conclave <command> [options]\n\n"
    "Commands:\n"
    "  agent     run a Conclave node (ZooKeeper protocol + HTTP API); see `conclave agent --help`\n"
    "  version   print the Conclave version and the ZooKeeper version it speaks\n";

int run_agent(const std::vector<std::string>& args) {
  auto parsed = server::parse_agent_args(args);
  if (!parsed) {
    std::fprintf(stderr, "conclave agent: %s\n", parsed.error().message.c_str());
    return 2;
  }
  if (parsed->help) {
    std::fputs(server::agent_usage().c_str(), stdout);
    return 0;
  }
  auto& opts = *parsed;
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

  server::Node node(opts.node);
  auto st = node.start();
  if (!st) {
    log::error("main", "cannot start: {}", st.error().message);
    return 1;
  }
  log::info("main", "conclave {} serving ZooKeeper on {}:{} and HTTP on {}:{} (data dir {})", CONCLAVE_VERSION,
            opts.node.bind, node.zk_port(), opts.node.bind, node.http_port(), opts.node.data_dir);
  if (opts.dev) {
    std::printf(
        "\n==> Conclave dev agent running (data in %s)\n"
        "    ZooKeeper:  %s:%u    e.g. /usr/share/zookeeper/bin/zkCli.sh -server %s:%u\n"
        "    HTTP API:   http://%s:%u    e.g. curl http://%s:%u/v1/status/leader\n"
        "    Metrics:    http://%s:%u/metrics\n"
        "    Stop with Ctrl-C.\n\n",
        opts.node.data_dir.c_str(), opts.node.bind.c_str(), node.zk_port(), opts.node.bind.c_str(), node.zk_port(),
        opts.node.bind.c_str(), node.http_port(), opts.node.bind.c_str(), node.http_port(), opts.node.bind.c_str(),
        node.http_port());
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "agent") return run_agent(args);
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
