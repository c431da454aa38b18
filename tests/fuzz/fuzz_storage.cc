// WAL segments and snapshot files as recovery reads them from disk. Whatever a file holds (a torn
// write, flipped bits, garbage, a valid file), recovery reads a consistent log or snapshot, or
// refuses with an error naming the file: it never crashes, hangs, or returns a log with gaps.
//
// Input: the first byte picks the file kind. Even: the rest is a WAL segment; if byte 1 is odd,
// the rest is cut in two segments at a point taken from byte 2 (a log that rolled over). 1 mod 4:
// the rest is a snapshot file as found on disk. 3 mod 4: the rest is a snapshot payload, framed
// with a valid header and checksum, so that the mutations reach the payload decoder. A snapshot
// that loads is decoded as the node decodes it (Raft configuration, then the tree).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/log.h"
#include "raft/codec.h"
#include "raft/types.h"
#include "state/tree.h"
#include "storage/snapshot_store.h"
#include "storage/wal.h"

using namespace conclave;
namespace fs = std::filesystem;

namespace {

const fs::path& scratch() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/fuzz-storage-XXXXXX";
    CONCLAVE_ASSERT(mkdtemp(tmpl) != nullptr, "cannot create a scratch directory");
    return fs::path(tmpl);
  }();
  return dir;
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void fuzz_wal(std::string_view in, bool split, size_t cut) {
  fs::path dir = scratch() / "wal";
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (split && !in.empty()) {
    cut %= in.size();
    write_file(dir / "00000000000000000001.wal", in.substr(0, cut));
    write_file(dir / "00000000000000000002.wal", in.substr(cut));
  } else {
    write_file(dir / "00000000000000000001.wal", in);
  }
  storage::WalOptions o;
  o.dir = dir.string();
  o.fsync = false;
  storage::RecoveredLog log;
  auto wal = storage::Wal::open(o, 0, &log);
  if (!wal) return;  // refused, with a reason
  for (size_t i = 1; i < log.entries.size(); ++i)
    CONCLAVE_ASSERT(log.entries[i].index == log.entries[i - 1].index + 1, "recovered log has a gap");
  (*wal)->close();
}

void fuzz_snapshot(std::string_view in, bool frame) {
  fs::path dir = scratch() / "snap";
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (frame) write_file(dir / "00000000000000000007.snap", storage::SnapshotStore::encode({7, 2, std::string(in)}));
  else write_file(dir / "00000000000000000007.snap", in);
  storage::SnapshotStore store(dir.string(), false);
  if (!store.init()) return;
  auto loaded = store.load_latest();
  if (!loaded || !loaded->has_value()) return;
  // The payload as the node decodes it: the Raft configuration, then the tree.
  Reader r((**loaded).payload);
  raft::ConfState conf;
  if (!raft::decode_conf_state(r, &conf)) return;
  state::DataTree tree;
  if (!tree.decode_snapshot(r.rest())) return;
  Bytes again;
  tree.encode_snapshot(again);
  state::DataTree copy;
  CONCLAVE_ASSERT(copy.decode_snapshot(again) && copy.digest() == tree.digest(), "a loaded snapshot re-encodes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    log::set_level(static_cast<log::Level>(static_cast<int>(log::Level::kError) + 1));  // refusals are expected
    return true;
  }();
  (void)quiet;
  if (size < 3) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 3, size - 3);
  if (data[0] % 2 == 0) fuzz_wal(in, data[1] % 2 == 1, data[2] * 97u);
  else fuzz_snapshot(in, data[0] % 4 == 3);
  return 0;
}
