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

std::string SnapshotStore::encode(const SnapshotFile& snap) {
  std::string out;
  out.reserve(snap.payload.size() + 40);
  Writer w(out);
  w.raw(kMagic);
  w.u64(snap.index);
  w.u64(snap.term);
  w.u64(snap.payload.size());
  w.raw(snap.payload);
  w.u32(crc32c(out));
  return out;
}

Result<SnapshotFile> SnapshotStore::decode(std::string_view bytes, const std::string& name) {
  if (bytes.size() < kMagic.size() + 28 || bytes.substr(0, kMagic.size()) != kMagic)
    return make_error(Errc::kCorrupt, "snapshot " + name + ": bad header");
  Reader r(bytes.substr(kMagic.size()));
  SnapshotFile s;
  s.index = r.u64();
  s.term = r.u64();
  uint64_t len = r.u64();
  if (len != bytes.size() - kMagic.size() - 28)
    return make_error(Errc::kCorrupt, "snapshot " + name + ": length mismatch (truncated?)");
  s.payload = std::string(r.raw(len));
  uint32_t crc = r.u32();
  if (!r.ok() || crc != crc32c(bytes.substr(0, bytes.size() - 4)))
    return make_error(Errc::kCorrupt, "snapshot " + name + ": checksum mismatch");
  return s;
}

Status SnapshotStore::save(const SnapshotFile& snap, int keep) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020llu.snap", static_cast<unsigned long long>(snap.index));
  auto st = write_file_atomic((fs::path(dir_) / buf).string(), encode(snap), fsync_);
  if (!st) return st;
  auto all = list(dir_);
  for (size_t i = 0; i + keep < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
  }
  return Status::Ok();
}

Result<std::optional<SnapshotFile>> SnapshotStore::load_latest() {
  auto all = list(dir_);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    auto bytes = read_file(it->second);
    if (!bytes) return bytes.error();
    auto snap = decode(*bytes, it->second);
    if (snap) return std::optional<SnapshotFile>(std::move(*snap));
    log::error("snapshot", "{}; trying an older snapshot", snap.error().message);
  }
  return std::optional<SnapshotFile>();
}

}  // namespace conclave::storage
