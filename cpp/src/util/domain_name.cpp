#include "dnsscience/domain_name.hpp"

#include <idn2.h>

#include <cstdlib>
#include <memory>

#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

constexpr size_t kMaxNameOctets = 253;  // presentation form without the trailing dot
constexpr size_t kMaxLabelOctets = 63;  // RFC 1035 section 2.3.4

[[noreturn]] void reject(std::string_view input, const std::string& reason) {
  throw Error(ErrorKind::invalid_argument, "invalid domain name '" + std::string(input) + "': " +
                                               reason + "; pass a name such as example.com");
}

bool is_allowed_ascii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool has_non_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// Converts a name with Unicode labels to A-labels. UTS #46 nontransitional processing
// maps case and full-width dots and keeps "ß" and ZWJ (IDNA 2008 behaviour).
std::string to_a_labels(std::string_view input, const std::string& name) {
  char* converted = nullptr;
  const int status = idn2_to_ascii_8z(name.c_str(), &converted, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  std::unique_ptr<char, decltype(&std::free)> owner(converted, &std::free);
  if (status != IDN2_OK) {
    reject(input, std::string("not a valid internationalized name (") + idn2_strerror(status) + ")");
  }
  return std::string(converted);
}

}  // namespace

std::string normalize_domain(std::string_view input) {
  std::string name(input);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) reject(input, "the name is empty");

  if (has_non_ascii(name)) {
    name = to_a_labels(input, name);
    if (!name.empty() && name.back() == '.') name.pop_back();
  }
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }

  if (name.size() > kMaxNameOctets) {
    reject(input, "it is " + std::to_string(name.size()) + " octets long, over the maximum of 253");
  }
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      if (!is_allowed_ascii(name[i])) {
        const unsigned char byte = static_cast<unsigned char>(name[i]);
        const std::string shown = (byte >= 0x21 && byte < 0x7f)
                                      ? "'" + std::string(1, name[i]) + "'"
                                      : "byte " + std::to_string(byte);
        reject(input, "it contains " + shown +
                          "; only letters, digits, '-' and '_' are allowed in a label");
      }
      continue;
    }
    const size_t length = i - label_start;
    if (length == 0) reject(input, "it has an empty label");
    if (length > kMaxLabelOctets) {
      reject(input, "label '" + name.substr(label_start, length) + "' is " + std::to_string(length) +
                        " octets long, over the maximum of 63");
    }
    label_start = i + 1;
  }
  return name;
}

}  // namespace dnsscience
