// Scheduling of probes: name resolution, the per-address connection cap and the
// whole-target deadline. The connection itself is in probe_connection.cpp.

#include "dnsscience/tls/prober.hpp"

#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "dnsscience/domain_name.hpp"
#include "dnsscience/error.hpp"
#include "tls/probe_connection.hpp"

namespace dnsscience::tls {

using detail::ProbeConnection;
using Clock = std::chrono::steady_clock;

namespace {

std::string lowercase_host(std::string host) {
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

uint16_t parse_port(const std::string& text, const std::string& item) {
  size_t used = 0;
  long value = -1;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 1 || value > 65535) {
    throw Error(ErrorKind::invalid_argument, "invalid port '" + text + "' in target '" + item +
                                                 "'; use a number from 1 to 65535");
  }
  return static_cast<uint16_t>(value);
}

ProbeTarget parse_json_target(const std::string& item, uint16_t default_port) {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(item);
  } catch (const nlohmann::json::exception& error) {
    throw Error(ErrorKind::invalid_argument,
                "target '" + item + "' is not valid JSON: " + error.what());
  }
  if (!object.is_object() || !object.contains("host") || !object["host"].is_string()) {
    throw Error(ErrorKind::invalid_argument,
                "target '" + item + "' needs a string \"host\" member");
  }
  ProbeTarget target;
  target.host = lowercase_host(object["host"].get<std::string>());
  target.port = default_port;
  if (object.contains("port")) {
    const auto& port = object["port"];
    if (!port.is_number_integer() || port.get<long>() < 1 || port.get<long>() > 65535) {
      throw Error(ErrorKind::invalid_argument, "invalid \"port\" in target '" + item +
                                                   "'; use a number from 1 to 65535");
    }
    target.port = static_cast<uint16_t>(port.get<long>());
  }
  if (object.contains("sni") && !object["sni"].is_null()) {
    if (!object["sni"].is_string()) {
      throw Error(ErrorKind::invalid_argument, "\"sni\" in target '" + item + "' must be a string");
    }
    target.sni = object["sni"].get<std::string>();
  }
  if (object.contains("starttls") && !object["starttls"].is_null()) {
    if (!object["starttls"].is_string()) {
      throw Error(ErrorKind::invalid_argument,
                  "\"starttls\" in target '" + item + "' must be a string");
    }
    target.starttls = parse_starttls(object["starttls"].get<std::string>());
  }
  return target;
}

}  // namespace

ProbeTarget parse_target(const std::string& item, uint16_t default_port) {
  const size_t first = item.find_first_not_of(" \t");
  if (first != std::string::npos && item[first] == '{') {
    ProbeTarget target = parse_json_target(item, default_port);
    if (target.host.empty()) {
      throw Error(ErrorKind::invalid_argument, "target '" + item + "' has an empty host");
    }
    return target;
  }

  ProbeTarget target;
  target.port = default_port;
  if (!item.empty() && item[0] == '[') {
    const size_t close = item.find(']');
    if (close == std::string::npos) {
      throw Error(ErrorKind::invalid_argument,
                  "target '" + item + "' has '[' without ']'; write IPv6 as [addr]:port");
    }
    target.host = item.substr(1, close - 1);
    if (close + 1 < item.size()) {
      if (item[close + 1] != ':') {
        throw Error(ErrorKind::invalid_argument,
                    "target '" + item + "' has text after ']'; write IPv6 as [addr]:port");
      }
      target.port = parse_port(item.substr(close + 2), item);
    }
    if (!detail::is_ip_literal(target.host)) {
      throw Error(ErrorKind::invalid_argument,
                  "target '" + item + "' has no IPv6 address inside the brackets");
    }
  } else {
    const size_t colon = item.rfind(':');
    if (colon != std::string::npos && item.find(':') != colon) {
      // Several colons without brackets: a bare IPv6 address with the default port.
      target.host = item;
    } else if (colon != std::string::npos) {
      target.host = item.substr(0, colon);
      target.port = parse_port(item.substr(colon + 1), item);
    } else {
      target.host = item;
    }
  }
  target.host = lowercase_host(target.host);
  if (target.host.empty()) {
    throw Error(ErrorKind::invalid_argument,
                "target '" + item + "' has no host; use host:port or [IPv6]:port");
  }
  return target;
}

void ProberOptions::validate() const {
  const std::pair<const char*, std::chrono::milliseconds> timeouts[] = {
      {"connect_timeout", connect_timeout},
      {"starttls_timeout", starttls_timeout},
      {"handshake_timeout", handshake_timeout},
      {"total_timeout", total_timeout}};
  for (const auto& [name, value] : timeouts) {
    if (value.count() <= 0) {
      throw Error(ErrorKind::invalid_argument, std::string("invalid ") + name + " of " +
                                                   std::to_string(value.count()) +
                                                   " ms; use a positive duration");
    }
  }
  if (max_read_bytes == 0) {
    throw Error(ErrorKind::invalid_argument, "invalid max_read_bytes 0; use a positive byte count");
  }
  if (max_handshakes == 0) {
    throw Error(ErrorKind::invalid_argument,
                "invalid max_handshakes 0; allow at least one handshake at a time");
  }
  if (max_per_address == 0) {
    throw Error(ErrorKind::invalid_argument,
                "invalid max_per_address 0; allow at least one connection per address");
  }
  if (expiring_days < 0) {
    throw Error(ErrorKind::invalid_argument, "invalid expiring_days " +
                                                 std::to_string(expiring_days) +
                                                 "; use 0 or more days");
  }
  if (ehlo_name.empty()) {
    throw Error(ErrorKind::invalid_argument, "the EHLO name is empty; pass a domain name or an "
                                             "address literal such as [192.0.2.1]");
  }
  for (unsigned char c : ehlo_name) {
    if (c <= ' ' || c >= 0x7f) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid EHLO name '" + ehlo_name +
                      "': it must be printable ASCII without spaces (RFC 5321 section 4.1.1.1)");
    }
  }
  for (const auto& protocol : https_alpn) {
    if (protocol.empty() || protocol.size() > 255) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid ALPN protocol '" + protocol + "'; use 1 to 255 bytes");
    }
  }
}

// One probe() call: its addresses, their results and the whole-target deadline.
struct TargetProbe {
  ProbeTarget target;
  TlsProber::Callback callback;
  int64_t attempted_at_ms = 0;
  Clock::time_point started;
  std::vector<std::string> addresses;
  std::vector<std::optional<ProbeResult>> results;  // one slot per address
  std::vector<std::shared_ptr<ProbeConnection>> connections;
  size_t remaining = 0;
  EventLoop::TimerId total_timer = 0;
  bool resolved = false;
  bool done = false;
  std::optional<DnsAnswer> a_answer;
};

struct TlsProber::Impl : std::enable_shared_from_this<TlsProber::Impl> {
  Impl(EventLoop& loop_in, Resolver& resolver_in, ProberOptions options_in)
      : loop(loop_in),
        resolver(resolver_in),
        options(std::move(options_in)),
        trust_store(options.ca_file),
        ssl_context(detail::make_collecting_context()),
        handshake_gate(loop, options.max_handshakes),
        context{loop, options, ssl_context.get(), trust_store, handshake_gate} {}

  struct AddressSlots {
    size_t active = 0;
    std::deque<std::weak_ptr<ProbeConnection>> waiting;
  };

  EventLoop& loop;
  Resolver& resolver;
  const ProberOptions options;
  TrustStore trust_store;
  detail::SslCtxPtr ssl_context;
  detail::HandshakeGate handshake_gate;
  detail::ProbeContext context;
  std::unordered_map<std::string, AddressSlots> slots;
  std::unordered_set<std::shared_ptr<TargetProbe>> targets;
  size_t connections_open = 0;
  size_t connections_waiting = 0;

  void start(const std::shared_ptr<TargetProbe>& probe);
  void on_a_answer(const std::shared_ptr<TargetProbe>& probe, DnsAnswer answer);
  void on_aaaa_answer(const std::shared_ptr<TargetProbe>& probe, DnsAnswer answer);
  void fail_resolution(const std::shared_ptr<TargetProbe>& probe, ProbeError error);
  void connect_all(const std::shared_ptr<TargetProbe>& probe);
  void acquire_slot(const std::string& address, const std::shared_ptr<ProbeConnection>& connection);
  void release_slot(const std::string& address);
  void on_connection_finished(const std::shared_ptr<TargetProbe>& probe, size_t index,
                              ProbeResult result);
  void on_total_timeout(const std::shared_ptr<TargetProbe>& probe);
  void complete(const std::shared_ptr<TargetProbe>& probe);
  ProbeResult base_result(const TargetProbe& probe, const std::string& address) const;
  void abandon_all();
};

ProbeResult TlsProber::Impl::base_result(const TargetProbe& probe,
                                         const std::string& address) const {
  ProbeResult result;
  result.host = probe.target.host;
  result.port = probe.target.port;
  result.address = address;
  result.starttls = probe.target.starttls.value_or(default_starttls(probe.target.port));
  result.attempted_at_ms = probe.attempted_at_ms;
  if (probe.target.sni) {
    if (!probe.target.sni->empty()) result.sni = probe.target.sni;
  } else if (!detail::is_ip_literal(probe.target.host)) {
    result.sni = probe.target.host;
  }
  return result;
}

void TlsProber::Impl::start(const std::shared_ptr<TargetProbe>& probe) {
  std::weak_ptr<Impl> weak = shared_from_this();
  probe->total_timer = loop.add_timer(options.total_timeout, [weak, probe] {
    probe->total_timer = 0;
    if (auto self = weak.lock()) self->on_total_timeout(probe);
  });

  if (detail::is_ip_literal(probe->target.host)) {
    probe->addresses = {probe->target.host};
    probe->resolved = true;
    connect_all(probe);
    return;
  }
  // RFC 6724 ordering is left to the resolver's record order: A first, AAAA only when
  // there is no A (or when every address is probed).
  try {
    resolver.query(probe->target.host, RRType::A, [weak, probe](DnsAnswer answer) {
      if (auto self = weak.lock()) self->on_a_answer(probe, std::move(answer));
    });
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::invalid_argument) throw;
    fail_resolution(probe, {"resolve", "invalid_name", error.what(), false});
  }
}

void TlsProber::Impl::on_a_answer(const std::shared_ptr<TargetProbe>& probe, DnsAnswer answer) {
  if (probe->done) return;
  for (const auto& record : answer.records) {
    if (record.type == RRType::A && !record.address.empty()) {
      probe->addresses.push_back(record.address);
    }
  }
  const bool need_aaaa = probe->addresses.empty() || options.probe_all_addresses;
  if (!need_aaaa || answer.status == DnsStatus::nxdomain) {
    if (probe->addresses.empty()) {
      fail_resolution(probe, {"resolve", "nxdomain", "the name does not exist", false});
    } else {
      probe->resolved = true;
      connect_all(probe);
    }
    return;
  }
  probe->a_answer = std::move(answer);
  std::weak_ptr<Impl> weak = shared_from_this();
  resolver.query(probe->target.host, RRType::AAAA, [weak, probe](DnsAnswer aaaa) {
    if (auto self = weak.lock()) self->on_aaaa_answer(probe, std::move(aaaa));
  });
}

void TlsProber::Impl::on_aaaa_answer(const std::shared_ptr<TargetProbe>& probe,
                                     DnsAnswer answer) {
  if (probe->done) return;
  for (const auto& record : answer.records) {
    if (record.type == RRType::AAAA && !record.address.empty()) {
      probe->addresses.push_back(record.address);
    }
  }
  if (!probe->addresses.empty()) {
    probe->resolved = true;
    connect_all(probe);
    return;
  }
  // No address at all: report the more informative of the two lookups.
  const DnsAnswer& a = *probe->a_answer;
  const DnsAnswer* failed = nullptr;
  if (dns_status_transient(a.status)) failed = &a;
  if (dns_status_transient(answer.status)) failed = &answer;
  if (failed != nullptr) {
    std::string detail = std::string(rrtype_name(failed->qtype)) + " lookup: " +
                         dns_status_name(failed->status);
    if (!failed->error.empty()) detail += " (" + failed->error + ")";
    fail_resolution(probe, {"resolve", "dns_failure", detail, true});
  } else if (answer.status == DnsStatus::nxdomain) {
    fail_resolution(probe, {"resolve", "nxdomain", "the name does not exist", false});
  } else {
    fail_resolution(probe, {"resolve", "no_address", "the name has no A or AAAA record", false});
  }
}

void TlsProber::Impl::fail_resolution(const std::shared_ptr<TargetProbe>& probe,
                                      ProbeError error) {
  ProbeResult result = base_result(*probe, "");
  result.error = std::move(error);
  result.elapsed_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - probe->started).count();
  probe->results = {std::move(result)};
  complete(probe);
}

void TlsProber::Impl::connect_all(const std::shared_ptr<TargetProbe>& probe) {
  if (!options.probe_all_addresses) probe->addresses.resize(1);
  probe->results.resize(probe->addresses.size());
  probe->remaining = probe->addresses.size();
  std::weak_ptr<Impl> weak = shared_from_this();
  for (size_t i = 0; i < probe->addresses.size(); ++i) {
    auto connection = std::make_shared<ProbeConnection>(
        context, base_result(*probe, probe->addresses[i]), probe->started,
        [weak, probe, i](ProbeResult result) {
          if (auto self = weak.lock()) self->on_connection_finished(probe, i, std::move(result));
        });
    probe->connections.push_back(connection);
  }
  // Copy: a connection may finish synchronously and complete the probe.
  const auto connections = probe->connections;
  for (size_t i = 0; i < connections.size(); ++i) {
    acquire_slot(probe->addresses[i], connections[i]);
  }
}

void TlsProber::Impl::acquire_slot(const std::string& address,
                                   const std::shared_ptr<ProbeConnection>& connection) {
  AddressSlots& slot = slots[address];
  if (slot.active >= options.max_per_address) {
    slot.waiting.push_back(connection);
    ++connections_waiting;
    return;
  }
  ++slot.active;
  ++connections_open;
  connection->start();
}

void TlsProber::Impl::release_slot(const std::string& address) {
  auto it = slots.find(address);
  if (it == slots.end()) return;
  --it->second.active;
  --connections_open;
  while (!it->second.waiting.empty()) {
    auto next = it->second.waiting.front().lock();
    it->second.waiting.pop_front();
    --connections_waiting;
    if (!next || next->finished()) continue;  // its target timed out while it waited
    ++it->second.active;
    ++connections_open;
    // Started from the loop, not from here: a chain of connections that fail at once
    // (a refused port) would otherwise recurse once per queued connection.
    std::weak_ptr<Impl> weak = shared_from_this();
    loop.post([weak, next, address] {
      auto self = weak.lock();
      if (!self) return;
      if (next->finished()) {
        self->release_slot(address);  // failed by its deadline before it could start
      } else {
        next->start();
      }
    });
    return;
  }
  if (it->second.active == 0) slots.erase(it);
}

void TlsProber::Impl::on_connection_finished(const std::shared_ptr<TargetProbe>& probe,
                                             size_t index, ProbeResult result) {
  const std::string address = probe->addresses[index];
  // A connection failed by the total deadline while it waited in the queue never
  // took a slot.
  const bool held_slot = probe->connections[index]->started();
  probe->results[index] = std::move(result);
  --probe->remaining;
  if (held_slot) release_slot(address);
  if (probe->remaining == 0 && !probe->done) complete(probe);
}

void TlsProber::Impl::on_total_timeout(const std::shared_ptr<TargetProbe>& probe) {
  if (probe->done) return;
  const ProbeError error{"total", "total_timeout",
                         "the probe did not finish within the total timeout", true};
  if (!probe->resolved) {
    ProbeError resolving = error;
    resolving.detail = "the name was not resolved within the total timeout";
    fail_resolution(probe, resolving);
    return;
  }
  // Copy: failing a connection may complete the probe and clear the list.
  const auto connections = probe->connections;
  for (const auto& connection : connections) {
    if (!connection->finished()) connection->fail(error);
  }
}

void TlsProber::Impl::complete(const std::shared_ptr<TargetProbe>& probe) {
  probe->done = true;
  if (probe->total_timer != 0) {
    loop.cancel_timer(probe->total_timer);
    probe->total_timer = 0;
  }
  std::vector<ProbeResult> results;
  for (auto& slot : probe->results) {
    if (slot) results.push_back(std::move(*slot));
  }
  probe->connections.clear();
  targets.erase(probe);
  TlsProber::Callback callback = std::move(probe->callback);
  if (callback) callback(std::move(results));
}

void TlsProber::Impl::abandon_all() {
  for (const auto& probe : targets) {
    probe->done = true;
    if (probe->total_timer != 0) loop.cancel_timer(probe->total_timer);
    for (const auto& connection : probe->connections) connection->abandon();
    probe->connections.clear();
  }
  targets.clear();
}

TlsProber::TlsProber(EventLoop& loop, Resolver& resolver, ProberOptions options) {
  options.validate();
  impl_ = std::make_shared<Impl>(loop, resolver, std::move(options));
}

TlsProber::~TlsProber() { impl_->abandon_all(); }

void TlsProber::probe(ProbeTarget target, Callback callback) {
  if (target.host.empty()) {
    throw Error(ErrorKind::invalid_argument, "cannot probe a target with an empty host");
  }
  if (target.port == 0) {
    throw Error(ErrorKind::invalid_argument,
                "cannot probe port 0 of '" + target.host + "'; use a port from 1 to 65535");
  }
  if (!detail::is_ip_literal(target.host)) {
    try {
      target.host = normalize_domain(target.host);
    } catch (const Error&) {
      // Kept as given: the resolver rejects it and the result says invalid_name.
    }
  }
  auto probe = std::make_shared<TargetProbe>();
  probe->target = std::move(target);
  probe->callback = std::move(callback);
  probe->started = Clock::now();
  probe->attempted_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  impl_->targets.insert(probe);
  // Started from the loop so that no callback can run before probe() returns.
  std::weak_ptr<Impl> weak = impl_;
  impl_->loop.post([weak, probe] {
    auto self = weak.lock();
    if (self && !probe->done) self->start(probe);
  });
}

size_t TlsProber::connections_in_flight() const {
  return impl_->connections_open + impl_->connections_waiting;
}

size_t TlsProber::handshakes_in_flight() const { return impl_->handshake_gate.active(); }

}  // namespace dnsscience::tls
