#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/event_loop.hpp"

namespace dnsscience {

/// A nameserver address: an IPv4 or IPv6 address and a UDP/TCP port.
struct Nameserver {
  std::string address;  ///< numeric IPv4 or IPv6 address, without brackets
  uint16_t port = 53;

  /// Parses "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]" or
  /// "[2001:db8::1]:5353". The port defaults to 53. Throws Error(invalid_argument)
  /// naming the value when it is not a numeric address with an optional port 1..65535.
  static Nameserver parse(std::string_view text);

  /// Returns "ip:port", with the IPv6 address in brackets ("[::1]:53").
  std::string to_string() const;
};

/// Reads the `nameserver` lines of a resolv.conf file. Returns them in file order;
/// an unreadable file or one without nameserver lines gives an empty list.
std::vector<Nameserver> read_resolv_conf_nameservers(const std::string& path = "/etc/resolv.conf");

/// Settings of a DnsEngine.
struct DnsEngineOptions {
  /// Servers to query. Empty: the `nameserver` lines of /etc/resolv.conf.
  std::vector<Nameserver> nameservers;
  /// Deadline of one query in seconds, from its first send to its outcome.
  double timeout = 2.0;
  /// Sends per query before it times out; each try gets timeout / tries seconds,
  /// and each retry goes to the next nameserver in the list.
  int tries = 3;
  /// Maximum new messages per second over all nameservers (token bucket); 0 = no cap.
  double qps = 0;
  /// Maximum queries outstanding at one nameserver; more wait in a FIFO queue.
  size_t max_inflight_per_nameserver = 1000;
  /// Starting value and floor of each nameserver's in-flight limit. The limit adapts
  /// between this and max_inflight_per_nameserver, as TCP congestion control does.
  /// Each response whose smoothed round trip is under twice the lowest one grows it,
  /// while queries wait for it, and each slower response shrinks it by one. A try that
  /// times out halves it unless it was sent before the last halving, so a burst of
  /// losses halves it once. A value above the maximum counts as the maximum, so
  /// min = max fixes the limit.
  size_t min_inflight_per_nameserver = 256;
  /// Maximum queries outstanding on one c-ares channel (one UDP socket per server),
  /// so that one socket's receive buffer does not overflow.
  size_t max_queries_per_socket = 200;
};

/// Counters of a DnsEngine since its construction.
struct DnsEngineStats {
  uint64_t queries_started = 0;  ///< query() calls
  uint64_t queries_sent = 0;     ///< messages handed to c-ares, retries and TCP resends included
  uint64_t retries = 0;          ///< sends after a try timed out or failed
  uint64_t tcp_retries = 0;      ///< resends over TCP after a truncated UDP answer
  uint64_t late_answers = 0;     ///< c-ares results that arrived after their query had finished
  /// Finished queries by outcome, indexed by static_cast<size_t>(DnsStatus).
  std::array<uint64_t, 7> answers_by_status{};
  /// Current in-flight limit of each nameserver, in nameserver order.
  std::vector<size_t> inflight_limits;
  size_t in_flight = 0;  ///< queries sent and not finished
  size_t queued = 0;     ///< queries or retries waiting for the qps or per-nameserver cap

  /// Returns the number of finished queries with outcome `status`.
  uint64_t answers(DnsStatus status) const { return answers_by_status[static_cast<size_t>(status)]; }
};

/// A Resolver on c-ares that runs on an EventLoop and sends many queries at once.
///
/// It sends the question exactly as given (no search list, no c-ares cache), with
/// EDNS (UDP payload size 1232) and the AD bit set, and decodes the response
/// itself, so records and statuses do not depend on the c-ares version. A malformed
/// response is the exception. c-ares 1.18 passes it on, and the query ends at once
/// with DnsStatus::error. c-ares 1.34 rejects it and fails every query sent on that
/// socket, so the engine retries each of them. A query whose UDP response is
/// truncated is resent over TCP. The engine enforces each query's deadline itself.
///
/// Construct it, call query(), stats() and destroy it on the loop thread only.
/// Destroying the engine drops unfinished queries without calling their callbacks.
class DnsEngine final : public Resolver {
 public:
  /// Throws Error(invalid_argument) for bad option values (timeout <= 0, tries < 1,
  /// qps < 0, a zero cap), Error(configuration) when no nameserver is given and
  /// /etc/resolv.conf lists none, and Error(io) when c-ares cannot be initialized.
  DnsEngine(EventLoop& loop, DnsEngineOptions options);
  ~DnsEngine() override;
  DnsEngine(const DnsEngine&) = delete;
  DnsEngine& operator=(const DnsEngine&) = delete;

  /// Queries `name` for `type`. The name is taken as absolute; one trailing dot is
  /// ignored and ASCII case is folded. The callback runs exactly once on the loop
  /// thread, never before query() returns. Throws Error(invalid_argument) when the
  /// name cannot be encoded (an empty label, a label over 63 octets, over 255 octets).
  void query(const std::string& name, RRType type, Callback callback) override;

  /// Returns a snapshot of the counters.
  DnsEngineStats stats() const;

  /// Returns the nameservers in use, after the resolv.conf fallback.
  const std::vector<Nameserver>& nameservers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dnsscience
