#include "common/interned.h"

#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>

namespace conclave {
namespace {

struct Hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Table {
  std::mutex mu;
  // A node-based set: an element's text never moves once inserted (short strings live in the node).
  std::unordered_set<std::string, Hash, std::equal_to<>> texts;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: views of it may be read while the process exits
  return *t;
}

}  // namespace

std::optional<std::string_view> intern_text(std::string_view text, size_t max_distinct) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  auto it = t.texts.find(text);
  if (it == t.texts.end()) {
    if (t.texts.size() >= max_distinct) return std::nullopt;
    it = t.texts.emplace(text).first;
  }
  return std::string_view(*it);
}

}  // namespace conclave
