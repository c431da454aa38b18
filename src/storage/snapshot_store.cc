#include "storage/snapshot_store.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "common/crc32c.h"
#include "common/log.h"
#include "storage/file_util.h"

namespace conclave::storage {
namespace fs = std::filesystem;
namespace {
constexpr std::string_view kMagic = "CNCLSNP1";

std::vector<std::pair<raft::Index, std::string>> list(const std::string& dir) {
  std::vector<std::pair<raft::Index, std::string>> out;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    auto name = de.path().filename().string();
    if (name.size() != 25 || name.substr(20) != ".snap") continue;
    out.emplace_back(std::stoull(name.substr(0, 20)), de.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

Status SnapshotStore::init() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return make_error(Errc::kIo, "cannot create snapshot dir " + dir_ + ": " + ec.message());
  return Status::Ok();
}

namespace {
// A file is: magic, u64 index, u64 term, u64 payload length, payload, u32 crc32c of all before it.
constexpr size_t kHeaderBytes = 8 + 3 * 8;

std::string header_of(raft::Index index, raft::Term term, size_t payload_size) {
  std::string out;
  Writer w(out);
  w.raw(kMagic);
  w.u64(index);
  w.u64(term);
  w.u64(payload_size);
  return out;
}

std::string trailer_of(const std::string& header, std::string_view payload) {
  std::string out;
  Writer(out).u32(crc32c(payload, crc32c(header)));
  return out;
}
}  // namespace

std::string SnapshotStore::encode(const SnapshotFile& snap) {
  std::string header = header_of(snap.index, snap.term, snap.payload.size());
  return header + snap.payload + trailer_of(header, snap.payload);
}

Result<SnapshotFile> SnapshotStore::decode(std::string bytes, const std::string& name) {
  if (bytes.size() < kHeaderBytes + 4 || std::string_view(bytes).substr(0, kMagic.size()) != kMagic)
    return make_error(Errc::kCorrupt, "snapshot " + name + ": bad header");
  Reader r(std::string_view(bytes).substr(kMagic.size()));
  SnapshotFile s;
  s.index = r.u64();
  s.term = r.u64();
  uint64_t len = r.u64();
  if (len != bytes.size() - kHeaderBytes - 4)
    return make_error(Errc::kCorrupt, "snapshot " + name + ": length mismatch (truncated?)");
  Reader tail(std::string_view(bytes).substr(bytes.size() - 4));
  if (tail.u32() != crc32c(std::string_view(bytes).substr(0, bytes.size() - 4)))
    return make_error(Errc::kCorrupt, "snapshot " + name + ": checksum mismatch");
  // Unwrap in place: no second copy of a payload that can be hundreds of megabytes.
  bytes.resize(bytes.size() - 4);
  bytes.erase(0, kHeaderBytes);
  s.payload = std::move(bytes);
  return s;
}

Status SnapshotStore::save(const SnapshotFile& snap, int keep) { return save(snap.index, snap.term, snap.payload, keep); }

namespace {
std::string file_name(raft::Index index) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020llu.snap", static_cast<unsigned long long>(index));
  return buf;
}
}  // namespace

Status SnapshotStore::save(raft::Index index, raft::Term term, std::string_view payload, int keep) {
  auto st = write(index, term, payload);
  if (!st) return st;
  prune(keep);
  return Status::Ok();
}

Status SnapshotStore::write(raft::Index index, raft::Term term, std::string_view payload) {
  std::string header = header_of(index, term, payload.size());
  std::string trailer = trailer_of(header, payload);
  return write_file_atomic((fs::path(dir_) / file_name(index)).string(), {header, payload, trailer}, fsync_);
}

Status SnapshotStore::write(raft::Index index, raft::Term term, const std::vector<std::string>& payload) {
  size_t size = 0;
  for (const auto& p : payload) size += p.size();
  std::string header = header_of(index, term, size);
  uint32_t crc = crc32c(header);
  for (const auto& p : payload) crc = crc32c(p, crc);
  std::string trailer;
  Writer(trailer).u32(crc);
  std::vector<std::string_view> parts{header};
  for (const auto& p : payload) parts.push_back(p);
  parts.push_back(trailer);
  // Paced in 1 MiB chunks: a snapshot of hundreds of MB must not stall the WAL's fdatasyncs.
  return write_file_atomic((fs::path(dir_) / file_name(index)).string(), parts, fsync_, size_t(1) << 20);
}

void SnapshotStore::prune(int keep) {
  auto all = list(dir_);
  for (size_t i = 0; i + keep < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
  }
}

size_t SnapshotStore::size_of(raft::Index index) const {
  std::error_code ec;
  auto n = fs::file_size(fs::path(dir_) / file_name(index), ec);
  return ec ? 0 : static_cast<size_t>(n);
}

Result<std::optional<SnapshotFile>> SnapshotStore::load_latest() {
  auto all = list(dir_);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    auto bytes = read_file(it->second);
    if (!bytes) return bytes.error();
    auto snap = decode(std::move(*bytes), it->second);
    if (snap) return std::optional<SnapshotFile>(std::move(*snap));
    log::error("snapshot", "{}; trying an older snapshot", snap.error().message);
  }
  return std::optional<SnapshotFile>();
}

}  // namespace conclave::storage
