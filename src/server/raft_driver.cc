#include "server/raft_driver.h"

#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/assert.h"
#include "common/log.h"
#include "raft/codec.h"

namespace conclave::server {
namespace fs = std::filesystem;

namespace {
// Snapshot payload: conf state, then the tree's own encoding (written by snapshot_slice()).
bool decode_snapshot_payload(std::string_view payload, raft::ConfState* conf, state::DataTree* tree) {
  Reader r(payload);
  if (!raft::decode_conf_state(r, conf)) return false;
  return tree->decode_snapshot(payload.substr(r.position()));
}
}  // namespace

RaftDriver::RaftDriver(DriverEnv& env, RaftDriverOptions options, state::DataTree& tree, Hooks hooks, uint64_t seed)
    : env_(env), options_(std::move(options)), tree_(tree), hooks_(std::move(hooks)), seed_(seed) {}

RaftDriver::~RaftDriver() {
  writer_.reset();
  parts_.reset();
  env_.join_background();
  if (wal_) wal_->close();
}

// ---- recovery ----

Status RaftDriver::recover() {
  auto store = env_.open_snapshots();
  if (!store) return store.error();
  snapshots_ = std::move(*store);
  auto snap = snapshots_->load_latest();
  if (!snap) return snap.error();
  auto t0 = std::chrono::steady_clock::now();
  raft::Bootstrap boot;
  boot.conf = options_.bootstrap_conf;
  if (snap->has_value()) {
    const auto& s = **snap;
    raft::Snapshot rs;
    rs.meta.index = s.index;
    rs.meta.term = s.term;
    if (!decode_snapshot_payload(s.payload, &rs.meta.conf, &tree_))
      return make_error(Errc::kCorrupt,
                        fmt::format("snapshot at index {} has a valid checksum but cannot be decoded (this build reads "
                                    "snapshot format {}; a data directory from another version needs that version)",
                                    s.index, state::DataTree::kSnapshotFormat));
    boot.snapshot = rs;  // metadata only; the bytes are read back from the file when a follower needs them
    snapshot_index_ = applied_index_ = s.index;
    log::info("node", "loaded snapshot at index {} ({} znodes, {} sessions)", s.index, tree_.node_count(),
              tree_.sessions().size());
  }
  storage::RecoveredLog log;
  auto wal = env_.open_log(snapshot_index_, &log);
  if (!wal) return wal.error();
  wal_ = std::move(*wal);
  boot.hard_state = log.hard_state;
  submitted_hs_ = log.hard_state;
  boot.entries = std::move(log.entries);
  boot.applied = snapshot_index_;
  submitted_last_index_ = boot.entries.empty() ? snapshot_index_ : boot.entries.back().index;
  size_t replay = boot.entries.size();
  raft::Config rc;
  rc.id = options_.node_id;
  rc.election_ticks = options_.election_ticks;
  rc.heartbeat_ticks = 1;
  core_ = std::make_unique<raft::Core>(rc, std::move(boot), seed_);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log::info("node", "recovered: snapshot at {}, {} log entries after it, commit {} ({} ms)", snapshot_index_, replay,
            core_->commit_index(), ms);
  malloc_trim(0);  // the snapshot file's bytes are gone
  wal_->set_ticket_callback([this](uint64_t ticket) { env_.post([this, ticket] { on_ticket_durable(ticket); }); });
  if (snapshot_index_ && hooks_.tree_replaced) hooks_.tree_replaced();
  return Status::Ok();
}

// ---- the Ready loop ----

void RaftDriver::drive() {
  while (core_->has_ready()) {
    raft::Ready rd = core_->ready();
    raft::Index truncate_from = 0;
    if (rd.snapshot) {
      install_snapshot(*rd.snapshot);
      truncate_from = rd.snapshot->meta.index + 1;
    }
    // A leader replicates before its own fsync (Raft thesis §10.2.1): the core counts its own
    // entries only once persisted() says they are durable, so followers may have them first.
    // Followers' responses and candidates' votes still wait for the disk below.
    // Only once the leader's term and vote are durable: a leader elected in this very Ready (a lone
    // voter elects itself at once) must not reach learners with a term it could still lose.
    const bool term_change =
        rd.hard_state && (rd.hard_state->term != submitted_hs_.term || rd.hard_state->vote != submitted_hs_.vote);
    if (core_->role() == raft::Role::kLeader && !rd.messages.empty() && !term_change &&
        durable_ticket_ >= term_ticket_) {
      std::vector<raft::Message> held;
      std::vector<raft::Message> now;
      for (auto& m : rd.messages) {
        bool replication = m.type == raft::MessageType::kAppend || m.type == raft::MessageType::kHeartbeat ||
                           m.type == raft::MessageType::kSnapshot || m.type == raft::MessageType::kTimeoutNow;
        (replication ? now : held).push_back(std::move(m));
      }
      send_messages(now);
      rd.messages = std::move(held);
    }
    if (rd.hard_state || !rd.entries.empty() || truncate_from) {
      // Term and vote must be durable before anything is answered; a moved commit index alone
      // need not be (it is recovered from the leader), so it costs no fdatasync.
      bool sync = !rd.entries.empty() || truncate_from || term_change;
      if (rd.hard_state) submitted_hs_ = *rd.hard_state;
      uint64_t ticket = wal_->submit(rd.hard_state, rd.entries, truncate_from, sync);
      if (term_change) term_ticket_ = ticket;
      if (!rd.entries.empty()) submitted_last_index_ = rd.entries.back().index;
      if (truncate_from) submitted_last_index_ = std::max(submitted_last_index_, truncate_from - 1);
      Held h{ticket, submitted_last_index_, std::move(rd.messages)};
      if (!rd.entries.empty()) {
        h.first_new = rd.entries.front().index;
        h.last_new = rd.entries.back().index;
        h.submitted_us = hooks_.wall_us ? hooks_.wall_us() : 0;
        h.submitted_mono_us = hooks_.monotonic_us ? hooks_.monotonic_us() : 0;
      }
      held_.push_back(std::move(h));
    } else if (!held_.empty()) {
      // Keep message order behind earlier batches that are not durable yet.
      auto& back = held_.back();
      for (auto& m : rd.messages) back.messages.push_back(std::move(m));
    } else {
      send_messages(rd.messages);
    }
    for (const auto& e : rd.committed) apply(e);
    if (hooks_.read_state)
      for (const auto& rs : rd.read_states) hooks_.read_state(rs);
    core_->advance(rd);
  }
  update_role();
  maybe_snapshot();
}

void RaftDriver::schedule_drive() {
  if (drive_scheduled_) return;
  drive_scheduled_ = true;
  env_.post([this] {
    drive_scheduled_ = false;
    drive();
  });
}

void RaftDriver::tick() {
  core_->tick();
  drive();
}

void RaftDriver::step(const raft::Message& m) {
  core_->step(m);
  // A leader's message that moves the commit index is applied at once, not on a later turn of
  // the loop: a client that wrote through the leader may already be reading here.
  if ((m.type == raft::MessageType::kAppend || m.type == raft::MessageType::kHeartbeat) &&
      core_->commit_index() > applied_index_) {
    drive();
    return;
  }
  schedule_drive();
}

void RaftDriver::on_ticket_durable(uint64_t ticket) {
  durable_ticket_ = std::max(durable_ticket_, ticket);
  raft::Index durable = 0;
  while (!held_.empty() && held_.front().ticket <= durable_ticket_) {
    durable = held_.front().last_index;
    if (held_.front().first_new) {
      if (hooks_.monotonic_us)
        stats_.wal_write.observe_us(hooks_.monotonic_us() - held_.front().submitted_mono_us);
      if (hooks_.entries_durable)
        hooks_.entries_durable(held_.front().ticket, held_.front().first_new, held_.front().last_new,
                               held_.front().submitted_us);
    }
    send_messages(held_.front().messages);
    held_.pop_front();
  }
  if (durable) core_->persisted(durable);
  schedule_drive();
}

void RaftDriver::send_messages(std::vector<raft::Message>& messages) {
  if (!hooks_.send) {
    messages.clear();
    return;
  }
  for (auto& m : messages) {
    if (m.type == raft::MessageType::kSnapshot && m.snapshot && !m.snapshot->data) {
      // Read the snapshot back from disk. If the file for this index is not written yet, skip:
      // the leader sends the snapshot again after a while.
      auto file = snapshots_->load_latest();
      if (!file || !file->has_value() || (**file).index != m.snapshot->meta.index) continue;
      m.snapshot->data = std::make_shared<const std::string>(std::move((**file).payload));
    }
    hooks_.send(m);
  }
  messages.clear();
}

void RaftDriver::update_role() {
  raft::Role role = core_->role();
  if (role == last_role_) return;
  log::info("node", "now {} in term {} (leader {})", raft::role_name(role), core_->term(), core_->leader());
  raft::Role old = last_role_;
  last_role_ = role;
  if (role == raft::Role::kCandidate) ++stats_.elections;
  if (role == raft::Role::kLeader) ++stats_.became_leader;
  if (hooks_.role_changed) hooks_.role_changed(old, role);
}

// ---- applying ----

void RaftDriver::apply(const raft::Entry& e) {
  if (e.index <= applied_index_) return;
  CONCLAVE_ASSERT(e.index == applied_index_ + 1, "entries must be applied in order without gaps");
  applied_index_ = e.index;
  bytes_since_snapshot_ += e.data.size();
  hooks_.apply(e);
}

// ---- snapshots ----

void RaftDriver::install_snapshot(const raft::Snapshot& s) {
  cancel_snapshot();  // the writer observes the tree about to be replaced
  raft::ConfState conf;
  state::DataTree fresh;
  if (hooks_.bulk_load) hooks_.bulk_load(true);
  const bool decoded = s.data && decode_snapshot_payload(*s.data, &conf, &fresh);
  if (hooks_.bulk_load) hooks_.bulk_load(false);
  if (!decoded) {
    log::error("node", "snapshot from the leader at index {} cannot be decoded; stopping", s.meta.index);
    std::abort();
  }
  tree_ = std::move(fresh);
  applied_index_ = s.meta.index;
  bytes_since_snapshot_ = 0;
  // The file goes to disk before the WAL records that the log restarts after it.
  auto st = snapshots_->save(s.meta.index, s.meta.term, *s.data);
  if (!st) {
    log::error("node", "cannot save installed snapshot: {}; stopping", st.error().message);
    std::abort();
  }
  snapshot_index_ = s.meta.index;
  ++stats_.snapshots_installed;
  log::info("node", "installed snapshot at index {} from the leader ({} znodes)", s.meta.index, tree_.node_count());
  if (hooks_.tree_replaced) hooks_.tree_replaced();
}

void RaftDriver::maybe_snapshot() {
  if (snapshot_running_ || applied_index_ <= snapshot_index_) return;
  // Every so many entries or bytes, or now when the core needs a newer snapshot to bring a
  // member up (raft::Core::wants_snapshot).
  if (applied_index_ - snapshot_index_ >= options_.snapshot_every_entries)
    snapshot_reason_ = "entry count reached";
  else if (bytes_since_snapshot_ >= std::max<uint64_t>(options_.snapshot_every_bytes, last_snapshot_bytes_))
    snapshot_reason_ = "log bytes reached";
  else if (core_->wants_snapshot())
    snapshot_reason_ = "a member needs it";
  else
    return;
  snapshot_running_ = true;
  snapshot_starting_ = true;
  const uint64_t generation = ++snapshot_generation_;
  if (!env_.prefault_snapshot_parts()) {
    env_.post([this, generation] { begin_snapshot(generation); });
    return;
  }
  // First the memory: parts for about the size of the last snapshot (or a guess from the tree),
  // faulted in on a helper thread. The tree is frozen only once they are ready, so the slices
  // the loop runs copy into resident memory.
  size_t expect = last_snapshot_bytes_ ? last_snapshot_bytes_ + last_snapshot_bytes_ / 8
                                       : tree_.approximate_data_size() + tree_.node_count() * 80;
  parts_ = std::make_unique<SnapshotPartPool>(
      expect / state::SnapshotWriter::kPartBytes + 1, state::SnapshotWriter::kPartBytes,
      [this, generation] { env_.post([this, generation] { begin_snapshot(generation); }); });
}

void RaftDriver::begin_snapshot(uint64_t generation) {
  if (generation != snapshot_generation_ || !snapshot_starting_) return;  // abandoned meanwhile
  snapshot_starting_ = false;
  bytes_since_snapshot_ = 0;
  raft::SnapshotMeta meta;
  meta.index = applied_index_;
  meta.term = core_->term_at(applied_index_);
  meta.conf = core_->conf();
  // The core keeps only the metadata: the bytes live in the file, and are read back only when a
  // follower needs them (send_messages), so a snapshot does not double the node's memory. Until
  // the file exists, a follower that needs it is skipped and retried; the WAL still holds every
  // entry the snapshot covers.
  raft::Snapshot meta_only;
  meta_only.meta = meta;
  core_->compact(meta_only);
  snapshot_meta_ = meta;
  snapshot_started_ = std::chrono::steady_clock::now();
  writer_ = std::make_unique<state::SnapshotWriter>(tree_);  // the freeze counts as a slice
  longest_slice_ = std::chrono::steady_clock::now() - snapshot_started_;
  if (parts_) writer_->set_part_source([pool = parts_.get()] { return pool->take(); });
  log::info("node", "snapshot at index {} started ({} znodes; {})", meta.index, tree_.node_count(),
            snapshot_reason_);
  snapshot_slice(generation);
}

namespace {
// Test failpoint: while the file CONCLAVE_FAILPOINT_SNAPSHOT_HOLD names exists, a snapshot in
// progress encodes nothing more.
bool snapshot_held() {
  static const char* path = std::getenv("CONCLAVE_FAILPOINT_SNAPSHOT_HOLD");
  return path && *path && fs::exists(path);
}
}  // namespace

void RaftDriver::snapshot_slice(uint64_t generation) {
  if (generation != snapshot_generation_ || !writer_) return;  // cancelled by an installed snapshot
  if (options_.snapshot_slice_nodes == 0) {
    // Blocking mode: the whole encoding in one go, nothing else runs meanwhile.
    while (snapshot_held()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    writer_->step(SIZE_MAX);
  } else if (snapshot_held()) {
    env_.after(std::chrono::milliseconds(10), [this, generation] { snapshot_slice(generation); });
    return;
  } else {
    auto t0 = std::chrono::steady_clock::now();
    bool done = writer_->step(options_.snapshot_slice_nodes);
    longest_slice_ = std::max(longest_slice_, std::chrono::steady_clock::now() - t0);
    if (!done) {
      env_.post([this, generation] { snapshot_slice(generation); });
      return;
    }
  }
  // Encoded: the file is written and synced on the snapshot thread.
  std::vector<std::string> parts;
  parts.emplace_back();
  Writer w(parts.back());
  raft::encode_conf_state(snapshot_meta_.conf, w);
  for (auto& part : writer_->take_parts()) parts.push_back(std::move(part));
  uint64_t copied = writer_->copied_on_write();
  writer_.reset();
  size_t misses = parts_ ? parts_->misses() : 0;
  parts_.reset();
  auto longest_us = std::chrono::duration_cast<std::chrono::microseconds>(longest_slice_).count();
  longest_slice_ = {};
  auto encode_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - snapshot_started_).count();
  raft::SnapshotMeta meta = snapshot_meta_;
  if (misses) log::info("node", "snapshot at index {}: {} parts were not ready in time", meta.index, misses);
  env_.background([this, meta, encode_ms, copied, longest_us, parts = std::move(parts)]() mutable {
    auto st = snapshots_->write(meta.index, meta.term, parts);
    size_t size = 0;
    for (const auto& p : parts) size += p.size();
    parts = {};
    // The encoded snapshot (hundreds of MB for millions of znodes) is freed now; hand the pages
    // back to the OS instead of keeping them in malloc's free lists.
    malloc_trim(0);
    env_.post([this, st, meta, encode_ms, copied, longest_us, size] {
      snapshot_written(st, meta, encode_ms, copied, longest_us, size);
    });
  });
}

void RaftDriver::snapshot_written(const Status& st, const raft::SnapshotMeta& meta, int64_t encode_ms,
                                  uint64_t copied, int64_t longest_slice_us, size_t size) {
  snapshot_running_ = false;
  if (!st) {
    log::error("node", "snapshot at index {} failed: {}", meta.index, st.error().message);
    ++stats_.snapshots_failed;
    return;
  }
  ++stats_.snapshots_written;
  stats_.last_snapshot_bytes = size;
  stats_.last_snapshot_encode_ms = encode_ms;
  stats_.last_snapshot_longest_slice_us = longest_slice_us;
  snapshots_->prune();
  last_snapshot_bytes_ = size;
  snapshot_index_ = std::max(snapshot_index_, meta.index);
  wal_->retire_through(meta.index);
  if (options_.snapshot_slice_nodes)
    log::info("node",
              "snapshot at index {} written ({} bytes; encoded in {} ms in slices while applies went on, longest "
              "slice {} us, {} znodes copied on write)",
              meta.index, size, encode_ms, longest_slice_us, copied);
  else
    log::info("node", "snapshot at index {} written ({} bytes; encoded in {} ms in one go while everything waited)",
              meta.index, size, encode_ms);
}

void RaftDriver::cancel_snapshot() {
  if (!writer_ && !parts_ && !snapshot_starting_) return;
  if (writer_) log::info("node", "snapshot at index {} abandoned: the tree was replaced", snapshot_meta_.index);
  writer_.reset();
  parts_.reset();
  ++snapshot_generation_;
  snapshot_running_ = false;
  snapshot_starting_ = false;
}

}  // namespace conclave::server
