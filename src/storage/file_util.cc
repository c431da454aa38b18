#include "storage/file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace conclave::storage {

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::kIo, fmt::format("cannot open {}: {}", path, strerror(errno)));
  struct stat sb{};
  ::fstat(fd, &sb);
  std::string out;
  size_t size = static_cast<size_t>(sb.st_size);
  out.reserve(size);
  // A large file (a snapshot of many znodes) is read into memory the process has not touched yet:
  // ask for huge pages, so that it faults in 2 MiB at a time instead of 4 KiB (on a VM a page fault
  // costs microseconds; 45,000 of them were a fifth of a 1M-znode restart).
  constexpr size_t kHuge = size_t(2) << 20;
  if (size >= 2 * kHuge) {
    auto begin = (reinterpret_cast<uintptr_t>(out.data()) + kHuge - 1) & ~(kHuge - 1);
    auto end = (reinterpret_cast<uintptr_t>(out.data()) + size) & ~(kHuge - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
  out.resize(size);
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return make_error(Errc::kIo, fmt::format("cannot read {}: {}", path, n < 0 ? strerror(errno) : "short read"));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Errc::kIo, std::string("write: ") + strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::kIo, fmt::format("cannot open dir {}: {}", dir, strerror(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return make_error(Errc::kIo, fmt::format("fsync dir {}: {}", dir, strerror(errno)));
  return Status::Ok();
}

Status write_file_atomic(const std::string& path, std::string_view data, bool fsync) {
  return write_file_atomic(path, {data}, fsync);
}

Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts, bool fsync) {
  return write_file_atomic(path, std::vector<std::string_view>(parts), fsync);
}

Status write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts, bool fsync,
                         size_t paced_bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::kIo, fmt::format("cannot create {}: {}", tmp, strerror(errno)));
  Status st = Status::Ok();
  off_t written = 0, started = 0, waited = 0;
  for (std::string_view part : parts) {
    while (st && !part.empty()) {
      size_t n = paced_bytes && fsync ? std::min(part.size(), paced_bytes) : part.size();
      st = write_all(fd, part.substr(0, n));
      part.remove_prefix(n);
      written += static_cast<off_t>(n);
      if (!st || !paced_bytes || !fsync || written - started < static_cast<off_t>(paced_bytes)) continue;
      // Start writeback of what was just written; wait for the chunk before it.
      sync_file_range(fd, started, written - started, SYNC_FILE_RANGE_WRITE);
      if (started > waited)
        sync_file_range(fd, waited, started - waited,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      waited = started;
      started = written;
    }
    if (!st) break;
  }
  if (st && fsync && ::fsync(fd) != 0) st = make_error(Errc::kIo, fmt::format("fsync {}: {}", tmp, strerror(errno)));
  ::close(fd);
  if (!st) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(Errc::kIo, fmt::format("rename {}: {}", tmp, strerror(errno)));
  if (fsync) return fsync_dir(std::filesystem::path(path).parent_path().string());
  return Status::Ok();
}

}  // namespace conclave::storage
