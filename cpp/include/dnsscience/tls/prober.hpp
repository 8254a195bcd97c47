#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/event_loop.hpp"
#include "dnsscience/tls/probe_result.hpp"

namespace dnsscience::tls {

/// One probe request: a host (DNS name or IP literal) and a port.
struct ProbeTarget {
  std::string host;  ///< DNS name (U-labels allowed) or IPv4/IPv6 literal without brackets
  uint16_t port = 443;
  /// Server name to send. Unset: the host for a DNS name, none for an IP literal.
  /// An empty string sends no SNI at all.
  std::optional<std::string> sni;
  /// Plaintext dialogue before TLS. Unset: default_starttls(port).
  std::optional<StartTls> starttls;
};

/// Parses a target item: "host:port", "[IPv6]:port", or a JSON object
/// {"host": str, "port": int, "sni": str (optional), "starttls": str (optional)}.
/// A plain host without ":port" takes `default_port`. The host is normalized
/// (lowercase, no trailing dot). Throws Error(invalid_argument) naming the item when it
/// has no host, a port outside 1..65535, an unknown starttls value or bad JSON.
ProbeTarget parse_target(const std::string& item, uint16_t default_port = 443);

/// Settings of a TlsProber. Times are milliseconds.
struct ProberOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds starttls_timeout{5000};  ///< the whole plaintext dialogue
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds total_timeout{15000};  ///< resolve, queueing, connect, dialogue, handshake
  size_t max_read_bytes = 256 * 1024;  ///< cap on the bytes read from one connection
  std::string ca_file;                 ///< PEM trust anchors; empty: the system store
  std::string ehlo_name = "dnsscience.invalid";  ///< the SMTP EHLO argument
  int expiring_days = 30;
  size_t max_per_address = 2;  ///< connections open at once to one IP address
  /// Connections past their TCP connect (STARTTLS dialogue, handshake, EHLO after TLS)
  /// at once. Connected sockets beyond it wait under the total deadline. Connections
  /// still connecting do not count.
  size_t max_handshakes = 500;
  bool probe_all_addresses = false;  ///< probe every A and AAAA address, not only the first
  /// ALPN protocols offered on the ports in `alpn_ports` (HTTPS); other ports offer none.
  std::vector<std::string> https_alpn = {"h2", "http/1.1"};
  std::vector<uint16_t> alpn_ports = {443, 8443};

  /// Throws Error(invalid_argument) naming the first bad value (a zero timeout or cap,
  /// an EHLO name with spaces or control characters, expiring_days < 0).
  void validate() const;
};

/// Probes TLS servers without blocking: resolves names through a Resolver, connects,
/// runs the STARTTLS dialogue, shakes hands accepting any certificate, then judges
/// the chain against a trust store. Many probes may be in flight on one loop; each open
/// connection takes one file descriptor, so the open-file limit bounds them.
///
/// Construct it, call probe() and destroy it on the loop thread only. Destroying the
/// prober abandons probes in flight: their sockets close and their callbacks never run.
class TlsProber {
 public:
  /// Called once per probe() with one result per address probed (exactly one unless
  /// probe_all_addresses found several addresses), in address order.
  using Callback = std::function<void(std::vector<ProbeResult>)>;

  /// Throws Error(invalid_argument) for bad options and Error(configuration) when the
  /// CA file cannot be loaded. `resolver` and `loop` must outlive the prober.
  TlsProber(EventLoop& loop, Resolver& resolver, ProberOptions options);
  ~TlsProber();
  TlsProber(const TlsProber&) = delete;
  TlsProber& operator=(const TlsProber&) = delete;

  /// Starts probing `target`. A DNS name is normalized first (lowercase A-labels, see
  /// normalize_domain), and that form is the result's host, the default SNI and the
  /// reference identity. The callback runs exactly once on the loop thread, never
  /// before probe() returns. Every outcome, failures included, arrives as a result.
  /// Throws Error(invalid_argument) when the target has an empty host or port 0.
  void probe(ProbeTarget target, Callback callback);

  /// Connections open or waiting for a per-address slot.
  size_t connections_in_flight() const;
  /// Connections in their dialogue or handshake, at most ProberOptions::max_handshakes.
  size_t handshakes_in_flight() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace dnsscience::tls
