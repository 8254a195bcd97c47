#include "email/tag_list.hpp"

#include <cctype>

namespace dnsscience::email_detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::string trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return std::string(text.substr(begin, end - begin));
}

std::string ascii_lower(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered;
}

TagList split_tag_list(std::string_view text) {
  TagList list;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string entry = trim(text.substr(start, end - start));
    start = end + 1;
    if (entry.empty()) continue;
    const size_t equals = entry.find('=');
    if (equals == std::string::npos) {
      list.malformed.push_back(entry);
      continue;
    }
    list.tags.push_back(Tag{trim(std::string_view(entry).substr(0, equals)),
                            trim(std::string_view(entry).substr(equals + 1))});
  }
  return list;
}

bool starts_with_version_tag(std::string_view text, std::string_view name, std::string_view value) {
  size_t pos = 0;
  while (pos < text.size() && is_space(text[pos])) ++pos;
  if (text.substr(pos, name.size()) != name) return false;
  pos += name.size();
  while (pos < text.size() && is_space(text[pos])) ++pos;
  if (pos >= text.size() || text[pos] != '=') return false;
  ++pos;
  while (pos < text.size() && is_space(text[pos])) ++pos;
  if (text.substr(pos, value.size()) != value) return false;
  pos += value.size();
  return pos == text.size() || text[pos] == ';' || is_space(text[pos]);
}

}  // namespace dnsscience::email_detail
