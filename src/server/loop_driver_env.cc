#include <filesystem>
#include <thread>

#include "net/event_loop.h"
#include "server/driver_env.h"
#include "server/snapshot_parts.h"
#include "storage/wal.h"

namespace conclave::server {
namespace {
namespace fs = std::filesystem;

class LoopDriverEnv final : public DriverEnv {
 public:
  LoopDriverEnv(net::EventLoop& loop, std::string data_dir, bool fsync, uint64_t segment_bytes)
      : loop_(loop), data_dir_(std::move(data_dir)), fsync_(fsync), segment_bytes_(segment_bytes) {}
  ~LoopDriverEnv() override { join_background(); }

  void post(std::function<void()> fn) override { loop_.post(std::move(fn)); }
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override { loop_.after(delay, std::move(fn)); }

  void background(std::function<void()> work) override {
    join_background();
    thread_ = std::thread([work = std::move(work)] {
      lower_thread_priority();
      work();
    });
  }
  void join_background() override {
    if (thread_.joinable()) thread_.join();
  }

  Result<std::unique_ptr<storage::SnapshotStorage>> open_snapshots() override {
    auto store = std::make_unique<storage::SnapshotStore>((fs::path(data_dir_) / "snap").string(), fsync_);
    auto st = store->init();
    if (!st) return st.error();
    return std::unique_ptr<storage::SnapshotStorage>(std::move(store));
  }

  Result<std::unique_ptr<storage::LogStore>> open_log(raft::Index after_index,
                                                      storage::RecoveredLog* recovered) override {
    storage::WalOptions o;
    o.dir = (fs::path(data_dir_) / "wal").string();
    o.fsync = fsync_;
    o.segment_bytes = segment_bytes_;
    auto wal = storage::Wal::open(o, after_index, recovered);
    if (!wal) return wal.error();
    return std::unique_ptr<storage::LogStore>(std::move(*wal));
  }

 private:
  net::EventLoop& loop_;
  std::string data_dir_;
  bool fsync_;
  uint64_t segment_bytes_;
  std::thread thread_;
};
}  // namespace

std::unique_ptr<DriverEnv> make_loop_driver_env(net::EventLoop& loop, std::string data_dir, bool fsync,
                                                uint64_t wal_segment_bytes) {
  return std::make_unique<LoopDriverEnv>(loop, std::move(data_dir), fsync, wal_segment_bytes);
}

}  // namespace conclave::server
