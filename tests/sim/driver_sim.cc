// Deterministic simulation of a cluster of real server::RaftDriver instances.
//
// tests/sim/raft_sim.cc drives the pure Raft core with its own imitation of the driver. This one
// runs the node's actual driver (src/server/raft_driver.cc) and its state machine (the real
// state::DataTree applying real commands), so what the core cannot see is checked too: persist
// before send, the leader's appends before its own fsync, held messages, several WAL batches in
// flight, recovery through the WAL's own record replay (storage/log_replay.h), snapshots encoded
// in copy-on-write slices while applies go on, written in the background, sent to followers and
// installed.
//
// Each node's world is a SimEnv (server/driver_env.h): one seeded event queue for the whole
// cluster stands in for the event loops, the WAL writer threads and the snapshot thread. Its log
// store keeps the WAL's exact bytes in segments opened, rolled over and retired by the WAL's own
// rules (storage/segment_roll.h): synced bytes survive a crash; written-but-unsynced bytes
// (commit-only hard states) survive whole, torn or not at all, as a power cut leaves them, and a
// retired segment may come back while the WAL directory is not synced. A
// crash also drops every batch not yet written, the snapshot being written, and every event of
// that incarnation. Peer messages go through the Raft wire codec, with delays, drops,
// duplicates and partitions. Half the seeds change the membership while the faults go on:
// voters leave and come back with the log they kept, and in some a spare node (bootstrapped as a
// learner, or knowing nothing of the cluster) joins as a learner or a voter, one change at a
// time as the core allows; once healed, every node is made a voter again.
//
// Checked, after every step where it applies:
//   * election safety     — at most one leader per term;
//   * state-machine safety — every node applies the same entry at each index, and its tree's
//                           digest equals that of a reference tree fed the committed history;
//   * configuration       — every node's configuration, once its Ready is handled, is the one the
//                           committed history gives at its applied index (a snapshot carries it);
//   * snapshots           — a tree loaded from a snapshot (installed from the leader or read at
//                           restart) equals the reference tree at the snapshot's index;
//   * recovery            — every restart reads its WAL back without error, with a term and vote
//                           no older than the newest a synced write carried;
//   * durability          — every write acknowledged to its client (applied on the node that
//                           proposed it) is, at the end, in every node's tree (all voters then);
//   * liveness            — after healing, a new write commits everywhere in bounded time.
// A failure prints the seed and the command that replays it.
//
// Usage: conclave_driver_sim [--seeds N] [--first-seed S] [--seed S] [--ms T] [--max-failures K] [--verbose]
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/log.h"
#include "raft/codec.h"
#include "server/driver_env.h"
#include "server/entry_codec.h"
#include "server/proposals.h"
#include "server/reads.h"
#include "server/session_liveness.h"
#include "server/raft_driver.h"
#include "state/command.h"
#include "state/tree.h"
#include "storage/segment_roll.h"
#include "storage/wal.h"

using namespace conclave;
using raft::Index;
using raft::NodeId;

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return double(next() >> 11) / double(1ull << 53) < p; }
};

struct Failure {
  std::string what;
};

// ---- the event queue: every loop, writer thread and snapshot thread of the cluster ----

struct Event {
  uint64_t at;
  uint64_t seq;
  uint64_t incarnation;  // the node incarnation it belongs to (0: the simulation's own)
  std::function<void()> fn;
};
struct Later {
  bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
};

class Clock {
 public:
  uint64_t now() const { return now_; }
  void at(uint64_t when, uint64_t incarnation, std::function<void()> fn) {
    q_.push(Event{std::max(when, now_), seq_++, incarnation, std::move(fn)});
  }
  bool empty() const { return q_.empty(); }
  uint64_t next_at() const { return q_.top().at; }
  /// Moves time forward to `t` (no event is due before it).
  void pop_to(uint64_t t) { now_ = std::max(now_, t); }
  Event pop() {
    Event e = q_.top();
    q_.pop();
    now_ = e.at;
    return e;
  }

 private:
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> q_;
};

// ---- what survives a crash ----

struct Segment {
  std::string synced;    // fdatasync'ed bytes
  std::string unsynced;  // written after the last fdatasync (in the page cache)
};

struct Disk {
  // The WAL's segment files by name, as storage::Wal::open lists them. Only the one being written
  // has unsynced bytes: rolling over syncs the old one first.
  std::map<Index, Segment> wal;
  Index writing = 0;
  // Segments retired since the WAL directory was last synced: a power cut may bring them back.
  std::vector<std::pair<Index, Segment>> unlinked;
  std::map<Index, std::string> snapshots;  // index -> the snapshot file's bytes (written atomically)
  raft::HardState durable_hs;  // the newest hard state in a synced write: term and vote never go back
};

struct World;  // the cluster: clock, rng, faults

class SimLog final : public storage::LogStore {
 public:
  SimLog(World& w, Disk& disk, uint64_t incarnation, uint64_t segment_bytes, const raft::HardState& recovered)
      : w_(w), disk_(disk), incarnation_(incarnation), roll_(segment_bytes), queued_hs_(recovered) {}
  storage::SegmentRoll& roll() { return roll_; }
  /// Appends to the segment being written (storage::Wal::write_batch).
  void append(const std::string& bytes, bool sync);
  uint64_t submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                  raft::Index truncate_from, bool sync) override;
  void set_ticket_callback(TicketCallback cb) override { cb_ = std::move(cb); }
  void retire_through(raft::Index index) override;
  void close() override {}
  Stats stats() const override { return stats_; }

 private:
  struct Batch {
    uint64_t ticket;
    std::string bytes;
    bool sync;
    std::optional<raft::HardState> hs;
  };
  void write_some();

  World& w_;
  Disk& disk_;
  uint64_t incarnation_;
  TicketCallback cb_;
  uint64_t next_ticket_ = 0;
  std::vector<Batch> queued_;
  bool writer_busy_ = false;
  Stats stats_;
  storage::SegmentRoll roll_;
  raft::HardState queued_hs_;  // the latest submitted
  raft::HardState before_hs_;  // in effect before what is queued
};

class SimSnapshots final : public storage::SnapshotStorage {
 public:
  explicit SimSnapshots(Disk& disk) : disk_(disk) {}
  Status save(Index index, raft::Term term, std::string_view payload, int keep) override {
    disk_.snapshots[index] = storage::SnapshotStore::encode({index, term, std::string(payload)});
    prune(keep);
    return Status::Ok();
  }
  Status write(Index index, raft::Term term, const std::vector<std::string>& payload) override {
    std::string joined;
    for (const auto& p : payload) joined += p;
    disk_.snapshots[index] = storage::SnapshotStore::encode({index, term, std::move(joined)});
    return Status::Ok();
  }
  void prune(int keep) override {
    while (disk_.snapshots.size() > size_t(keep)) disk_.snapshots.erase(disk_.snapshots.begin());
  }
  Result<std::optional<storage::SnapshotFile>> load_latest() override {
    if (disk_.snapshots.empty()) return std::optional<storage::SnapshotFile>();
    const auto& [index, bytes] = *disk_.snapshots.rbegin();
    auto f = storage::SnapshotStore::decode(bytes, "sim-" + std::to_string(index));
    if (!f) return f.error();
    return std::optional<storage::SnapshotFile>(std::move(*f));
  }

 private:
  Disk& disk_;
};

struct World {
  Clock clock;
  Rng rng;
  std::set<uint64_t> live;  // incarnations that have not crashed
  uint64_t wal_min_ms = 1, wal_max_ms = 10;  // how long a WAL write takes (sim ms)
  uint64_t background_max = 40;
  uint64_t segment_bytes = 64ull << 20;
  [[noreturn]] void fail(const std::string& what, uint64_t seed) {
    throw Failure{what + " (seed " + std::to_string(seed) + ", t=" + std::to_string(clock.now()) + " ms)"};
  }
};

uint64_t SimLog::submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                        raft::Index truncate_from, bool sync) {
  Batch b{++next_ticket_, {}, sync, hs};
  if (queued_.empty()) before_hs_ = queued_hs_;
  if (hs) queued_hs_ = *hs;
  if (truncate_from) storage::encode_truncate_record(truncate_from, b.bytes);
  if (hs) storage::encode_hard_state_record(*hs, b.bytes);
  for (const auto& e : entries) storage::encode_entry_record(e, b.bytes);
  stats_.records += entries.size();
  queued_.push_back(std::move(b));
  if (!writer_busy_) {
    writer_busy_ = true;
    w_.clock.at(w_.clock.now() + w_.rng.between(w_.wal_min_ms, w_.wal_max_ms), incarnation_, [this] { write_some(); });
  }
  return next_ticket_;
}

// The writer thread's turn: everything queued goes out in one write, with one fdatasync if any
// batch needs it, rolling over to a new segment first where the WAL's rules say so
// (storage::Wal::writer_loop).
void SimLog::write_some() {
  writer_busy_ = false;
  if (queued_.empty()) return;
  std::string bytes;
  bool sync = false;
  uint64_t ticket = 0;
  std::optional<raft::HardState> hs;
  for (auto& b : queued_) {
    bytes += b.bytes;
    sync = sync || b.sync;
    ticket = b.ticket;
    if (b.hs) hs = b.hs;
  }
  queued_.clear();
  std::string head;
  if (Index next = roll_.roll_before(bytes, before_hs_, &head)) {
    // Wal::open_segment: sync the old segment, create the new one, sync the directory.
    Segment& old = disk_.wal[disk_.writing];
    old.synced += old.unsynced;
    old.unsynced.clear();
    disk_.wal[next];
    disk_.writing = next;
    disk_.unlinked.clear();
    append(head, false);
  }
  append(bytes, sync);
  if (sync && hs) disk_.durable_hs = *hs;
  if (cb_) cb_(ticket);
}

void SimLog::append(const std::string& bytes, bool sync) {
  Segment& seg = disk_.wal[disk_.writing];
  stats_.bytes += bytes.size();
  roll_.wrote(bytes.size());
  if (sync) {
    seg.synced += seg.unsynced;
    seg.synced += bytes;
    seg.unsynced.clear();
    ++stats_.fsyncs;
  } else {
    seg.unsynced += bytes;
  }
}

// Wal::retire_through: the files go, but the directory is not synced until the next segment is
// created, so a power cut before that may bring them back.
void SimLog::retire_through(raft::Index index) {
  for (Index name : roll_.retire(index)) {
    auto it = disk_.wal.find(name);
    if (it == disk_.wal.end()) continue;  // named twice
    disk_.unlinked.emplace_back(name, std::move(it->second));
    disk_.wal.erase(it);
  }
}

class SimEnv final : public server::DriverEnv {
 public:
  SimEnv(World& w, Disk& disk, uint64_t incarnation) : w_(w), disk_(disk), incarnation_(incarnation) {}

  void post(std::function<void()> fn) override { w_.clock.at(w_.clock.now(), incarnation_, std::move(fn)); }
  void after(std::chrono::milliseconds d, std::function<void()> fn) override {
    w_.clock.at(w_.clock.now() + uint64_t(d.count()), incarnation_, std::move(fn));
  }
  // The snapshot thread: its work happens a while later, unless the node crashes first.
  void background(std::function<void()> work) override {
    join_background();
    pending_ = std::make_shared<std::function<void()>>(std::move(work));
    w_.clock.at(w_.clock.now() + w_.rng.between(1, w_.background_max), incarnation_, [this, p = pending_] {
      if (pending_ != p) return;  // joined meanwhile
      pending_.reset();
      (*p)();
    });
  }
  void join_background() override {
    if (!pending_ || !w_.live.count(incarnation_)) return;  // a crashed node's thread died with it
    auto p = std::move(pending_);
    pending_.reset();
    (*p)();
  }
  Result<std::unique_ptr<storage::SnapshotStorage>> open_snapshots() override {
    return std::unique_ptr<storage::SnapshotStorage>(std::make_unique<SimSnapshots>(disk_));
  }
  Result<std::unique_ptr<storage::LogStore>> open_log(Index after_index, storage::RecoveredLog* recovered) override {
    // What storage::Wal::open does with its segment files.
    storage::RecordReplay replay(after_index);
    std::vector<Index> names;
    for (auto& [name, seg] : disk_.wal) {
      names.push_back(name);
      storage::RecordReplay::Torn torn;
      torn.offset = std::string::npos;
      auto st = replay.feed(seg.synced, names.size() == disk_.wal.size(), "sim-wal-" + std::to_string(name), &torn);
      if (!st) return st.error();
      if (torn.offset != std::string::npos) seg.synced.resize(torn.offset);
    }
    Index next = replay.next_index();
    *recovered = std::move(replay.log());
    const raft::HardState& got = recovered->hard_state;
    const raft::HardState& was = disk_.durable_hs;
    if (got.term < was.term || (got.term == was.term && was.vote != 0 && got.vote != was.vote))
      return make_error(Errc::kCorrupt, "the WAL gives back term " + std::to_string(got.term) + " vote " +
                                            std::to_string(got.vote) + ", but term " + std::to_string(was.term) +
                                            " vote " + std::to_string(was.vote) + " was durable");
    auto log = std::make_unique<SimLog>(w_, disk_, incarnation_, w_.segment_bytes, recovered->hard_state);
    Index name = log->roll().open(std::move(names), next);
    if (!disk_.wal.count(name)) disk_.unlinked.clear();  // a new file: the directory is synced
    disk_.writing = name;
    log->roll().set_size(disk_.wal[name].synced.size());
    // The log goes on with the recovered hard state, synced (as Wal::open writes it).
    std::string hs;
    storage::encode_hard_state_record(recovered->hard_state, hs);
    log->append(hs, true);
    return std::unique_ptr<storage::LogStore>(std::move(log));
  }
  bool prefault_snapshot_parts() const override { return false; }

 private:
  World& w_;
  Disk& disk_;
  uint64_t incarnation_;
  std::shared_ptr<std::function<void()>> pending_;
};

// ---- one node ----

struct SimNode {
  NodeId id = 0;
  uint64_t incarnation = 0;  // 0 while down
  Disk disk;
  state::DataTree tree;
  std::unique_ptr<SimEnv> env;
  std::unique_ptr<server::RaftDriver> driver;
  std::unique_ptr<server::Proposals> proposals;  // the front-ends' path: forwards, answers at apply
  std::unique_ptr<server::Reads> reads;          // their linearizable read points (ReadIndex)
  std::unique_ptr<server::SessionLiveness> liveness;  // session expiry: touches relayed to the leader
  uint64_t ticks = 0;
  uint64_t leader_since = 0;  // when this run of the node last became leader
  bool up() const { return driver != nullptr; }
};

struct Options {
  uint64_t seed = 1;
  uint64_t ms = 4000;  // simulated time of the faulty phase
  bool verbose = false;
};

class Sim {
 public:
  explicit Sim(const Options& o) : opt_(o) {
    w_.rng.s = o.seed;
    auto& r = w_.rng;
    n_ = r.chance(0.7) ? 3 : 5;
    drop_ = r.chance(0.5) ? 0.05 * double(r.below(5)) : 0.0;
    dup_ = r.chance(0.3) ? 0.05 : 0.0;
    max_delay_ = r.between(1, 8);
    w_.wal_min_ms = 1;
    w_.wal_max_ms = r.chance(0.3) ? 2 : r.between(5, 30);  // a fast disk, or batches piling up
    w_.background_max = r.between(1, 80);
    crash_p_ = r.chance(0.7) ? 0.002 * double(r.between(1, 4)) : 0.0;
    partition_p_ = r.chance(0.5) ? 0.004 : 0.0;
    snapshot_every_ = r.chance(0.7) ? r.between(15, 80) : 100000;
    slice_nodes_ = r.chance(0.2) ? 0 : r.between(1, 16);
    write_p_ = 0.2 + 0.6 * double(r.below(100)) / 100;
    w_.segment_bytes = r.chance(0.6) ? r.between(256, 8192) : 64ull << 20;
    // Reads come in half the seeds, drawn from their own stream.
    rd_.s = o.seed ^ 0x7265616473ull;
    if (rd_.chance(0.5)) read_p_ = 0.1 * double(rd_.between(1, 5));
    // Sessions kept alive by their clients come in half the seeds, from their own stream too.
    ks_.s = o.seed ^ 0x6B657074ull;
    if (ks_.chance(0.5)) keep_p_ = 0.01;
    // Membership draws come from their own stream, so seeds without changes run as before.
    m_.s = o.seed ^ 0x6D656D62657273ull;
    if (m_.chance(0.5)) {
      change_p_ = 0.001 * double(m_.between(1, 4));
      spare_ = m_.chance(0.5) ? (m_.chance(0.5) ? Spare::kLearner : Spare::kOutsider) : Spare::kNone;
    }
    if (opt_.verbose)
      std::printf("seed=%" PRIu64 " nodes=%d drop=%.2f dup=%.2f delay<=%" PRIu64 " wal<=%" PRIu64 " crash=%.3f "
                  "partition=%.3f snapshot_every=%" PRIu64 " slice=%" PRIu64 " segment=%" PRIu64 " change=%.3f spare=%d\n",
                  opt_.seed, n_, drop_, dup_, max_delay_, w_.wal_max_ms, crash_p_, partition_p_, snapshot_every_,
                  slice_nodes_, w_.segment_bytes, change_p_, int(spare_));
    for (int i = 1; i <= n_ + (spare_ != Spare::kNone ? 1 : 0); ++i) {
      auto node = std::make_unique<SimNode>();
      node->id = NodeId(i);
      nodes_.push_back(std::move(node));
    }
    for (auto& n : nodes_) start(*n);
  }

  ~Sim() {
    for (auto& n : nodes_) stop(*n, false);
  }

  std::string run(uint32_t* trace_hash) {
    try {
      faulty_phase();
      healed_phase();
    } catch (const Failure& f) {
      return f.what;
    }
    *trace_hash = trace_;
    return {};
  }

 private:
  [[noreturn]] void fail(const std::string& what) { w_.fail(what, opt_.seed); }
  void mix(uint64_t v) { trace_ = crc32c(std::string_view(reinterpret_cast<const char*>(&v), 8), trace_); }
  SimNode& node(NodeId id) { return *nodes_[id - 1]; }

  // ---- starting and crashing ----

  void start(SimNode& n) {
    n.incarnation = ++incarnations_;
    w_.live.insert(n.incarnation);
    n.tree = state::DataTree();
    n.env = std::make_unique<SimEnv>(w_, n.disk, n.incarnation);
    server::RaftDriverOptions ro;
    ro.node_id = n.id;
    // The first voters know only each other; the spare starts as a learner of that cluster (as
    // `conclave agent --learner` does) or knowing nothing, until the leader adds it.
    ro.bootstrap_conf = first_conf();
    if (n.id > NodeId(n_) && spare_ == Spare::kLearner) ro.bootstrap_conf.learners.insert(n.id);
    ro.election_ticks = 10;
    ro.snapshot_every_entries = snapshot_every_;
    ro.snapshot_slice_nodes = slice_nodes_;
    server::RaftDriver::Hooks h;
    SimNode* np = &n;
    h.apply = [this, np](const raft::Entry& e) { apply(*np, e); };
    h.tree_replaced = [this, np] { tree_loaded(*np); };
    h.send = [this, np](const raft::Message& m) { send(*np, m); };
    h.role_changed = [this, np](raft::Role old_role, raft::Role new_role) {
      if (new_role == raft::Role::kLeader) np->leader_since = w_.clock.now();
      if (old_role == raft::Role::kLeader && np->proposals) np->proposals->leadership_lost();
      if (np->liveness) np->liveness->role_changed(new_role == raft::Role::kLeader);
    };
    h.read_state = [np](const raft::ReadState& rs) {
      if (np->reads) np->reads->on_read_state(rs.context, rs.index);
    };
    h.wall_us = [this] { return int64_t(w_.clock.now()) * 1000; };
    h.monotonic_us = h.wall_us;
    n.driver = std::make_unique<server::RaftDriver>(*n.env, ro, n.tree, std::move(h), w_.rng.next());
    server::Proposals::Hooks ph;
    ph.send = [this, np](uint64_t to, std::string payload) { send_payload(*np, NodeId(to), std::move(payload)); };
    ph.wall_ms = [this] { return int64_t(w_.clock.now()); };
    ph.monotonic_ms = ph.wall_ms;
    ph.wall_us = [this] { return int64_t(w_.clock.now()) * 1000; };
    n.proposals = std::make_unique<server::Proposals>(*n.driver, n.id, kForwardTimeoutMs,
                                                      w_.clock.now() * 1000, std::move(ph));
    server::Reads::Hooks rh;
    rh.send = [this, np](uint64_t to, std::string payload) { send_payload(*np, NodeId(to), std::move(payload)); };
    rh.monotonic_ms = [this] { return int64_t(w_.clock.now()); };
    n.reads = std::make_unique<server::Reads>(*n.driver, n.id, kForwardTimeoutMs, w_.clock.now() * 1000, std::move(rh));
    server::SessionLiveness::Hooks lh;
    lh.send = [this, np](uint64_t to, std::string payload) { send_payload(*np, NodeId(to), std::move(payload)); };
    lh.monotonic_ms = [this] { return int64_t(w_.clock.now()); };
    lh.propose = [this, np](state::Command cmd, std::function<void()> failed) {
      expiring(*np, cmd.session);
      np->proposals->propose(std::move(cmd), [failed = std::move(failed)](const state::ApplyResult& r) {
        if (r.code == state::Code::kConnectionLoss) failed();
      });
    };
    n.liveness = std::make_unique<server::SessionLiveness>(*n.driver, n.tree, kRelayMs, std::move(lh));
    auto st = n.driver->recover();
    if (!st) fail("recovery: node " + std::to_string(n.id) + " cannot read back its disk: " + st.error().message);

    schedule_tick(n);
    mix(0x57A27 ^ n.id);
  }

  void schedule_tick(SimNode& n) {
    uint64_t inc = n.incarnation;
    w_.clock.at(w_.clock.now() + 10, inc, [this, &n, inc] {
      if (n.incarnation != inc) return;
      n.driver->tick();
      n.proposals->tick();
      n.reads->tick();
      n.liveness->relay();
      if (++n.ticks % 10 == 0) n.liveness->expire();  // every 100 ms, as the node does
      check_leader(n);
      check_conf(n);
      schedule_tick(n);
    });
  }

  // A crash (power_cut: the page cache is lost too) or an orderly stop at the end.
  void stop(SimNode& n, bool power_cut) {
    if (!n.up()) return;
    if (opt_.verbose) std::printf("t=%" PRIu64 " crash %" PRIu64 "%s\n", w_.clock.now(), n.id, power_cut ? " (power cut)" : "");
    w_.live.erase(n.incarnation);
    n.incarnation = 0;
    n.proposals.reset();  // its clients' pending requests go unanswered: their connection dropped
    n.reads.reset();
    n.liveness.reset();
    n.driver.reset();  // queued WAL batches and the snapshot thread's work die with it
    n.env.reset();
    Disk& d = n.disk;
    if (power_cut) {
      auto& u = d.wal[d.writing].unsynced;
      if (!u.empty()) {
        // Written but never synced: all of it reached the platter, none of it, or a torn prefix.
        uint64_t pick = w_.rng.below(3);
        if (pick == 1) u.clear();
        else if (pick == 2) u.resize(w_.rng.below(u.size()));
      }
      // Unlinked files whose directory entry was never synced may come back.
      for (auto& [name, seg] : d.unlinked)
        if (w_.rng.chance(0.5)) d.wal.emplace(name, std::move(seg));
    }
    d.unlinked.clear();
    for (auto& [name, seg] : d.wal) {
      seg.synced += seg.unsynced;
      seg.unsynced.clear();
    }
    mix(0xC0FFEE ^ n.id);
  }

  // ---- network: the peer port carries Raft's wire encoding ----

  bool blocked(NodeId a, NodeId b) const { return cut_.count({a, b}) || cut_.count({b, a}); }

  void send(SimNode& from, const raft::Message& m) {
    if (!healed_ && w_.rng.chance(drop_)) return;
    std::string wire;
    raft::encode_message(m, wire);
    int copies = !healed_ && w_.rng.chance(dup_) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      uint64_t at = w_.clock.now() + (healed_ ? 1 : w_.rng.between(1, max_delay_));
      NodeId to = m.to, src = from.id;
      w_.clock.at(at, 0, [this, wire, to, src] {
        SimNode& n = node(to);
        if (!n.up() || blocked(src, to)) return;
        raft::Message got;
        if (!raft::decode_message(wire, &got)) fail("codec: a Raft message did not decode");
        mix(uint64_t(got.type) << 56 | got.from << 48 | got.to << 40 | got.term);
        n.driver->step(got);
        check_leader(n);
        check_conf(n);
      });
    }
  }

  // The front-ends' peer payloads (forwards and their acknowledgements) share the peer
  // connection, a TCP stream: in order on each link, lost across a partition or a restart of the
  // receiver, never duplicated.
  void send_payload(SimNode& from, NodeId to, std::string payload) {
    if (payload.empty() || to == 0 || to > nodes_.size()) return;
    uint64_t& next = link_next_[{from.id, to}];
    next = std::max(next, w_.clock.now() + (healed_ ? 1 : w_.rng.between(1, max_delay_)));
    NodeId src = from.id;
    w_.clock.at(next, 0, [this, payload = std::move(payload), to, src, inc = node(to).incarnation] {
      SimNode& n = node(to);
      if (!n.up() || n.incarnation != inc || blocked(src, to)) return;
      std::string_view body = std::string_view(payload).substr(1);
      switch (uint8_t(payload[0])) {
        case server::Proposals::kForward:
          n.proposals->on_forward(src, body);
          n.driver->schedule_drive();
          break;
        case server::Proposals::kForwardAck:
          n.proposals->on_forward_ack(body);
          break;
        case server::SessionLiveness::kTouch:
          n.liveness->on_touch(body);
          break;
        case server::Reads::kAsk:
          n.reads->on_ask(src, body);
          break;
        case server::Reads::kAnswer:
          n.reads->on_answer(body);
          break;
        default:
          fail("an unexpected peer payload kind " + std::to_string(uint8_t(payload[0])));
      }
      mix(0xF0 ^ uint64_t(uint8_t(payload[0])) ^ src << 8 ^ to << 16);
    });
  }

  // ---- the state machine and its checks ----

  void apply(SimNode& n, const raft::Entry& e) {
    auto [it, inserted] = global_.emplace(e.index, e);
    if (!inserted && (it->second.term != e.term || it->second.data != e.data || it->second.type != e.type))
      fail("state machine safety: node " + std::to_string(n.id) + " applied term " + std::to_string(e.term) +
           " at index " + std::to_string(e.index) + ", another node term " + std::to_string(it->second.term));
    mix(e.index * 31 + e.term);
    if (e.type == raft::EntryType::kCommand) {
      server::EntryPayload payload;
      state::Command cmd;
      if (!server::decode_entry(e.data, &payload) || !state::decode_command(payload.command, &cmd))
        fail("node " + std::to_string(n.id) + " applied an undecodable command at index " + std::to_string(e.index));
      state::ApplyResult r = n.tree.apply(int64_t(e.index), cmd);
      // The client hears back from the node it asked, once that node applied its write
      // (Node::apply_entry).
      n.proposals->complete(cmd.origin, r);
    }
    n.proposals->applied_through(e.index);
    n.reads->applied();
    advance_reference();
    if (e.index % 5 == 0) check_tree(n, e.index, "after applying");
  }

  // The reference tree follows the committed history as far as it is contiguous.
  void advance_reference() {
    for (;;) {
      auto it = global_.find(ref_index_ + 1);
      if (it == global_.end()) return;
      ++ref_index_;
      const raft::Entry& e = it->second;
      server::EntryPayload payload;
      state::Command cmd;
      if (e.type == raft::EntryType::kCommand && server::decode_entry(e.data, &payload) &&
          state::decode_command(payload.command, &cmd))
      {
        state::Code code = ref_.apply(int64_t(ref_index_), cmd).code;
        ++(code == state::Code::kOk ? ref_ok_ : ref_refused_);
        ref_code_[ref_index_] = code;
      }
      if (e.type == raft::EntryType::kConfig) reference_conf_change(e);
      ref_digest_[ref_index_] = ref_.digest();
    }
  }

  void check_tree(SimNode& n, Index index, const char* when) {
    auto it = ref_digest_.find(index);
    if (it == ref_digest_.end()) {
      if (index == 0) return;
      fail("node " + std::to_string(n.id) + " holds index " + std::to_string(index) + " " + when +
           ", beyond the known committed history (" + std::to_string(ref_index_) + ")");
    }
    if (n.tree.digest() != it->second)
      fail("state: node " + std::to_string(n.id) + "'s tree " + when + " index " + std::to_string(index) +
           " differs from the committed history's (" + std::to_string(n.tree.node_count()) + " znodes" +
           (index == ref_index_ ? " against " + std::to_string(ref_.node_count()) : std::string()) + ")");
  }

  // A snapshot replaced the tree: from the leader, or read back at restart.
  void tree_loaded(SimNode& n) {
    Index at = n.driver->applied_index();
    if (n.proposals) n.proposals->applied_through(at);  // as Node::on_tree_replaced
    if (n.reads) n.reads->applied();
    if (n.liveness) n.liveness->tree_replaced();
    check_tree(n, at, "loaded from a snapshot at");
    mix(0x5A5A ^ at);
  }

  // ---- membership ----

  raft::ConfState first_conf() const {
    raft::ConfState c;
    for (int i = 1; i <= n_; ++i) c.voters.insert(NodeId(i));
    return c;
  }

  // The committed history's configuration after a configuration entry, by Raft's single-server
  // rules: adding a learner never demotes a voter.
  void reference_conf_change(const raft::Entry& e) {
    raft::ConfChange cc{};
    if (!raft::decode_conf_change(e.data, &cc)) fail("a configuration entry at index " + std::to_string(e.index) + " does not decode");
    raft::ConfState c = conf_at(e.index - 1);
    switch (cc.type) {
      case raft::ConfChangeType::kAddVoter: c.learners.erase(cc.node); c.voters.insert(cc.node); break;
      case raft::ConfChangeType::kAddLearner: if (!c.voters.count(cc.node)) c.learners.insert(cc.node); break;
      case raft::ConfChangeType::kRemove: c.voters.erase(cc.node); c.learners.erase(cc.node); break;
    }
    ref_conf_[e.index] = std::move(c);
    ++conf_changes_;
  }
  raft::ConfState conf_at(Index index) const {
    auto it = ref_conf_.upper_bound(index);
    return it == ref_conf_.begin() ? first_conf() : std::prev(it)->second;
  }

  // Once a node's Ready is handled, its core's configuration is the one the committed history
  // gives at its applied index (a spare bootstrapped as a learner lists itself before that).
  void check_conf(SimNode& n) {
    if (!n.up()) return;
    const raft::Core& c = n.driver->core();
    Index at = n.driver->applied_index();
    if (c.has_ready() || c.applied() != at || at > ref_index_) return;
    raft::ConfState want = conf_at(at), got = c.conf();
    got.learners.erase(n.id);
    want.learners.erase(n.id);
    if (got == want) return;
    auto list = [](const raft::ConfState& s) {
      std::string out = "voters";
      for (NodeId v : s.voters) out += " " + std::to_string(v);
      out += ", learners";
      for (NodeId v : s.learners) out += " " + std::to_string(v);
      return out;
    };
    fail("configuration: node " + std::to_string(n.id) + " at applied index " + std::to_string(at) + " has " +
         list(got) + "; the committed history gives " + list(want));
  }

  // The leader proposes one change, as the operator API would: a spare or a removed node joins
  // (as a learner first, sometimes), a learner is promoted, a voter leaves (never below two).
  void change_membership() {
    SimNode* l = leader();
    if (!l) return;
    const raft::ConfState& c = l->driver->core().conf();
    std::vector<raft::ConfChange> options;
    for (auto& n : nodes_) {
      NodeId id = n->id;
      if (c.voters.count(id)) {
        if (c.voters.size() > 2) options.push_back({raft::ConfChangeType::kRemove, id, "", ""});
      } else if (c.learners.count(id)) {
        options.push_back({raft::ConfChangeType::kAddVoter, id, "", ""});
        options.push_back({raft::ConfChangeType::kRemove, id, "", ""});
      } else {
        options.push_back({raft::ConfChangeType::kAddVoter, id, "", ""});
        options.push_back({raft::ConfChangeType::kAddLearner, id, "", ""});
      }
    }
    if (options.empty()) return;
    const raft::ConfChange& cc = options[m_.below(options.size())];
    if (l->driver->core().propose_conf_change(cc)) {
      if (opt_.verbose)
        std::printf("t=%" PRIu64 " node %" PRIu64 " proposes %s of %" PRIu64 "\n", w_.clock.now(), l->id,
                    cc.type == raft::ConfChangeType::kRemove ? "removal" :
                    cc.type == raft::ConfChangeType::kAddVoter ? "a voter" : "a learner", cc.node);
      ++changes_proposed_;
      l->driver->schedule_drive();
    }
  }

  // After healing: every node a voter again, one change at a time.
  bool all_voters() {
    SimNode* l = leader();
    if (!l) return false;
    const raft::ConfState& c = l->driver->core().conf();
    for (auto& n : nodes_)
      if (!c.voters.count(n->id)) {
        if (l->driver->core().propose_conf_change({raft::ConfChangeType::kAddVoter, n->id, "", ""})) l->driver->schedule_drive();
        return false;
      }
    for (auto& n : nodes_)
      if (n->driver->core().conf().voters != c.voters) return false;
    return true;
  }

  void check_leader(SimNode& n) {
    if (!n.up() || n.driver->core().role() != raft::Role::kLeader) return;
    auto [it, inserted] = leaders_.emplace(n.driver->core().term(), n.id);
    if (!inserted && it->second != n.id)
      fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both lead term " + std::to_string(n.driver->core().term()));
  }

  SimNode* leader() {
    SimNode* best = nullptr;
    for (auto& n : nodes_)
      if (n->up() && n->driver->core().role() == raft::Role::kLeader &&
          (!best || n->driver->core().term() > best->driver->core().term()))
        best = n.get();
    return best;
  }

  // ---- clients ----

  // One write through the leader, as server::Proposals appends it. Half are Consul KV sets of a
  // key of its own (checked for durability: "/u/N") or of one of a few shared registers; the rest
  // mix what the front-ends propose: ZooKeeper sessions, ephemeral and sequential znodes, deletes
  // and multis (some of which fail, all-or-nothing), Consul sessions with lock acquire and
  // release, catalog registrations whose checks the sessions depend on. Every kind goes through
  // snapshots and recovery, and the trees' digests cover sessions, ACLs and the Consul side.
  std::optional<std::string> write() {
    auto& r = w_.rng;
    // A client of the leader, or of any node that is up (a follower forwards).
    SimNode* l = leader();
    if (!l || r.chance(0.5)) {
      SimNode* any = &node(1 + r.below(nodes_.size()));
      if (any->up()) l = any;
    }
    if (!l) return std::nullopt;
    state::Command cmd;
    cmd.kind = state::CommandKind::kTxn;
    ++origins_;
    const std::string n = std::to_string(origins_);
    std::string key;
    auto kv = [&](state::KvVerb verb, std::string path, state::SessionId session = 0) {
      state::KvOp op;
      op.verb = verb;
      op.path = std::move(path);
      op.value = "v" + n;
      op.session = session;
      cmd.ops.push_back(std::move(op));
    };
    auto some = [&](const std::vector<state::SessionId>& v) -> state::SessionId {
      return v.empty() ? state::SessionId(1) : v[r.below(v.size())];  // 1: never created
    };
    uint64_t pick = healed_ ? 0 : r.below(20);
    if (pick < 10) {
      if (r.chance(0.5)) {
        key = "/u/" + n;
        kv(state::KvVerb::kSet, key);
      } else {
        kv(state::KvVerb::kSet, "/reg/" + std::to_string(r.below(4)));
      }
    } else if (pick == 10) {  // a ZooKeeper session
      cmd.kind = state::CommandKind::kCreateSession;
      cmd.session = state::SessionId(0x100000 + origins_);
      cmd.timeout_ms = 30000;
      cmd.password = "pw" + n;
      zk_sessions_.push_back(cmd.session);
    } else if (pick == 11) {  // an ephemeral, sometimes sequential, of a session that may be gone
      cmd.session = some(zk_sessions_);
      state::CreateOp op;
      op.path = "/e" + std::to_string(r.below(6));
      op.data = "e" + n;
      op.acl = state::open_acl_unsafe();
      op.mode = r.chance(0.5) ? state::CreateMode::kEphemeral : state::CreateMode::kEphemeralSequential;
      cmd.ops.push_back(std::move(op));
    } else if (pick == 12) {  // a session closes (its ephemerals go)
      cmd.kind = state::CommandKind::kCloseSession;
      cmd.session = r.chance(0.5) ? some(zk_sessions_) : some(consul_sessions_);
    } else if (pick == 13) {  // a multi that fails when the register's version moved on
      cmd.multi = true;
      state::CreateOp c;
      c.path = "/m" + n;
      c.acl = {state::Acl{state::perms::kRead, state::Id{"world", "anyone"}}};
      c.mode = r.chance(0.5) ? state::CreateMode::kPersistent : state::CreateMode::kPersistentSequential;
      cmd.ops.push_back(std::move(c));
      state::SetDataOp sd;
      sd.path = "/reg/" + std::to_string(r.below(4));
      sd.data = "m" + n;
      sd.version = r.chance(0.5) ? -1 : int32_t(r.below(3));
      cmd.ops.push_back(std::move(sd));
    } else if (pick == 14) {  // a delete, at any version, of a znode that may not exist
      state::DeleteOp d;
      d.path = r.chance(0.5) ? "/e" + std::to_string(r.below(6)) : "/m" + std::to_string(r.below(origins_ + 1));
      d.version = r.chance(0.7) ? -1 : int32_t(r.below(2));
      cmd.ops.push_back(std::move(d));
    } else if (pick == 15) {  // a Consul session, tied to a node's checks
      cmd.kind = state::CommandKind::kCreateSession;
      cmd.session = state::SessionId(0x200000 + origins_);
      cmd.consul = true;
      cmd.consul_session.uuid = "00000000-0000-0000-0001-" + std::to_string(100000000000 + origins_);
      cmd.consul_session.node = "node" + std::to_string(r.below(2));
      cmd.consul_session.behavior = uint8_t(r.below(2));
      cmd.consul_session.lock_delay_ms = r.chance(0.5) ? 0 : 50;
      if (r.chance(0.5)) cmd.consul_session.node_checks = {"serfHealth"};
      consul_sessions_.push_back(cmd.session);
    } else if (pick == 16 || pick == 17) {  // acquire or release a lock
      kv(pick == 16 ? state::KvVerb::kLock : state::KvVerb::kUnlock, "/lock/" + std::to_string(r.below(3)),
         some(consul_sessions_));
    } else if (pick == 18) {  // a node with its health check, passing or not
      state::CatalogRegisterOp reg;
      reg.node.name = "node" + std::to_string(r.below(2));
      reg.node.address = "10.0.0." + std::to_string(1 + r.below(2));
      reg.has_service = r.chance(0.5);
      reg.service.id = reg.service.name = "web";
      reg.service.port = int32_t(8000 + r.below(3));
      state::CheckSpec check;
      check.id = check.name = "serfHealth";
      check.status = r.chance(0.7) ? "passing" : "critical";
      reg.checks.push_back(std::move(check));
      cmd.ops.push_back(std::move(reg));
    } else {  // the node goes, and the sessions relying on its check with it
      state::CatalogDeregisterOp dereg;
      dereg.node = "node" + std::to_string(r.below(2));
      cmd.ops.push_back(std::move(dereg));
    }
    Proposal& p = proposed_[origins_];
    p.key = key.empty() ? "#" + n : key;
    p.incarnation = l->incarnation;
    p.node = l->id;
    p.at = w_.clock.now();
    p.via_leader = l->driver->core().role() == raft::Role::kLeader;
    p.client = {l->incarnation, r.below(2)};  // two clients on each node
    state::encode_command(cmd, p.command);
    ++kinds_[pick];
    uint64_t id = origins_;
    l->proposals->propose(std::move(cmd), [this, id](const state::ApplyResult& res) { answered(id, res); });
    return p.key;
  }

  // A client's answer. Each proposal is answered at most once; an answer other than "outcome
  // unknown" names the index its command was applied at, which must hold exactly that command
  // (not another proposal's, from this node's earlier life say), with the result the committed
  // history gives there.
  void answered(uint64_t id, const state::ApplyResult& res) {
    Proposal& p = proposed_[id];
    if (++p.answers > 1) fail("proposal " + std::to_string(id) + " answered twice");
    if (res.code == state::Code::kConnectionLoss) {
      ++answers_unknown_;
      return;
    }
    Index at = Index(res.zxid);
    auto it = global_.find(at);
    server::EntryPayload payload;
    state::Command cmd;
    if (it == global_.end() || it->second.type != raft::EntryType::kCommand ||
        !server::decode_entry(it->second.data, &payload) || !state::decode_command(payload.command, &cmd))
      fail("proposal " + std::to_string(id) + " was answered with index " + std::to_string(at) +
           ", which holds no applied command");
    const uint64_t origin = cmd.origin;
    cmd.origin = 0;
    cmd.time_ms = 0;
    Bytes got;
    state::encode_command(cmd, got);
    if (got != p.command)
      fail("a client was answered with another command's result: proposal " + std::to_string(id) + " (" + p.key +
           ") on node " + std::to_string(p.node) + " answered with index " + std::to_string(at) +
           ", which holds a different command (origin node " + std::to_string(origin >> 48) + " sequence " +
           std::to_string(origin & 0xFFFFFFFFFFFFull) + ")");
    p.index = at;
    p.code = res.code;
    acked_high_ = std::max(acked_high_, at);
    client_answers_[p.client].push_back(id);
    if (p.key[0] == '/' && res.code == state::Code::kOk) acknowledged_.emplace(p.key, at);
  }

  // A linearizable read (Consul's ?consistent; ZooKeeper's sync is a log entry) on any node that is up. When it
  // is answered "go", the node's tree must hold every write acknowledged (to any client) before
  // the read was sent: its applied index is at least the highest index a client was answered with.
  void read() {
    SimNode& n = node(1 + w_.rng.below(nodes_.size()));
    if (!n.up()) return;
    uint64_t id = ++reads_made_;
    ReadMade& rd = reads_[id];
    rd.node = n.id;
    rd.incarnation = n.incarnation;
    rd.at = w_.clock.now();
    rd.floor = acked_high_;
    SimNode* np = &n;
    n.reads->read_index([this, id, np](bool ok) {
      ReadMade& r = reads_[id];
      if (++r.answers > 1) fail("read " + std::to_string(id) + " answered twice");
      if (!ok) return;
      ++reads_ok_;
      Index applied = np->driver->applied_index();
      if (applied < r.floor)
        fail("linearizable read: read " + std::to_string(id) + " sent to node " + std::to_string(r.node) + " at t=" +
             std::to_string(r.at) + " ms was served at applied index " + std::to_string(applied) +
             ", but a write had been acknowledged at index " + std::to_string(r.floor) + " before it was sent");
      mix(0x4EAD ^ applied);
    });
  }

  // ---- sessions kept alive ----

  // A ZooKeeper session with a short timeout whose client, pinned to one node, shows a sign of
  // life every 50 ms while that node is up (Node::touch_session, as a ping does).
  void keep_session() {
    SimNode& n = node(1 + ks_.below(nodes_.size()));
    if (!n.up()) return;
    state::Command cmd;
    cmd.kind = state::CommandKind::kCreateSession;
    cmd.session = state::SessionId(0x300000 + kept_.size());
    cmd.timeout_ms = int32_t(ks_.between(300, 800));
    cmd.password = "kept";
    Kept& k = kept_[cmd.session];
    k.node = n.id;
    k.timeout_ms = cmd.timeout_ms;
    state::SessionId id = cmd.session;
    n.proposals->propose(std::move(cmd), [this, id](const state::ApplyResult& r) {
      if (r.code == state::Code::kOk) kept_[id].created = true;
    });
  }

  // Each ms: the clients' touches, and whether each recent touch had a healthy path to the leader
  // for as long as the relay takes: its node and the leader it follows up all along (the same
  // runs), that node following that leader (or being it) all along, their link never cut.
  void keep_alive() {
    const uint64_t now = w_.clock.now();
    for (auto& [id, k] : kept_) {
      for (auto& t : k.touches) {
        if (!t.healthy || now > t.at + relay_window()) continue;
        SimNode& n = node(t.node);
        SimNode& l = node(t.leader);
        if (n.incarnation != t.node_inc || l.incarnation != t.leader_inc || blocked(t.node, t.leader) ||
            l.driver->core().role() != raft::Role::kLeader ||
            (t.node != t.leader && n.driver->core().leader() != t.leader))
          t.healthy = false;
      }
      SimNode& n = node(k.node);
      if (!k.created || !n.up() || now < k.last_touch + 50) continue;
      k.last_touch = now;
      n.liveness->touch(id);
      NodeId l = n.driver->core().role() == raft::Role::kLeader ? n.id : NodeId(n.driver->core().leader());
      if (l == 0 || !node(l).up() || node(l).driver->core().role() != raft::Role::kLeader || blocked(n.id, l)) continue;
      k.touches.push_back(Touch{now, n.id, n.incarnation, l, node(l).incarnation, true});
      if (k.touches.size() > 64) k.touches.erase(k.touches.begin());
    }
  }
  uint64_t relay_window() const { return kRelayMs + 20 + max_delay_; }

  // The leader `l` decided that session `id` expired. No session expires within its timeout of
  // its leader's election (a new leader restarts every session's clock). A kept session must not
  // expire while a touch that had a healthy path to this leader, leading since before it, is
  // younger than its timeout.
  void expiring(SimNode& l, state::SessionId id) {
    const uint64_t now = w_.clock.now();
    if (const state::SessionInfo* info = l.tree.session(id); info && info->liveness_ms() > 0 &&
                                                             now < l.leader_since + uint64_t(info->liveness_ms()))
      fail("session expiry: leader " + std::to_string(l.id) + " expired session " + std::to_string(id) + " at t=" +
           std::to_string(now) + " ms, within its " + std::to_string(info->liveness_ms()) +
           " ms of becoming leader at t=" + std::to_string(l.leader_since) + " ms");
    auto it = kept_.find(id);
    if (it == kept_.end()) return;
    ++kept_expired_;
    for (const auto& t : it->second.touches)
      if (t.healthy && t.leader == l.id && t.leader_inc == l.incarnation && t.at >= l.leader_since &&
          t.at + relay_window() < now && now < t.at + uint64_t(it->second.timeout_ms))
        fail("session expiry: leader " + std::to_string(l.id) + " expired session " + std::to_string(id) +
             " (timeout " + std::to_string(it->second.timeout_ms) + " ms) at t=" + std::to_string(now) +
             " ms, but its client touched it on node " + std::to_string(t.node) + " at t=" + std::to_string(t.at) +
             " ms with the way to this leader open");
    mix(0xE7 ^ id);
  }

  // Every read made on an incarnation still alive was answered, one way or the other.
  void check_reads() {
    for (const auto& [id, r] : reads_)
      if (r.answers == 0 && w_.live.count(r.incarnation))
        fail("read " + std::to_string(id) + " made on node " + std::to_string(r.node) + " at t=" + std::to_string(r.at) +
             " ms, which is still up, was never answered\n" + dump());
  }

  // After the run: every answer's result is the committed history's at its index; each client's
  // answered writes took effect in the order it sent them (ZooKeeper's FIFO client order); every
  // proposal made on a node that is still up was answered.
  void check_answers() {
    for (const auto& [id, p] : proposed_) {
      if (p.index == 0) continue;
      auto c = ref_code_.find(p.index);
      if (c == ref_code_.end()) fail("proposal " + std::to_string(id) + " answered at index " + std::to_string(p.index) + " beyond the committed history");
      if (c->second != p.code)
        fail("proposal " + std::to_string(id) + " was answered with code " + std::to_string(int(p.code)) +
             ", but its entry at index " + std::to_string(p.index) + " gives " + std::to_string(int(c->second)));
    }
    for (const auto& [client, ids] : client_answers_)
      for (size_t i = 1; i < ids.size(); ++i)
        if (ids[i] < ids[i - 1] || proposed_[ids[i]].index <= proposed_[ids[i - 1]].index)
          fail("client order: proposals " + std::to_string(ids[i - 1]) + " and " + std::to_string(ids[i]) +
               " of one client took effect at indexes " + std::to_string(proposed_[ids[i - 1]].index) + " and " +
               std::to_string(proposed_[ids[i]].index));
    for (const auto& [id, p] : proposed_)
      if (p.answers == 0 && w_.live.count(p.incarnation))
        fail("proposal " + std::to_string(id) + " (" + p.key + ") made on node " + std::to_string(p.node) +
             (p.via_leader ? " (the leader)" : " (a follower)") + " at t=" + std::to_string(p.at) +
             " ms, which is still up, was never answered\n" + dump());
  }

  // ---- phases ----

  // Runs events until `until` (simulated ms), with the simulation's own turn `each_ms` once per
  // millisecond between them; stops early once `each_ms` returns false.
  void run_until(uint64_t until, const std::function<bool()>& each_ms) {
    uint64_t next_ms = w_.clock.now() + 1;
    while (true) {
      if (w_.clock.empty() || w_.clock.next_at() >= next_ms) {
        if (next_ms > until) return;
        w_.clock.pop_to(next_ms);
        ++next_ms;
        if (!each_ms()) return;
        continue;
      }
      Event e = w_.clock.pop();
      if (e.incarnation && !w_.live.count(e.incarnation)) continue;
      e.fn();
      if (++steps_ > 1'000'000) fail("the simulation does not settle (over 1M events)");
    }
  }

  void faulty_phase() {
    run_until(opt_.ms, [this] {
      auto& r = w_.rng;
      if (r.chance(write_p_)) write();
      if (read_p_ > 0 && rd_.chance(read_p_)) read();
      if (keep_p_ > 0) {
        if (kept_.size() < 4 && ks_.chance(keep_p_)) keep_session();
        keep_alive();
      }
      if (partition_p_ > 0 && r.chance(partition_p_)) {
        cut_.clear();
        if (r.chance(0.7)) {
          NodeId a = 1 + r.below(n_);
          for (int i = 1; i <= n_; ++i)
            if (NodeId(i) != a && r.chance(0.7)) cut_.insert({a, NodeId(i)});
        }
      }
      for (auto& n : nodes_)
        if (!n->up() && r.chance(0.01)) start(*n);
      if (crash_p_ > 0 && r.chance(crash_p_)) stop(node(1 + r.below(nodes_.size())), r.chance(0.7));
      // A power cut of the leader while its WAL has batches in flight.
      if (crash_p_ > 0 && r.chance(crash_p_)) {
        if (SimNode* l = leader()) stop(*l, true);
      }
      if (r.chance(0.001)) {
        if (SimNode* l = leader()) (void)l->driver->core().transfer_leadership(1 + r.below(n_));
      }
      if (change_p_ > 0 && m_.chance(change_p_)) change_membership();
      return true;
    });
  }

  void healed_phase() {
    healed_ = true;
    cut_.clear();
    for (auto& n : nodes_)
      if (!n->up()) start(*n);
    // Within 20 s of simulated time: a leader, and a fresh write applied on every node along with
    // everything acknowledged.
    std::optional<std::string> probe;
    uint64_t probe_at = 0;
    bool done = false;
    uint64_t deadline = w_.clock.now() + 20000;
    run_until(deadline, [&] {
      if (!probe || w_.clock.now() - probe_at > 500) {
        auto k = write();
        if (k && (*k)[0] == '/') {
          probe = k;
          probe_at = w_.clock.now();
        }
      }
      if (probe && all_voters() && everywhere(*probe) && all_acknowledged_everywhere()) done = true;
      return !done;
    });
    if (!done) fail("liveness: no write committed on every node (all voters) within 20 s of healing\n" + dump());
    // Forwards still unanswered time out on the proposer's clock.
    run_until(w_.clock.now() + kForwardTimeoutMs + 100, [] { return true; });
    check_answers();
    check_reads();
    for (const auto& [key, index] : acknowledged_) {
      if (key[0] != '/') continue;
      for (auto& n : nodes_)
        if (!n->tree.find(key))
          fail("durability: node " + std::to_string(n->id) + " lacks " + key + ", acknowledged at index " +
               std::to_string(index));
    }
    for (auto& n : nodes_) {
      check_tree(*n, n->driver->applied_index(), "at the end, at");
      check_conf(*n);
    }
    if (opt_.verbose) {
      uint64_t written = 0, installed = 0, fsyncs = 0;
      for (auto& n : nodes_) {
        written += n->driver->stats().snapshots_written;
        installed += n->driver->stats().snapshots_installed;
        fsyncs += n->driver->wal().stats().fsyncs;
      }
      std::printf("%zu writes proposed, %zu acknowledged, %zu entries committed, %" PRIu64 " restarts, %zu terms; "
                  "this incarnation: %" PRIu64 " snapshots written, %" PRIu64 " installed, %" PRIu64 " fsyncs; %" PRIu64 " events\n%s",
                  proposed_.size(), acknowledged_.size(), global_.size(), incarnations_ - n_, leaders_.size(), written,
                  installed, fsyncs, steps_, dump().c_str());
      std::printf("membership: %" PRIu64 " changes proposed, %" PRIu64 " committed (with the healing ones)\n",
                  changes_proposed_, conf_changes_);
      size_t forwarded = 0, answered_ok = 0;
      for (const auto& [id, p] : proposed_) answered_ok += p.index != 0;
      for (const auto& [id, p] : proposed_) forwarded += p.answers == 0;
      std::printf("answers: %zu with an index, %" PRIu64 " outcome unknown, %zu never (their node crashed)\n",
                  answered_ok, answers_unknown_, forwarded);
      std::printf("reads: %" PRIu64 " made, %" PRIu64 " served\n", reads_made_, reads_ok_);
      std::printf("kept sessions: %zu, %" PRIu64 " expiries decided\n", kept_.size(), kept_expired_);
      std::printf("proposals by kind (0-9 KV set, 10 zk session, 11 ephemeral, 12 close, 13 multi, 14 delete, "
                  "15 consul session, 16 lock, 17 unlock, 18 register, 19 deregister):");
      for (const auto& [k, c] : kinds_) std::printf(" %" PRIu64 ":%" PRIu64, k, c);
      std::printf("\n");
      const state::DataTree& t = nodes_[0]->tree;
      size_t held = 0;
      for (const auto& [id, info] : t.sessions()) held += info.held.size() + info.ephemerals.size();
      std::printf("committed commands: %" PRIu64 " applied ok, %" PRIu64 " refused; node 1 at the end: %zu znodes, "
                  "%zu sessions holding %zu locks and ephemerals, %zu catalog checks\n",
                  ref_ok_, ref_refused_, t.node_count(), t.sessions().size(), held, t.catalog().check_count());
    }
  }

  bool everywhere(const std::string& key) {
    for (auto& n : nodes_)
      if (!n->up() || !n->tree.find(key)) return false;
    return true;
  }
  bool all_acknowledged_everywhere() {
    for (const auto& [key, index] : acknowledged_)
      for (auto& n : nodes_)
        if (n->driver->applied_index() < index) return false;
    return true;
  }

  std::string dump() {
    std::string out;
    for (auto& n : nodes_) {
      if (!n->up()) {
        out += "  node " + std::to_string(n->id) + " down\n";
        continue;
      }
      const auto& c = n->driver->core();
      char buf[240];
      std::snprintf(buf, sizeof buf, "  node %llu %s term=%llu leader=%llu commit=%llu applied=%llu last=%llu voters",
                    (unsigned long long)n->id, raft::role_name(c.role()), (unsigned long long)c.term(),
                    (unsigned long long)c.leader(), (unsigned long long)c.commit_index(),
                    (unsigned long long)n->driver->applied_index(), (unsigned long long)c.last_index());
      out += buf;
      for (NodeId v : c.conf().voters) out += " " + std::to_string(v);
      if (!c.conf().learners.empty()) out += " learners";
      for (NodeId v : c.conf().learners) out += " " + std::to_string(v);
      out += "\n";
    }
    return out;
  }

  struct Touch {
    uint64_t at;
    NodeId node;
    uint64_t node_inc;
    NodeId leader;
    uint64_t leader_inc;
    bool healthy;  // the way from the node to the leader stayed open for the relay window
  };
  struct Kept {
    NodeId node = 0;
    int32_t timeout_ms = 0;
    bool created = false;
    uint64_t last_touch = 0;
    std::vector<Touch> touches;  // the most recent ones
  };
  struct ReadMade {
    NodeId node = 0;
    uint64_t incarnation = 0;
    uint64_t at = 0;
    Index floor = 0;  // the highest index a client was answered with when the read was sent
    int answers = 0;
  };
  struct Proposal {
    std::string key;  // "/u/N" for a key of its own, "#N" for another write
    uint64_t incarnation = 0;  // of the node the client asked
    NodeId node = 0;
    uint64_t at = 0;  // when
    bool via_leader = false;
    std::pair<uint64_t, uint64_t> client;  // (that incarnation, which of its clients)
    Bytes command;  // as the client built it (no origin, no leader time)
    int answers = 0;
    Index index = 0;  // the index its answer named
    state::Code code = state::Code::kOk;
  };
  static constexpr int64_t kForwardTimeoutMs = 2000;

  enum class Spare { kNone, kLearner, kOutsider };

  Options opt_;
  World w_;
  Rng m_{0};  // membership draws
  double change_p_ = 0;
  Spare spare_ = Spare::kNone;
  uint64_t changes_proposed_ = 0, conf_changes_ = 0;
  std::map<Index, raft::ConfState> ref_conf_;  // the committed history's configuration, from each change on
  int n_ = 3;
  double drop_ = 0, dup_ = 0, crash_p_ = 0, partition_p_ = 0, write_p_ = 0.5;
  uint64_t max_delay_ = 1, snapshot_every_ = 100000, slice_nodes_ = 0;
  bool healed_ = false;
  uint64_t incarnations_ = 0;
  uint64_t origins_ = 0;
  uint64_t steps_ = 0;
  uint32_t trace_ = 0;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::map<raft::Term, NodeId> leaders_;
  std::map<Index, raft::Entry> global_;  // every applied entry, by index
  state::DataTree ref_;
  Index ref_index_ = 0;
  std::map<Index, uint64_t> ref_digest_;
  std::map<uint64_t, Proposal> proposed_;
  std::vector<state::SessionId> zk_sessions_, consul_sessions_;  // proposed (maybe never committed)
  std::map<uint64_t, uint64_t> kinds_;  // write kind -> proposals
  uint64_t ref_ok_ = 0, ref_refused_ = 0;
  std::map<std::string, Index> acknowledged_;
  std::map<Index, state::Code> ref_code_;  // the committed history's result at each command's index
  std::map<std::pair<uint64_t, uint64_t>, std::vector<uint64_t>> client_answers_;  // answered proposals in answer order
  std::map<std::pair<NodeId, NodeId>, uint64_t> link_next_;  // when a link's last payload arrives
  uint64_t answers_unknown_ = 0;
  Index acked_high_ = 0;
  std::map<uint64_t, ReadMade> reads_;
  uint64_t reads_made_ = 0, reads_ok_ = 0;
  Rng rd_{0};  // the reads' own draws: a seed's other draws do not depend on them
  double read_p_ = 0;
  Rng ks_{0};  // the kept sessions' own draws
  double keep_p_ = 0;
  std::map<state::SessionId, Kept> kept_;
  uint64_t kept_expired_ = 0;
  static constexpr int64_t kRelayMs = 50;
};

}  // namespace

int main(int argc, char** argv) {
  uint64_t first = 1, count = 200;
  int max_failures = 5;
  Options o;
  bool single = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> uint64_t { return i + 1 < argc ? std::strtoull(argv[++i], nullptr, 10) : 0; };
    if (a == "--seeds") count = val();
    else if (a == "--first-seed") first = val();
    else if (a == "--seed") { first = val(); count = 1; single = true; }
    else if (a == "--ms") o.ms = val();
    else if (a == "--max-failures") max_failures = int(val());
    else if (a == "--verbose") o.verbose = true;
    else {
      std::fprintf(stderr, "usage: %s [--seeds N] [--first-seed S] [--seed S] [--ms T] [--max-failures K] [--verbose]\n",
                   argv[0]);
      return 2;
    }
  }
  log::set_level(o.verbose ? log::Level::kInfo : log::Level::kError);
  int failures = 0;
  uint32_t combined = 0;
  for (uint64_t s = first; s < first + count; ++s) {
    o.seed = s;
    uint32_t hash = 0;
    std::string err;
    {
      Sim sim(o);
      err = sim.run(&hash);
    }
    if (!err.empty()) {
      ++failures;
      std::printf("FAIL %s\n  replay: %s --seed %" PRIu64 " --ms %" PRIu64 " --verbose\n", err.c_str(), argv[0], s, o.ms);
      if (failures >= max_failures) break;
    }
    combined = crc32c(std::string_view(reinterpret_cast<const char*>(&hash), 4), combined);
    if (single) std::printf("seed %" PRIu64 ": %s, trace hash %08x\n", s, err.empty() ? "ok" : "FAILED", hash);
  }
  std::printf("%" PRIu64 " seeds from %" PRIu64 ": %d failed; combined trace hash %08x\n", count, first, failures, combined);
  return failures == 0 ? 0 : 1;
}
