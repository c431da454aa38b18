// The service catalog in the replicated state: register/deregister semantics as Consul's
// catalog endpoints define them, writes only on change, per-table and per-name indexes that never
// go backwards, rollback inside all-or-nothing transactions, session invalidation by lost checks
// and nodes, snapshots, and the command encoding of catalog ops.
#include <gtest/gtest.h>

#include "common/bytes.h"
#include "state/service_mirror.h"
#include "state/tree.h"

using namespace conclave;
using namespace conclave::state;

namespace {

class CatalogTest : public ::testing::Test {
 protected:
  DataTree tree;
  int64_t index = 0;

  ApplyResult run(std::vector<Op> ops, bool multi = true) {
    Command c;
    c.kind = CommandKind::kTxn;
    c.multi = multi;
    c.time_ms = 5000;
    c.ops = std::move(ops);
    return tree.apply(++index, c);
  }
  static CatalogRegisterOp reg(const std::string& node, const std::string& service = "", const std::string& id = "",
                               std::vector<CheckSpec> checks = {}) {
    CatalogRegisterOp op;
    op.node.name = node;
    op.node.address = "10.0.0.1";
    if (!service.empty()) {
      op.has_service = true;
      op.service.name = service;
      op.service.id = id.empty() ? service : id;
      op.service.port = 8080;
    }
    op.checks = std::move(checks);
    return op;
  }
  static CheckSpec check(const std::string& id, const std::string& status, const std::string& service_id = "") {
    CheckSpec c;
    c.id = id;
    c.name = id;
    c.status = status;
    c.service_id = service_id;
    return c;
  }
  const Catalog& cat() const { return tree.catalog(); }
};

TEST_F(CatalogTest, RegisterCreatesNodeServiceAndChecksAndMovesTheirIndexes) {
  auto r = run({reg("n1", "web", "web-1", {check("c1", "passing", "web-1"), check("serfHealth", "passing")})});
  ASSERT_EQ(r.code, Code::kOk);
  const auto* n = cat().node("n1");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->services.size(), 1u);
  EXPECT_EQ(n->checks.size(), 2u);
  EXPECT_EQ(n->create_index, 1);
  EXPECT_EQ(cat().index(Catalog::kNodes), 1);
  EXPECT_EQ(cat().index(Catalog::kServices), 1);
  EXPECT_EQ(cat().index(Catalog::kChecks), 1);
  EXPECT_EQ(cat().index(Catalog::service_key("web")), 1);
  ASSERT_NE(cat().instances("web"), nullptr);
  EXPECT_EQ(*cat().instances("web")->begin(), (Catalog::Instance{"n1", "web-1"}));
  for (const char* k : {"nodes", "services", "checks", "service.web", "node.n1"})
    EXPECT_NE(std::find(r.catalog_changes.begin(), r.catalog_changes.end(), k), r.catalog_changes.end()) << k;
}

TEST_F(CatalogTest, IdenticalRegistrationChangesNothing) {
  run({reg("n1", "web", "", {check("c1", "passing", "web")})});
  auto r = run({reg("n1", "web", "", {check("c1", "passing", "web")})});
  EXPECT_EQ(r.code, Code::kOk);
  EXPECT_TRUE(r.catalog_changes.empty());
  EXPECT_EQ(cat().index(Catalog::kServices), 1);
  EXPECT_EQ(cat().node("n1")->services.at("web").modify_index, 1);
}

TEST_F(CatalogTest, CheckForUnknownServiceIsRefusedAndChangesNothing) {
  auto r = run({reg("n1", "", "", {check("c1", "passing", "nope")})});
  EXPECT_EQ(r.code, Code::kBadArguments);
  EXPECT_EQ(r.results[0].error, "Missing service registration");
  EXPECT_EQ(cat().node("n1"), nullptr);
  // Not all-or-nothing either: validation runs before any change.
  r = run({reg("n1", "", "", {check("c1", "passing", "nope")})}, false);
  EXPECT_EQ(cat().node("n1"), nullptr);
}

TEST_F(CatalogTest, CheckUpdatesWriteOnlyOnChange) {
  run({reg("n1", "web", "", {check("c1", "passing", "web")})});
  CheckUpdateOp same{{{"n1", "c1", "passing", ""}}};
  auto r = run({same});
  EXPECT_TRUE(r.catalog_changes.empty());
  CheckUpdateOp warn{{{"n1", "c1", "warning", "slow"}, {"n1", "missing", "critical", ""}, {"nx", "c1", "passing", ""}}};
  r = run({warn});
  EXPECT_EQ(r.code, Code::kOk);
  EXPECT_EQ(cat().node("n1")->checks.at("c1").spec.status, "warning");
  EXPECT_EQ(cat().node("n1")->checks.at("c1").spec.output, "slow");
  EXPECT_EQ(cat().index(Catalog::service_key("web")), r.zxid);
  EXPECT_EQ(cat().index(Catalog::kChecks), r.zxid);
  EXPECT_EQ(cat().index(Catalog::kServices), 1);  // the services table did not change
  CheckUpdateOp bad{{{"n1", "c1", "bogus", ""}}};
  EXPECT_EQ(run({bad}).code, Code::kBadArguments);
}

TEST_F(CatalogTest, DeregisterServiceNodeAndIndexesNeverGoBackwards) {
  run({reg("n1", "web", "w1", {check("c1", "passing", "w1")})});
  run({reg("n2", "web", "w2")});
  auto r = run({CatalogDeregisterOp{"n1", "w1", ""}});
  EXPECT_EQ(cat().node("n1")->services.size(), 0u);
  EXPECT_EQ(cat().node("n1")->checks.size(), 0u);  // the service's checks go with it
  EXPECT_EQ(cat().instances("web")->size(), 1u);
  r = run({CatalogDeregisterOp{"n2", "", ""}});
  EXPECT_EQ(cat().node("n2"), nullptr);
  EXPECT_EQ(cat().instances("web"), nullptr);
  // The name is gone; its index falls back to the services table's, which moved with it.
  EXPECT_EQ(cat().index(Catalog::service_key("web")), r.zxid);
  EXPECT_EQ(cat().index(Catalog::node_key("n2")), r.zxid);
  // Deregistering what is not there succeeds and changes nothing.
  r = run({CatalogDeregisterOp{"n9", "", ""}});
  EXPECT_EQ(r.code, Code::kOk);
  EXPECT_TRUE(r.catalog_changes.empty());
}

TEST_F(CatalogTest, FailedTransactionRollsBackCatalogChanges) {
  run({reg("n1", "web", "w1")});
  int64_t before = cat().index(Catalog::kServices);
  uint64_t digest = tree.digest();
  KvOp check_missing{KvVerb::kCheckIndex, "/nope", "", 0, 5, 0};
  auto r = run({reg("n1", "api", "a1"), CatalogDeregisterOp{"n1", "w1", ""}, reg("n3", "db"), check_missing});
  EXPECT_NE(r.code, Code::kOk);
  EXPECT_TRUE(r.catalog_changes.empty());
  EXPECT_EQ(cat().index(Catalog::kServices), before);
  EXPECT_EQ(cat().node("n3"), nullptr);
  EXPECT_EQ(cat().instances("api"), nullptr);
  EXPECT_EQ(cat().instances("web")->size(), 1u);
  EXPECT_EQ(tree.digest(), digest);
}

TEST_F(CatalogTest, SessionsAreInvalidatedByCriticalChecksAndRemovedNodes) {
  run({reg("n1", "web", "w1", {check("serfHealth", "passing"), check("svc", "passing", "w1")})});
  auto session = [&](SessionId id, std::vector<std::string> node_checks, std::vector<std::string> service_checks) {
    Command c;
    c.kind = CommandKind::kCreateSession;
    c.session = id;
    c.consul = true;
    c.consul_session.uuid = "u" + std::to_string(id);
    c.consul_session.node = "n1";
    c.consul_session.node_checks = std::move(node_checks);
    c.consul_session.service_checks = std::move(service_checks);
    ASSERT_EQ(tree.apply(++index, c).code, Code::kOk);
  };
  session(1, {"serfHealth"}, {});
  session(2, {}, {"svc"});
  session(3, {}, {});
  KvOp lock{KvVerb::kLock, "/held", "v", 0, 0, 2};
  ASSERT_EQ(run({lock}).code, Code::kOk);
  auto r = run({CheckUpdateOp{{{"n1", "svc", "critical", "down"}}}});
  EXPECT_EQ(tree.session(2), nullptr);
  EXPECT_NE(tree.session(1), nullptr);
  EXPECT_EQ(tree.kv_meta("/held")->session, 0);  // released with it
  bool wakes_key = false;
  for (const auto& t : r.triggers) wakes_key = wakes_key || t.path == "/held";
  EXPECT_TRUE(wakes_key);
  run({CatalogDeregisterOp{"n1", "", ""}});
  EXPECT_EQ(tree.session(1), nullptr);
  EXPECT_EQ(tree.session(3), nullptr);  // every session on a removed node
}

TEST_F(CatalogTest, SnapshotAndCommandEncodingRoundTrip) {
  auto op = reg("n1", "web", "w1", {check("c1", "warning", "w1")});
  op.node.meta = {{"rack", "a"}};
  op.node.tagged_addresses = {{"lan", "10.0.0.1"}};
  op.service.tags = {"v1", "primary"};
  op.service.meta = {{"version", "1"}};
  op.service.tagged_addresses = {{"wan", "1.2.3.4", 80}};
  op.service.weight_passing = 3;
  op.service.enable_tag_override = true;
  op.checks[0].definition = R"({"Interval":"10s","HTTP":"http://x/"})";
  op.checks[0].type = "http";
  Command c;
  c.kind = CommandKind::kTxn;
  c.ops = {op, CatalogDeregisterOp{"n", "s", "c"}, CheckUpdateOp{{{"n", "c", "passing", "ok"}}}};
  Bytes b;
  encode_command(c, b);
  Command back;
  ASSERT_TRUE(decode_command(b, &back));
  ASSERT_EQ(back.ops.size(), 3u);
  const auto& r = std::get<CatalogRegisterOp>(back.ops[0]);
  EXPECT_EQ(r.node, op.node);
  EXPECT_EQ(r.service, op.service);
  EXPECT_EQ(r.checks, op.checks);
  EXPECT_EQ(std::get<CheckUpdateOp>(back.ops[2]).updates[0].output, "ok");

  // Format 4 adds Command::event; format-3 entries (without it) still decode.
  Command ev;
  ev.kind = CommandKind::kUserEvent;
  ev.event = R"({"Name":"deploy"})";
  b.clear();
  encode_command(ev, b);
  ASSERT_TRUE(decode_command(b, &back));
  EXPECT_EQ(back.kind, CommandKind::kUserEvent);
  EXPECT_EQ(back.event, ev.event);
  std::string v3;
  encode_command_as(c, 3, v3);
  ASSERT_TRUE(decode_command(v3, &back));
  EXPECT_EQ(std::get<CatalogRegisterOp>(back.ops[0]).service, op.service);
  EXPECT_EQ(tree.apply(++index, ev).code, Code::kOk);  // changes nothing

  run({op});
  run({reg("n2", "db")});
  Bytes snap;
  tree.encode_snapshot(snap);
  DataTree copy;
  ASSERT_TRUE(copy.decode_snapshot(snap));
  EXPECT_EQ(copy.digest(), tree.digest());
  EXPECT_EQ(copy.catalog().instances("web")->size(), 1u);
  EXPECT_EQ(copy.catalog().node("n1")->services.at("w1").spec, op.service);
  EXPECT_EQ(copy.catalog().index(Catalog::service_key("db")), index);
  // A truncated catalog section is refused.
  EXPECT_FALSE(copy.decode_snapshot(snap.substr(0, snap.size() - 3)));
}

TEST_F(CatalogTest, ConsulInstancesAreMirroredAsCuratorZnodesWhileNotCritical) {
  auto op = reg("n1", "web", "w1", {check("c1", "passing", "w1")});
  op.service.meta = {{"version", "2"}};
  auto r = run({op});
  const Node* z = tree.find("/services/web/w1@n1");
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(tree.is_mirrored("/services/web/w1@n1"));
  auto inst = parse_curator_instance(z->data());
  ASSERT_TRUE(inst.has_value());
  EXPECT_EQ(inst->name, "web");
  EXPECT_EQ(inst->address, "10.0.0.1");
  EXPECT_EQ(inst->port, 8080);
  EXPECT_EQ(inst->meta, (std::vector<KeyValue>{{"version", "2"}}));
  EXPECT_EQ(tree.acl_of(*z).size(), 1u);
  EXPECT_EQ(tree.acl_of(*z)[0].perms, perms::kRead);  // read-only for ZooKeeper clients
  EXPECT_FALSE(tree.is_kv_key(*tree.find("/services/web")));  // parents are implicit
  bool wakes_children = false;
  for (const auto& t : r.triggers) wakes_children = wakes_children || t.path == "/services/web";
  EXPECT_TRUE(wakes_children);
  // The mirror is not imported back as a ZooKeeper-registered instance.
  EXPECT_EQ(tree.catalog().node(std::string(kZooKeeperNode)), nullptr);

  run({CheckUpdateOp{{{"n1", "c1", "critical", "down"}}}});
  EXPECT_EQ(tree.find("/services/web/w1@n1"), nullptr);
  EXPECT_EQ(tree.find("/services/web"), nullptr);  // implicit parents go with their last child
  run({CheckUpdateOp{{{"n1", "c1", "passing", ""}}}});
  EXPECT_NE(tree.find("/services/web/w1@n1"), nullptr);
  run({CatalogDeregisterOp{"n1", "w1", ""}});
  EXPECT_EQ(tree.find("/services/web/w1@n1"), nullptr);
  EXPECT_FALSE(tree.is_mirrored("/services/web/w1@n1"));
}

TEST_F(CatalogTest, ZooKeeperServiceInstancesAreCatalogServicesWhileTheirSessionLives) {
  Command open;
  open.kind = CommandKind::kCreateSession;
  open.session = 0x77;
  open.timeout_ms = 10000;
  ASSERT_EQ(tree.apply(++index, open).code, Code::kOk);
  const std::string json =
      R"({"name":"api","id":"abc","address":"10.9.9.9","port":9000,"sslPort":null,)"
      R"("payload":{"metadata":{"zone":"a"}},"registrationTimeUTC":1,"serviceType":"DYNAMIC","uriSpec":null})";
  Command c;
  c.kind = CommandKind::kTxn;
  c.session = 0x77;
  c.time_ms = 5000;
  c.ops = {CreateOp{"/services", "", false, open_acl_unsafe(), CreateMode::kContainer, -1},
           CreateOp{"/services/api", "", false, open_acl_unsafe(), CreateMode::kContainer, -1},
           CreateOp{"/services/api/abc", json, false, open_acl_unsafe(), CreateMode::kEphemeral, -1}};
  c.multi = true;
  auto r = tree.apply(++index, c);
  ASSERT_EQ(r.code, Code::kOk);
  const auto* zk = tree.catalog().node(std::string(kZooKeeperNode));
  ASSERT_NE(zk, nullptr);
  const auto& s = zk->services.at("abc");
  EXPECT_EQ(s.spec.name, "api");
  EXPECT_EQ(s.spec.address, "10.9.9.9");
  EXPECT_EQ(s.spec.port, 9000);
  EXPECT_EQ(s.spec.meta, (std::vector<KeyValue>{{"zone", "a"}}));
  EXPECT_EQ(zk->checks.at("zookeeper:abc").spec.status, "passing");
  EXPECT_NE(std::find(r.catalog_changes.begin(), r.catalog_changes.end(), "service.api"), r.catalog_changes.end());
  EXPECT_FALSE(tree.is_mirrored("/services/api/abc"));  // not mirrored back

  // Not JSON of a ServiceInstance: not a service.
  Command junk;
  junk.kind = CommandKind::kTxn;
  junk.ops = {SetDataOp{"/services/api/abc", "not json", false, -1}};
  tree.apply(++index, junk);
  EXPECT_EQ(tree.catalog().instances("api"), nullptr);
  junk.ops = {SetDataOp{"/services/api/abc", json, false, -1}};
  tree.apply(++index, junk);
  EXPECT_NE(tree.catalog().instances("api"), nullptr);

  Command close;
  close.kind = CommandKind::kCloseSession;
  close.session = 0x77;
  r = tree.apply(++index, close);
  EXPECT_EQ(tree.catalog().instances("api"), nullptr);
  EXPECT_FALSE(r.catalog_changes.empty());

  Bytes snap;
  tree.encode_snapshot(snap);
  DataTree copy;
  ASSERT_TRUE(copy.decode_snapshot(snap));
  EXPECT_EQ(copy.digest(), tree.digest());
}

TEST_F(CatalogTest, TxnOpsSetCasGetDeleteWithRecords) {
  CatalogTxnOp node_set;
  node_set.target = CatalogTarget::kNode;
  node_set.verb = CatalogVerb::kCas;  // index 0: create only
  node_set.node.name = "t1";
  node_set.node.address = "10.0.0.9";
  auto r = run({node_set});
  ASSERT_EQ(r.code, Code::kOk) << r.results[0].error;
  ASSERT_EQ(r.results[0].catalog.size(), 1u);
  EXPECT_EQ(r.results[0].catalog[0].node.address, "10.0.0.9");
  r = run({node_set});  // exists now: stale
  EXPECT_EQ(r.code, Code::kBadArguments);
  EXPECT_NE(r.results[0].error.find("index is stale"), std::string::npos);
  CatalogTxnOp svc;
  svc.target = CatalogTarget::kService;
  svc.verb = CatalogVerb::kSet;
  svc.node_name = "t1";
  svc.service.id = "s";
  svc.service.name = "svc";
  r = run({svc});
  ASSERT_EQ(r.code, Code::kOk) << r.results[0].error;
  int64_t modify = r.results[0].catalog[0].modify_index;
  EXPECT_NE(tree.find("/services/svc/s@t1"), nullptr);  // mirrored like any registration
  CatalogTxnOp del = svc;
  del.verb = CatalogVerb::kDeleteCas;
  del.index = modify + 1;
  EXPECT_EQ(run({del}).code, Code::kBadArguments);
  del.index = modify;
  EXPECT_EQ(run({del}).code, Code::kOk);
  EXPECT_EQ(tree.catalog().instances("svc"), nullptr);
  CatalogTxnOp get = svc;
  get.verb = CatalogVerb::kGet;
  r = run({get});
  EXPECT_NE(r.results[0].error.find("doesn't exist"), std::string::npos);
  svc.node_name = "nowhere";
  EXPECT_NE(run({svc}).results[0].error.find("doesn't exist"), std::string::npos);
}

}  // namespace
