#include "storage/wal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/crc32c.h"
#include "common/log.h"
#include "storage/file_util.h"

namespace conclave::storage {
namespace fs = std::filesystem;
namespace {

using record::kEntry;
using record::kHardState;
using record::kTruncate;

void frame(std::string_view payload, std::string& out) {
  Writer w(out);
  w.u32(static_cast<uint32_t>(payload.size()));
  w.u32(crc32c(payload));
  w.raw(payload);
}

std::string segment_name(raft::Index first) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.wal", static_cast<unsigned long long>(first));
  return buf;
}

}  // namespace

void encode_entry_record(const raft::Entry& e, std::string& out) {
  std::string payload;
  payload.reserve(e.data.size() + 18);
  Writer w(payload);
  w.u8(kEntry);
  w.u64(e.term);
  w.u64(e.index);
  w.u8(static_cast<uint8_t>(e.type));
  w.raw(e.data);
  frame(payload, out);
}

void encode_hard_state_record(const raft::HardState& hs, std::string& out) {
  std::string payload;
  Writer w(payload);
  w.u8(kHardState);
  w.u64(hs.term);
  w.u64(hs.vote);
  w.u64(hs.commit);
  frame(payload, out);
}

void encode_truncate_record(raft::Index from, std::string& out) {
  std::string payload;
  Writer w(payload);
  w.u8(kTruncate);
  w.u64(from);
  frame(payload, out);
}

uint64_t Wal::submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                     raft::Index truncate_from, bool sync) {
  std::unique_lock lock(mu_);
  if (!pending_has_data_) pending_before_hs_ = queued_hs_;
  if (truncate_from != 0) encode_truncate_record(truncate_from, pending_);
  if (hs) {
    encode_hard_state_record(*hs, pending_);
    queued_hs_ = *hs;
  }
  for (const auto& e : entries) {
    encode_entry_record(e, pending_);
    pending_last_index_ = e.index;
    stats_.records++;
  }
  pending_has_data_ = true;
  pending_needs_sync_ = pending_needs_sync_ || sync || !entries.empty() || truncate_from != 0;
  uint64_t ticket = pending_ticket_ = ++next_ticket_;
  // Woken after the unlock: a writer woken under the lock would at once block on it again.
  lock.unlock();
  cv_.notify_one();
  return ticket;
}

Wal::Wal(WalOptions options) : options_(std::move(options)), roll_(options_.segment_bytes) {}

Wal::~Wal() { close(); }

Result<std::unique_ptr<Wal>> Wal::open(const WalOptions& options, raft::Index after_index,
                                       RecoveredLog* recovered) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return make_error(Errc::kIo, "cannot create WAL dir " + options.dir + ": " + ec.message());

  std::vector<raft::Index> segments;
  for (const auto& de : fs::directory_iterator(options.dir, ec)) {
    auto name = de.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".wal") continue;
    segments.push_back(std::stoull(name.substr(0, 20)));
  }
  if (ec) return make_error(Errc::kIo, "cannot list WAL dir " + options.dir + ": " + ec.message());
  std::sort(segments.begin(), segments.end());

  RecordReplay replay(after_index);
  for (size_t si = 0; si < segments.size(); ++si) {
    const std::string path = (fs::path(options.dir) / segment_name(segments[si])).string();
    auto content = read_file(path);
    if (!content) return content.error();
    RecordReplay::Torn torn;
    torn.offset = std::string::npos;
    auto st = replay.feed(*content, si + 1 == segments.size(), path, &torn);
    if (!st) return st.error();
    if (torn.offset != std::string::npos) {
      log::warn("wal", "truncating torn tail of {} at offset {} ({} bytes): {}", path, torn.offset,
                content->size() - torn.offset, torn.why);
      if (::truncate(path.c_str(), static_cast<off_t>(torn.offset)) != 0)
        return make_error(Errc::kIo, fmt::format("cannot truncate {}: {}", path, strerror(errno)));
    }
  }
  RecoveredLog& out = replay.log();
  std::unique_ptr<Wal> wal(new Wal(options));
  auto st = wal->open_segment(wal->roll_.open(std::move(segments), replay.next_index()));
  if (!st) return st.error();
  // The log goes on with the current hard state, synced, so retiring old segments never loses it.
  std::string hs;
  encode_hard_state_record(out.hard_state, hs);
  st = wal->write_batch(hs, 0);
  if (!st) return st.error();
  wal->queued_hs_ = out.hard_state;
  wal->writer_ = std::thread([w = wal.get()] { w->writer_loop(); });
  *recovered = std::move(out);
  return wal;
}

Status Wal::open_segment(raft::Index first_index) {
  std::string path = (fs::path(options_.dir) / segment_name(first_index)).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::kIo, fmt::format("cannot open {}: {}", path, strerror(errno)));
  if (fd_ >= 0) {
    // The old segment may end in records written without a sync (commit-only hard states).
    if (options_.fsync && ::fdatasync(fd_) != 0) {
      int err = errno;
      ::close(fd);
      return make_error(Errc::kIo, fmt::format("fdatasync before rotating to {}: {}", path, strerror(err)));
    }
    ::close(fd_);
  }
  fd_ = fd;
  struct stat sb{};
  ::fstat(fd_, &sb);
  if (options_.fsync) {
    auto st = fsync_dir(options_.dir);
    if (!st) return st;
  }
  std::lock_guard lock(mu_);
  roll_.set_size(static_cast<uint64_t>(sb.st_size));
  return Status::Ok();
}

Status Wal::write_batch(const std::string& buf, raft::Index last_index, bool sync) {
  auto st = write_all(fd_, buf);
  if (!st) return st;
  if (options_.fsync && sync) {
    auto t0 = std::chrono::steady_clock::now();
    if (::fdatasync(fd_) != 0) return make_error(Errc::kIo, std::string("fdatasync: ") + strerror(errno));
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lock(mu_);
    stats_.fsyncs++;
    stats_.fsync_ns_total += static_cast<uint64_t>(ns);
  }
  std::lock_guard lock(mu_);
  stats_.bytes += buf.size();
  roll_.wrote(buf.size());
  return Status::Ok();
}

void Wal::writer_loop() {
  std::string batch;
  for (;;) {
    raft::Index last = 0;
    uint64_t ticket = 0;
    bool sync = true;
    raft::HardState before;
    std::string head;
    raft::Index roll_to = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return pending_has_data_ || closing_; });
      if (!pending_has_data_ && closing_) return;
      batch.swap(pending_);
      pending_.clear();
      last = pending_last_index_;
      pending_last_index_ = 0;
      ticket = pending_ticket_;
      pending_has_data_ = false;
      sync = pending_needs_sync_;
      pending_needs_sync_ = false;
      before = pending_before_hs_;
      roll_to = roll_.roll_before(batch, before, &head);
    }
    if (roll_to != 0) {
      auto st = open_segment(roll_to);
      if (st) st = write_batch(head, 0, false);  // made durable by the batch's own fdatasync
      if (!st) {
        log::error("wal", "{}; stopping (storage failure is fail-stop)", st.error().message);
        std::abort();
      }
    }
    auto st = write_batch(batch, last, sync);
    if (!st) {
      log::error("wal", "{}; stopping (storage failure is fail-stop)", st.error().message);
      std::abort();
    }
    batch.clear();
    if (ticket != 0 && ticket_cb_) ticket_cb_(ticket);
  }
}

void Wal::retire_through(raft::Index index) {
  std::vector<raft::Index> doomed;
  {
    std::lock_guard lock(mu_);
    doomed = roll_.retire(index);
  }
  for (raft::Index first : doomed) {
    std::string p = (fs::path(options_.dir) / segment_name(first)).string();
    std::error_code ec;
    fs::remove(p, ec);
    if (ec) log::warn("wal", "cannot remove retired segment {}: {}", p, ec.message());
  }
}

void Wal::close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) {
    if (options_.fsync) ::fdatasync(fd_);
    ::close(fd_);
    fd_ = -1;
  }
}

Wal::Stats Wal::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace conclave::storage
