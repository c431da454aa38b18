// Operational failures as values (see docs/ARCHITECTURE.md, "Errors"). Protocol outcomes such
// as ZNONODE are not errors here: they are part of a reply. Programmer errors crash (assert.h).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace conclave {

enum class Errc {
  kOk = 0,
  kIo,          // a read/write/fsync failed
  kCorrupt,     // a file failed its checksum or structure check
  kInvalid,     // bad input (flags, config, a frame)
  kNotFound,
  kTooLarge,
  kUnavailable,
};

struct Error {
  Errc code = Errc::kOk;
  std::string message;
};

/// Either a value or an Error. Small home-grown stand-in for std::expected (C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return error_.code == Errc::kOk; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace conclave
