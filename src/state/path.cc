#include "state/path.h"

#include <cstdint>
#include <vector>

namespace conclave::state {
namespace {

// Decodes UTF-8 into UTF-16 code units, as Java sees the String ZooKeeper validates.
// Malformed sequences become U+FFFD, which ZooKeeper then rejects.
std::vector<uint32_t> to_utf16(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; n = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; n = 3; }
    else if ((c >> 3) == 30) { cp = c & 0x07; n = 4; }
    else { out.push_back(0xFFFD); ++i; continue; }
    bool bad = i + n > s.size();
    for (size_t k = 1; !bad && k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) bad = true;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    if (bad) { out.push_back(0xFFFD); ++i; continue; }
    i += n;
    if (cp >= 0x10000) {  // a surrogate pair in UTF-16
      cp -= 0x10000;
      out.push_back(0xD800 + (cp >> 10));
      out.push_back(0xDC00 + (cp & 0x3FF));
    } else {
      out.push_back(cp);
    }
  }
  return out;
}

bool valid_units(const std::vector<uint32_t>& p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.size() == 1) return true;
  if (p.back() == '/') return false;
  uint32_t last = '/';
  for (size_t i = 1; i < p.size(); last = p[i], ++i) {
    uint32_t c = p[i];
    bool end_or_slash = i + 1 == p.size() || p[i + 1] == '/';
    if (c == 0) return false;
    if (c == '/' && last == '/') return false;
    if (c == '.' && last == '.') {
      if (p[i - 2] == '/' && end_or_slash) return false;
    } else if (c == '.') {
      if (p[i - 1] == '/' && end_or_slash) return false;
    } else if ((c > 0 && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) || (c >= 0xD800 && c <= 0xF8FF) ||
               (c >= 0xFFF0 && c <= 0xFFFF)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool valid_path(std::string_view path, bool sequential) {
  if (sequential) {
    std::string p(path);
    p += '1';
    return valid_units(to_utf16(p));
  }
  return valid_units(to_utf16(path));
}

}  // namespace conclave::state
