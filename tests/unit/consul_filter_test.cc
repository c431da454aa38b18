// Consul's filter expressions (go-bexpr) over JSON rows: every operator, and/or/not and
// parentheses, selectors through maps and lists, and the 400s for bad expressions and selectors.
#include <gtest/gtest.h>

#include "consul/filter.h"

using namespace conclave;
using namespace conclave::consul;

namespace {

json::value row() {
  return json::parse(R"({"ServiceName":"web","ServiceTags":["v1","primary"],"ServicePort":8080,
    "ServiceMeta":{"version":"2","dotted.key":"x"},"Node":"n1","Address":"",
    "Checks":[{"CheckID":"serfHealth","Status":"passing"},{"CheckID":"svc","Status":"warning"}],
    "Enabled":true})");
}

bool match(const std::string& expr) {
  std::string error;
  auto f = Filter::parse(expr, &error);
  EXPECT_NE(f, nullptr) << expr << ": " << error;
  return f && f->matches(row());
}

std::string parse_error(const std::string& expr, const std::vector<std::string>& fields = {}) {
  std::string error;
  auto f = Filter::parse(expr, &error);
  if (f && !fields.empty() && !f->validate(fields, &error)) return error;
  return f ? "" : error;
}

TEST(ConsulFilter, Operators) {
  EXPECT_TRUE(match(R"(ServiceName == "web")"));
  EXPECT_TRUE(match("ServiceName == web"));
  EXPECT_FALSE(match(R"(ServiceName != "web")"));
  EXPECT_TRUE(match("ServicePort == 8080"));
  EXPECT_TRUE(match("Enabled == true"));
  EXPECT_TRUE(match(R"("v1" in ServiceTags)"));
  EXPECT_TRUE(match(R"("v9" not in ServiceTags)"));
  EXPECT_TRUE(match(R"(ServiceTags contains "primary")"));
  EXPECT_TRUE(match(R"(ServiceTags not contains "v9")"));
  EXPECT_TRUE(match(R"(ServiceName contains "eb")"));
  EXPECT_TRUE(match(R"(ServiceName matches "^w.b$")"));
  EXPECT_TRUE(match(R"(ServiceName not matches "^db")"));
  EXPECT_TRUE(match("Address is empty"));
  EXPECT_TRUE(match("ServiceTags is not empty"));
  EXPECT_TRUE(match("ServiceMeta.missing is empty"));
}

TEST(ConsulFilter, SelectorsThroughMapsAndLists) {
  EXPECT_TRUE(match(R"(ServiceMeta.version == "2")"));
  EXPECT_TRUE(match(R"(ServiceMeta["dotted.key"] == x)"));
  EXPECT_TRUE(match(R"("version" in ServiceMeta)"));
  EXPECT_TRUE(match(R"(Checks.Status == warning)"));   // any element
  EXPECT_FALSE(match(R"(Checks.Status == critical)"));
  EXPECT_TRUE(match(R"(Checks.Status != critical)"));  // no element
  EXPECT_TRUE(match(R"("svc" in Checks.CheckID)"));
}

TEST(ConsulFilter, LogicAndPrecedence) {
  EXPECT_TRUE(match(R"(ServiceName == web and "v1" in ServiceTags)"));
  EXPECT_TRUE(match(R"(ServiceName == db or ServicePort == 8080)"));
  EXPECT_FALSE(match(R"(not ServiceName == web)"));
  EXPECT_TRUE(match(R"(ServiceName == db or ServiceName == web and ServicePort == 8080)"));
  EXPECT_FALSE(match(R"((ServiceName == db or ServiceName == web) and ServicePort == 1)"));
  EXPECT_TRUE(match(R"(not (ServiceName == db) and not (Node == n2))"));
}

TEST(ConsulFilter, BadExpressionsAndSelectors) {
  for (const char* bad : {"", "ServiceName ==", "ServiceName === web", "(ServiceName == web", "ServiceName web",
                          R"(ServiceName == "unterminated)", "== web", R"(ServiceName matches "(")", "and", "ServiceName is full"}) {
    std::string e = parse_error(bad);
    EXPECT_NE(e.find("Failed to create boolean expression evaluator"), std::string::npos) << bad << " -> " << e;
  }
  EXPECT_EQ(parse_error("Nope == 1", {"ServiceName"}),
            "Failed to create boolean expression evaluator: Selector \"Nope\" is not valid");
  EXPECT_EQ(parse_error(R"(ServiceName == web or Foo.Bar is empty)", {"ServiceName"}),
            "Failed to create boolean expression evaluator: Selector \"Foo.Bar\" is not valid");
  EXPECT_EQ(parse_error("ServiceMeta.anything == 1", {"ServiceMeta"}), "");
}

TEST(ConsulFilter, FilterRowsKeepsMatches) {
  json::array rows = json::parse(R"([{"ServiceName":"a"},{"ServiceName":"b"},{"ServiceName":"a"}])").as_array();
  std::string error;
  auto f = Filter::parse("ServiceName == a", &error);
  filter_rows(f.get(), &rows);
  EXPECT_EQ(rows.size(), 2u);
  filter_rows(nullptr, &rows);
  EXPECT_EQ(rows.size(), 2u);
}

}  // namespace
