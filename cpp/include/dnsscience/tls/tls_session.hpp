#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dnsscience/batch_session.hpp"
#include "dnsscience/dns_engine.hpp"
#include "dnsscience/tls/prober.hpp"

namespace dnsscience::tls {

/// Settings of a TLS BatchSession.
struct TlsSessionOptions {
  DnsEngineOptions dns;  ///< resolver of the session (nameservers, DNS timeout)
  ProberOptions prober;
  /// Ports probed for an item that names none; each port gives its own result.
  std::vector<uint16_t> default_ports = {443};
  size_t max_in_flight = 1000;  ///< items probed at once
};

/// Returns the BatchSession starter that probes target items with `prober`.
///
/// An item is a target text accepted by parse_target(): "host:port", "[IPv6]:port",
/// a bare host (probed on every port of `default_ports`), or a JSON object
/// {"host", "port", "sni", "starttls"}. Its result is one to_json() object when the
/// item produced one ProbeResult, and a JSON array of such objects when it produced
/// several (several default ports, or probe_all_addresses with several addresses).
/// The starter throws Error(invalid_argument) for an item that does not parse (no
/// host, a bad port, bad JSON); BatchSession::poll() rethrows it.
BatchSession::Starter make_tls_starter(TlsProber& prober, std::vector<uint16_t> default_ports);

/// Creates a BatchSession whose loop thread owns a DnsEngine and a TlsProber, and
/// whose items are probed by make_tls_starter(). Throws Error(invalid_argument) for
/// bad options or an empty `default_ports`, and Error(configuration) for a CA file
/// that cannot be loaded. Errors of the DnsEngine construction (no nameserver and
/// none in /etc/resolv.conf) are rethrown by the session's first poll() or submit().
std::unique_ptr<BatchSession> make_tls_session(TlsSessionOptions options);

}  // namespace dnsscience::tls
