// JSON for every HTTP front-end: Boost.JSON (docs/dependencies.md says why). Include this header
// instead of <boost/json.hpp>; the library's implementation is compiled once, in json.cc.
#pragma once

#include <boost/json.hpp>

namespace conclave {
namespace json = boost::json;
}
