// Interned text: one copy of each distinct text, kept for the life of the process, so that a
// view of it never dangles. Thread-safe. For small, bounded sets of names (trace/name.h).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace conclave {

/// The kept copy of `text`, or nothing once `max_distinct` texts are kept and `text` is new.
std::optional<std::string_view> intern_text(std::string_view text, size_t max_distinct);

}  // namespace conclave
