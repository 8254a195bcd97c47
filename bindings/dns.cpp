#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "dnsscience/batch_session.hpp"
#include "dnsscience/dns_engine.hpp"
#include "dnsscience/domain_name.hpp"
#include "dnsscience/error.hpp"
#include "registration.hpp"

namespace py = pybind11;

namespace dnsscience::bindings {

namespace {

constexpr RRType kQueryTypes[] = {RRType::A,   RRType::AAAA, RRType::CNAME, RRType::MX,  RRType::NS,
                                  RRType::PTR, RRType::SOA,  RRType::TLSA,  RRType::TXT};

RRType parse_rrtype(const std::string& text) {
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (RRType type : kQueryTypes) {
    if (rrtype_name(type) == upper) return type;
  }
  throw Error(ErrorKind::invalid_argument,
              "invalid rrtype '" + text + "': pass one of A, AAAA, CNAME, MX, NS, PTR, SOA, TLSA, TXT");
}

// TXT strings are octets; undecodable bytes become lone surrogates so that
// s.encode("utf-8", "surrogateescape") gives the original octets back.
py::str octets_to_str(const std::string& octets) {
  PyObject* decoded = PyUnicode_DecodeUTF8(octets.data(), static_cast<Py_ssize_t>(octets.size()), "surrogateescape");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

py::object text_or_none(const std::string& text) {
  if (text.empty()) return py::none();
  return py::str(text);
}

py::dict record_to_dict(const ResourceRecord& record) {
  py::dict out;
  out["name"] = record.name;
  out["type"] = rrtype_name(record.type);
  out["ttl"] = record.ttl;
  py::list strings;
  for (const std::string& part : record.strings) strings.append(octets_to_str(part));
  out["strings"] = strings;
  out["target"] = record.target;
  out["preference"] = record.preference;
  out["address"] = record.address;
  out["rdata"] = py::bytes(reinterpret_cast<const char*>(record.rdata.data()), record.rdata.size());
  return out;
}

py::dict answer_to_dict(const DnsAnswer& answer) {
  py::dict out;
  out["qname"] = answer.qname;
  out["qtype"] = rrtype_name(answer.qtype);
  out["status"] = dns_status_name(answer.status);
  out["rcode"] = answer.rcode < 0 ? py::object(py::none()) : py::object(py::int_(answer.rcode));
  py::list records;
  for (const ResourceRecord& record : answer.records) records.append(record_to_dict(record));
  out["records"] = records;
  out["cname_chain"] = answer.cname_chain;
  out["server"] = text_or_none(answer.server);
  out["tries"] = answer.tries;
  out["elapsed_ms"] = answer.elapsed_ms;
  out["authenticated_data"] = answer.authenticated_data;
  out["truncated_retried_over_tcp"] = answer.truncated_retried_over_tcp;
  out["error"] = text_or_none(answer.error);
  return out;
}

DnsAnswer run_query(const std::string& name, RRType type, const DnsEngineOptions& options) {
  EventLoop loop;
  DnsEngine engine(loop, options);
  DnsAnswer answer;
  bool finished = false;
  engine.query(name, type, [&](DnsAnswer result) {
    answer = std::move(result);
    finished = true;
  });
  while (!finished) loop.run_once(std::chrono::milliseconds(100));
  return answer;
}

}  // namespace

void register_dns(py::module_& module) {
  module.def("normalize_domain", &normalize_domain, py::arg("name"),
             "Return `name` lowercased, without the trailing dot, with Unicode labels as\n"
             "A-labels (IDNA 2008, UTS #46 nontransitional). Raises InvalidArgumentError\n"
             "naming the value when it is empty, over 253 octets, has an empty label or one\n"
             "over 63 octets, or contains a character other than letters, digits, '-', '_'.");

  module.def(
      "dns_query",
      [](const std::string& name, const std::string& rrtype, const std::vector<std::string>& nameservers,
         double timeout, int tries) {
        const RRType type = parse_rrtype(rrtype);
        DnsEngineOptions options;
        for (const std::string& server : nameservers) options.nameservers.push_back(Nameserver::parse(server));
        options.timeout = timeout;
        options.tries = tries;
        DnsAnswer answer;
        {
          py::gil_scoped_release release;
          answer = run_query(name, type, options);
        }
        return answer_to_dict(answer);
      },
      py::arg("name"), py::arg("rrtype"), py::arg("nameservers"), py::arg("timeout") = 2.0, py::arg("tries") = 3,
      "Send one query for `name` (absolute, sent as given) and `rrtype` to `nameservers`\n"
      "('ip', 'ip:port' or '[ipv6]:port'; [] means the nameservers of /etc/resolv.conf).\n"
      "`timeout` (seconds) bounds the whole query; each of the `tries` sends gets\n"
      "timeout / tries, and retries go to the next nameserver.\n\n"
      "Returns a dict: qname, qtype, status ('data', 'nodata', 'nxdomain', 'servfail',\n"
      "'refused', 'timeout', 'error'), rcode (None without a response), records (dicts\n"
      "with name, type, ttl, strings, target, preference, address, rdata), cname_chain,\n"
      "server, tries, elapsed_ms, authenticated_data, truncated_retried_over_tcp and\n"
      "error (None or the reason). TXT strings that are not UTF-8 are decoded with\n"
      "'surrogateescape'. Releases the GIL while waiting. Raises InvalidArgumentError\n"
      "for a bad name, rrtype, nameserver, timeout or tries.");

  py::class_<BatchSession>(module, "BatchSession",
                           "Items run on a C++ event-loop thread with a cap on items in flight.\n"
                           "Created by the email and TLS factories of this module; results are JSON texts.")
      .def(
          "submit",
          [](BatchSession& session, std::vector<std::string> items) {
            py::gil_scoped_release release;
            session.submit(std::move(items));
          },
          py::arg("items"), "Queue items (str) in order. Raises InvalidArgumentError after stop_new() or close().")
      .def("poll", &BatchSession::poll, py::arg("max_results") = 512, py::arg("wait_seconds") = 0.2,
           py::call_guard<py::gil_scoped_release>(),
           "Return up to `max_results` (0: all) finished results as JSON texts, waiting up to\n"
           "`wait_seconds` for the first. Returns [] at once when nothing is queued or in\n"
           "flight. Raises the exception of a failed setup or starter (DnsScienceError).")
      .def("stop_new", &BatchSession::stop_new, py::call_guard<py::gil_scoped_release>(),
           "Stop starting queued items and return them; items in flight still finish.")
      .def("close", &BatchSession::close, py::call_guard<py::gil_scoped_release>(),
           "Cancel: drop queued items, stop the loop thread and join it. Idempotent.")
      .def("queued", &BatchSession::queued, "Number of items submitted and not started.")
      .def("in_flight", &BatchSession::in_flight, "Number of items started and not finished.")
      .def("completed", &BatchSession::completed, "Number of items finished.")
      .def("__enter__", [](BatchSession& session) -> BatchSession& { return session; },
           py::return_value_policy::reference)
      .def(
          "__exit__",
          [](BatchSession& session, const py::object&, const py::object&, const py::object&) {
            py::gil_scoped_release release;
            session.close();
          },
          "Close the session.");
}

}  // namespace dnsscience::bindings
