// /zookeeper/config: server specs as ZooKeeper's QuorumServer reads and prints them, reconfig
// requests as PrepRequestProcessor reads them, the tree's rewrite of the znode, and the peer
// wire form of a membership request.
#include <gtest/gtest.h>

#include "server/replica.h"
#include "state/cluster_config.h"
#include "state/command.h"
#include "state/tree.h"
#include "zk/reconfig.h"

using namespace conclave;
using namespace conclave::state;

namespace {

TEST(ServerSpec, ParsesAndPrintsAsZooKeeper) {
  auto s = parse_server_spec("0.0.0.0:1234:2345:observer;0.0.0.0:3456");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "0.0.0.0");
  EXPECT_EQ(s->port, 1234);
  EXPECT_EQ(s->election_port, 2345);
  EXPECT_TRUE(s->observer);
  EXPECT_EQ(s->client_address(), "0.0.0.0:3456");
  EXPECT_EQ(render_server_spec(*s), "0.0.0.0:1234:2345:observer;0.0.0.0:3456");
  // The client host defaults to the wildcard; the role to participant.
  EXPECT_EQ(render_server_spec(*parse_server_spec("h:1:2;3")), "h:1:2:participant;0.0.0.0:3");
  EXPECT_EQ(render_server_spec(*parse_server_spec("h:1:2")), "h:1:2:participant");
  EXPECT_EQ(render_server_spec(*parse_server_spec("[::1]:1:2:participant;[::1]:3")), "[::1]:1:2:participant;[::1]:3");
  for (const char* bad : {"", "h", "h:1", "h:1:x", "h:1:2:leader", "h:1:2;3;4", "h:0:2", "h:1:2;x", "h:1:2:observer:5",
                          ":1:2", "[::1:1:2"})
    EXPECT_FALSE(parse_server_spec(bad)) << bad;
}

TEST(ClusterConfig, RoundTripsInZooKeeperOrder) {
  ClusterConfig c;
  c.servers[3] = *parse_server_spec("h3:3:3;13");
  c.servers[1] = *parse_server_spec("h1:1:1:observer;h1:11");
  c.version = 0x1a;
  std::string text = render_cluster_config(c);
  EXPECT_EQ(text, "server.1=h1:1:1:observer;h1:11\nserver.3=h3:3:3:participant;0.0.0.0:13\nversion=1a");
  auto back = parse_cluster_config(text);
  EXPECT_EQ(back.servers, c.servers);
  EXPECT_EQ(back.version, 0x1a);
  EXPECT_TRUE(parse_cluster_config("").servers.empty());
}

TEST(Reconfig, IncrementalJoinAndLeave) {
  ClusterConfig cur;
  cur.servers[1] = *parse_server_spec("h:1:1;11");
  auto p = zk::parse_reconfig(std::string_view("server.100=0.0.0.0:5:6:observer;0.0.0.0:7"), std::string_view("1, 2"),
                              std::nullopt, -1, cur);
  ASSERT_EQ(p.code, Code::kOk) << p.message;
  ASSERT_EQ(p.request.changes.size(), 3u);
  EXPECT_EQ(p.request.changes[0].kind, server::MemberChangeSpec::Kind::kRemove);
  EXPECT_EQ(p.request.changes[1].id, 2u);
  const auto& join = p.request.changes[2];
  EXPECT_EQ(join.kind, server::MemberChangeSpec::Kind::kAddLearner);
  EXPECT_EQ(join.id, 100u);
  EXPECT_EQ(join.address, "0.0.0.0:5");
  EXPECT_EQ(join.spec, "0.0.0.0:5:6:observer;0.0.0.0:7");
}

TEST(Reconfig, RefusesWhatZooKeeperRefuses) {
  ClusterConfig cur;
  cur.servers[1] = *parse_server_spec("h:1:2;11");
  auto refused = [&](std::optional<std::string_view> j, std::optional<std::string_view> l) {
    return zk::parse_reconfig(j, l, std::nullopt, -1, cur).code == Code::kBadArguments;
  };
  EXPECT_TRUE(refused(std::string_view("some thing"), std::nullopt));
  EXPECT_TRUE(refused(std::string_view("server.2=h:3:4"), std::nullopt));       // no client port
  EXPECT_TRUE(refused(std::string_view("server.2=h:2:5;12"), std::nullopt));    // server 1's election address
  EXPECT_TRUE(refused(std::string_view("server.x=h:3:4;12"), std::nullopt));
  EXPECT_TRUE(refused(std::string_view("server.0=h:3:4;12"), std::nullopt));  // 0 means "nobody" in Raft
  EXPECT_TRUE(refused(std::string_view("server.2=h:3:4;12=5"), std::nullopt));
  EXPECT_TRUE(refused(std::nullopt, std::string_view("one")));
  // The same id may take its own addresses again (a role change).
  EXPECT_FALSE(refused(std::string_view("server.1=h:1:2:observer;11"), std::nullopt));
}

TEST(Reconfig, NonIncrementalRemovesTheMissing) {
  ClusterConfig cur;
  cur.servers[1] = *parse_server_spec("h:1:1;11");
  cur.servers[2] = *parse_server_spec("h:2:2;12");
  auto p = zk::parse_reconfig(std::nullopt, std::nullopt, std::string_view("server.1=h:1:1;11\nserver.3=h:3:3;13"), 7, cur);
  ASSERT_EQ(p.code, Code::kOk) << p.message;
  EXPECT_EQ(p.request.from_version, 7);
  ASSERT_EQ(p.request.changes.size(), 2u);
  EXPECT_EQ(p.request.changes[0].kind, server::MemberChangeSpec::Kind::kRemove);
  EXPECT_EQ(p.request.changes[0].id, 2u);
  EXPECT_EQ(p.request.changes[1].id, 3u);
  EXPECT_EQ(zk::parse_reconfig(std::nullopt, std::nullopt, std::string_view(""), -1, cur).code, Code::kBadArguments);
}

class ConfigTree : public ::testing::Test {
 protected:
  DataTree tree;
  int64_t index = 0;
  ApplyResult member(MemberChange change, uint64_t id, std::string raft, std::string spec = "") {
    Command c;
    c.kind = CommandKind::kMembership;
    c.member = MemberOp{change, id, std::move(raft), std::move(spec)};
    c.time_ms = 5000;
    return tree.apply(++index, c);
  }
  std::string text() const { return std::string(tree.find("/zookeeper/config")->data()); }
};

TEST_F(ConfigTree, MembershipEntriesAndAnnouncementsRewriteTheZnode) {
  EXPECT_EQ(text(), "");
  // A static member announces itself: its line appears, version = the entry's index.
  auto r = member(MemberChange::kAnnounce, 1, "", "127.0.0.1:7001:7001:participant;127.0.0.1:2181");
  EXPECT_EQ(r.code, Code::kOk);
  EXPECT_EQ(text(), "server.1=127.0.0.1:7001:7001:participant;127.0.0.1:2181\nversion=1");
  ASSERT_EQ(r.triggers.size(), 1u);
  EXPECT_EQ(r.triggers[0].path, "/zookeeper/config");
  EXPECT_EQ(r.triggers[0].type, EventType::kNodeDataChanged);
  // Announcing again changes nothing (no new version, no watch).
  r = member(MemberChange::kAnnounce, 1, "", "127.0.0.1:7001:7001:participant;127.0.0.1:2181");
  EXPECT_TRUE(r.triggers.empty());
  EXPECT_EQ(parse_cluster_config(text()).version, 1);
  // A learner added by Raft address only, then announcing its client port.
  member(MemberChange::kAddLearner, 4, "127.0.0.1:7004");
  EXPECT_EQ(parse_cluster_config(text()).servers.at(4), *parse_server_spec("127.0.0.1:7004:7004:observer"));
  member(MemberChange::kAnnounce, 4, "", "127.0.0.1:7004:7004:observer;127.0.0.1:2184");
  EXPECT_EQ(parse_cluster_config(text()).servers.at(4).client_port, 2184);
  // Promotion keeps the addresses, flips the role.
  member(MemberChange::kAddVoter, 4, "127.0.0.1:7004");
  EXPECT_FALSE(parse_cluster_config(text()).servers.at(4).observer);
  // A spec given to reconfig is kept as given.
  member(MemberChange::kAddLearner, 100, "0.0.0.0:5", "0.0.0.0:5:6:observer;0.0.0.0:7");
  EXPECT_NE(text().find("server.100=0.0.0.0:5:6:observer;0.0.0.0:7\n"), std::string::npos);
  member(MemberChange::kRemove, 100, "");
  EXPECT_EQ(text().find("server.100="), std::string::npos);
  EXPECT_EQ(parse_cluster_config(text()).version, index);
  const Node* n = tree.find("/zookeeper/config");
  EXPECT_EQ(n->mzxid, index);
  // An announcement that is not a server spec changes nothing.
  EXPECT_EQ(member(MemberChange::kAnnounce, 9, "", "garbage").code, Code::kBadArguments);
}

TEST(MembershipCommand, EncodesOnlyForItsKind) {
  Command c;
  c.kind = CommandKind::kMembership;
  c.member = MemberOp{MemberChange::kAnnounce, 3, "h:1", "h:1:1;2"};
  Bytes b;
  encode_command(c, b);
  Command back;
  ASSERT_TRUE(decode_command(b, &back));
  EXPECT_EQ(back.member.id, 3u);
  EXPECT_EQ(back.member.spec, "h:1:1;2");
  Command noop;
  Bytes nb, mb;
  encode_command(noop, nb);
  noop.member.spec = "ignored unless kMembership";
  encode_command(noop, mb);
  EXPECT_EQ(nb, mb);
}

TEST(MembershipWire, RequestRoundTripsAndRejectsGarbage) {
  server::MembershipRequest r;
  r.from_version = 42;
  r.authorized = false;
  r.changes.push_back({server::MemberChangeSpec::Kind::kAddLearner, 7, "h:1", "h:1:1:observer;h:2"});
  r.changes.push_back({server::MemberChangeSpec::Kind::kRemove, 2, "", ""});
  server::MembershipRequest back;
  ASSERT_TRUE(server::decode_membership_request(server::encode_membership_request(r), &back));
  EXPECT_EQ(back.from_version, 42);
  EXPECT_FALSE(back.authorized);
  ASSERT_EQ(back.changes.size(), 2u);
  EXPECT_EQ(back.changes[0].spec, "h:1:1:observer;h:2");
  EXPECT_EQ(back.changes[1].kind, server::MemberChangeSpec::Kind::kRemove);
  std::string bytes = server::encode_membership_request(r);
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_FALSE(server::decode_membership_request(bytes.substr(0, cut), &back)) << cut;
  bytes[13] = 9;  // an unknown change kind
  EXPECT_FALSE(server::decode_membership_request(bytes, &back));
}

}  // namespace
