#include "trace/name.h"

#include "common/interned.h"

namespace conclave::trace {

Name intern(std::string_view text) {
  if (text.empty()) return Name();
  auto kept = intern_text(text, kMaxInterned);
  return kept ? Name(*kept) : Name("other");
}

}  // namespace conclave::trace
