#include "consul/filter.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>

namespace conclave::consul {

struct Filter::Node {
  enum Kind { kAnd, kOr, kNot, kEq, kNe, kEmpty, kNotEmpty, kIn, kNotIn, kContains, kNotContains, kMatches, kNotMatches };
  Kind kind;
  std::unique_ptr<Node> a, b;         // and / or / not
  std::vector<std::string> selector;  // match kinds
  std::string value;
  std::shared_ptr<std::regex> re;
};

namespace {

struct Token {
  enum Type { kEnd, kWord, kString, kLParen, kRParen, kEqEq, kNotEq, kDot, kLBracket, kRBracket } type;
  std::string text;
};

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  std::unique_ptr<Filter::Node> parse(std::string* error) {
    if (!lex(error)) return nullptr;
    auto n = parse_or();
    if (n && peek().type != Token::kEnd) fail("unexpected '" + peek().text + "'");
    if (!error_.empty()) {
      *error = "Failed to create boolean expression evaluator: " + error_;
      return nullptr;
    }
    return n;
  }

 private:
  bool lex(std::string* error) {
    size_t i = 0;
    while (i < in_.size()) {
      char c = in_[i];
      if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
      if (c == '(') { toks_.push_back({Token::kLParen, "("}); ++i; continue; }
      if (c == ')') { toks_.push_back({Token::kRParen, ")"}); ++i; continue; }
      if (c == '.') { toks_.push_back({Token::kDot, "."}); ++i; continue; }
      if (c == '[') { toks_.push_back({Token::kLBracket, "["}); ++i; continue; }
      if (c == ']') { toks_.push_back({Token::kRBracket, "]"}); ++i; continue; }
      if (c == '=' && i + 1 < in_.size() && in_[i + 1] == '=') { toks_.push_back({Token::kEqEq, "=="}); i += 2; continue; }
      if (c == '!' && i + 1 < in_.size() && in_[i + 1] == '=') { toks_.push_back({Token::kNotEq, "!="}); i += 2; continue; }
      if (c == '"' || c == '`') {
        std::string s;
        size_t j = i + 1;
        bool closed = false;
        for (; j < in_.size(); ++j) {
          if (in_[j] == c) { closed = true; break; }
          if (c == '"' && in_[j] == '\\' && j + 1 < in_.size()) {
            char e = in_[++j];
            s += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          } else {
            s += in_[j];
          }
        }
        if (!closed) {
          *error = "Failed to create boolean expression evaluator: unterminated string";
          return false;
        }
        toks_.push_back({Token::kString, s});
        i = j + 1;
        continue;
      }
      size_t j = i;
      while (j < in_.size() && (std::isalnum(static_cast<unsigned char>(in_[j])) || std::strchr("_-:/+@", in_[j]))) ++j;
      if (j == i) {
        *error = std::string("Failed to create boolean expression evaluator: unexpected character '") + c + "'";
        return false;
      }
      toks_.push_back({Token::kWord, std::string(in_.substr(i, j - i))});
      i = j;
    }
    toks_.push_back({Token::kEnd, "end of input"});
    return true;
  }

  const Token& peek(size_t ahead = 0) const { return toks_[std::min(pos_ + ahead, toks_.size() - 1)]; }
  Token take() { return toks_[std::min(pos_++, toks_.size() - 1)]; }
  bool word(std::string_view w, size_t ahead = 0) const { return peek(ahead).type == Token::kWord && peek(ahead).text == w; }
  std::unique_ptr<Filter::Node> fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return nullptr;
  }

  std::unique_ptr<Filter::Node> parse_or() {
    auto left = parse_and();
    while (left && word("or")) {
      take();
      auto right = parse_and();
      if (!right) return nullptr;
      auto n = std::make_unique<Filter::Node>();
      n->kind = Filter::Node::kOr;
      n->a = std::move(left);
      n->b = std::move(right);
      left = std::move(n);
    }
    return left;
  }
  std::unique_ptr<Filter::Node> parse_and() {
    auto left = parse_unary();
    while (left && word("and")) {
      take();
      auto right = parse_unary();
      if (!right) return nullptr;
      auto n = std::make_unique<Filter::Node>();
      n->kind = Filter::Node::kAnd;
      n->a = std::move(left);
      n->b = std::move(right);
      left = std::move(n);
    }
    return left;
  }
  std::unique_ptr<Filter::Node> parse_unary() {
    if (word("not")) {
      take();
      auto inner = parse_unary();
      if (!inner) return nullptr;
      auto n = std::make_unique<Filter::Node>();
      n->kind = Filter::Node::kNot;
      n->a = std::move(inner);
      return n;
    }
    if (peek().type == Token::kLParen) {
      take();
      auto inner = parse_or();
      if (!inner) return nullptr;
      if (take().type != Token::kRParen) return fail("missing ')'");
      return inner;
    }
    return parse_match();
  }
  bool parse_selector(std::vector<std::string>* out) {
    if (peek().type != Token::kWord) return false;
    out->push_back(take().text);
    while (true) {
      if (peek().type == Token::kDot && peek(1).type == Token::kWord) {
        take();
        out->push_back(take().text);
      } else if (peek().type == Token::kLBracket && peek(1).type == Token::kString && peek(2).type == Token::kRBracket) {
        take();
        out->push_back(take().text);
        take();
      } else {
        return true;
      }
    }
  }
  bool parse_value(std::string* out) {
    if (peek().type != Token::kString && peek().type != Token::kWord) return false;
    *out = take().text;
    return true;
  }
  std::unique_ptr<Filter::Node> parse_match() {
    auto n = std::make_unique<Filter::Node>();
    // "value" [not] in Selector
    if (peek().type == Token::kString || ((word("in", 1) || (word("not", 1) && word("in", 2))) && peek().type == Token::kWord)) {
      n->value = take().text;
      bool negated = word("not");
      if (negated) take();
      if (!word("in")) return fail("expected 'in' after a value");
      take();
      if (!parse_selector(&n->selector)) return fail("expected a selector after 'in'");
      n->kind = negated ? Filter::Node::kNotIn : Filter::Node::kIn;
      return n;
    }
    if (!parse_selector(&n->selector)) return fail("expected a selector, found '" + peek().text + "'");
    if (peek().type == Token::kEqEq || peek().type == Token::kNotEq) {
      n->kind = take().type == Token::kEqEq ? Filter::Node::kEq : Filter::Node::kNe;
      if (!parse_value(&n->value)) return fail("expected a value after the operator");
      return n;
    }
    if (word("is")) {
      take();
      bool negated = word("not");
      if (negated) take();
      if (!word("empty")) return fail("expected 'empty' after 'is'");
      take();
      n->kind = negated ? Filter::Node::kNotEmpty : Filter::Node::kEmpty;
      return n;
    }
    bool negated = word("not");
    if (negated) take();
    if (word("contains") || word("matches")) {
      bool matches = take().text == "matches";
      if (!parse_value(&n->value)) return fail("expected a value");
      if (matches) {
        try {
          n->re = std::make_shared<std::regex>(n->value, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          return fail("invalid regular expression '" + n->value + "'");
        }
        n->kind = negated ? Filter::Node::kNotMatches : Filter::Node::kMatches;
      } else {
        n->kind = negated ? Filter::Node::kNotContains : Filter::Node::kContains;
      }
      return n;
    }
    return fail("expected an operator after the selector, found '" + peek().text + "'");
  }

  std::string_view in_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::string error_;
};

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

bool empty_value(const json::value& v) {
  return v.is_null() || (v.is_string() && v.as_string().empty()) || (v.is_array() && v.as_array().empty()) ||
         (v.is_object() && v.as_object().empty());
}

void resolve(const json::value& v, const std::vector<std::string>& sel, size_t at, std::vector<const json::value*>* out) {
  if (at == sel.size()) {
    out->push_back(&v);
    return;
  }
  if (v.is_array()) {
    for (const auto& e : v.as_array()) resolve(e, sel, at, out);
    return;
  }
  if (!v.is_object()) return;
  if (const json::value* next = v.as_object().if_contains(sel[at])) resolve(*next, sel, at + 1, out);
}

bool eval(const Filter::Node& n, const json::value& row) {
  using K = Filter::Node;
  switch (n.kind) {
    case K::kAnd: return eval(*n.a, row) && eval(*n.b, row);
    case K::kOr: return eval(*n.a, row) || eval(*n.b, row);
    case K::kNot: return !eval(*n.a, row);
    default: break;
  }
  std::vector<const json::value*> vals;
  resolve(row, n.selector, 0, &vals);
  auto any = [&](auto pred) {
    for (const json::value* v : vals) {
      if (v->is_array()) {
        for (const auto& e : v->as_array())
          if (pred(e)) return true;
      } else if (pred(*v)) {
        return true;
      }
    }
    return false;
  };
  switch (n.kind) {
    case K::kEq: return any([&](const json::value& v) { return text_of(v) == n.value; });
    case K::kNe: return !any([&](const json::value& v) { return text_of(v) == n.value; });
    case K::kEmpty:
    case K::kNotEmpty: {
      bool empty = true;
      for (const json::value* v : vals) empty = empty && empty_value(*v);
      return (n.kind == K::kEmpty) == empty;
    }
    case K::kIn:
    case K::kContains:
    case K::kNotIn:
    case K::kNotContains: {
      bool found = false;
      for (const json::value* v : vals) {
        if (v->is_array()) {
          for (const auto& e : v->as_array()) found = found || text_of(e) == n.value;
        } else if (v->is_object()) {
          found = found || v->as_object().contains(n.value);
        } else if (v->is_string()) {
          found = found || v->as_string().find(n.value) != json::string::npos;
        }
      }
      return (n.kind == K::kIn || n.kind == K::kContains) == found;
    }
    case K::kMatches:
    case K::kNotMatches: {
      bool m = any([&](const json::value& v) { return v.is_string() && std::regex_search(std::string(v.as_string()), *n.re); });
      return (n.kind == K::kMatches) == m;
    }
    default: return false;
  }
}

bool check_fields(const Filter::Node& n, const std::vector<std::string>& fields, std::string* error) {
  if (n.a && !check_fields(*n.a, fields, error)) return false;
  if (n.b && !check_fields(*n.b, fields, error)) return false;
  if (n.selector.empty()) return true;
  if (std::find(fields.begin(), fields.end(), n.selector[0]) != fields.end()) return true;
  std::string joined;
  for (const auto& s : n.selector) joined += (joined.empty() ? "" : ".") + s;
  *error = "Failed to create boolean expression evaluator: Selector \"" + joined + "\" is not valid";
  return false;
}

}  // namespace

Filter::Filter(std::unique_ptr<Node> root) : root_(std::move(root)) {}
Filter::~Filter() = default;

std::unique_ptr<Filter> Filter::parse(std::string_view expression, std::string* error) {
  Parser p(expression);
  auto root = p.parse(error);
  if (!root) return nullptr;
  return std::unique_ptr<Filter>(new Filter(std::move(root)));
}

bool Filter::validate(const std::vector<std::string>& fields, std::string* error) const {
  return check_fields(*root_, fields, error);
}

bool Filter::matches(const json::value& row) const { return eval(*root_, row); }

void filter_rows(const Filter* filter, json::array* rows) {
  if (!filter) return;
  json::array kept;
  for (auto& r : *rows)
    if (filter->matches(r)) kept.push_back(std::move(r));
  *rows = std::move(kept);
}

const std::vector<std::string> kCatalogServiceFields{
    "ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta", "ServiceKind", "ServiceID", "ServiceName",
    "ServiceTags", "ServiceAddress", "ServiceTaggedAddresses", "ServiceWeights", "ServiceMeta", "ServicePort",
    "ServiceSocketPath", "ServiceEnableTagOverride", "ServiceProxy", "ServiceConnect", "CreateIndex", "ModifyIndex"};
const std::vector<std::string> kNodeFields{"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta",
                                           "CreateIndex", "ModifyIndex"};
const std::vector<std::string> kServiceEntryFields{"Node", "Service", "Checks"};
const std::vector<std::string> kHealthCheckFields{
    "Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName", "ServiceTags", "Type",
    "Interval", "Timeout", "ExposedPort", "Definition", "CreateIndex", "ModifyIndex"};
const std::vector<std::string> kAgentServiceFields{"Kind", "ID", "Service", "Tags", "Meta", "Port", "Address",
                                                   "TaggedAddresses", "Weights", "EnableTagOverride", "Datacenter"};

}  // namespace conclave::consul
