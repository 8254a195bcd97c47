#pragma once

// Test helpers for the DNS tests: a DNS wire-format builder and a fake DNS server
// (UDP and TCP on 127.0.0.1, a kernel-chosen port) driven by a handler function.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dns/dns_message.hpp"

namespace dnsscience::testing {

/// Appends DNS wire-format pieces to a byte buffer.
class WireBuilder {
 public:
  WireBuilder& u8(uint8_t value) {
    bytes.push_back(value);
    return *this;
  }
  WireBuilder& u16(uint16_t value) {
    bytes.push_back(static_cast<uint8_t>(value >> 8));
    bytes.push_back(static_cast<uint8_t>(value));
    return *this;
  }
  WireBuilder& u32(uint32_t value) {
    u16(static_cast<uint16_t>(value >> 16));
    return u16(static_cast<uint16_t>(value));
  }
  WireBuilder& raw(const std::vector<uint8_t>& data) {
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
  WireBuilder& raw(const std::string& data) {
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
  /// Appends `name` uncompressed ("" or "." is the root).
  WireBuilder& name(const std::string& name) {
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      u8(static_cast<uint8_t>(dot - start));
      raw(name.substr(start, dot - start));
      start = dot + 1;
    }
    return u8(0);
  }
  /// Appends a compression pointer to `offset`.
  WireBuilder& pointer(uint16_t offset) { return u16(static_cast<uint16_t>(0xc000 | offset)); }
  /// Appends a 12-octet header.
  WireBuilder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  /// Appends a record header (owner uncompressed, class IN) and `rdata`.
  WireBuilder& record(const std::string& owner, RRType type, uint32_t ttl, const std::vector<uint8_t>& rdata) {
    name(owner).u16(static_cast<uint16_t>(type)).u16(1).u32(ttl).u16(static_cast<uint16_t>(rdata.size()));
    return raw(rdata);
  }
  size_t size() const { return bytes.size(); }

  std::vector<uint8_t> bytes;
};

/// Returns `name` in uncompressed wire form.
inline std::vector<uint8_t> wire_name(const std::string& name) { return WireBuilder().name(name).bytes; }

/// Returns TXT RDATA made of `strings`.
inline std::vector<uint8_t> txt_rdata(const std::vector<std::string>& strings) {
  WireBuilder builder;
  for (const std::string& s : strings) builder.u8(static_cast<uint8_t>(s.size())).raw(s);
  return builder.bytes;
}

/// Returns MX RDATA.
inline std::vector<uint8_t> mx_rdata(uint16_t preference, const std::string& exchange) {
  return WireBuilder().u16(preference).name(exchange).bytes;
}

/// Returns A RDATA for a dotted-quad address.
inline std::vector<uint8_t> a_rdata(const std::string& address) {
  in_addr parsed{};
  inet_pton(AF_INET, address.c_str(), &parsed);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&parsed);
  return std::vector<uint8_t>(bytes, bytes + 4);
}

/// One answer record for FakeDnsServer responses.
struct FakeRecord {
  std::string owner;
  RRType type;
  uint32_t ttl;
  std::vector<uint8_t> rdata;
};

/// Builds a response to `query` (same ID and question) with `rcode` and `answers`.
inline std::vector<uint8_t> make_response(const dns::DnsMessage& query, int rcode,
                                          const std::vector<FakeRecord>& answers, bool truncated = false,
                                          bool authenticated = false) {
  uint16_t flags = 0x8000 | 0x0100 | 0x0080 | static_cast<uint16_t>(rcode & 0x0f);
  if (truncated) flags |= 0x0200;
  if (authenticated) flags |= 0x0020;
  WireBuilder builder;
  builder.header(query.id, flags, 1, static_cast<uint16_t>(answers.size()), 0, 0);
  builder.name(query.qname).u16(query.qtype).u16(query.qclass);
  for (const FakeRecord& record : answers) builder.record(record.owner, record.type, record.ttl, record.rdata);
  return builder.bytes;
}

/// A DNS server on 127.0.0.1 for tests. The handler gets each decoded query and
/// whether it came over TCP; it returns the response bytes, or nullopt to drop it.
class FakeDnsServer {
 public:
  using Handler = std::function<std::optional<std::vector<uint8_t>>(const dns::DnsMessage& query, bool tcp)>;

  /// `udp_delay` delays each UDP response by that long, without blocking the queries
  /// behind it, like a server far away.
  explicit FakeDnsServer(Handler handler, std::chrono::milliseconds udp_delay = std::chrono::milliseconds(0))
      : handler_(std::move(handler)), udp_delay_ms_(udp_delay.count()) {
    udp_fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int buffer = 8 << 20;
    setsockopt(udp_fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    if (bind(udp_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("fake DNS server: bind failed");
    }
    socklen_t length = sizeof address;
    getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);

    tcp_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(tcp_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(tcp_fd_, 64) != 0) {
      throw std::runtime_error("fake DNS server: TCP bind on the UDP port failed");
    }
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeDnsServer() {
    stopping_ = true;
    thread_.join();
    close(udp_fd_);
    close(tcp_fd_);
  }

  /// Changes the delay of the UDP responses to queries that arrive from now on.
  void set_udp_delay(std::chrono::milliseconds delay) { udp_delay_ms_ = delay.count(); }

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int udp_queries() const { return udp_queries_; }
  int tcp_queries() const { return tcp_queries_; }
  /// Query names in arrival order.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return names_;
  }

 private:
  std::optional<std::vector<uint8_t>> handle(const uint8_t* data, size_t size, bool tcp) {
    dns::DnsMessage query;
    try {
      query = dns::parse_message(data, size);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      names_.push_back(query.qname);
    }
    (tcp ? tcp_queries_ : udp_queries_)++;
    return handler_(query, tcp);
  }

  void serve_tcp_client(int client) {
    // One query per connection is enough for the tests; c-ares reads until close.
    pollfd ready{client, POLLIN, 0};
    std::vector<uint8_t> buffer;
    uint8_t chunk[4096];
    while (!stopping_ && poll(&ready, 1, 2000) > 0) {
      const ssize_t got = recv(client, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      buffer.insert(buffer.end(), chunk, chunk + got);
      while (buffer.size() >= 2) {
        const size_t length = static_cast<size_t>(buffer[0]) << 8 | buffer[1];
        if (buffer.size() < 2 + length) break;
        auto response = handle(buffer.data() + 2, length, true);
        buffer.erase(buffer.begin(), buffer.begin() + 2 + static_cast<long>(length));
        if (!response) continue;
        std::vector<uint8_t> framed{static_cast<uint8_t>(response->size() >> 8),
                                    static_cast<uint8_t>(response->size())};
        framed.insert(framed.end(), response->begin(), response->end());
        [[maybe_unused]] ssize_t sent = send(client, framed.data(), framed.size(), MSG_NOSIGNAL);
      }
    }
    close(client);
  }

  void serve() {
    std::vector<std::thread> clients;
    uint8_t buffer[65536];
    while (!stopping_) {
      send_due_responses();
      int wait_ms = 50;
      if (!delayed_.empty()) {
        const auto until = delayed_.front().due - std::chrono::steady_clock::now();
        wait_ms = static_cast<int>(std::clamp<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(until).count() + 1, 0, 50));
      }
      pollfd fds[2] = {{udp_fd_, POLLIN, 0}, {tcp_fd_, POLLIN, 0}};
      if (poll(fds, 2, wait_ms) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        sockaddr_in peer{};
        socklen_t peer_length = sizeof peer;
        const ssize_t got = recvfrom(udp_fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
        if (got > 0) {
          auto response = handle(buffer, static_cast<size_t>(got), false);
          if (response) {
            const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(udp_delay_ms_.load());
            // A lowered delay can make a response due before earlier ones.
            auto position = std::upper_bound(delayed_.begin(), delayed_.end(), due,
                                             [](auto time, const DelayedResponse& held) { return time < held.due; });
            delayed_.insert(position, {due, std::move(*response), peer});
          }
        }
      }
      if (fds[1].revents & POLLIN) {
        const int client = accept(tcp_fd_, nullptr, nullptr);
        if (client >= 0) clients.emplace_back([this, client] { serve_tcp_client(client); });
      }
    }
    for (auto& client : clients) client.join();
  }

  struct DelayedResponse {
    std::chrono::steady_clock::time_point due;
    std::vector<uint8_t> bytes;
    sockaddr_in peer;
  };

  void send_due_responses() {
    const auto now = std::chrono::steady_clock::now();
    while (!delayed_.empty() && delayed_.front().due <= now) {
      const DelayedResponse& response = delayed_.front();
      sendto(udp_fd_, response.bytes.data(), response.bytes.size(), 0,
             reinterpret_cast<const sockaddr*>(&response.peer), sizeof response.peer);
      delayed_.pop_front();
    }
  }

  Handler handler_;
  std::atomic<int64_t> udp_delay_ms_;
  std::deque<DelayedResponse> delayed_;  // server thread only, in due order
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> udp_queries_{0};
  std::atomic<int> tcp_queries_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> names_;
  std::thread thread_;
};

}  // namespace dnsscience::testing
