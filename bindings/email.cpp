#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>

#include "dnsscience/email/email_session.hpp"
#include "dnsscience/email/findings.hpp"
#include "dnsscience/error.hpp"
#include "registration.hpp"

namespace py = pybind11;

namespace dnsscience::bindings {

namespace {

std::chrono::milliseconds seconds_to_milliseconds(const char* name, double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) {
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + name + " of " + std::to_string(seconds) +
                                                 " s; use a positive number of seconds");
  }
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
}

}  // namespace

void register_email(py::module_& module) {
  module.def(
      "email_session",
      [](const std::vector<std::string>& nameservers, double timeout, int tries, double qps, double domain_timeout,
         const std::vector<std::string>& dkim_selectors, size_t max_in_flight, size_t max_inflight_per_nameserver,
         size_t min_inflight_per_nameserver) {
        EmailSessionOptions options;
        for (const auto& text : nameservers) options.dns.nameservers.push_back(Nameserver::parse(text));
        options.dns.timeout = timeout;
        options.dns.tries = tries;
        options.dns.qps = qps;
        options.dns.max_inflight_per_nameserver = max_inflight_per_nameserver;
        options.dns.min_inflight_per_nameserver = min_inflight_per_nameserver;
        options.email.dkim_selectors = dkim_selectors;
        options.email.domain_timeout = seconds_to_milliseconds("domain_timeout", domain_timeout);
        options.max_in_flight = max_in_flight;
        py::gil_scoped_release release;
        return make_email_session(std::move(options));
      },
      py::arg("nameservers") = std::vector<std::string>{}, py::kw_only(), py::arg("timeout") = 2.0,
      py::arg("tries") = 3, py::arg("qps") = 0.0, py::arg("domain_timeout") = 10.0,
      py::arg("dkim_selectors") = default_dkim_selectors(), py::arg("max_in_flight") = 1000,
      py::arg("max_inflight_per_nameserver") = 1000, py::arg("min_inflight_per_nameserver") = 256,
      "Open a BatchSession that checks the email security records of domains.\n\n"
      "Items are domain names, normalized with normalize_domain(); an invalid name\n"
      "gives a result with `error` set instead of an exception. Each result is one JSON\n"
      "object: domain, checked_at, elapsed_ms, complete, error, lookups, the MX, SPF,\n"
      "DMARC, DKIM, MTA-STS, TLS-RPT and BIMI fields, and findings. nameservers are\n"
      "'ip[:port]' texts; empty uses /etc/resolv.conf. `timeout` (seconds) bounds one\n"
      "query over its `tries`; `domain_timeout` (seconds) bounds all lookups of one\n"
      "domain. qps caps messages per second (0: no cap). Queries in flight to one\n"
      "nameserver start at min_inflight_per_nameserver and adapt up to\n"
      "max_inflight_per_nameserver. Raises InvalidArgumentError\n"
      "for bad values.");

  module.def(
      "email_finding_codes",
      [] {
        py::list codes;
        for (const FindingCode& code : email_finding_codes()) {
          py::dict entry;
          entry["code"] = code.code;
          entry["severity"] = severity_name(code.severity);
          entry["summary"] = code.summary;
          codes.append(entry);
        }
        return codes;
      },
      "Return every finding code of the email checks as dicts {code, severity, summary}.");
}

}  // namespace dnsscience::bindings
