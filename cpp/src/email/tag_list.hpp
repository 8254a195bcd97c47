#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dnsscience::email_detail {

/// One "name=value" entry of a tag-value list, whitespace around both trimmed.
struct Tag {
  std::string name;
  std::string value;
};

/// A tag-value list split on ";" (RFC 6376 section 3.2, RFC 7489 section 6.4,
/// RFC 8461 section 3.1). Empty entries (a trailing ";") are skipped; entries
/// without "=" are reported in `malformed` and left out of `tags`.
struct TagList {
  std::vector<Tag> tags;
  std::vector<std::string> malformed;
};

TagList split_tag_list(std::string_view text);

/// Returns `text` without leading and trailing spaces, tabs, CR and LF.
std::string trim(std::string_view text);

/// Returns `text` in ASCII lowercase.
std::string ascii_lower(std::string_view text);

/// True when the first tag of `text` is `name`=`value` (exact case, whitespace
/// around "=" tolerated) and it is followed by ";", whitespace or the end.
bool starts_with_version_tag(std::string_view text, std::string_view name, std::string_view value);

}  // namespace dnsscience::email_detail
