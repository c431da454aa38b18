#include "trace/name.h"

#include <functional>
#include <mutex>
#include <unordered_set>

namespace conclave::trace {
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
  static Table* t = new Table;  // never destroyed: spans may be read while the process exits
  return *t;
}

}  // namespace

Name intern(std::string_view text) {
  if (text.empty()) return Name();
  Table& t = table();
  std::lock_guard lock(t.mu);
  auto it = t.texts.find(text);
  if (it == t.texts.end()) {
    if (t.texts.size() >= kMaxInterned) return Name("other");
    it = t.texts.emplace(text).first;
  }
  return Name(std::string_view(*it));
}

}  // namespace conclave::trace
