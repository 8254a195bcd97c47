#include "dnsscience/error.hpp"

namespace dnsscience {

const char* error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::configuration:
      return "configuration";
    case ErrorKind::database:
      return "database";
    case ErrorKind::schema:
      return "schema";
    case ErrorKind::io:
      return "io";
    case ErrorKind::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace dnsscience
