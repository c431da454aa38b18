// CONCLAVE_ASSERT: on in every build. A broken invariant is a programmer error; the only safe
// reaction is to stop the process with the condition and location in the log.
#pragma once

namespace conclave::detail {
[[noreturn]] void assert_fail(const char* cond, const char* file, int line, const char* msg);
}

#define CONCLAVE_ASSERT(cond, msg)                                                   \
  do {                                                                               \
    if (__builtin_expect(!(cond), 0))                                                \
      ::conclave::detail::assert_fail(#cond, __FILE__, __LINE__, (msg));             \
  } while (0)
