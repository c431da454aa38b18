// The ZooKeeper front-end driven through a fake stream and a fake node: no sockets, no disk,
// and the test decides when proposed commands become durable and are applied.
#include <gtest/gtest.h>

#include <deque>

#include "zk/connection.h"
#include "server/session_tracker.h"
#include "zk/server.h"

using namespace conclave;
using namespace conclave::zk;

namespace {

class FakeStream : public net::Stream {
 public:
  void send(std::string bytes) override { out += bytes; }
  void close() override { closed = true; }
  const std::string& remote_address() const override { return addr; }
  uint16_t remote_port() const override { return 5000; }
  uint16_t local_port() const override { return 2181; }

  // Splits `out` into frames (length-prefixed), consuming them.
  std::vector<std::string> frames() {
    std::vector<std::string> f;
    while (out.size() >= 4) {
      Reader r(out);
      auto len = static_cast<size_t>(r.i32());
      if (out.size() < 4 + len) break;
      f.push_back(out.substr(4, len));
      out.erase(0, 4 + len);
    }
    return f;
  }
  std::string out;
  bool closed = false;
  std::string addr = "127.0.0.1";
};

class FakeBackend : public Backend {
 public:
  const state::DataTree& tree() const override { return tree_; }
  void propose(state::Command cmd, Done done) override { pending.push_back({std::move(cmd), std::move(done)}); }
  int64_t wall_ms() override { return 1000; }
  int64_t monotonic_ms() override { return now; }
  state::SessionId next_session_id() override { return ++sid; }
  std::string random_bytes(size_t n) override { return std::string(n, 'p'); }
  NodeInfo info() override { return {}; }
  void touch_session(state::SessionId id) override { sessions.touch(id, tree_, now); }
  void session_closing(state::SessionId id) override { sessions.closing(id); }

  // What the node does every few hundred milliseconds on the leader: expire silent sessions.
  void expire(ZkServer& zk) {
    for (auto id : sessions.expired(tree_, now)) {
      zk.on_session_expiring(id);
      state::Command cmd;
      cmd.kind = state::CommandKind::kCloseSession;
      cmd.session = id;
      propose(std::move(cmd), nullptr);
    }
  }

  // Applies everything proposed so far, in order, like the node does after a group commit.
  void commit_all(ZkServer& zk) {
    while (!pending.empty()) {
      auto p = std::move(pending.front());
      pending.pop_front();
      auto r = tree_.apply(++index, p.first);
      zk.on_applied(p.first, r);
      if (p.second) p.second(r);
    }
  }
  state::DataTree tree_;
  std::deque<std::pair<state::Command, Done>> pending;
  int64_t index = 0;
  int64_t now = 0;
  state::SessionId sid = 0x100;
  server::SessionTracker sessions;
};

Bytes frame(const std::function<void(Writer&)>& body) {
  Bytes b;
  Writer w(b);
  w.u32(0);
  body(w);
  finish_frame(b, 0);
  return b;
}

Bytes connect_frame(int64_t session = 0, const std::string& pw = std::string(16, '\0')) {
  return frame([&](Writer& w) {
    w.i32(0);
    w.i64(0);
    w.i32(10000);
    w.i64(session);
    w.blob(pw);
    w.boolean(false);
  });
}

struct Reply {
  int32_t xid;
  int64_t zxid;
  int32_t err;
  std::string body;
};
Reply parse(const std::string& f) {
  Reader r(f);
  Reply rep{r.i32(), r.i64(), r.i32(), ""};
  rep.body = std::string(r.rest());
  return rep;
}

class ZkFrontendTest : public ::testing::Test {
 protected:
  ZkFrontendTest() : zk(backend, ZkOptions{}) {}

  std::unique_ptr<net::StreamHandler> open(FakeStream& s) {
    auto h = zk.accept(s);
    h->on_data(connect_frame());
    backend.commit_all(zk);
    auto f = s.frames();
    EXPECT_EQ(f.size(), 1u);
    return h;
  }

  FakeBackend backend;
  ZkServer zk;
};

Bytes create_req(int32_t xid, const std::string& path, const std::string& data, int32_t flags = 0) {
  return frame([&](Writer& w) {
    w.i32(xid);
    w.i32(op::kCreate);
    w.blob(path);
    w.blob(data);
    w.i32(1);
    w.i32(31);
    w.blob("world");
    w.blob("anyone");
    w.i32(flags);
  });
}
Bytes get_data_req(int32_t xid, const std::string& path, bool watch) {
  return frame([&](Writer& w) {
    w.i32(xid);
    w.i32(op::kGetData);
    w.blob(path);
    w.boolean(watch);
  });
}

}  // namespace

TEST_F(ZkFrontendTest, HandshakeCreatesSession) {
  FakeStream s;
  auto h = zk.accept(s);
  h->on_data(connect_frame());
  EXPECT_TRUE(s.out.empty()) << "no reply before the session is committed";
  backend.commit_all(zk);
  auto f = s.frames();
  ASSERT_EQ(f.size(), 1u);
  Reader r(f[0]);
  EXPECT_EQ(r.i32(), 0);
  EXPECT_EQ(r.i32(), 10000);
  EXPECT_EQ(r.i64(), 0x101);
  EXPECT_NE(backend.tree().session(0x101), nullptr);
}

TEST_F(ZkFrontendTest, ReattachWithWrongPasswordIsRefused) {
  FakeStream s1;
  auto h1 = open(s1);
  FakeStream s2;
  auto h2 = zk.accept(s2);
  h2->on_data(connect_frame(0x101, std::string(16, 'x')));
  auto f = s2.frames();
  ASSERT_EQ(f.size(), 1u);
  Reader r(f[0]);
  r.i32();
  EXPECT_EQ(r.i32(), 0);  // timeout 0
  EXPECT_EQ(r.i64(), 0);  // session 0
  EXPECT_TRUE(s2.closed);
  // The right password moves the session and closes the old connection.
  FakeStream s3;
  auto h3 = zk.accept(s3);
  h3->on_data(connect_frame(0x101, std::string(16, 'p')));
  ASSERT_EQ(s3.frames().size(), 1u);
  EXPECT_FALSE(s3.closed);
  EXPECT_TRUE(s1.closed);
}

TEST_F(ZkFrontendTest, ReadWaitsForEarlierWriteOfSameSession) {
  FakeStream s;
  auto h = open(s);
  h->on_data(create_req(1, "/a", "v1") + get_data_req(2, "/a", false));
  EXPECT_TRUE(s.frames().empty()) << "the read must wait for the create";
  backend.commit_all(zk);
  auto f = s.frames();
  ASSERT_EQ(f.size(), 2u);
  auto r1 = parse(f[0]);
  auto r2 = parse(f[1]);
  EXPECT_EQ(r1.xid, 1);
  EXPECT_EQ(r1.err, 0);
  EXPECT_EQ(r2.xid, 2);
  EXPECT_EQ(r2.err, 0);
  Reader body(r2.body);
  EXPECT_EQ(body.blob(), "v1");
}

TEST_F(ZkFrontendTest, WatchEventPrecedesTheReplyThatFollowsIt) {
  FakeStream s;
  auto h = open(s);
  h->on_data(create_req(1, "/w", "x"));
  backend.commit_all(zk);
  s.frames();
  h->on_data(get_data_req(2, "/w", true));
  s.frames();
  h->on_data(frame([](Writer& w) {
    w.i32(3);
    w.i32(op::kSetData);
    w.blob("/w");
    w.blob("y");
    w.i32(-1);
  }));
  backend.commit_all(zk);
  auto f = s.frames();
  ASSERT_EQ(f.size(), 2u);
  auto ev = parse(f[0]);
  EXPECT_EQ(ev.xid, -1);
  Reader e(ev.body);
  EXPECT_EQ(e.i32(), static_cast<int32_t>(state::EventType::kNodeDataChanged));
  EXPECT_EQ(e.i32(), 3);
  EXPECT_EQ(e.blob(), "/w");
  EXPECT_EQ(parse(f[1]).xid, 3);
}

TEST_F(ZkFrontendTest, OversizedFrameClosesOnlyThatConnection) {
  FakeStream good;
  auto hg = open(good);
  FakeStream bad;
  auto hb = open(bad);
  Bytes huge;
  Writer(huge).i32(64 << 20);
  hb->on_data(huge);
  EXPECT_TRUE(bad.closed);
  EXPECT_EQ(zk.counters().malformed_frames, 1u);
  hg->on_data(create_req(1, "/still-fine", ""));
  backend.commit_all(zk);
  auto f = good.frames();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(parse(f[0]).err, 0);
}

TEST_F(ZkFrontendTest, TruncatedBodyGetsMarshallingErrorAndKeepsTheConnection) {
  // ZooKeeper answers an undecodable request body with MARSHALLINGERROR and carries on; only a bad
  // frame (length) closes the connection.
  FakeStream s;
  auto h = open(s);
  h->on_data(frame([](Writer& w) {
    w.i32(1);
    w.i32(op::kCreate);
    w.i32(1000);  // path length beyond the frame
  }));
  EXPECT_FALSE(s.closed);
  EXPECT_TRUE(backend.pending.empty()) << "nothing is proposed from a body that did not decode";
  auto f = s.frames();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(parse(f[0]).err, static_cast<int32_t>(state::Code::kMarshallingError));
  h->on_data(create_req(2, "/next", ""));
  backend.commit_all(zk);
  f = s.frames();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(parse(f[0]).err, 0);
}

TEST_F(ZkFrontendTest, UnknownOpcodeGetsUnimplementedAndClose) {
  FakeStream s;
  auto h = open(s);
  h->on_data(frame([](Writer& w) {
    w.i32(9);
    w.i32(999);
  }));
  auto f = s.frames();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(parse(f[0]).err, static_cast<int32_t>(state::Code::kUnimplemented));
  EXPECT_TRUE(s.closed);
}

TEST_F(ZkFrontendTest, FourLetterWordsAndWhitelist) {
  FakeStream s;
  auto h = zk.accept(s);
  h->on_data("srvr");
  EXPECT_NE(s.out.find("Mode: standalone"), std::string::npos);
  EXPECT_TRUE(s.closed);
  FakeStream s2;
  auto h2 = zk.accept(s2);
  h2->on_data("ruok");
  EXPECT_EQ(s2.out, "ruok is not executed because it is not in the whitelist.\n");
}

TEST_F(ZkFrontendTest, SilentSessionExpiresAndEphemeralsGo) {
  FakeStream s;
  auto h = open(s);
  h->on_data(create_req(1, "/eph", "", 1));
  backend.commit_all(zk);
  ASSERT_NE(backend.tree().find("/eph"), nullptr);
  backend.sessions.set_leader(true, backend.tree(), backend.now);
  backend.now += 5000;
  backend.expire(zk);
  EXPECT_TRUE(backend.pending.empty()) << "not expired yet";
  backend.now += 6000;
  backend.expire(zk);
  backend.commit_all(zk);
  EXPECT_EQ(backend.tree().find("/eph"), nullptr);
  EXPECT_EQ(backend.tree().session(0x101), nullptr);
  EXPECT_TRUE(s.closed);
}

namespace {

// A request answered with ConnectionLoss closes the connection while its session lives on; the
// server must forget that connection as the session's owner, or a later expiry or close of the
// session reaches a freed connection (found by the fault runner: a crash after a leader change).
TEST_F(ZkFrontendTest, ConnectionClosedAfterConnectionLossIsNoLongerTheSessionOwner) {
  FakeStream s;
  auto h = open(s);
  const state::SessionId sid = backend.sid;
  ASSERT_NE(zk.connection_for_session(sid), nullptr);
  h->on_data(create_req(1, "/lost", "x"));
  ASSERT_EQ(backend.pending.size(), 1u);
  auto p = std::move(backend.pending.front());
  backend.pending.pop_front();
  state::ApplyResult lost;
  lost.code = state::Code::kConnectionLoss;
  p.second(lost);  // the outcome of the create is unknown: reply, then close
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(zk.connection_for_session(sid), nullptr);
  h.reset();  // the stream drops its handler
  zk.on_session_expiring(sid);  // must not reach the freed connection
  state::Command close;
  close.kind = state::CommandKind::kCloseSession;
  close.session = sid;
  zk.on_applied(close, backend.tree_.apply(++backend.index, close));
  EXPECT_EQ(zk.connection_for_session(sid), nullptr);
}

}  // namespace
