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

constexpr uint8_t kRecordEntry = 1;
constexpr uint8_t kRecordHardState = 2;
constexpr uint8_t kRecordTruncate = 3;  // entries at and after this index are void
constexpr uint32_t kMaxRecordBytes = 256u << 20;
constexpr size_t kHeaderBytes = 8;

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
  w.u8(kRecordEntry);
  w.u64(e.term);
  w.u64(e.index);
  w.u8(static_cast<uint8_t>(e.type));
  w.raw(e.data);
  frame(payload, out);
}

void encode_hard_state_record(const raft::HardState& hs, std::string& out) {
  std::string payload;
  Writer w(payload);
  w.u8(kRecordHardState);
  w.u64(hs.term);
  w.u64(hs.vote);
  w.u64(hs.commit);
  frame(payload, out);
}

void encode_truncate_record(raft::Index from, std::string& out) {
  std::string payload;
  Writer w(payload);
  w.u8(kRecordTruncate);
  w.u64(from);
  frame(payload, out);
}

uint64_t Wal::submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                     raft::Index truncate_from, bool sync) {
  std::lock_guard lock(mu_);
  if (truncate_from != 0) encode_truncate_record(truncate_from, pending_);
  if (hs) encode_hard_state_record(*hs, pending_);
  for (const auto& e : entries) {
    encode_entry_record(e, pending_);
    pending_last_index_ = e.index;
    stats_.records++;
  }
  pending_has_data_ = true;
  pending_needs_sync_ = pending_needs_sync_ || sync || !entries.empty() || truncate_from != 0;
  pending_ticket_ = ++next_ticket_;
  cv_.notify_one();
  return pending_ticket_;
}

Wal::Wal(WalOptions options) : options_(std::move(options)) {}

Wal::~Wal() { close(); }

Result<std::unique_ptr<Wal>> Wal::open(const WalOptions& options, raft::Index after_index,
                                       RecoveredLog* recovered) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return make_error(Errc::kIo, "cannot create WAL dir " + options.dir + ": " + ec.message());

  std::vector<Segment> segments;
  for (const auto& de : fs::directory_iterator(options.dir, ec)) {
    auto name = de.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".wal") continue;
    segments.push_back({de.path().string(), std::stoull(name.substr(0, 20))});
  }
  if (ec) return make_error(Errc::kIo, "cannot list WAL dir " + options.dir + ": " + ec.message());
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.first_index < b.first_index; });

  RecoveredLog out;
  raft::Index log_last = 0;  // index of the last entry record read
  for (size_t si = 0; si < segments.size(); ++si) {
    const bool last_segment = si + 1 == segments.size();
    const std::string& path = segments[si].path;
    auto content = read_file(path);
    if (!content) return content.error();
    std::string_view data = *content;
    size_t off = 0;
    while (off < data.size()) {
      auto torn = [&](const char* why) -> Status {
        if (!last_segment) {
          return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: {} in {} at offset {} "
                                                        "(not the last segment)", why, path, off));
        }
        log::warn("wal", "truncating torn tail of {} at offset {} ({} bytes): {}", path, off,
                  data.size() - off, why);
        out.truncated_bytes += data.size() - off;
        if (::truncate(path.c_str(), static_cast<off_t>(off)) != 0) {
          return make_error(Errc::kIo, fmt::format("cannot truncate {}: {}", path, strerror(errno)));
        }
        return Status::Ok();
      };
      if (data.size() - off < kHeaderBytes) {
        auto st = torn("partial record header");
        if (!st) return st.error();
        break;
      }
      Reader hdr(data.substr(off, kHeaderBytes));
      uint32_t len = hdr.u32();
      uint32_t crc = hdr.u32();
      bool zero_tail = len == 0 && crc == 0 &&
                       std::all_of(data.begin() + off, data.end(), [](char c) { return c == 0; });
      if (zero_tail) {
        auto st = torn("zero-filled tail");
        if (!st) return st.error();
        break;
      }
      if (len > kMaxRecordBytes) {
        return make_error(Errc::kCorrupt,
                          fmt::format("WAL corrupt: record length {} in {} at offset {}", len, path, off));
      }
      if (data.size() - off - kHeaderBytes < len) {
        auto st = torn("record extends past end of file");
        if (!st) return st.error();
        break;
      }
      std::string_view payload = data.substr(off + kHeaderBytes, len);
      if (crc32c(payload) != crc) {
        if (off + kHeaderBytes + len == data.size()) {
          auto st = torn("checksum mismatch in final record");
          if (!st) return st.error();
          break;
        }
        return make_error(Errc::kCorrupt,
                          fmt::format("WAL corrupt: checksum mismatch in {} at offset {}", path, off));
      }
      Reader r(payload);
      uint8_t kind = r.u8();
      if (kind == kRecordEntry) {
        raft::Entry e;
        e.term = r.u64();
        e.index = r.u64();
        e.type = static_cast<raft::EntryType>(r.u8());
        e.data = std::string(r.rest());
        if (!r.ok() || e.index == 0) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL corrupt: bad entry in {} at offset {}", path, off));
        }
        if (log_last != 0 && e.index <= log_last) {
          // A rewrite of an index (Raft conflict resolution): the later record wins.
          while (!out.entries.empty() && out.entries.back().index >= e.index) out.entries.pop_back();
        } else if (log_last != 0 && e.index != log_last + 1) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL gap: expected index {} but found {} in {} at offset {}",
                                        log_last + 1, e.index, path, off));
        } else if (log_last == 0 && e.index > after_index + 1) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL gap: snapshot ends at index {} but the log resumes at {} "
                                        "in {} at offset {}", after_index, e.index, path, off));
        }
        log_last = e.index;
        if (e.index > after_index) out.entries.push_back(std::move(e));
      } else if (kind == kRecordHardState) {
        out.hard_state.term = r.u64();
        out.hard_state.vote = r.u64();
        out.hard_state.commit = r.u64();
        if (!r.ok()) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL corrupt: bad hard state in {} at offset {}", path, off));
        }
      } else if (kind == kRecordTruncate) {
        raft::Index from = r.u64();
        if (!r.ok() || from == 0) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL corrupt: bad truncate record in {} at offset {}", path, off));
        }
        while (!out.entries.empty() && out.entries.back().index >= from) out.entries.pop_back();
        if (from - 1 > after_index && from - 1 > log_last) {
          return make_error(Errc::kCorrupt,
                            fmt::format("WAL in {} at offset {} continues after a snapshot installed at index {}, "
                                        "but the newest loadable snapshot is at index {}",
                                        path, off, from - 1, after_index));
        }
        log_last = from - 1;
        if (log_last <= after_index) log_last = 0;  // the next entry must follow the snapshot
      } else {
        return make_error(Errc::kCorrupt,
                          fmt::format("WAL corrupt: unknown record kind {} in {} at offset {}", kind, path, off));
      }
      off += kHeaderBytes + len;
    }
  }

  std::unique_ptr<Wal> wal(new Wal(options));
  wal->segments_ = std::move(segments);
  raft::Index last_index = std::max(log_last, after_index);
  if (!out.entries.empty()) last_index = out.entries.back().index;
  auto st = wal->open_new_segment(last_index + 1);
  if (!st) return st.error();
  // The new segment starts with the current hard state so retiring old segments never loses it.
  std::string hs;
  encode_hard_state_record(out.hard_state, hs);
  st = wal->write_batch(hs, 0);
  if (!st) return st.error();
  wal->writer_ = std::thread([w = wal.get()] { w->writer_loop(); });
  *recovered = std::move(out);
  return wal;
}

Status Wal::open_new_segment(raft::Index first_index) {
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
  segment_size_ = static_cast<uint64_t>(sb.st_size);
  if (options_.fsync) {
    auto st = fsync_dir(options_.dir);
    if (!st) return st;
  }
  std::lock_guard lock(mu_);
  if (segments_.empty() || segments_.back().path != path) segments_.push_back({path, first_index});
  return Status::Ok();
}

Status Wal::write_batch(const std::string& buf, raft::Index last_index, bool sync) {
  auto st = write_all(fd_, buf);
  if (!st) return st;
  segment_size_ += buf.size();
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
  return Status::Ok();
}

void Wal::writer_loop() {
  std::string batch;
  for (;;) {
    raft::Index last = 0;
    uint64_t ticket = 0;
    bool sync = true;
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
    }
    if (segment_size_ >= options_.segment_bytes && last != 0) {
      // Name the new segment after the first entry it will hold: the batch's first record.
      Reader r(std::string_view(batch).substr(8));
      raft::Index first = 0;
      if (r.u8() == kRecordEntry) {
        r.u64();
        first = r.u64();
      }
      if (first != 0) {
        auto st = open_new_segment(first);
        if (!st) {
          log::error("wal", "{}; stopping (storage failure is fail-stop)", st.error().message);
          std::abort();
        }
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
  std::vector<std::string> doomed;
  {
    std::lock_guard lock(mu_);
    while (segments_.size() >= 2 && segments_[1].first_index <= index + 1) {
      doomed.push_back(segments_.front().path);
      segments_.erase(segments_.begin());
    }
  }
  for (const auto& p : doomed) {
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
