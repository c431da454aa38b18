#include "storage/log_replay.h"

#include <algorithm>

#include "common/bytes.h"
#include <fmt/format.h>

#include "common/crc32c.h"

namespace conclave::storage {

Status RecordReplay::feed(std::string_view data, bool last_segment, const std::string& name, Torn* torn) {
  size_t off = 0;
  auto tear = [&](const char* why) -> Status {
    if (!last_segment)
      return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: {} in {} at offset {} (not the last segment)", why,
                                                    name, off));
    torn->offset = off;
    torn->why = why;
    out_.truncated_bytes += data.size() - off;
    return Status::Ok();
  };
  while (off < data.size()) {
    if (data.size() - off < record::kHeaderBytes) return tear("partial record header");
    Reader hdr(data.substr(off, record::kHeaderBytes));
    uint32_t len = hdr.u32();
    uint32_t crc = hdr.u32();
    bool zero_tail =
        len == 0 && crc == 0 && std::all_of(data.begin() + off, data.end(), [](char c) { return c == 0; });
    if (zero_tail) return tear("zero-filled tail");
    if (len > record::kMaxBytes)
      return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: record length {} in {} at offset {}", len, name, off));
    if (data.size() - off - record::kHeaderBytes < len) return tear("record extends past end of file");
    std::string_view payload = data.substr(off + record::kHeaderBytes, len);
    if (crc32c(payload) != crc) {
      if (off + record::kHeaderBytes + len == data.size()) return tear("checksum mismatch in final record");
      return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: checksum mismatch in {} at offset {}", name, off));
    }
    Reader r(payload);
    uint8_t kind = r.u8();
    if (kind == record::kEntry) {
      raft::Entry e;
      e.term = r.u64();
      e.index = r.u64();
      e.type = static_cast<raft::EntryType>(r.u8());
      e.data = std::string(r.rest());
      if (!r.ok() || e.index == 0)
        return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: bad entry in {} at offset {}", name, off));
      if (log_last_ != 0 && e.index <= log_last_) {
        // A rewrite of an index (Raft conflict resolution): the later record wins.
        while (!out_.entries.empty() && out_.entries.back().index >= e.index) out_.entries.pop_back();
      } else if (e.index > std::max(log_last_, after_index_) + 1) {
        // Entries the snapshot covers need not be contiguous: a node that installed a snapshot
        // beyond its log and crashed before the truncate record was durable resumes right after
        // the snapshot. Above the snapshot, a gap is damage.
        if (log_last_ > after_index_)
          return make_error(Errc::kCorrupt, fmt::format("WAL gap: expected index {} but found {} in {} at offset {}",
                                                        log_last_ + 1, e.index, name, off));
        return make_error(Errc::kCorrupt, fmt::format("WAL gap: snapshot ends at index {} but the log resumes at {} "
                                                      "in {} at offset {}",
                                                      after_index_, e.index, name, off));
      }
      log_last_ = e.index;
      if (e.index > after_index_) out_.entries.push_back(std::move(e));
    } else if (kind == record::kHardState) {
      out_.hard_state.term = r.u64();
      out_.hard_state.vote = r.u64();
      out_.hard_state.commit = r.u64();
      if (!r.ok())
        return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: bad hard state in {} at offset {}", name, off));
    } else if (kind == record::kTruncate) {
      raft::Index from = r.u64();
      if (!r.ok() || from == 0)
        return make_error(Errc::kCorrupt, fmt::format("WAL corrupt: bad truncate record in {} at offset {}", name, off));
      while (!out_.entries.empty() && out_.entries.back().index >= from) out_.entries.pop_back();
      if (from - 1 > after_index_ && from - 1 > log_last_)
        return make_error(Errc::kCorrupt, fmt::format("WAL in {} at offset {} continues after a snapshot installed at "
                                                      "index {}, but the newest loadable snapshot is at index {}",
                                                      name, off, from - 1, after_index_));
      log_last_ = from - 1;
      if (log_last_ <= after_index_) log_last_ = 0;  // the next entry must follow the snapshot
    } else {
      return make_error(Errc::kCorrupt,
                        fmt::format("WAL corrupt: unknown record kind {} in {} at offset {}", kind, name, off));
    }
    off += record::kHeaderBytes + len;
  }
  return Status::Ok();
}

}  // namespace conclave::storage
