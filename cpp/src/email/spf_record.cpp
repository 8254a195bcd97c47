#include "dnsscience/email/spf_record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace dnsscience {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alphanum(char c) { return is_alpha(c) || is_digit(c); }

std::string to_lower(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
// (RFC 7208 section 7.1). In words: alphanumerics and inner hyphens, not all digits.
bool is_toplabel(std::string_view label) {
  if (label.empty()) return false;
  bool has_alpha = false;
  bool has_hyphen = false;
  for (char c : label) {
    if (c == '-') {
      has_hyphen = true;
    } else if (is_alpha(c)) {
      has_alpha = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  if (!is_alphanum(label.front()) || !is_alphanum(label.back())) return false;
  return has_alpha || has_hyphen;
}

// Parses a CIDR length written without leading zeros: "0" / %x31-39 *DIGIT,
// at most `max_digits` digits and at most `max_value`. Returns -1 when invalid.
int parse_cidr_length(std::string_view digits, size_t max_digits, int max_value) {
  if (digits.empty() || digits.size() > max_digits) return -1;
  if (!std::all_of(digits.begin(), digits.end(), is_digit)) return -1;
  if (digits.size() > 1 && digits[0] == '0') return -1;
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value <= max_value ? value : -1;
}

bool is_modifier_name(std::string_view name) {
  if (name.empty() || !is_alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alphanum(c) || c == '-' || c == '_' || c == '.'; });
}

// Splits a dual-cidr-length ("/24", "//64", "/24//64") off the end of `rest`.
// Returns an error message, or an empty string.
std::string split_dual_cidr(std::string_view& rest, SpfTerm& term) {
  size_t double_slash = rest.rfind("//");
  if (double_slash != std::string_view::npos) {
    std::string_view digits = rest.substr(double_slash + 2);
    if (!digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit)) {
      term.cidr6 = parse_cidr_length(digits, 3, 128);
      if (term.cidr6 < 0) return "invalid IPv6 prefix length /" + std::string(digits);
      rest = rest.substr(0, double_slash);
    }
  }
  size_t slash = rest.rfind('/');
  if (slash != std::string_view::npos) {
    std::string_view digits = rest.substr(slash + 1);
    if (!digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit)) {
      term.cidr4 = parse_cidr_length(digits, 2, 32);
      if (term.cidr4 < 0) return "invalid IPv4 prefix length /" + std::string(digits);
      rest = rest.substr(0, slash);
    }
  }
  return {};
}

// Parses the part after the mechanism name: ":" domain-spec, optional when
// `domain_optional`, and a dual-cidr-length when `cidr_allowed`.
std::string parse_domain_argument(std::string_view rest, bool domain_optional, bool cidr_allowed,
                                  SpfTerm& term) {
  if (cidr_allowed) {
    std::string error = split_dual_cidr(rest, term);
    if (!error.empty()) return error;
  }
  if (rest.empty()) {
    return domain_optional ? std::string() : "missing \":\" and domain-spec";
  }
  if (rest[0] != ':') return "unexpected text \"" + std::string(rest) + "\" after the mechanism name";
  term.argument = std::string(rest.substr(1));
  if (term.argument.empty()) return "empty domain-spec after \":\"";
  std::string error = check_domain_spec(term.argument);
  return error.empty() ? std::string() : error;
}

std::string parse_ip_argument(std::string_view rest, bool v6, SpfTerm& term) {
  if (rest.empty() || rest[0] != ':') return "missing \":\" and network address";
  rest.remove_prefix(1);
  size_t slash = rest.find('/');
  std::string_view address = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view digits = rest.substr(slash + 1);
    int length = v6 ? parse_cidr_length(digits, 3, 128) : parse_cidr_length(digits, 2, 32);
    if (length < 0) return "invalid prefix length /" + std::string(digits);
    (v6 ? term.cidr6 : term.cidr4) = length;
  }
  term.argument = std::string(address);
  auto parsed = IpAddress::parse(address);
  if (!parsed || parsed->is_v6 != v6) {
    return std::string("invalid ") + (v6 ? "IPv6" : "IPv4") + " address \"" + std::string(address) + "\"";
  }
  term.network = *parsed;
  return {};
}

std::string parse_directive(std::string_view text, SpfTerm& term) {
  std::string_view rest = text;
  switch (rest[0]) {
    case '+': case '-': case '~': case '?':
      term.qualifier = static_cast<SpfQualifier>(rest[0]);
      rest.remove_prefix(1);
      break;
    default:
      break;
  }
  size_t name_end = rest.find_first_of(":/");
  std::string_view name = rest.substr(0, name_end);
  rest = name_end == std::string_view::npos ? std::string_view() : rest.substr(name_end);

  static const std::pair<const char*, SpfMechanism> kNames[] = {
      {"all", SpfMechanism::all}, {"include", SpfMechanism::include}, {"a", SpfMechanism::a},
      {"mx", SpfMechanism::mx},   {"ptr", SpfMechanism::ptr},         {"ip4", SpfMechanism::ip4},
      {"ip6", SpfMechanism::ip6}, {"exists", SpfMechanism::exists},
  };
  const auto* found = std::find_if(std::begin(kNames), std::end(kNames),
                                   [&](const auto& entry) { return equals_ignore_case(name, entry.first); });
  if (found == std::end(kNames)) return "unknown mechanism \"" + std::string(name) + "\"";
  term.mechanism = found->second;

  switch (term.mechanism) {
    case SpfMechanism::all:
      return rest.empty() ? std::string() : "\"all\" takes no argument";
    case SpfMechanism::include:
    case SpfMechanism::exists:
      return parse_domain_argument(rest, false, false, term);
    case SpfMechanism::a:
    case SpfMechanism::mx:
      return parse_domain_argument(rest, true, true, term);
    case SpfMechanism::ptr:
      return parse_domain_argument(rest, true, false, term);
    case SpfMechanism::ip4:
      return parse_ip_argument(rest, false, term);
    case SpfMechanism::ip6:
      return parse_ip_argument(rest, true, term);
  }
  return "unknown mechanism";
}

}  // namespace

const char* spf_mechanism_name(SpfMechanism mechanism) noexcept {
  switch (mechanism) {
    case SpfMechanism::all: return "all";
    case SpfMechanism::include: return "include";
    case SpfMechanism::a: return "a";
    case SpfMechanism::mx: return "mx";
    case SpfMechanism::ptr: return "ptr";
    case SpfMechanism::ip4: return "ip4";
    case SpfMechanism::ip6: return "ip6";
    case SpfMechanism::exists: return "exists";
  }
  return "unknown";
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string copy(text);
  IpAddress address;
  if (copy.find(':') != std::string::npos) {
    address.is_v6 = true;
    if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
    return address;
  }
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  return address;
}

std::optional<IpAddress> IpAddress::ipv4_mapped() const {
  if (!is_v6) return std::nullopt;
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kPrefix, sizeof kPrefix) != 0) return std::nullopt;
  IpAddress v4;
  std::copy(bytes.begin() + 12, bytes.end(), v4.bytes.begin());
  return v4;
}

bool IpAddress::in_network(const IpAddress& other, int prefix_length) const {
  if (is_v6 != other.is_v6) return false;
  const int max_bits = is_v6 ? 128 : 32;
  const int bits = std::min(std::max(prefix_length, 0), max_bits);
  const int whole = bits / 8;
  if (std::memcmp(bytes.data(), other.bytes.data(), static_cast<size_t>(whole)) != 0) return false;
  const int remainder = bits % 8;
  if (remainder == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - remainder));
  return (bytes[whole] & mask) == (other.bytes[whole] & mask);
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer);
  return buffer;
}

bool SpfTerm::queries_dns() const {
  if (is_modifier) return modifier_name == "redirect";
  switch (mechanism) {
    case SpfMechanism::include:
    case SpfMechanism::a:
    case SpfMechanism::mx:
    case SpfMechanism::ptr:
    case SpfMechanism::exists:
      return true;
    default:
      return false;
  }
}

bool SpfRecord::has_all() const {
  return std::any_of(terms.begin(), terms.end(), [](const SpfTerm& term) {
    return !term.is_modifier && term.mechanism == SpfMechanism::all;
  });
}

bool is_spf_record(std::string_view text) {
  constexpr std::string_view kVersion = "v=spf1";
  if (text.size() < kVersion.size()) return false;
  if (!equals_ignore_case(text.substr(0, kVersion.size()), kVersion)) return false;
  return text.size() == kVersion.size() || text[kVersion.size()] == ' ';
}

std::string check_macro_string(std::string_view text, bool explanation) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // macro-literal = %x21-24 / %x26-7E; explanation strings also allow SP.
    if (c != '%') {
      if ((c >= 0x21 && c <= 0x7e) || (explanation && c == ' ')) continue;
      return "invalid character 0x" + std::string(1, "0123456789abcdef"[c >> 4]) +
             std::string(1, "0123456789abcdef"[c & 15]) + " in \"" + std::string(text) + "\"";
    }
    if (i + 1 >= text.size()) return "\"%\" at the end of \"" + std::string(text) + "\"";
    const char next = text[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      ++i;
      continue;
    }
    if (next != '{') {
      return "\"%\" not followed by \"{\", \"%\", \"_\" or \"-\" in \"" + std::string(text) + "\"";
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return "unterminated macro in \"" + std::string(text) + "\"";
    std::string_view body = text.substr(i + 2, close - i - 2);
    if (body.empty()) return "empty macro in \"" + std::string(text) + "\"";
    const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(body[0])));
    const bool common = std::strchr("slodiphv", letter) != nullptr;
    const bool explanation_only = std::strchr("crt", letter) != nullptr;
    if (!common && !(explanation && explanation_only)) {
      return "macro letter \"" + std::string(1, body[0]) + "\" not allowed in \"" + std::string(text) + "\"";
    }
    size_t pos = 1;
    size_t digits_start = pos;
    while (pos < body.size() && is_digit(body[pos])) ++pos;
    if (pos > digits_start) {
      std::string_view digits = body.substr(digits_start, pos - digits_start);
      if (digits.size() > 3 || std::stoi(std::string(digits)) == 0) {
        return "invalid macro transformer \"" + std::string(digits) + "\" in \"" + std::string(text) + "\"";
      }
    }
    if (pos < body.size() && (body[pos] == 'r' || body[pos] == 'R')) ++pos;
    for (; pos < body.size(); ++pos) {
      if (std::strchr(".-+,/_=", body[pos]) == nullptr) {
        return "invalid macro delimiter \"" + std::string(1, body[pos]) + "\" in \"" + std::string(text) + "\"";
      }
    }
    i = close;
  }
  return {};
}

std::string check_domain_spec(std::string_view text) {
  std::string error = check_macro_string(text, false);
  if (!error.empty()) return error;
  // domain-end = ( "." toplabel [ "." ] ) / macro-expand
  if (!text.empty() && text.back() == '}') return {};
  std::string_view trimmed = text;
  if (!trimmed.empty() && trimmed.back() == '.') trimmed.remove_suffix(1);
  const size_t dot = trimmed.rfind('.');
  if (dot == std::string_view::npos || !is_toplabel(trimmed.substr(dot + 1))) {
    return "domain-spec \"" + std::string(text) + "\" does not end in a valid top-level label";
  }
  return {};
}

bool spf_modifier_looks_like_mechanism(std::string_view modifier_name) {
  static const char* const kMechanisms[] = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"};
  return std::any_of(std::begin(kMechanisms), std::end(kMechanisms),
                     [&](const char* name) { return modifier_name == name; });
}

SpfRecord parse_spf_record(std::string_view text) {
  SpfRecord record;
  record.text = std::string(text);
  if (!is_spf_record(text)) {
    record.errors.push_back({std::string(text), "the record does not start with \"v=spf1\""});
    return record;
  }
  // terms = *( 1*SP ( directive / modifier ) ): only SP (0x20) separates terms.
  size_t pos = 6;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view term_text = text.substr(pos, end - pos);
    pos = end;

    SpfTerm term;
    term.text = std::string(term_text);
    std::string error;
    const size_t separator = term_text.find_first_of(":/=");
    if (separator != std::string_view::npos && term_text[separator] == '=') {
      std::string_view name = term_text.substr(0, separator);
      term.is_modifier = true;
      term.modifier_name = to_lower(name);
      term.modifier_value = std::string(term_text.substr(separator + 1));
      if (!is_modifier_name(name)) {
        error = "invalid modifier name \"" + std::string(name) + "\"";
      } else if (term.modifier_name == "redirect" || term.modifier_name == "exp") {
        auto& slot = term.modifier_name == "redirect" ? record.redirect : record.explanation;
        if (slot) {
          error = "\"" + term.modifier_name + "=\" appears more than once";
        } else if (term.modifier_value.empty()) {
          error = "empty domain-spec in \"" + term.modifier_name + "=\"";
        } else {
          error = check_domain_spec(term.modifier_value);
          slot = term.modifier_value;
        }
      } else {
        error = check_macro_string(term.modifier_value, false);
      }
    } else {
      error = parse_directive(term_text, term);
    }
    if (!error.empty()) record.errors.push_back({term.text, error});
    record.terms.push_back(std::move(term));
  }
  return record;
}

}  // namespace dnsscience
