#include <arpa/inet.h>

#include <fstream>
#include <sstream>

#include "dnsscience/dns_engine.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

[[noreturn]] void reject(std::string_view text, const std::string& reason) {
  throw Error(ErrorKind::invalid_argument,
              "invalid nameserver '" + std::string(text) + "': " + reason +
                  "; pass an address such as 192.0.2.1, 192.0.2.1:5353 or [2001:db8::1]:53");
}

uint16_t parse_port(std::string_view text, std::string_view port) {
  if (port.empty() || port.size() > 5) reject(text, "the port must be a number from 1 to 65535");
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') reject(text, "the port must be a number from 1 to 65535");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) reject(text, "the port must be a number from 1 to 65535");
  return static_cast<uint16_t>(value);
}

bool is_address(int family, const std::string& address) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(family, address.c_str(), buffer) == 1;
}

}  // namespace

Nameserver Nameserver::parse(std::string_view text) {
  if (text.empty()) reject(text, "the value is empty");
  Nameserver server;

  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) reject(text, "the '[' has no matching ']'");
    server.address = std::string(text.substr(1, close - 1));
    if (!is_address(AF_INET6, server.address)) reject(text, "the part in brackets is not an IPv6 address");
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') reject(text, "expected ':port' after ']'");
      server.port = parse_port(text, rest.substr(1));
    }
    return server;
  }

  const size_t first_colon = text.find(':');
  if (first_colon != std::string_view::npos && text.find(':', first_colon + 1) != std::string_view::npos) {
    // Two or more colons without brackets: a bare IPv6 address, port 53.
    server.address = std::string(text);
    if (!is_address(AF_INET6, server.address)) reject(text, "not an IPv4 or IPv6 address");
    return server;
  }
  server.address = std::string(text.substr(0, first_colon));
  if (!is_address(AF_INET, server.address)) {
    reject(text, "not a numeric IPv4 address (host names are not resolved)");
  }
  if (first_colon != std::string_view::npos) server.port = parse_port(text, text.substr(first_colon + 1));
  return server;
}

std::string Nameserver::to_string() const {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

std::vector<Nameserver> read_resolv_conf_nameservers(const std::string& path) {
  std::vector<Nameserver> servers;
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream words(line);
    std::string keyword;
    std::string value;
    if (!(words >> keyword >> value) || keyword != "nameserver") continue;
    // A link-local address with a zone index ("fe80::1%eth0") is skipped because
    // Nameserver has no field for the zone.
    if (value.find('%') != std::string::npos) continue;
    try {
      servers.push_back(Nameserver::parse(value));
    } catch (const Error&) {
      // A malformed line is skipped so that one bad entry does not disable the others.
    }
  }
  return servers;
}

}  // namespace dnsscience
