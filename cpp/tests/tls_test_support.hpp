#pragma once

// Test helpers for the TLS tests: keys and certificates generated with OpenSSL, an
// in-process TLS/STARTTLS server on 127.0.0.1 and an in-memory Resolver.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/event_loop.hpp"
#include "dnsscience/tls/certificate.hpp"
#include "tls/openssl_util.hpp"

namespace dnsscience::tls::testing {

using detail::EvpPkeyPtr;
using detail::X509Ptr;

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + " failed: " + detail::drain_error_queue());
}

inline EvpPkeyPtr make_rsa_key(unsigned bits) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  check(key != nullptr, "RSA key generation");
  return key;
}

inline EvpPkeyPtr make_ec_key(const char* group) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group));
  check(key != nullptr, "EC key generation");
  return key;
}

inline EvpPkeyPtr make_ed25519_key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  check(key != nullptr, "Ed25519 key generation");
  return key;
}

/// What a generated certificate contains. Times are seconds relative to now unless
/// `not_after_epoch` is set.
struct CertSpec {
  std::optional<std::string> cn = std::string("localhost");
  std::optional<std::string> o;
  std::string san;  ///< OpenSSL config syntax, e.g. "DNS:localhost, IP:127.0.0.1"; empty for none
  long not_before_offset = -86400;
  long not_after_offset = 90L * 86400;
  std::optional<int64_t> not_after_epoch;
  long serial = 4242;
  const EVP_MD* digest = EVP_sha256();  ///< nullptr for Ed25519 signers
  bool ca = false;
  std::string key_usage = "critical, digitalSignature, keyEncipherment";
  std::string extended_key_usage = "serverAuth";
  std::string authority_info_access;  ///< e.g. "OCSP;URI:http://ocsp.test/"
  std::string crl_distribution_points;  ///< e.g. "URI:http://crl.test/ca.crl"
  int sct_count = 0;  ///< SCTs in a synthetic embedded SCT list
  bool malformed_san = false;  ///< adds an undecodable subjectAltName instead of `san`
};

struct TestCert {
  X509Ptr cert;
  EvpPkeyPtr key;
  Der der;
};

inline void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  if (value.empty()) return;
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, &context, nid, value.c_str());
  check(extension != nullptr, "X509V3_EXT_nconf_nid");
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

inline void add_raw_extension(X509* cert, int nid, const std::vector<unsigned char>& value) {
  ASN1_OCTET_STRING* octets = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(octets, value.data(), static_cast<int>(value.size()));
  X509_EXTENSION* extension = X509_EXTENSION_create_by_NID(nullptr, nid, 0, octets);
  check(extension != nullptr, "X509_EXTENSION_create_by_NID");
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  ASN1_OCTET_STRING_free(octets);
}

// An RFC 6962 section 3.3 SignedCertificateTimestampList with `count` v1 SCTs (random log
// ids, empty signatures), wrapped in the DER OCTET STRING that the extension carries.
inline std::vector<unsigned char> synthetic_sct_list(int count) {
  std::vector<unsigned char> sct;
  sct.push_back(0);                         // version v1
  for (int i = 0; i < 32; ++i) sct.push_back(static_cast<unsigned char>(i));  // log id
  for (int i = 0; i < 8; ++i) sct.push_back(1);  // timestamp
  sct.insert(sct.end(), {0, 0});            // no extensions
  sct.insert(sct.end(), {4, 3, 0, 2, 0x30, 0x00});  // sha256/ecdsa, 2-byte signature
  std::vector<unsigned char> list;
  for (int i = 0; i < count; ++i) {
    list.push_back(static_cast<unsigned char>(sct.size() >> 8));
    list.push_back(static_cast<unsigned char>(sct.size() & 0xff));
    list.insert(list.end(), sct.begin(), sct.end());
  }
  std::vector<unsigned char> tls;
  tls.push_back(static_cast<unsigned char>(list.size() >> 8));
  tls.push_back(static_cast<unsigned char>(list.size() & 0xff));
  tls.insert(tls.end(), list.begin(), list.end());
  std::vector<unsigned char> der = {0x04, static_cast<unsigned char>(tls.size())};
  der.insert(der.end(), tls.begin(), tls.end());
  return der;
}

/// Issues a certificate for `key` signed by `issuer` (self-signed when null).
inline TestCert make_cert(const CertSpec& spec, EvpPkeyPtr key, const TestCert* issuer = nullptr) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER* serial = ASN1_INTEGER_new();
  ASN1_INTEGER_set(serial, spec.serial);
  X509_set_serialNumber(cert.get(), serial);
  ASN1_INTEGER_free(serial);

  X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_offset);
  if (spec.not_after_epoch) {
    ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(*spec.not_after_epoch));
  } else {
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_offset);
  }

  X509_NAME* name = X509_get_subject_name(cert.get());
  if (spec.o) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.o->c_str()), -1, -1, 0);
  }
  if (spec.cn) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.cn->c_str()), -1, -1, 0);
  }
  X509* signer_cert = issuer != nullptr ? issuer->cert.get() : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert));
  X509_set_pubkey(cert.get(), key.get());

  add_extension(cert.get(), signer_cert, NID_basic_constraints,
                spec.ca ? "critical, CA:TRUE" : "critical, CA:FALSE");
  add_extension(cert.get(), signer_cert, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add_extension(cert.get(), signer_cert, NID_authority_key_identifier, "keyid:always");
  }
  add_extension(cert.get(), signer_cert, NID_key_usage,
                spec.ca ? "critical, keyCertSign, cRLSign" : spec.key_usage);
  if (!spec.ca) add_extension(cert.get(), signer_cert, NID_ext_key_usage, spec.extended_key_usage);
  if (spec.malformed_san) {
    add_raw_extension(cert.get(), NID_subject_alt_name, {0x30, 0x03, 0xff, 0xff, 0xff});
  } else {
    add_extension(cert.get(), signer_cert, NID_subject_alt_name, spec.san);
  }
  add_extension(cert.get(), signer_cert, NID_info_access, spec.authority_info_access);
  add_extension(cert.get(), signer_cert, NID_crl_distribution_points, spec.crl_distribution_points);
  if (spec.sct_count > 0) {
    add_raw_extension(cert.get(), NID_ct_precert_scts, synthetic_sct_list(spec.sct_count));
  }

  EVP_PKEY* signer_key = issuer != nullptr ? issuer->key.get() : key.get();
  const bool raw_signer = EVP_PKEY_base_id(signer_key) == EVP_PKEY_ED25519;
  check(X509_sign(cert.get(), signer_key, raw_signer ? nullptr : spec.digest) > 0, "X509_sign");

  TestCert result;
  result.der = detail::encode_der(cert.get());
  result.cert = std::move(cert);
  result.key = std::move(key);
  return result;
}

/// A test CA (RSA 2048) and a PEM file holding its certificate.
struct TestCa {
  TestCert root;
  std::string pem_path;

  TestCa() {
    CertSpec spec;
    spec.cn = "dnsscience Test Root CA";
    spec.o = "dnsscience tests";
    spec.ca = true;
    spec.not_after_offset = 3650L * 86400;
    spec.serial = 1;
    root = make_cert(spec, make_rsa_key(2048));
    char path[] = "/tmp/dnsscience-test-ca-XXXXXX";
    const int fd = mkstemp(path);
    check(fd >= 0, "mkstemp");
    close(fd);
    pem_path = path;
    FILE* file = std::fopen(pem_path.c_str(), "w");
    check(file != nullptr, "fopen of the CA file");
    PEM_write_X509(file, root.cert.get());
    std::fclose(file);
  }
  ~TestCa() { std::remove(pem_path.c_str()); }

  /// Issues a leaf signed by this CA.
  TestCert issue(const CertSpec& spec, EvpPkeyPtr key) const { return make_cert(spec, std::move(key), &root); }
};

/// What the test server does with each accepted connection.
enum class ServerMode {
  tls,                ///< implicit TLS
  silent,             ///< accepts and never sends a byte
  close_after_hello,  ///< reads the ClientHello, then closes
  garbage,            ///< reads the ClientHello, answers with non-TLS bytes
  flood,              ///< sends SMTP greeting continuation lines without end
  smtp,               ///< SMTP with STARTTLS (RFC 3207)
  imap,               ///< IMAP with STARTTLS (RFC 3501 section 6.2.1)
  pop3,               ///< POP3 with STLS (RFC 2595 section 4)
};

struct ServerOptions {
  ServerMode mode = ServerMode::tls;
  std::vector<X509*> chain;  ///< leaf first; not owned
  EVP_PKEY* key = nullptr;   ///< not owned
  bool smtp_offer_starttls = true;
  std::string smtp_greeting = "220-mail.test ESMTP test server\r\n220 mail.test ready\r\n";
  bool imap_offer_starttls = true;
  int accept_delay_ms = 0;      ///< sleep before the TLS handshake of each connection
  bool reject_sni = false;      ///< answer any SNI with a fatal unrecognized_name alert
  bool staple_ocsp = false;     ///< send a (dummy) OCSP response when the client asks
  bool offer_alpn_h2 = false;   ///< select "h2" when the client offers it
  bool ipv6 = false;            ///< listen on [::1] instead of 127.0.0.1
  int max_version = 0;          ///< e.g. TLS1_VERSION; 0 for the library maximum
  bool require_client_cert = false;  ///< fail the handshake of clients without a certificate
};

/// A TLS and STARTTLS server on 127.0.0.1 with an ephemeral port. The listener is
/// non-blocking and polled. Each connection runs on its own thread with blocking I/O
/// under a 5 s receive timeout, so a stuck test cannot hang forever.
class TestServer {
 public:
  explicit TestServer(ServerOptions options) : options_(std::move(options)) {
    if (options_.ipv6) {
      listener_ = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      check(listener_ >= 0, "socket");
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_addr = in6addr_loopback;
      check(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "bind");
      socklen_t length = sizeof address;
      getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
      port_ = ntohs(address.sin6_port);
    } else {
      listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      check(listener_ >= 0, "socket");
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      check(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "bind");
      socklen_t length = sizeof address;
      getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
      port_ = ntohs(address.sin_port);
    }
    check(listen(listener_, 1024) == 0, "listen");
    if (options_.key != nullptr) make_context();
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    stopping_ = true;
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& worker : workers_) worker.join();
    close(listener_);
  }

  uint16_t port() const { return port_; }
  std::string target() const {
    return (options_.ipv6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port_);
  }
  /// Server names received in ClientHellos, one entry per handshake ("" for none).
  std::vector<std::string> server_names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return server_names_;
  }
  int connections() const { return connections_; }
  /// The most connections that were at once inside the pre-handshake delay
  /// (`accept_delay_ms`). A client holds each of those connections open, because the
  /// server has not answered its ClientHello yet, so this is a lower bound of the
  /// client's concurrency that cannot overcount.
  int max_concurrent() const { return max_delayed_; }
  /// Lines the server received in plaintext (STARTTLS modes), in order.
  std::vector<std::string> received_lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_lines_;
  }
  /// Lines the server received inside TLS (SMTP after STARTTLS).
  std::vector<std::string> received_tls_lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_tls_lines_;
  }

 private:
  void make_context() {
    context_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* context = context_.get();
    SSL_CTX_set_security_level(context, 0);
    SSL_CTX_set_cipher_list(context, "ALL:@SECLEVEL=0");
    if (options_.max_version != 0) SSL_CTX_set_max_proto_version(context, options_.max_version);
    if (options_.require_client_cert) {
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    check(SSL_CTX_use_certificate(context, options_.chain.at(0)) == 1, "SSL_CTX_use_certificate");
    for (size_t i = 1; i < options_.chain.size(); ++i) {
      X509_up_ref(options_.chain[i]);
      SSL_CTX_add_extra_chain_cert(context, options_.chain[i]);
    }
    check(SSL_CTX_use_PrivateKey(context, options_.key) == 1, "SSL_CTX_use_PrivateKey");
    SSL_CTX_set_tlsext_servername_callback(context, &TestServer::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(context, this);
    if (options_.staple_ocsp) {
      SSL_CTX_set_tlsext_status_cb(context, &TestServer::staple_dummy_ocsp_response);
    }
    if (options_.offer_alpn_h2) {
      SSL_CTX_set_alpn_select_cb(
          context,
          +[](SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
              unsigned int in_length, void*) {
            static const unsigned char kH2[] = {2, 'h', '2'};
            unsigned char* selected = nullptr;
            if (SSL_select_next_proto(&selected, out_length, kH2, sizeof kH2, in, in_length) !=
                OPENSSL_NPN_NEGOTIATED) {
              return SSL_TLSEXT_ERR_NOACK;
            }
            *out = selected;
            return SSL_TLSEXT_ERR_OK;
          },
          nullptr);
    }
  }

  static int on_server_name(SSL* ssl, int* alert, void* arg) {
    auto* server = static_cast<TestServer*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    {
      std::lock_guard<std::mutex> lock(server->mutex_);
      server->server_names_.push_back(name != nullptr ? name : "");
    }
    if (name == nullptr || !server->options_.reject_sni) return SSL_TLSEXT_ERR_OK;
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }

  // Any bytes will do: the prober records that a response was stapled, nothing more.
  static int staple_dummy_ocsp_response(SSL* ssl, void*) {
    static const unsigned char kDummy[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(kDummy, sizeof kDummy));
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, sizeof kDummy);
    return SSL_TLSEXT_ERR_OK;
  }

  void accept_loop() {
    while (!stopping_) {
      pollfd entry{listener_, POLLIN, 0};
      if (poll(&entry, 1, 20) <= 0) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval timeout{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        open_fds_.push_back(fd);
        ++connections_;
      }
      workers_.emplace_back([this, fd] {
        // A write to a closed connection raises SIGPIPE in the writing thread; blocked
        // here, it stays pending in this thread instead of killing the test binary.
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
        serve(fd);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          for (auto it = open_fds_.begin(); it != open_fds_.end(); ++it) {
            if (*it == fd) {
              open_fds_.erase(it);
              break;
            }
          }
        }
        close(fd);
      });
    }
  }

  // Reads one CRLF- or LF-terminated line; false on EOF or timeout.
  bool read_line(int fd, SSL* ssl, std::string& buffer, std::string& line) {
    for (;;) {
      const size_t end = buffer.find('\n');
      if (end != std::string::npos) {
        line = buffer.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        buffer.erase(0, end + 1);
        std::lock_guard<std::mutex> lock(mutex_);
        (ssl != nullptr ? received_tls_lines_ : received_lines_).push_back(line);
        return true;
      }
      char chunk[1024];
      const int got = ssl != nullptr ? SSL_read(ssl, chunk, sizeof chunk)
                                     : static_cast<int>(recv(fd, chunk, sizeof chunk, 0));
      if (got <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(got));
    }
  }

  static void send_all(int fd, SSL* ssl, const std::string& text) {
    if (ssl != nullptr) {
      SSL_write(ssl, text.data(), static_cast<int>(text.size()));
    } else {
      [[maybe_unused]] ssize_t sent = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    }
  }

  void wait_for_close(int fd) {
    char chunk[1024];
    while (!stopping_ && recv(fd, chunk, sizeof chunk, 0) > 0) {
    }
  }

  // Runs the server side of the handshake; returns the SSL on success.
  detail::SslPtr accept_tls(int fd) {
    if (options_.accept_delay_ms > 0) {
      const int now = ++delayed_;
      int seen = max_delayed_;
      while (now > seen && !max_delayed_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.accept_delay_ms));
      --delayed_;
    }
    detail::SslPtr ssl(SSL_new(context_.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) {
      ERR_clear_error();
      return nullptr;
    }
    return ssl;
  }

  void serve_tls_session(int fd, SSL* ssl) {
    char chunk[1024];
    while (!stopping_ && SSL_read(ssl, chunk, sizeof chunk) > 0) {
    }
    SSL_shutdown(ssl);
    (void)fd;
  }

  void serve(int fd) {
    std::string buffer;
    std::string line;
    char chunk[4096];
    switch (options_.mode) {
      case ServerMode::tls: {
        auto ssl = accept_tls(fd);
        if (ssl) serve_tls_session(fd, ssl.get());
        return;
      }
      case ServerMode::silent:
        wait_for_close(fd);
        return;
      case ServerMode::close_after_hello:
        recv(fd, chunk, sizeof chunk, 0);
        return;
      case ServerMode::garbage:
        recv(fd, chunk, sizeof chunk, 0);
        send_all(fd, nullptr, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        wait_for_close(fd);
        return;
      case ServerMode::flood: {
        // An SMTP greeting that never ends: continuation lines without a final line.
        const std::string lines = [] {
          std::string text;
          for (int i = 0; i < 400; ++i) text += "220-still greeting you\r\n";
          return text;
        }();
        while (!stopping_ && send(fd, lines.data(), lines.size(), MSG_NOSIGNAL) > 0) {
        }
        return;
      }
      case ServerMode::smtp:
        serve_smtp(fd, buffer, line);
        return;
      case ServerMode::imap:
        serve_imap(fd, buffer, line);
        return;
      case ServerMode::pop3:
        serve_pop3(fd, buffer, line);
        return;
    }
  }

  void serve_smtp(int fd, std::string& buffer, std::string& line) {
    send_all(fd, nullptr, options_.smtp_greeting);
    if (options_.smtp_greeting.rfind("220", 0) != 0) return;
    while (read_line(fd, nullptr, buffer, line)) {
      if (line.rfind("EHLO", 0) == 0) {
        std::string reply = "250-mail.test greets you\r\n250-PIPELINING\r\n";
        if (options_.smtp_offer_starttls) reply += "250-STARTTLS\r\n";
        reply += "250 8BITMIME\r\n";
        send_all(fd, nullptr, reply);
      } else if (line == "STARTTLS") {
        send_all(fd, nullptr, "220 2.0.0 Ready to start TLS\r\n");
        auto ssl = accept_tls(fd);
        if (!ssl) return;
        std::string tls_buffer;
        while (read_line(fd, ssl.get(), tls_buffer, line)) {
          if (line.rfind("EHLO", 0) == 0) {
            send_all(fd, ssl.get(), "250-mail.test greets you again\r\n250 8BITMIME\r\n");
          } else if (line == "QUIT") {
            send_all(fd, ssl.get(), "221 2.0.0 Bye\r\n");
            break;
          }
        }
        SSL_shutdown(ssl.get());
        return;
      } else if (line == "QUIT") {
        send_all(fd, nullptr, "221 2.0.0 Bye\r\n");
        return;
      } else {
        send_all(fd, nullptr, "502 5.5.2 Command not recognized\r\n");
      }
    }
  }

  void serve_imap(int fd, std::string& buffer, std::string& line) {
    send_all(fd, nullptr, "* OK IMAP4rev1 test server ready\r\n");
    while (read_line(fd, nullptr, buffer, line)) {
      const std::string tag = line.substr(0, line.find(' '));
      if (line.find("CAPABILITY") != std::string::npos) {
        send_all(fd, nullptr,
                 std::string("* CAPABILITY IMAP4rev1 ") +
                     (options_.imap_offer_starttls ? "STARTTLS " : "") + "LOGINDISABLED\r\n" +
                     tag + " OK CAPABILITY completed\r\n");
      } else if (line.find("STARTTLS") != std::string::npos) {
        send_all(fd, nullptr, tag + " OK Begin TLS negotiation now\r\n");
        auto ssl = accept_tls(fd);
        if (ssl) serve_tls_session(fd, ssl.get());
        return;
      } else if (line.find("LOGOUT") != std::string::npos) {
        send_all(fd, nullptr, "* BYE\r\n" + tag + " OK LOGOUT completed\r\n");
        return;
      } else {
        send_all(fd, nullptr, tag + " BAD unknown command\r\n");
      }
    }
  }

  void serve_pop3(int fd, std::string& buffer, std::string& line) {
    send_all(fd, nullptr, "+OK POP3 test server ready\r\n");
    while (read_line(fd, nullptr, buffer, line)) {
      if (line == "CAPA") {
        send_all(fd, nullptr, "+OK Capability list follows\r\nUSER\r\nSTLS\r\n.\r\n");
      } else if (line == "STLS") {
        send_all(fd, nullptr, "+OK Begin TLS negotiation\r\n");
        auto ssl = accept_tls(fd);
        if (ssl) serve_tls_session(fd, ssl.get());
        return;
      } else if (line == "QUIT") {
        send_all(fd, nullptr, "+OK Bye\r\n");
        return;
      } else {
        send_all(fd, nullptr, "-ERR unknown command\r\n");
      }
    }
  }

  ServerOptions options_;
  detail::SslCtxPtr context_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  mutable std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::string> received_lines_;
  std::vector<std::string> received_tls_lines_;
  std::vector<std::string> server_names_;
  std::atomic<int> connections_{0};
  std::atomic<int> delayed_{0};
  std::atomic<int> max_delayed_{0};
};

/// An in-memory Resolver. Responses are delivered through EventLoop::post, as a real
/// asynchronous resolver delivers them on a later loop iteration.
class FakeResolver : public Resolver {
 public:
  explicit FakeResolver(EventLoop& loop) : loop_(loop) {}

  void add(const std::string& name, RRType type, std::vector<std::string> addresses) {
    answers_[{name, type}] = {DnsStatus::data, std::move(addresses)};
  }
  void set_status(const std::string& name, RRType type, DnsStatus status) {
    answers_[{name, type}] = {status, {}};
  }
  int queries() const { return queries_; }

  void query(const std::string& name, RRType type, Callback callback) override {
    ++queries_;
    DnsAnswer answer;
    answer.qname = name;
    answer.qtype = type;
    auto it = answers_.find({name, type});
    if (it == answers_.end()) {
      answer.status = DnsStatus::nodata;
      answer.rcode = 0;
    } else {
      answer.status = it->second.first;
      answer.rcode = answer.status == DnsStatus::nxdomain ? 3 : 0;
      for (const auto& address : it->second.second) {
        ResourceRecord record;
        record.name = name;
        record.type = type;
        record.address = address;
        answer.records.push_back(record);
      }
    }
    loop_.post([callback = std::move(callback), answer = std::move(answer)]() mutable {
      callback(std::move(answer));
    });
  }

 private:
  EventLoop& loop_;
  std::map<std::pair<std::string, RRType>, std::pair<DnsStatus, std::vector<std::string>>> answers_;
  int queries_ = 0;
};

}  // namespace dnsscience::tls::testing
