#include "dnsscience/email/dkim.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <set>

#include "dnsscience/email/finding_codes.hpp"
#include "email/tag_list.hpp"

namespace dnsscience {

namespace {

using email_detail::ascii_lower;

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Decodes base64 after removing the folding whitespace that RFC 6376 section
// 3.6.1 allows inside p=. Returns false for invalid base64.
bool decode_base64(const std::string& text, std::vector<unsigned char>& output) {
  std::string compact;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') compact += c;
  }
  if (compact.empty() || compact.size() % 4 != 0) return false;
  output.assign(compact.size() / 4 * 3, 0);
  const int length = EVP_DecodeBlock(output.data(), reinterpret_cast<const unsigned char*>(compact.data()),
                                     static_cast<int>(compact.size()));
  if (length < 0) return false;
  size_t padding = 0;
  if (compact.back() == '=') ++padding;
  if (compact.size() >= 2 && compact[compact.size() - 2] == '=') ++padding;
  output.resize(static_cast<size_t>(length) - padding);
  return true;
}

void decode_key(const std::string& encoded, DkimKey& key) {
  std::vector<unsigned char> der;
  if (!decode_base64(encoded, der)) {
    key.problem = "p= is not valid base64";
    return;
  }
  if (key.key_type == "ed25519") {
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, der.data(), der.size()));
    if (!pkey) {
      key.problem = "p= is not a 32-byte Ed25519 public key";
      return;
    }
    key.key_bits = EVP_PKEY_bits(pkey.get());
    return;
  }
  const unsigned char* cursor = der.data();
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  if (!pkey) {
    cursor = der.data();
    pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, static_cast<long>(der.size())));
  }
  if (!pkey) {
    key.problem = "p= is not a DER-encoded public key";
    return;
  }
  if (EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_RSA) {
    key.problem = "p= holds a public key that is not RSA, but k=" + key.key_type;
    return;
  }
  key.key_bits = EVP_PKEY_bits(pkey.get());
}

}  // namespace

const std::vector<std::string>& default_dkim_selectors() {
  static const std::vector<std::string> kSelectors = {
      "default", "google", "selector1", "selector2", "k1", "k2", "k3", "s1", "s2", "dkim",
      "mail", "smtp", "fm1", "fm2", "fm3", "protonmail", "protonmail2", "protonmail3", "mandrill", "zoho",
  };
  return kSelectors;
}

DkimKey parse_dkim_key_record(const std::string& selector, std::string_view text) {
  DkimKey key;
  key.selector = selector;
  key.record = std::string(text);
  const email_detail::TagList list = email_detail::split_tag_list(text);
  if (!list.malformed.empty() || list.tags.empty()) {
    key.problem = "not a tag=value list";
    return key;
  }
  // RFC 6376 section 3.2: tag names are case-sensitive and a repeated tag makes
  // the whole list invalid.
  std::set<std::string> seen;
  const std::string* public_key = nullptr;
  const std::string* flags = nullptr;
  for (size_t i = 0; i < list.tags.size(); ++i) {
    const email_detail::Tag& tag = list.tags[i];
    if (!seen.insert(tag.name).second) {
      key.problem = "tag \"" + tag.name + "\" appears more than once";
      return key;
    }
    if (tag.name == "v" && (i != 0 || tag.value != "DKIM1")) {
      key.problem = i != 0 ? "v= is not the first tag" : "v=" + tag.value + " is not DKIM1";
      return key;
    }
    if (tag.name == "p") public_key = &tag.value;
    if (tag.name == "k") key.key_type = ascii_lower(tag.value);
    if (tag.name == "t") flags = &tag.value;
  }
  if (public_key == nullptr) {
    key.problem = "no p= tag";
    return key;
  }
  key.is_key_record = true;
  const std::string where = "DKIM selector " + selector;
  if (flags != nullptr) {
    size_t start = 0;
    while (start <= flags->size()) {
      size_t end = flags->find(':', start);
      if (end == std::string::npos) end = flags->size();
      if (email_detail::trim(std::string_view(*flags).substr(start, end - start)) == "y") key.testing = true;
      start = end + 1;
    }
  }
  if (key.testing) key.findings.push_back(make_finding(finding::kDkimTesting, where + ": t=y, the key is in testing mode"));
  if (public_key->empty()) {
    key.revoked = true;
    key.findings.push_back(make_finding(finding::kDkimRevokedKey, where + ": p= is empty, the key is revoked"));
    return key;
  }
  if (key.key_type != "rsa" && key.key_type != "ed25519") {
    key.problem = "k=" + key.key_type + " is not rsa or ed25519";
    key.findings.push_back(make_finding(finding::kDkimUnknownKeyType, where + ": " + key.problem));
    return key;
  }
  decode_key(*public_key, key);
  if (!key.problem.empty()) {
    key.findings.push_back(make_finding(finding::kDkimInvalidKey, where + ": " + key.problem));
    return key;
  }
  // RFC 8301 section 3.2: signers use RSA keys of at least 1024 bits and
  // should use 2048; verifiers reject shorter than 1024.
  if (key.key_type == "rsa" && key.key_bits < 2048) {
    std::string message = where + ": the RSA key has " + std::to_string(key.key_bits) + " bits, less than 2048";
    if (key.key_bits < 1024) message += "; verifiers reject keys under 1024 bits (RFC 8301)";
    key.findings.push_back(make_finding(finding::kDkimWeakKey, std::move(message)));
  }
  return key;
}

}  // namespace dnsscience
