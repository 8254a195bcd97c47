#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "dnsscience/error.hpp"
#include "dnsscience/tls/tls_session.hpp"
#include "registration.hpp"

namespace py = pybind11;

namespace dnsscience::bindings {

namespace {

std::chrono::milliseconds to_milliseconds(const char* name, double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", seconds);
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + name + " of " + text +
                                                 " s; use a positive number of seconds");
  }
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
}

std::vector<uint16_t> to_ports(const std::optional<std::vector<long>>& ports) {
  if (!ports) return {443};
  std::vector<uint16_t> result;
  for (long port : *ports) {
    if (port < 1 || port > 65535) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid port " + std::to_string(port) + " in ports; use 1 to 65535");
    }
    result.push_back(static_cast<uint16_t>(port));
  }
  return result;
}

}  // namespace

void register_tls(py::module_& module) {
  module.def(
      "tls_session",
      [](const std::vector<std::string>& nameservers, const std::optional<std::vector<long>>& ports,
         double connect_timeout, double starttls_timeout, double handshake_timeout,
         double total_timeout, const std::string& ca_file, const std::string& ehlo_name,
         int expiring_days, size_t max_per_address, bool probe_all_addresses,
         size_t max_in_flight, size_t max_handshakes, size_t max_read_bytes, double dns_timeout) {
        tls::TlsSessionOptions options;
        for (const auto& text : nameservers) options.dns.nameservers.push_back(Nameserver::parse(text));
        options.dns.timeout = dns_timeout;
        options.default_ports = to_ports(ports);
        options.prober.connect_timeout = to_milliseconds("connect_timeout", connect_timeout);
        options.prober.starttls_timeout = to_milliseconds("starttls_timeout", starttls_timeout);
        options.prober.handshake_timeout = to_milliseconds("handshake_timeout", handshake_timeout);
        options.prober.total_timeout = to_milliseconds("total_timeout", total_timeout);
        options.prober.ca_file = ca_file;
        options.prober.ehlo_name = ehlo_name;
        options.prober.expiring_days = expiring_days;
        options.prober.max_per_address = max_per_address;
        options.prober.probe_all_addresses = probe_all_addresses;
        options.prober.max_read_bytes = max_read_bytes;
        options.prober.max_handshakes = max_handshakes;
        options.max_in_flight = max_in_flight;
        py::gil_scoped_release release;  // the CA file is read here
        return tls::make_tls_session(std::move(options));
      },
      py::arg("nameservers") = std::vector<std::string>{}, py::arg("ports") = py::none(),
      py::kw_only(), py::arg("connect_timeout") = 3.0, py::arg("starttls_timeout") = 5.0,
      py::arg("handshake_timeout") = 5.0, py::arg("total_timeout") = 15.0,
      py::arg("ca_file") = "", py::arg("ehlo_name") = "dnsscience.invalid",
      py::arg("expiring_days") = 30, py::arg("max_per_address") = 2,
      py::arg("probe_all_addresses") = false, py::arg("max_in_flight") = 1000,
      py::arg("max_handshakes") = 500, py::arg("max_read_bytes") = 256 * 1024,
      py::arg("dns_timeout") = 2.0,
      "Open a BatchSession that probes TLS targets and judges their certificates.\n\n"
      "Items are 'host:port', '[IPv6]:port', a bare host (probed on each of `ports`,\n"
      "default [443]) or a JSON object {host, port, sni, starttls}. A result is one JSON\n"
      "object per probe, or a JSON array when an item gave several probes (several\n"
      "ports, or probe_all_addresses with several addresses). Timeouts are seconds.\n"
      "max_in_flight bounds the targets in progress (connecting included);\n"
      "max_handshakes bounds those past their TCP connect.\n"
      "nameservers are 'ip[:port]' texts; empty uses /etc/resolv.conf. ca_file is a PEM\n"
      "file of trust anchors; empty uses the system store. Raises InvalidArgumentError\n"
      "for bad values and ConfigurationError for an unreadable CA file.");
}

}  // namespace dnsscience::bindings
