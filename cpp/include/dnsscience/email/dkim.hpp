#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dnsscience/email/findings.hpp"

namespace dnsscience {

/// A DKIM key record (RFC 6376 section 3.6.1) found under one selector.
struct DkimKey {
  std::string selector;
  std::string record;  ///< the TXT text, character-strings joined
  /// True when the text is a DKIM key record: a tag list whose v= (if present)
  /// is first and equals DKIM1, with a p= tag.
  bool is_key_record = false;
  std::string key_type = "rsa";  ///< k=, lowercase; rsa when absent
  /// Key size in bits: the RSA modulus size, 256 for Ed25519, 0 when the key is
  /// revoked or cannot be decoded.
  int key_bits = 0;
  bool revoked = false;  ///< p= is empty
  bool testing = false;  ///< t= contains the flag y
  std::string problem;   ///< why the text is not a key record, or why the key is unusable
  std::vector<Finding> findings;
};

/// Parses the TXT text at `<selector>._domainkey.<domain>`. RSA keys are
/// decoded from base64 SubjectPublicKeyInfo (or a bare PKCS#1 RSAPublicKey) with
/// OpenSSL; Ed25519 keys are the raw 32-byte key of RFC 8463 section 4.2.
DkimKey parse_dkim_key_record(const std::string& selector, std::string_view text);

/// The selectors probed by default.
const std::vector<std::string>& default_dkim_selectors();

}  // namespace dnsscience
