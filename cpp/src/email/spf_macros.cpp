#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "dnsscience/email/spf_evaluator.hpp"

namespace dnsscience {

namespace {

// The "i" macro: dotted quad for IPv4, and for IPv6 32 dot-separated nibbles
// (RFC 7208 section 7.3), written in uppercase hex as in that section's examples.
std::string ip_macro_value(const IpAddress& ip) {
  if (!ip.is_v6) return ip.to_string();
  static const char kHex[] = "0123456789ABCDEF";
  std::string value;
  for (size_t i = 0; i < 16; ++i) {
    if (i != 0) value += '.';
    value += kHex[ip.bytes[i] >> 4];
    value += '.';
    value += kHex[ip.bytes[i] & 15];
  }
  return value;
}

std::string macro_value(char letter, const SpfMacroContext& context) {
  switch (letter) {
    case 's': return context.sender;
    case 'l': return context.local_part;
    case 'o': return context.sender_domain;
    case 'd': return context.domain;
    case 'i': return context.ip ? ip_macro_value(*context.ip) : std::string();
    case 'p': return context.validated_name;
    case 'v': return context.ip && context.ip->is_v6 ? "ip6" : "in-addr";
    case 'h': return context.helo;
    case 'c': return context.ip ? context.ip->to_string() : std::string();
    case 'r': return context.receiver;
    case 't': return std::to_string(context.timestamp);
    default: return {};
  }
}

// URL-escapes every character outside the unreserved set of RFC 3986
// (RFC 7208 section 7.3: uppercase macro letters).
std::string url_escape(const std::string& value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string escaped;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      escaped += static_cast<char>(c);
    } else {
      escaped += '%';
      escaped += kHex[c >> 4];
      escaped += kHex[c & 15];
    }
  }
  return escaped;
}

// Applies the transformers of one macro: split on the delimiters (default
// "."), reverse when requested, keep the rightmost `keep` parts, join with ".".
std::string transform(const std::string& value, int keep, bool reverse, const std::string& delimiters) {
  const std::string split_on = delimiters.empty() ? std::string(".") : delimiters;
  std::vector<std::string> parts;
  std::string current;
  for (char c : value) {
    if (split_on.find(c) != std::string::npos) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  if (reverse) std::reverse(parts.begin(), parts.end());
  if (keep > 0 && static_cast<size_t>(keep) < parts.size()) {
    parts.erase(parts.begin(), parts.end() - keep);
  }
  std::string joined;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) joined += '.';
    joined += parts[i];
  }
  return joined;
}

}  // namespace

std::string expand_spf_macros(const std::string& text, const SpfMacroContext& context) {
  std::string expanded;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%' || i + 1 >= text.size()) {
      expanded += text[i];
      continue;
    }
    const char next = text[i + 1];
    if (next == '%') {
      expanded += '%';
      ++i;
      continue;
    }
    if (next == '_') {
      expanded += ' ';
      ++i;
      continue;
    }
    if (next == '-') {
      expanded += "%20";
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (next != '{' || close == std::string::npos || close == i + 2) {
      expanded += text[i];
      continue;
    }
    const std::string body = text.substr(i + 2, close - i - 2);
    const char letter = body[0];
    size_t pos = 1;
    int keep = 0;
    while (pos < body.size() && std::isdigit(static_cast<unsigned char>(body[pos]))) {
      keep = keep * 10 + (body[pos] - '0');
      ++pos;
    }
    bool reverse = false;
    if (pos < body.size() && (body[pos] == 'r' || body[pos] == 'R')) {
      reverse = true;
      ++pos;
    }
    const std::string delimiters = body.substr(pos);
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
    std::string value = transform(macro_value(lower, context), keep, reverse, delimiters);
    expanded += std::isupper(static_cast<unsigned char>(letter)) ? url_escape(value) : value;
    i = close;
  }
  return expanded;
}

std::string finish_expanded_domain(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  while (name.size() > 253) {
    const size_t dot = name.find('.');
    if (dot == std::string::npos) break;
    name.erase(0, dot + 1);
  }
  return name;
}

bool spf_macro_depends_on_sender(const std::string& text) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '%' && text[i + 1] == '%') {
      ++i;
      continue;
    }
    if (text[i] == '%' && text[i + 1] == '{') {
      const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i + 2])));
      if (letter != 'd') return true;
    }
  }
  return false;
}

}  // namespace dnsscience
