#pragma once

#include <string>
#include <string_view>

namespace dnsscience {

/// Normalizes a domain name for queries and storage: drops one trailing dot, folds
/// ASCII case, converts Unicode (UTF-8) labels to A-labels with libidn2 (IDNA 2008
/// with UTS #46 mapping, nontransitional), then validates the result. Accepted: at
/// most 253 octets, labels of 1..63 octets made of letters, digits, '-' and '_'
/// (underscore labels such as `_dmarc` are common). A leading or trailing hyphen in
/// a label is accepted.
///
/// Returns the name in lowercase without the trailing dot ("xn--bcher-kva.example").
/// Throws Error(invalid_argument) naming the input and the reason when the name is
/// empty, too long, has an empty or too long label, contains another character, or
/// is not valid IDNA.
std::string normalize_domain(std::string_view input);

}  // namespace dnsscience
