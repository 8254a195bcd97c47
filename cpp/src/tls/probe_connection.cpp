#include "tls/probe_connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "dnsscience/error.hpp"

namespace dnsscience::tls::detail {

namespace {

using Clock = std::chrono::steady_clock;

ProbeConnection* connection_of(SSL* ssl) {
  return static_cast<ProbeConnection*>(SSL_get_app_data(ssl));
}

// Replaces certificate verification during the handshake: it records the chain the
// server presented and accepts it, so that expired, self-signed and mismatched
// certificates are collected. Trust is judged after the handshake.
int record_chain_and_accept(X509_STORE_CTX* store_context, void*) {
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_context, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr && connection_of(ssl) != nullptr) {
    connection_of(ssl)->capture_chain(X509_STORE_CTX_get0_untrusted(store_context));
  }
  return 1;
}

void record_alerts(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  auto* connection = connection_of(const_cast<SSL*>(ssl));
  if (connection != nullptr) connection->record_alert(value >> 8, value & 0xff);
}

// A socket BIO of our own instead of OpenSSL's: it sends with MSG_NOSIGNAL, so a peer
// that resets the connection cannot raise SIGPIPE in the host process, and it counts
// the bytes read for the read cap.
int socket_bio_write(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  const ssize_t sent = send(fd, data, static_cast<size_t>(length), MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(sent);
}

int socket_bio_read(BIO* bio, char* data, int length) {
  BIO_clear_retry_flags(bio);
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  const ssize_t got = recv(fd, data, static_cast<size_t>(length), 0);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  if (got > 0) {
    auto* connection = static_cast<ProbeConnection*>(BIO_get_app_data(bio));
    if (connection != nullptr) connection->count_read(static_cast<size_t>(got));
  }
  return static_cast<int>(got);
}

int socket_bio_puts(BIO* bio, const char* text) {
  return socket_bio_write(bio, text, static_cast<int>(std::strlen(text)));
}

long socket_bio_ctrl(BIO*, int command, long, void*) {
  // FLUSH must succeed; every other control (KTLS, DGRAM, ...) is unsupported.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int socket_bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* created =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dnsscience probe socket");
    BIO_meth_set_write(created, socket_bio_write);
    BIO_meth_set_read(created, socket_bio_read);
    BIO_meth_set_puts(created, socket_bio_puts);
    BIO_meth_set_ctrl(created, socket_bio_ctrl);
    BIO_meth_set_create(created, socket_bio_create);
    return created;
  }();
  return method;
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

SslCtxPtr make_collecting_context() {
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) {
    throw Error(ErrorKind::internal, "SSL_CTX_new failed: " + drain_error_queue());
  }
  SSL_CTX* ctx = context.get();
  // Collection must not depend on trust or strength: level 0 admits RSA-1024, SHA-1
  // signatures and TLS 1.0, which a scan must still see and report.
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  // Servers without RFC 5746 secure renegotiation are still probed.
  SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, record_chain_and_accept, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  drain_error_queue();
  return context;
}

std::string alert_name(int description) {
  switch (description) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 21: return "decryption_failed";
    case 22: return "record_overflow";
    case 30: return "decompression_failure";
    case 40: return "handshake_failure";
    case 41: return "no_certificate";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 60: return "export_restriction";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 86: return "inappropriate_fallback";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 111: return "certificate_unobtainable";
    case 112: return "unrecognized_name";
    case 113: return "bad_certificate_status_response";
    case 114: return "bad_certificate_hash_value";
    case 115: return "unknown_psk_identity";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return "alert_" + std::to_string(description);
  }
}

bool is_ip_literal(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

ProbeConnection::ProbeConnection(const ProbeContext& context, ProbeResult result,
                                 Clock::time_point started, Finished on_finished)
    : context_(context),
      result_(std::move(result)),
      started_(started),
      on_finished_(std::move(on_finished)),
      dialogue_(result_.starttls, context.options.ehlo_name) {}

ProbeConnection::~ProbeConnection() { close_socket(); }

void ProbeConnection::watch(uint32_t events) {
  std::weak_ptr<ProbeConnection> weak = shared_from_this();
  context_.loop.watch(fd_, events, [weak](uint32_t ready) {
    if (auto self = weak.lock()) self->on_event(ready);
  });
}

void ProbeConnection::set_phase(Phase phase, std::chrono::milliseconds timeout,
                                ProbeError on_timeout) {
  phase_ = phase;
  if (timer_ != 0) context_.loop.cancel_timer(timer_);
  std::weak_ptr<ProbeConnection> weak = shared_from_this();
  timer_ = context_.loop.add_timer(timeout, [weak, on_timeout] {
    if (auto self = weak.lock()) {
      self->timer_ = 0;
      if (self->phase_ == Phase::after_tls) {
        self->finish_ehlo_after_tls("timed out waiting for the EHLO reply");
      } else {
        self->fail(on_timeout);
      }
    }
  });
}

void ProbeConnection::start() {
  started_connect_ = true;
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, result_.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(result_.port);
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, result_.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(result_.port);
    length = sizeof(sockaddr_in6);
  } else {
    fail({"connect", "connect_failed", "invalid address '" + result_.address + "'", false});
    return;
  }

  fd_ = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    // EMFILE and ENFILE clear up when other probes close their sockets.
    const int error = errno;
    fail({"connect", "connect_failed", "socket: " + errno_text(error), true});
    return;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  set_phase(Phase::connecting, context_.options.connect_timeout,
            {"connect", "connect_timeout", "no TCP connection within the connect timeout", true});
  if (connect(fd_, reinterpret_cast<sockaddr*>(&storage), length) == 0) {
    finish_connect();
    return;
  }
  if (errno != EINPROGRESS) {
    const int error = errno;
    if (error == ECONNREFUSED) {
      fail({"connect", "connection_refused", errno_text(error), false});
    } else {
      fail({"connect", "connect_failed", errno_text(error), true});
    }
    return;
  }
  watch(EPOLLOUT);
}

void ProbeConnection::on_event(uint32_t events) {
  switch (phase_) {
    case Phase::connecting: {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error == 0 && (events & (EPOLLERR | EPOLLHUP)) == 0) {
        finish_connect();
      } else if (error == ECONNREFUSED) {
        fail({"connect", "connection_refused", errno_text(error), false});
      } else {
        fail({"connect", "connect_failed", errno_text(error != 0 ? error : ECONNABORTED), true});
      }
      return;
    }
    case Phase::dialogue:
      if (events & EPOLLOUT) flush_plaintext();
      if (!finished_ && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) read_dialogue();
      return;
    case Phase::handshake:
      drive_handshake();
      return;
    case Phase::after_tls:
      drive_ehlo_after_tls();
      return;
    case Phase::idle:
    case Phase::waiting:
    case Phase::done:
      return;
  }
}

void HandshakeGate::enter(const std::shared_ptr<ProbeConnection>& connection) {
  if (active_ < limit_) {
    ++active_;
    connection->admitted();
  } else {
    waiting_.push_back(connection);
  }
}

void HandshakeGate::leave() {
  --active_;
  while (!waiting_.empty()) {
    auto next = waiting_.front().lock();
    waiting_.pop_front();
    if (!next || next->finished()) continue;  // its target timed out while it waited
    ++active_;
    // Admitted from the loop, not from here: a chain of handshakes that fail at once
    // would otherwise recurse once per waiting connection.
    std::weak_ptr<ProbeConnection> weak = next;
    std::weak_ptr<int> gate_alive = alive_;
    HandshakeGate* gate = this;
    loop_.post([weak, gate_alive, gate] {
      if (gate_alive.expired()) return;  // the prober is gone
      auto connection = weak.lock();
      if (connection && !connection->finished()) {
        connection->admitted();
      } else {
        gate->leave();  // finished or gone before its turn came
      }
    });
    return;
  }
}

void ProbeConnection::finish_connect() {
  // The connect deadline ends here. The total deadline still applies while it waits.
  phase_ = Phase::waiting;
  if (timer_ != 0) {
    context_.loop.cancel_timer(timer_);
    timer_ = 0;
  }
  context_.loop.unwatch(fd_);
  context_.handshake_gate.enter(shared_from_this());
}

void ProbeConnection::admitted() {
  holds_gate_place_ = true;
  if (result_.starttls == StartTls::none) {
    begin_handshake();
  } else {
    begin_dialogue();
  }
}

void ProbeConnection::begin_dialogue() {
  set_phase(Phase::dialogue, context_.options.starttls_timeout,
            {"starttls", "starttls_timeout", "the STARTTLS dialogue did not finish in time", true});
  watch(EPOLLIN);
}

void ProbeConnection::read_dialogue() {
  char buffer[16384];
  for (;;) {
    const ssize_t got = recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      const int error = errno;
      result_.banner = dialogue_.banner();
      fail({"starttls", error == ECONNRESET ? "connection_reset" : "connect_failed",
            errno_text(error), true});
      return;
    }
    if (got == 0) {
      result_.banner = dialogue_.banner();
      fail({"starttls", "connection_closed", "the server closed the connection during the dialogue",
            true});
      return;
    }
    bytes_read_ += static_cast<size_t>(got);
    const DialogueStep step = dialogue_.feed(std::string_view(buffer, static_cast<size_t>(got)));
    result_.banner = dialogue_.banner();
    if (over_read_cap()) {
      fail({"starttls", "too_much_data",
            "more than " + std::to_string(context_.options.max_read_bytes) + " bytes received",
            false});
      return;
    }
    switch (step.kind) {
      case DialogueStep::Kind::failed:
        fail(step.error);
        return;
      case DialogueStep::Kind::ready:
        begin_handshake();
        return;
      case DialogueStep::Kind::wait:
        if (!step.output.empty()) {
          plaintext_out_ += step.output;
          flush_plaintext();
          if (finished_) return;
        }
        break;
    }
  }
}

void ProbeConnection::flush_plaintext() {
  while (!plaintext_out_.empty()) {
    const ssize_t sent = send(fd_, plaintext_out_.data(), plaintext_out_.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(EPOLLIN | EPOLLOUT);
        return;
      }
      if (errno == EINTR) continue;
      const int error = errno;
      fail({"starttls", error == ECONNRESET || error == EPIPE ? "connection_reset" : "connect_failed",
            errno_text(error), true});
      return;
    }
    plaintext_out_.erase(0, static_cast<size_t>(sent));
  }
  watch(EPOLLIN);
}

void ProbeConnection::begin_handshake() {
  set_phase(Phase::handshake, context_.options.handshake_timeout,
            {"handshake", "handshake_timeout", "the TLS handshake did not finish in time", true});
  ssl_.reset(SSL_new(context_.ssl_context));
  BIO* socket_bio = ssl_ ? BIO_new(socket_bio_method()) : nullptr;
  if (socket_bio == nullptr) {
    fail({"handshake", "protocol_error", "SSL_new failed: " + drain_error_queue(), true});
    return;
  }
  SSL* ssl = ssl_.get();
  BIO_set_data(socket_bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd_)));
  BIO_set_app_data(socket_bio, this);
  SSL_set_bio(ssl, socket_bio, socket_bio);  // one reference, owned by the SSL
  SSL_set_app_data(ssl, this);
  SSL_set_info_callback(ssl, record_alerts);

  if (result_.sni && !result_.sni->empty()) {
    SSL_set_tlsext_host_name(ssl, result_.sni->c_str());
  }
  const auto& alpn_ports = context_.options.alpn_ports;
  const bool https = std::find(alpn_ports.begin(), alpn_ports.end(), result_.port) != alpn_ports.end();
  if (https && !context_.options.https_alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const auto& protocol : context_.options.https_alpn) {
      wire.push_back(static_cast<unsigned char>(protocol.size()));
      wire.insert(wire.end(), protocol.begin(), protocol.end());
    }
    SSL_set_alpn_protos(ssl, wire.data(), static_cast<unsigned>(wire.size()));
  }
  SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
  SSL_set_connect_state(ssl);
  drive_handshake();
}

void ProbeConnection::drive_handshake() {
  ERR_clear_error();
  const int rc = SSL_connect(ssl_.get());
  if (over_read_cap()) {
    fail({"handshake", "too_much_data",
          "more than " + std::to_string(context_.options.max_read_bytes) + " bytes received",
          false});
    return;
  }
  if (rc == 1) {
    collect_session();
    if (result_.starttls == StartTls::smtp) {
      begin_ehlo_after_tls();
    } else {
      finish();
    }
    return;
  }
  const int error = SSL_get_error(ssl_.get(), rc);
  if (error == SSL_ERROR_WANT_READ) {
    watch(EPOLLIN);
  } else if (error == SSL_ERROR_WANT_WRITE) {
    watch(EPOLLOUT);
  } else {
    handshake_failed(error);
  }
}

void ProbeConnection::handshake_failed(int ssl_error) {
  const int saved_errno = errno;
  const unsigned long queued = ERR_peek_error();
  const std::string queue_text = drain_error_queue();
  if (alert_ && *alert_ != 0) {
    fail({"handshake", "tls_alert", alert_name(*alert_), false});
    return;
  }
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    fail({"handshake", "connection_closed", "the server sent close_notify during the handshake",
          true});
    return;
  }
  if (ssl_error == SSL_ERROR_SYSCALL && queued == 0) {
    if (saved_errno == ECONNRESET || saved_errno == EPIPE) {
      fail({"handshake", "connection_reset", errno_text(saved_errno), true});
    } else {
      fail({"handshake", "connection_closed", "the server closed the connection during the handshake",
            true});
    }
    return;
  }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  if (ERR_GET_LIB(queued) == ERR_LIB_SSL &&
      ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    fail({"handshake", "connection_closed", "the server closed the connection during the handshake",
          true});
    return;
  }
#endif
  const char* reason = ERR_reason_error_string(queued);
  fail({"handshake", "protocol_error", reason != nullptr ? reason : queue_text, false});
}

void ProbeConnection::collect_session() {
  SSL* ssl = ssl_.get();
  result_.protocol = SSL_get_version(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher != nullptr) result_.cipher = SSL_CIPHER_get_name(cipher);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  if (alpn != nullptr) result_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  const unsigned char* ocsp = nullptr;
  result_.ocsp_stapled = SSL_get_tlsext_status_ocsp_resp(ssl, &ocsp) > 0 && ocsp != nullptr;
  if (captured_chain_.empty()) {
    // The verify callback runs for every full handshake; this covers a library that
    // skips it.
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    if (chain != nullptr) capture_chain(chain);
  }
}

void ProbeConnection::begin_ehlo_after_tls() {
  set_phase(Phase::after_tls, context_.options.starttls_timeout, {});
  // RFC 3207 section 4.2: the client discards what it learned before TLS and should
  // send EHLO again; the reply shows the extensions offered inside TLS.
  ehlo_out_ = "EHLO " + context_.options.ehlo_name + "\r\n";
  ehlo_written_ = 0;
  drive_ehlo_after_tls();
}

void ProbeConnection::drive_ehlo_after_tls() {
  SSL* ssl = ssl_.get();
  ERR_clear_error();
  while (ehlo_written_ < ehlo_out_.size()) {
    const int rc = SSL_write(ssl, ehlo_out_.data() + ehlo_written_,
                             static_cast<int>(ehlo_out_.size() - ehlo_written_));
    if (rc > 0) {
      ehlo_written_ += static_cast<size_t>(rc);
      continue;
    }
    const int error = SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ) return watch(EPOLLIN);
    if (error == SSL_ERROR_WANT_WRITE) return watch(EPOLLOUT);
    drain_error_queue();
    return finish_ehlo_after_tls("sending EHLO failed");
  }
  char buffer[4096];
  for (;;) {
    const int rc = SSL_read(ssl, buffer, sizeof buffer);
    if (over_read_cap()) return finish_ehlo_after_tls("too much data in the EHLO reply");
    if (rc > 0) {
      ehlo_lines_.append(std::string_view(buffer, static_cast<size_t>(rc)));
      const auto state = ehlo_reply_.read(ehlo_lines_);
      if (state == SmtpReplyReader::State::complete) {
        result_.ehlo_after_tls = ehlo_reply_.reply().text();
        // QUIT is a courtesy (RFC 5321 section 4.1.1.10); its reply is not awaited.
        SSL_write(ssl, "QUIT\r\n", 6);
        return finish_ehlo_after_tls(std::nullopt);
      }
      if (state == SmtpReplyReader::State::malformed) {
        return finish_ehlo_after_tls("malformed EHLO reply: " + ehlo_reply_.reply().text());
      }
      continue;
    }
    const int error = SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ) return watch(EPOLLIN);
    if (error == SSL_ERROR_WANT_WRITE) return watch(EPOLLOUT);
    drain_error_queue();
    return finish_ehlo_after_tls("the connection ended before the EHLO reply");
  }
}

void ProbeConnection::finish_ehlo_after_tls(std::optional<std::string> error) {
  if (error) result_.ehlo_after_tls_error = std::move(error);
  finish();
}

void ProbeConnection::capture_chain(STACK_OF(X509) * chain) {
  captured_chain_.clear();
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    X509* cert = sk_X509_value(chain, i);
    if (cert != nullptr && X509_up_ref(cert) == 1) captured_chain_.emplace_back(cert);
  }
}

void ProbeConnection::record_alert(int level, int description) {
  // Keep the first fatal alert; a warning (level 1) is kept only until a fatal one
  // arrives. close_notify is not an error.
  if (description == 0) return;
  if (!alert_ || level == 2) alert_ = description;
}

void ProbeConnection::fail(ProbeError error) {
  if (finished_) return;
  result_.error = std::move(error);
  finish();
}

void ProbeConnection::judge() {
  // Every step reuses the X509 objects libssl parsed during the handshake: decoding the
  // DER again would decode each public key again through the OpenSSL 3 provider decoders.
  for (const auto& cert : captured_chain_) {
    result_.chain.push_back({encode_der(cert.get()),
                             name_to_string(X509_get_subject_name(cert.get())),
                             name_to_string(X509_get_issuer_name(cert.get()))});
  }
  X509* leaf = captured_chain_.front().get();
  const auto now = std::chrono::system_clock::now();
  CertificateInfo info = extract_certificate(leaf, result_.chain.front().der);

  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (untrusted == nullptr) throw Error(ErrorKind::internal, "sk_X509_new_null failed");
  for (size_t i = 1; i < captured_chain_.size(); ++i) {
    sk_X509_push(untrusted, captured_chain_[i].get());
  }
  ChainVerification verification;
  try {
    verification = verify_chain(leaf, untrusted, context_.trust_store, now);
  } catch (...) {
    sk_X509_free(untrusted);
    throw;
  }
  sk_X509_free(untrusted);  // the certificates themselves belong to `captured_chain_`

  // The reference identity is the name the client asked for: the SNI when one was
  // sent, otherwise the host (an IP literal is then checked against IP SANs).
  const std::string reference =
      result_.sni && !result_.sni->empty() ? *result_.sni : result_.host;
  const bool match = hostname_matches(leaf, reference);
  VerdictOptions verdict_options;
  verdict_options.expiring_days = context_.options.expiring_days;
  Verdict verdict = judge_certificate(info, verification, match, now, verdict_options);

  result_.trusted = verification.trusted;
  result_.verify_error = verification.error;
  result_.verify_error_code = verification.error_code;
  result_.hostname_match = match;
  result_.days_until_expiry = verdict.days_until_expiry;
  result_.findings = std::move(verdict.findings);
  result_.certificate = std::move(info);
  if (!result_.error) result_.status = verdict.status;
}

void ProbeConnection::finish() {
  if (finished_) return;
  finished_ = true;
  phase_ = Phase::done;
  if (timer_ != 0) {
    context_.loop.cancel_timer(timer_);
    timer_ = 0;
  }
  if (ssl_ && !result_.error) {
    // One non-blocking close_notify; the connection closes whether or not it is sent.
    SSL_shutdown(ssl_.get());
  }
  close_socket();
  ERR_clear_error();
  release_gate_place();

  if (!captured_chain_.empty()) {
    try {
      judge();
    } catch (const Error& error) {
      // Verification setup can fail (out of memory) and so can the name conversion of
      // an invalid internationalized reference name.
      result_.findings.push_back({"malformed_field", "warning",
                                  std::string("the presented chain could not be judged: ") +
                                      error.what()});
    }
  }
  if (result_.error) result_.status = "failed";
  result_.elapsed_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
  Finished callback = std::move(on_finished_);
  on_finished_ = nullptr;
  if (callback) callback(std::move(result_));
}

void ProbeConnection::abandon() {
  finished_ = true;
  phase_ = Phase::done;
  on_finished_ = nullptr;
  if (timer_ != 0) {
    context_.loop.cancel_timer(timer_);
    timer_ = 0;
  }
  close_socket();
  release_gate_place();
}

void ProbeConnection::release_gate_place() {
  if (!holds_gate_place_) return;
  holds_gate_place_ = false;
  context_.handshake_gate.leave();
}

void ProbeConnection::close_socket() {
  if (ssl_) {
    SSL_set_app_data(ssl_.get(), nullptr);
    BIO* socket_bio = SSL_get_rbio(ssl_.get());
    if (socket_bio != nullptr) BIO_set_app_data(socket_bio, nullptr);
    ssl_.reset();
  }
  if (fd_ >= 0) {
    context_.loop.unwatch(fd_);
    close(fd_);
    fd_ = -1;
  }
}

}  // namespace dnsscience::tls::detail
