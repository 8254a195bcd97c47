#pragma once

// One TLS connection attempt to one address: non-blocking connect, the STARTTLS
// dialogue, the handshake and, for SMTP, the EHLO after TLS. Private to the prober.

#include <openssl/ssl.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/event_loop.hpp"
#include "dnsscience/tls/certificate.hpp"
#include "dnsscience/tls/prober.hpp"
#include "tls/openssl_util.hpp"
#include "tls/starttls_dialogue.hpp"

namespace dnsscience::tls::detail {

class ProbeConnection;

/// Bounds the connections past their TCP connect (STARTTLS dialogue, handshake, EHLO
/// after TLS) to ProberOptions::max_handshakes. A connection still connecting takes no
/// place, so targets that never respond do not keep reachable ones waiting.
class HandshakeGate {
 public:
  HandshakeGate(EventLoop& loop, size_t limit) : loop_(loop), limit_(limit) {}

  /// Lets `connection` begin its dialogue or handshake now, or when a place frees.
  void enter(const std::shared_ptr<ProbeConnection>& connection);
  /// Releases the place of a connection that entered and has finished.
  void leave();

  size_t active() const { return active_; }
  size_t waiting() const { return waiting_.size(); }

 private:
  EventLoop& loop_;
  const size_t limit_;
  size_t active_ = 0;
  std::deque<std::weak_ptr<ProbeConnection>> waiting_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // expires with the gate
};

/// Objects every connection of one prober shares. Outlives its connections.
struct ProbeContext {
  EventLoop& loop;
  const ProberOptions& options;
  SSL_CTX* ssl_context;
  const TrustStore& trust_store;
  HandshakeGate& handshake_gate;
};

/// Creates the client SSL_CTX used for collection: every certificate accepted, security
/// level 0, TLS 1.0 and up, and a verify callback that only records the chain.
SslCtxPtr make_collecting_context();

/// Returns the RFC 8446 section 6 name of a TLS alert ("handshake_failure"), or
/// "alert_<n>" for an unknown value.
std::string alert_name(int description);

/// Returns true when `text` is an IPv4 or IPv6 literal.
bool is_ip_literal(const std::string& text);

class ProbeConnection : public std::enable_shared_from_this<ProbeConnection> {
 public:
  using Finished = std::function<void(ProbeResult)>;

  /// `result` comes prefilled with host, port, sni, address, starttls and the start
  /// time; the connection adds what it observes. `on_finished` runs exactly once
  /// unless abandon() is called first.
  ProbeConnection(const ProbeContext& context, ProbeResult result,
                  std::chrono::steady_clock::time_point started, Finished on_finished);
  ~ProbeConnection();

  /// Opens the socket and starts connecting.
  void start();

  /// Ends the attempt now with `error`, keeping what was received so far.
  void fail(ProbeError error);

  /// Closes everything without calling on_finished (the prober is going away).
  void abandon();

  bool finished() const { return finished_; }
  /// True once start() ran, that is once the connection held a per-address slot.
  bool started() const { return started_connect_; }

  /// Keeps a reference to each certificate of a chain seen during the handshake (from
  /// the verify callback), so that judge() works on the objects libssl already parsed.
  void capture_chain(STACK_OF(X509) * chain);
  /// Records a TLS alert received from the peer (from the info callback).
  void record_alert(int level, int description);
  /// Adds bytes read from the socket by OpenSSL (from the BIO callback).
  void count_read(size_t bytes) { bytes_read_ += bytes; }

  /// Called by the HandshakeGate when this connected socket may begin its dialogue or
  /// handshake.
  void admitted();

 private:
  enum class Phase { idle, connecting, waiting, dialogue, handshake, after_tls, done };

  void on_event(uint32_t events);
  void set_phase(Phase phase, std::chrono::milliseconds timeout, ProbeError on_timeout);
  void watch(uint32_t events);

  void finish_connect();
  void begin_dialogue();
  void read_dialogue();
  void flush_plaintext();
  void begin_handshake();
  void drive_handshake();
  void handshake_failed(int ssl_error);
  void collect_session();
  void begin_ehlo_after_tls();
  void drive_ehlo_after_tls();
  void finish_ehlo_after_tls(std::optional<std::string> error);
  void finish();
  void judge();
  void close_socket();
  void release_gate_place();
  bool over_read_cap() const { return bytes_read_ > context_.options.max_read_bytes; }

  const ProbeContext& context_;
  ProbeResult result_;
  std::chrono::steady_clock::time_point started_;
  Finished on_finished_;
  Phase phase_ = Phase::idle;
  int fd_ = -1;
  EventLoop::TimerId timer_ = 0;
  size_t bytes_read_ = 0;
  StartTlsDialogue dialogue_;
  std::string plaintext_out_;
  SslPtr ssl_;
  std::vector<X509Ptr> captured_chain_;
  std::optional<int> alert_;
  std::string ehlo_out_;
  size_t ehlo_written_ = 0;
  LineBuffer ehlo_lines_;
  SmtpReplyReader ehlo_reply_;
  bool finished_ = false;
  bool started_connect_ = false;
  bool holds_gate_place_ = false;
};

}  // namespace dnsscience::tls::detail
