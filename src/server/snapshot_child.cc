#include "server/snapshot_child.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace conclave::server {
namespace {

// Closes the child's copies of the parent's sockets. Other descriptors (WAL segments, the epoll
// instance) stay: the child never uses them, and closing a copy would not affect the parent anyway.
void close_sockets() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return;
  int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd < 3 || fd == own) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) ::close(fd);
  }
  closedir(d);
}

}  // namespace

void snapshot_failpoint_hold() {
  static const char* path = std::getenv("CONCLAVE_FAILPOINT_SNAPSHOT_HOLD");
  if (!path || !*path) return;
  struct stat st;
  while (::stat(path, &st) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

Result<std::shared_ptr<SnapshotChild>> SnapshotChild::start(const std::function<bool()>& write) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return make_error(Errc::kIo, fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);  // the parent died before the line above
    close_sockets();
    _exit(write() ? 0 : 1);
  }
  return std::make_shared<SnapshotChild>(pid);
}

SnapshotChild::~SnapshotChild() {
  kill();
  (void)wait();
}

Status SnapshotChild::wait() {
  int pid = pid_;
  if (pid <= 0) return Status::Ok();
  // Wait for the exit without reaping, so that kill() never signals a recycled pid.
  siginfo_t info{};
  int r;
  do r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
  while (r < 0 && errno == EINTR);
  std::lock_guard lock(mu_);
  int status = 0;
  r = waitpid(pid, &status, 0);
  pid_ = -1;
  if (r < 0) return make_error(Errc::kIo, fmt::format("waitpid {}: {}", pid, std::strerror(errno)));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFSIGNALED(status))
    return make_error(Errc::kIo, fmt::format("snapshot process {} killed by signal {}", pid, WTERMSIG(status)));
  return make_error(Errc::kIo, fmt::format("snapshot process {} failed (exit {})", pid, WEXITSTATUS(status)));
}

void SnapshotChild::kill() {
  std::lock_guard lock(mu_);
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

}  // namespace conclave::server
