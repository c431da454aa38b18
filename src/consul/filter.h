// Consul's filter expressions (HashiCorp's go-bexpr language, ?filter=) over the JSON rows an
// endpoint returns, so selectors are the documented field names (ServiceName, Service.Tags,
// Checks.Status, NodeMeta.rack, ...).
//
//   expr     := or
//   or       := and { "or" and }
//   and      := unary { "and" unary }
//   unary    := "not" unary | "(" expr ")" | match
//   match    := selector ("==" | "!=") value | selector "is" ["not"] "empty"
//             | value ["not"] "in" selector | selector ["not"] "contains" value
//             | selector ["not"] "matches" value
//   selector := name { "." name | "[" string "]" }
//   value    := "double-quoted" | `raw` | a bare word (number, true, false, identifier)
//
// Semantics: a selector that reaches a list applies the rest of its path to every element; `==`
// is then true when any element equals, `!=` when none does, `in`/`contains` look into a list or
// a map's keys or a string, `is empty` means missing, null, "" or an empty list or map. Values
// compare as text (numbers and booleans by their JSON text), `matches` is an ECMAScript regex.
// A selector whose first name is not a field of the rows is an error, as Consul's is.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace conclave::consul {

class Filter {
 public:
  /// Parses `expression`; on failure returns nullptr with `error` set to Consul's 400 text.
  static std::unique_ptr<Filter> parse(std::string_view expression, std::string* error);
  ~Filter();
  /// Checks that every selector's first name is one of `fields` (the endpoint's row fields).
  bool validate(const std::vector<std::string>& fields, std::string* error) const;
  bool matches(const json::value& row) const;

  struct Node;

 private:
  explicit Filter(std::unique_ptr<Node> root);
  std::unique_ptr<Node> root_;
};

/// Keeps the rows of `rows` that `filter` matches (all of them when it is null).
void filter_rows(const Filter* filter, json::array* rows);

// Row fields of each endpoint, for Filter::validate.
extern const std::vector<std::string> kCatalogServiceFields;
extern const std::vector<std::string> kNodeFields;
extern const std::vector<std::string> kServiceEntryFields;
extern const std::vector<std::string> kHealthCheckFields;
extern const std::vector<std::string> kAgentServiceFields;

}  // namespace conclave::consul
