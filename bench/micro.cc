// Google Benchmark micro-benchmarks of the hot paths: jute decode/encode, tree lookup/insert,
// WAL append with group commit, snapshot encode/decode, and what tracing adds to a request.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "state/tree.h"
#include "storage/wal.h"
#include "trace/tracer.h"
#include "zk/protocol.h"

using namespace conclave;

namespace {

state::Command create_cmd(const std::string& path, size_t value_size) {
  state::Command c;
  c.kind = state::CommandKind::kTxn;
  c.time_ms = 1;
  c.auth = {{"ip", "127.0.0.1"}};
  c.ops.push_back(state::CreateOp{path, std::string(value_size, 'v'), false, state::open_acl_unsafe(),
                                  state::CreateMode::kPersistent, -1});
  return c;
}

void BM_JuteDecodeCreate(benchmark::State& st) {
  Bytes b;
  Writer w(b);
  w.blob("/bench/k/123456");
  w.blob(std::string(100, 'v'));
  w.i32(1);
  w.i32(31);
  w.blob("world");
  w.blob("anyone");
  w.i32(0);
  for (auto _ : st) {
    Reader r(b);
    state::Op op;
    benchmark::DoNotOptimize(zk::decode_write_op(zk::op::kCreate, r, &op));
  }
}
BENCHMARK(BM_JuteDecodeCreate);

void BM_JuteEncodeGetDataReply(benchmark::State& st) {
  state::Stat s{};
  std::string data(100, 'v');
  for (auto _ : st) {
    Bytes out;
    zk::begin_reply(out, 7, 100, 0);
    Writer w(out);
    w.blob(data);
    zk::put_stat(w, s);
    zk::finish_frame(out, 0);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_JuteEncodeGetDataReply);

void BM_TreeCreate(benchmark::State& st) {
  state::DataTree tree;
  tree.apply(1, create_cmd("/k", 0));
  int64_t i = 1;
  for (auto _ : st) {
    ++i;
    benchmark::DoNotOptimize(tree.apply(i, create_cmd("/k/" + std::to_string(i), 100)));
  }
}
BENCHMARK(BM_TreeCreate);

void BM_TreeLookup(benchmark::State& st) {
  state::DataTree tree;
  tree.apply(1, create_cmd("/k", 0));
  const int n = 100000;
  for (int i = 0; i < n; ++i) tree.apply(i + 2, create_cmd("/k/" + std::to_string(i), 100));
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back("/k/" + std::to_string((i * 7919) % n));
  size_t j = 0;
  for (auto _ : st) benchmark::DoNotOptimize(tree.find(keys[j++ & 1023]));
}
BENCHMARK(BM_TreeLookup);

void BM_CommandEncodeDecode(benchmark::State& st) {
  auto c = create_cmd("/bench/k/123456", 100);
  for (auto _ : st) {
    Bytes b;
    state::encode_command(c, b);
    state::Command d;
    benchmark::DoNotOptimize(state::decode_command(b, &d));
  }
}
BENCHMARK(BM_CommandEncodeDecode);

// Appends of 128-byte entries, batch size per group commit as the argument, with fsync.
void BM_WalGroupCommit(benchmark::State& st) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "conclave-bench-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  storage::RecoveredLog log;
  auto wal = storage::Wal::open({dir, 64ull << 20, true}, 0, &log);
  std::atomic<uint64_t> durable{0};
  (*wal)->set_ticket_callback([&](uint64_t t) { durable = t; });
  raft::Index idx = 0;
  const int batch = static_cast<int>(st.range(0));
  for (auto _ : st) {
    uint64_t ticket = 0;
    for (int k = 0; k < batch; ++k)
      ticket = (*wal)->submit(std::nullopt, {raft::Entry{1, ++idx, raft::EntryType::kCommand, std::string(128, 'x')}});
    while (durable.load() < ticket) std::this_thread::yield();
  }
  st.SetItemsProcessed(st.iterations() * batch);
  (*wal)->close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WalGroupCommit)->Arg(1)->Arg(64)->UseRealTime();

// A tree of N znodes of 100 B under one parent, built once per size.
const state::DataTree& tree_of(int n) {
  static std::map<int, std::unique_ptr<state::DataTree>> trees;
  auto& t = trees[n];
  if (!t) {
    t = std::make_unique<state::DataTree>();
    t->apply(1, create_cmd("/k", 0));
    for (int i = 0; i < n; ++i) t->apply(i + 2, create_cmd("/k/" + std::to_string(i), 100));
  }
  return *t;
}

// Into a buffer whose pages are already resident, as the server's (it faults the buffer in
// before the encoding starts).
void BM_SnapshotEncode(benchmark::State& st) {
  const auto& tree = tree_of(static_cast<int>(st.range(0)));
  Bytes b;
  for (auto _ : st) {
    b.clear();
    tree.encode_snapshot(b);
    benchmark::DoNotOptimize(b.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_SnapshotEncode)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_SnapshotDecode(benchmark::State& st) {
  Bytes b;
  tree_of(static_cast<int>(st.range(0))).encode_snapshot(b);
  for (auto _ : st) {
    state::DataTree copy;
    benchmark::DoNotOptimize(copy.decode_snapshot(b));
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_SnapshotDecode)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

// Tracing at the default sampling (1 %, at most 100 per second): what every request pays when it
// is not sampled, the decision. Requests arrive at 100k/s of simulated time, so the token bucket
// is empty most of the time, as under load.
void BM_TraceDecisionDefault(benchmark::State& st) {
  trace::Tracer tracer(trace::TracerOptions{});
  trace::Incoming in;
  int64_t now_ms = 0;
  uint64_t n = 0;
  for (auto _ : st) {
    auto s = tracer.start(in, now_ms);
    benchmark::DoNotOptimize(s);
    if (++n % 100 == 0) ++now_ms;
  }
  st.counters["sampled"] = static_cast<double>(tracer.sampled());
}
BENCHMARK(BM_TraceDecisionDefault);

// A traced ZooKeeper write on one node: its five spans (the request, raft propose, wal fsync,
// apply, notify) made, tagged as the server tags them, finished and stored in a full store.
void BM_TraceWriteSpans(benchmark::State& st) {
  trace::TracerOptions o;
  o.probability = 1;
  o.max_per_second = 1e12;
  o.ip = "127.0.0.1";
  trace::Tracer tracer(o);
  trace::Incoming in;
  int64_t t = 1'700'000'000'000'000;
  uint64_t index = 1000;
  for (auto _ : st) {
    auto req = tracer.start(in, t / 1000);
    req->name = "setdata";
    req->kind = trace::Kind::kServer;
    req->timestamp_us = t;
    req->tags.reserve(128 + 13);
    req->tags.add("zk.op", "setData");
    req->tags.add("zk.xid", 4711);
    req->tags.add_hex("zk.session", 0x1000000abcdef01ull);
    req->tags.add("zk.path", "/bench/k00042");
    req->remote.ip = "127.0.0.1";
    auto propose = tracer.child(*req, "raft propose", trace::Kind::kUnset, t + 1);
    propose.tags.add("raft.index", index);
    propose.tags.add("raft.term", 3);
    auto wal = tracer.child(trace::parent_of(propose), "wal fsync", trace::Kind::kUnset, t + 2);
    wal.tags.add("wal.batch", index / 8);
    wal.tags.add("wal.entries", 8);
    wal.tags.add("raft.index", index);
    tracer.finish(std::move(wal), t + 200);
    auto apply = tracer.child(trace::parent_of(propose), "apply", trace::Kind::kUnset, t + 201);
    apply.tags.add("raft.index", index);
    auto notify = tracer.child(apply, "notify", trace::Kind::kUnset, t + 202);
    notify.tags.add("watch.triggers", 0);
    tracer.finish(std::move(notify), t + 203);
    tracer.finish(std::move(apply), t + 203);
    propose.annotations.add(t + 200, "committed");
    propose.tags.add("result", 0);
    tracer.finish(std::move(propose), t + 204);
    req->tags.add_hex("zk.zxid", index);
    req->tags.add("zk.err", 0);
    tracer.finish(std::move(*req), t + 205);
    t += 10;
    ++index;
  }
  st.counters["spans_per_write"] = 5;
}
BENCHMARK(BM_TraceWriteSpans);

BENCHMARK_MAIN();
