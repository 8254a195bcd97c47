#include "tls/openssl_util.hpp"

#include <openssl/err.h>
#include <openssl/sha.h>

#include "dnsscience/error.hpp"

namespace dnsscience::tls::detail {

X509Ptr parse_der(const Der& der) {
  const unsigned char* cursor = der.data();
  X509Ptr cert(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (cert && cursor != der.data() + der.size()) return nullptr;  // trailing bytes
  return cert;
}

X509Ptr parse_der_or_throw(const Der& der, const char* what) {
  X509Ptr cert = parse_der(der);
  if (!cert) {
    drain_error_queue();
    throw Error(ErrorKind::invalid_argument,
                std::string(what) + " is not a DER X.509 certificate (" +
                    std::to_string(der.size()) + " bytes); pass the DER encoding, not PEM");
  }
  return cert;
}

Der encode_der(X509* cert) {
  unsigned char* buffer = nullptr;
  const int length = i2d_X509(cert, &buffer);
  if (length <= 0) return {};
  Der der(buffer, buffer + length);
  OPENSSL_free(buffer);
  return der;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0x0f]);
  }
  return hex;
}

const EVP_MD* sha256_md() {
  // Fetched once and never freed: the object lives as long as the default library context.
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      drain_error_queue();
      fetched = EVP_sha256();
    }
    return fetched;
  }();
  return md;
}

std::string sha256_hex(const unsigned char* data, size_t size) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, sha256_md(), nullptr) != 1) {
    drain_error_queue();
    return {};
  }
  return to_hex(digest, length);
}

std::string to_base64(const Der& der) {
  if (der.empty()) return {};
  std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), der.data(),
                                     static_cast<int>(der.size()));
  out.resize(static_cast<size_t>(length));
  return out;
}

std::string name_to_string(const X509_NAME* name) {
  if (name == nullptr) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // XN_FLAG_RFC2253 escapes per RFC 2253, the predecessor of RFC 4514. Without
  // ASN1_STRFLGS_ESC_MSB, non-ASCII names stay readable UTF-8 instead of \XX escapes.
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    return {};
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string drain_error_queue() {
  std::string text;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

}  // namespace dnsscience::tls::detail
