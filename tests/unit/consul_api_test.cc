// Pure parts of the Consul front-end: Go durations, key <-> znode mapping, blocking-query waiters.
#include <gtest/gtest.h>

#include "consul/blocking.h"
#include "consul/key_path.h"
#include "consul/params.h"
#include "consul/registry_json.h"
#include "common/json.h"

using namespace conclave::consul;

TEST(ConsulParams, GoDurations) {
  EXPECT_EQ(parse_duration_ms("15s"), 15000);
  EXPECT_EQ(parse_duration_ms("1m30s"), 90000);
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("1.5h"), 5400000);
  EXPECT_EQ(parse_duration_ms("0"), 0);
  EXPECT_FALSE(parse_duration_ms("15"));
  EXPECT_EQ(parse_duration_ms("15", 1000), 15000);
  for (const char* bad : {"", "s", "10x", "-5s", "1e400s", "forever", "5 s"}) EXPECT_FALSE(parse_duration_ms(bad)) << bad;
  EXPECT_EQ(format_duration(15000), "15s");
  EXPECT_EQ(format_duration(60000), "1m0s");
  EXPECT_EQ(format_duration(86400000), "24h0m0s");
  EXPECT_EQ(format_duration(1500), "1.5s");
  EXPECT_EQ(parse_uint("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_uint("18446744073709551616"));
  EXPECT_FALSE(parse_uint("-1"));
}

TEST(ConsulKeys, MappingAndRefusals) {
  std::string err;
  EXPECT_EQ(key_to_path("app/config", &err), "/app/config");
  EXPECT_EQ(key_to_path("app/", &err), "/app");
  for (const char* bad : {"", "/", "a//b", "/lead", "a/../b", "a/./b", ".."}) EXPECT_FALSE(key_to_path(bad, &err)) << bad;
  EXPECT_FALSE(key_to_path(std::string("a\0b", 3), &err));
  EXPECT_TRUE(is_reserved_key("zookeeper"));
  EXPECT_TRUE(is_reserved_key("zookeeper/quota"));
  EXPECT_FALSE(is_reserved_key("zookeeperish"));
  auto s = prefix_to_scan("app/co", &err);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->dir, "/app");
  EXPECT_EQ(s->fragment, "co");
  s = prefix_to_scan("", &err);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->dir, "/");
  EXPECT_EQ(s->fragment, "");
}

TEST(ConsulBlocking, WakesByPrefixAndTimesOut) {
  BlockingQueries q;
  std::vector<std::string> log;
  q.wait("/app/co", 100, [&](bool t) { log.push_back(t ? "co:timeout" : "co"); });
  q.wait("/app/config", 100, [&](bool t) { log.push_back(t ? "config:timeout" : "config"); });
  q.wait("/other", 50, [&](bool t) { log.push_back(t ? "other:timeout" : "other"); });
  q.changed("/app/count");
  EXPECT_EQ(log, (std::vector<std::string>{"co"}));
  q.changed("/app");  // a parent's change does not wake a deeper watch
  EXPECT_EQ(log.size(), 1u);
  q.tick(60);
  EXPECT_EQ(log.back(), "other:timeout");
  q.changed("/app/config/deep");
  EXPECT_EQ(log.back(), "config");
  EXPECT_EQ(q.size(), 0u);
  // A woken waiter may wait again from inside its callback.
  int wakes = 0;
  std::function<void(bool)> again = [&](bool) {
    if (++wakes < 3) q.wait("/k", 1000, again);
  };
  q.wait("/k", 1000, again);
  q.changed("/k");
  q.changed("/k");
  q.changed("/k");
  EXPECT_EQ(wakes, 3);
  EXPECT_EQ(q.size(), 0u);
}

// Found by fuzz_consul: a Port of 8.04e90 was cast to int64, which is undefined behaviour. A number
// outside int64's range is refused like any other non-integer; a whole number written as a double
// is still an integer.
TEST(ConsulRegistryJson, RefusesIntegersOutOfRange) {
  for (const char* body : {R"({"Name":"web","Port":8.04444e90})", R"({"Name":"web","Port":-1e19})",
                           R"({"Name":"web","Port":9223372036854775808.0})", R"({"Name":"web","Port":80.5})"}) {
    conclave::json::error_code ec;
    conclave::json::value v = conclave::json::parse(body, ec);
    ASSERT_FALSE(ec) << body;
    conclave::state::ServiceSpec s;
    std::vector<conclave::state::CheckSpec> checks;
    EXPECT_NE(parse_service_registration(v.as_object(), &s, &checks).find("Port must be an integer"), std::string::npos)
        << body;
  }
  conclave::json::error_code ec;
  conclave::json::value v = conclave::json::parse(R"({"Name":"web","Port":8080.0})", ec);
  conclave::state::ServiceSpec s;
  std::vector<conclave::state::CheckSpec> checks;
  EXPECT_EQ(parse_service_registration(v.as_object(), &s, &checks), "");
  EXPECT_EQ(s.port, 8080);
}
