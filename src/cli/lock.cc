// `conclave lock PREFIX CHILD...`: Consul's `consul lock` on the node's HTTP API. A session with
// a TTL is created and renewed, the key PREFIX/.lock is acquired with it (waiting with blocking
// queries while someone else holds it), the child runs through `sh -c` while the lock is held,
// and the lock is released and the session destroyed when the child exits. If the session is
// lost (the lock could be taken by another holder), the child is terminated.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "common/json.h"

namespace conclave::cli {
namespace {

const char* kUsage =
    "Usage: conclave lock [options] PREFIX CHILD...\n\n"
    "Acquires the lock PREFIX/.lock with a new session (TTL 15s, renewed), runs CHILD with `sh -c`\n"
    "while holding it, then releases it. Compatible with `consul lock` holders of the same prefix.\n\n"
    "Options:\n"
    "  -http-addr=HOST:PORT   node HTTP API (default $CONCLAVE_HTTP_ADDR, else 127.0.0.1:8500)\n"
    "  -name=NAME             session name (default \"Conclave lock\")\n"
    "  -timeout=DURATION      give up waiting for the lock after this long (e.g. 30s; default: wait)\n"
    "  -child-exit-code       exit 2 when the child fails (default: 0 once the child has run)\n"
    "  -verbose               say what happens on stderr\n";

// api.LockFlagValue: marks a key as a lock, so a semaphore's key is not mistaken for one.
constexpr uint64_t kLockFlagValue = 0x2ddccbc058a50c18ull;

std::atomic<pid_t> g_child{0};
void forward_signal(int sig) {
  pid_t c = g_child.load();
  if (c > 0) kill(c, sig);
}

}  // namespace

int run_lock(std::vector<std::string> args) {
  std::string addr = default_http_addr(), name = "Conclave lock";
  int64_t timeout_ms = -1;
  bool child_exit_code = false, verbose = false;
  size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    std::string f = args[i].substr(args[i][1] == '-' ? 2 : 1);
    auto eq = f.find('=');
    std::string flag = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (flag == "h" || flag == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag == "http-addr") addr = value.rfind("http://", 0) == 0 ? value.substr(7) : value;
    else if (flag == "name") name = value;
    else if (flag == "child-exit-code") child_exit_code = true;
    else if (flag == "verbose") verbose = true;
    else if (flag == "timeout") {
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      std::string unit = end ? end : "";
      double mult = unit == "ms" ? 1 : unit == "s" || unit.empty() ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : -1;
      if (mult < 0 || v < 0) {
        std::fprintf(stderr, "Error! invalid -timeout %s\n", value.c_str());
        return 1;
      }
      timeout_ms = static_cast<int64_t>(v * mult);
    } else {
      std::fprintf(stderr, "Error! unknown flag -%s\n\n%s", flag.c_str(), kUsage);
      return 1;
    }
  }
  if (args.size() - i < 2) {
    std::fprintf(stderr, "Error! Key prefix and child command must be specified\n\n%s", kUsage);
    return 1;
  }
  std::string prefix = args[i++];
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string child;
  for (; i < args.size(); ++i) child += (child.empty() ? "" : " ") + args[i];
  std::string key_path = "/v1/kv/" + url_path_escape(prefix + "/.lock");
  auto say = [&](const char* fmt, const std::string& a) {
    if (verbose) std::fprintf(stderr, fmt, a.c_str());
  };

  json::object se{{"Name", name}, {"TTL", "15s"}, {"LockDelay", "15s"}};
  auto created = http_call(addr, "PUT", "/v1/session/create", 10000, json::serialize(se));
  if (!created || created->status != 200) {
    std::fprintf(stderr, "Error! Lock acquisition failed: failed to create session: %s\n",
                 created ? created->body.c_str() : created.error().message.c_str());
    return 1;
  }
  boost::system::error_code ec;
  json::value sv = json::parse(created->body, ec);
  if (ec || !sv.is_object() || !sv.as_object().contains("ID")) {
    std::fprintf(stderr, "Error! Lock acquisition failed: malformed session reply\n");
    return 1;
  }
  std::string session(sv.as_object().at("ID").as_string());
  say("Session %s created\n", session);
  auto destroy = [&] { (void)http_call(addr, "PUT", "/v1/session/destroy/" + session, 10000); };

  std::atomic<bool> lost{false}, done{false};
  std::thread renewer([&] {
    auto next = std::chrono::steady_clock::now();
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::chrono::steady_clock::now() < next) continue;
      next = std::chrono::steady_clock::now() + std::chrono::milliseconds(7500);
      auto r = http_call(addr, "PUT", "/v1/session/renew/" + session, 5000);
      if (r && r->status == 404) {
        lost = true;
        forward_signal(SIGTERM);
        return;
      }
    }
  });
  auto finish = [&](int code) {
    done = true;
    renewer.join();
    destroy();
    return code;
  };

  auto start = std::chrono::steady_clock::now();
  std::string index = "0";
  for (;;) {
    auto r = http_call(addr, "PUT", key_path + "?acquire=" + session + "&flags=" + std::to_string(kLockFlagValue), 10000,
                       session);
    if (r && r->status == 200 && r->body.rfind("true", 0) == 0) break;
    if (r && r->status != 200) {
      std::fprintf(stderr, "Error! Lock acquisition failed: %s\n", r->body.c_str());
      return finish(1);
    }
    int64_t waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    if (timeout_ms >= 0 && waited >= timeout_ms) {
      std::fprintf(stderr, "Shutdown triggered or timeout during lock acquisition\n");
      return finish(1);
    }
    // Wait for the holder to let go (or for the lock-delay to pass).
    auto w = http_call(addr, "GET", key_path + "?index=" + index + "&wait=1s", 15000);
    if (w && !w->index.empty()) index = w->index;
    if (!w) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  say("Lock acquired on %s\n", prefix + "/.lock");

  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", child.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid > 0) {
    g_child = pid;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_child = 0;
  }
  (void)http_call(addr, "PUT", key_path + "?release=" + session + "&flags=" + std::to_string(kLockFlagValue), 10000);
  say("Lock released on %s\n", prefix + "/.lock");
  int code = finish(0);
  if (lost) {
    std::fprintf(stderr, "Error! Lock lost: the session was invalidated while the child ran\n");
    return 1;
  }
  if (pid < 0) {
    std::fprintf(stderr, "Error! cannot start the child: fork failed\n");
    return 1;
  }
  bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  if (failed) std::fprintf(stderr, "Child failed (%s)\n", WIFEXITED(status) ? ("exit " + std::to_string(WEXITSTATUS(status))).c_str() : "signal");
  return failed && child_exit_code ? 2 : code;
}

}  // namespace conclave::cli
