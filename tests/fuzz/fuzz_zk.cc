// ZooKeeper client frames in connection-state order: a valid ConnectRequest opens a session, then
// the input is the rest of the byte stream (length-prefixed frames of any opcode, truncated or
// oversized ones included), delivered in chunks, with proposals applied between chunks. Whatever
// arrives, the front-end answers or closes the connection, and the tree stays consistent.
#include <cstdint>
#include <deque>
#include <string>

#include "common/assert.h"
#include "server/session_tracker.h"
#include "zk/connection.h"
#include "zk/protocol.h"
#include "zk/server.h"

using namespace conclave;

namespace {

class NullStream : public net::Stream {
 public:
  void send(std::string bytes) override { sent += bytes.size(); }
  void close() override { closed = true; }
  const std::string& remote_address() const override { return addr; }
  uint16_t remote_port() const override { return 5000; }
  uint16_t local_port() const override { return 2181; }
  size_t sent = 0;
  bool closed = false;
  std::string addr = "127.0.0.1";
};

class MemoryBackend : public zk::Backend {
 public:
  const state::DataTree& tree() const override { return tree_; }
  void propose(state::Command cmd, Done done) override { pending.push_back({std::move(cmd), std::move(done)}); }
  int64_t wall_ms() override { return 1000 + index; }
  int64_t monotonic_ms() override { return index; }
  state::SessionId next_session_id() override { return ++sid; }
  std::string random_bytes(size_t n) override { return std::string(n, 'p'); }
  zk::NodeInfo info() override { return {}; }
  void apply_all(zk::ZkServer& zk) {
    while (!pending.empty()) {
      auto p = std::move(pending.front());
      pending.pop_front();
      p.first.time_ms = wall_ms();
      auto r = tree_.apply(++index, p.first);
      zk.on_applied(p.first, r);
      if (p.second) p.second(r);
    }
  }
  state::DataTree tree_;
  std::deque<std::pair<state::Command, Done>> pending;
  int64_t index = 0;
  state::SessionId sid = 0x100;
};

std::string connect_frame() {
  Bytes b;
  Writer w(b);
  w.u32(0);
  w.i32(0);       // protocol version
  w.i64(0);       // last zxid seen
  w.i32(10000);   // timeout
  w.i64(0);       // session id
  w.blob(std::string(16, '\0'));
  w.boolean(false);
  zk::finish_frame(b, 0);
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryBackend backend;
  zk::ZkOptions opts;
  opts.max_frame_bytes = 64 * 1024;
  opts.reconfig_enabled = true;  // reach the reconfig parser
  zk::ZkServer zk(backend, opts);
  NullStream stream;
  auto handler = zk.accept(stream);
  handler->on_data(connect_frame());
  backend.apply_all(zk);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Chunk sizes come from the input's first byte, so frames are split across reads too.
  size_t chunk = size ? 1 + data[0] % 64 : 1;
  for (size_t off = size ? 1 : 0; off < in.size() && !stream.closed; off += chunk) {
    handler->on_data(in.substr(off, chunk));
    backend.apply_all(zk);
  }
  handler->on_close();
  handler.reset();
  backend.apply_all(zk);
  Bytes snap;
  backend.tree_.encode_snapshot(snap);
  state::DataTree copy;
  CONCLAVE_ASSERT(copy.decode_snapshot(snap) && copy.digest() == backend.tree_.digest(), "tree stays consistent");
  return 0;
}
