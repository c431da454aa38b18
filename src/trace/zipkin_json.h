// A span's Zipkin v2 JSON form.
#pragma once

#include "common/json.h"
#include "trace/span.h"

namespace conclave::trace {

/// One span as a Zipkin v2 JSON object (the shape POST /api/v2/spans takes and the read API returns).
json::object to_zipkin_json(const Span& s);

}  // namespace conclave::trace
