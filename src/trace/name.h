// Text a span refers to without owning it: span names, service names and annotation values. They
// come from a small set (a node's service, "<method> <route>", ZooKeeper's operations, the write
// path's stages), so a span holds a 16-byte view of text that lives as long as the process, where
// it held strings that every span creation, move and store copied.
//
// A Name is made only from a string literal or by intern(), so it cannot point into a temporary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace conclave::trace {

class Name {
 public:
  constexpr Name() = default;
  /// A string literal (static storage).
  template <size_t N>
  constexpr Name(const char (&literal)[N]) : text_(literal, N - 1) {}

  constexpr std::string_view view() const { return text_; }
  constexpr operator std::string_view() const { return text_; }
  std::string str() const { return std::string(text_); }
  constexpr size_t size() const { return text_.size(); }
  constexpr bool empty() const { return text_.empty(); }
  friend constexpr bool operator==(const Name& a, std::string_view b) { return a.text_ == b; }

  /// A Name back from the text of one: for the span store, which keeps a Name's view and gives it
  /// back. `text` must be a view some Name had.
  static constexpr Name from_kept(std::string_view text) { return Name(text); }

 private:
  constexpr explicit Name(std::string_view text) : text_(text) {}
  friend Name intern(std::string_view text);
  std::string_view text_;
};

/// `text` as a Name: kept once per distinct text, for the life of the process. Thread-safe.
/// Names are a bounded set: past kMaxInterned distinct texts, every new one is "other".
inline constexpr size_t kMaxInterned = 4096;
Name intern(std::string_view text);

/// Zipkin stores span and service names in lower case.
inline std::string lower_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace conclave::trace
