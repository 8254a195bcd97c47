#pragma once

#include <stdexcept>
#include <string>

namespace dnsscience {

/// Category of an Error. Outcomes of measurements (NXDOMAIN, a refused handshake,
/// an expired certificate) are never errors: they are fields of a result.
enum class ErrorKind {
  invalid_argument,  ///< a caller passed a bad value (a domain name, a nameserver address)
  configuration,     ///< the environment or the options are unusable
  database,          ///< the database connection failed or a statement was rejected
  schema,            ///< the database lacks a table, column or constraint the core needs
  io,                ///< a local resource (socket, file, event loop) failed
  internal,          ///< a bug in the core
};

/// Returns the lowercase name of `kind`, as used in messages and in Python.
const char* error_kind_name(ErrorKind kind) noexcept;

/// The one exception root of the core. The Python bindings translate it into
/// `dnsscience.DnsScienceError` (and `ValueError` for invalid_argument).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const noexcept { return kind_; }

  /// True when repeating the same call later may succeed (a lost database connection).
  bool retryable() const noexcept { return kind_ == ErrorKind::database || kind_ == ErrorKind::io; }

 private:
  ErrorKind kind_;
};

}  // namespace dnsscience
