#include "dnsscience/dns_engine.hpp"

#include <ares.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "dns_test_support.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {
namespace {

using std::chrono::milliseconds;
using testing::FakeDnsServer;
using testing::FakeRecord;
using testing::make_response;

// Answers every query: "nx.test" NXDOMAIN, "fail.test" SERVFAIL, "deny.test" REFUSED,
// "formerr.test" FORMERR, "empty.test" NOERROR without records, "garbage.test" a
// malformed message, "alias.test" a CNAME to "target.test" with an A record, the
// AD bit for "signed.test", and one TXT record with two strings otherwise.
std::optional<std::vector<uint8_t>> zone(const dns::DnsMessage& query, bool /*tcp*/) {
  if (query.qname == "nx.test") return make_response(query, dns::kRcodeNxDomain, {});
  if (query.qname == "fail.test") return make_response(query, dns::kRcodeServFail, {});
  if (query.qname == "deny.test") return make_response(query, dns::kRcodeRefused, {});
  if (query.qname == "formerr.test") return make_response(query, dns::kRcodeFormErr, {});
  if (query.qname == "empty.test") return make_response(query, dns::kRcodeNoError, {});
  if (query.qname == "garbage.test") {
    std::vector<uint8_t> response = make_response(query, 0, {{query.qname, RRType::A, 1, testing::a_rdata("192.0.2.1")}});
    response.resize(response.size() - 2);
    return response;
  }
  if (query.qname == "alias.test") {
    return make_response(query, 0,
                         {{"alias.test", RRType::CNAME, 60, testing::wire_name("target.test")},
                          {"target.test", RRType::A, 60, testing::a_rdata("192.0.2.80")}});
  }
  const bool signed_zone = query.qname == "signed.test";
  return make_response(query, 0, {{query.qname, RRType::TXT, 300, testing::txt_rdata({"v=spf1 ", "-all"})}},
                       false, signed_zone);
}

// Sends of a query whose every response is malformed, with 3 tries. c-ares 1.18
// passes a malformed response to the engine, which ends the query at once. c-ares
// 1.34 rejects it with ARES_EBADRESP before the engine receives it, and the engine
// retries as after any failed send.
// NOTE: only c-ares 1.18 and 1.34 have run these tests. Versions 1.21 to 1.33
// may drop a malformed response instead, so that the query times out.
#if ARES_VERSION < 0x011500
constexpr int kSendsWhenEveryResponseIsMalformed = 1;
#else
constexpr int kSendsWhenEveryResponseIsMalformed = 3;
#endif

// Runs `loop` until `done()` returns true or `limit` passes.
template <typename Predicate>
void run_until(EventLoop& loop, Predicate done, milliseconds limit = milliseconds(10000)) {
  const auto give_up = EventLoop::Clock::now() + limit;
  while (!done() && EventLoop::Clock::now() < give_up) loop.run_once(milliseconds(20));
}

DnsEngineOptions options_for(std::vector<std::string> servers, double timeout = 2.0, int tries = 3) {
  DnsEngineOptions options;
  for (const auto& server : servers) options.nameservers.push_back(Nameserver::parse(server));
  options.timeout = timeout;
  options.tries = tries;
  return options;
}

DnsAnswer query_once(DnsEngine& engine, EventLoop& loop, const std::string& name, RRType type) {
  std::optional<DnsAnswer> result;
  engine.query(name, type, [&](DnsAnswer answer) { result = std::move(answer); });
  run_until(loop, [&] { return result.has_value(); });
  if (!result) ADD_FAILURE() << "no callback for " << name;
  return result.value_or(DnsAnswer{});
}

// Returns a loopback UDP port with nothing listening on it.
uint16_t closed_udp_port() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(Nameserver, ParsesAddressesAndPorts) {
  const std::vector<std::tuple<std::string, std::string, uint16_t, std::string>> cases{
      {"192.0.2.1", "192.0.2.1", 53, "192.0.2.1:53"},
      {"127.0.0.1:5353", "127.0.0.1", 5353, "127.0.0.1:5353"},
      {"2001:db8::1", "2001:db8::1", 53, "[2001:db8::1]:53"},
      {"[::1]", "::1", 53, "[::1]:53"},
      {"[2001:db8::1]:65535", "2001:db8::1", 65535, "[2001:db8::1]:65535"},
  };
  for (const auto& [text, address, port, shown] : cases) {
    const Nameserver server = Nameserver::parse(text);
    EXPECT_EQ(server.address, address) << text;
    EXPECT_EQ(server.port, port) << text;
    EXPECT_EQ(server.to_string(), shown) << text;
  }
}

TEST(Nameserver, RejectsBadValues) {
  for (const std::string text : {"", "dns.example", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:", "192.0.2.1:x",
                                 "[::1", "[192.0.2.1]:53", "[::1]53", "300.1.1.1", "::1::2"}) {
    try {
      Nameserver::parse(text);
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::invalid_argument) << text;
      EXPECT_NE(std::string(error.what()).find("'" + text + "'"), std::string::npos) << error.what();
    }
  }
}

TEST(Nameserver, ReadsResolvConf) {
  const std::string path = ::testing::TempDir() + "/resolv.conf";
  {
    std::FILE* file = std::fopen(path.c_str(), "w");
    std::fputs("# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
               "nameserver fe80::1%eth0\nnameserver bogus\n", file);
    std::fclose(file);
  }
  const auto servers = read_resolv_conf_nameservers(path);
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].to_string(), "192.0.2.53:53");
  EXPECT_EQ(servers[1].to_string(), "[2001:db8::53]:53");
  EXPECT_TRUE(read_resolv_conf_nameservers(path + ".missing").empty());
}

TEST(DnsEngine, RejectsBadOptions) {
  EventLoop loop;
  DnsEngineOptions options = options_for({"127.0.0.1:53"});
  options.timeout = 0;
  EXPECT_THROW(DnsEngine(loop, options), Error);
  options = options_for({"127.0.0.1:53"});
  options.tries = 0;
  EXPECT_THROW(DnsEngine(loop, options), Error);
  options = options_for({"127.0.0.1:53"});
  options.qps = -1;
  EXPECT_THROW(DnsEngine(loop, options), Error);
  options = options_for({"127.0.0.1:53"});
  options.max_queries_per_socket = 0;
  EXPECT_THROW(DnsEngine(loop, options), Error);
}

TEST(DnsEngine, EachStatusFromFakeServer) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));

  const std::map<std::string, DnsStatus> cases{
      {"data.test", DnsStatus::data},         {"empty.test", DnsStatus::nodata},
      {"nx.test", DnsStatus::nxdomain},       {"fail.test", DnsStatus::servfail},
      {"deny.test", DnsStatus::refused},      {"formerr.test", DnsStatus::error},
      {"garbage.test", DnsStatus::error},
  };
  for (const auto& [name, status] : cases) {
    const DnsAnswer answer = query_once(engine, loop, name, RRType::TXT);
    EXPECT_EQ(answer.status, status) << name << ": " << answer.error;
    EXPECT_EQ(answer.server, server.address()) << name;
    const int sends = name == "garbage.test" ? kSendsWhenEveryResponseIsMalformed : 1;
    EXPECT_EQ(answer.tries, sends) << name;
  }
  const DnsEngineStats stats = engine.stats();
  EXPECT_EQ(stats.queries_started, cases.size());
  EXPECT_EQ(stats.answers(DnsStatus::error), 2u);
  EXPECT_EQ(stats.answers(DnsStatus::data), 1u);
  EXPECT_EQ(stats.in_flight, 0u);
  EXPECT_EQ(stats.queued, 0u);
}

TEST(DnsEngine, DecodesTxtCnameAndAdBit) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));

  const DnsAnswer txt = query_once(engine, loop, "Data.TEST.", RRType::TXT);
  EXPECT_EQ(txt.qname, "data.test");
  ASSERT_EQ(txt.records.size(), 1u);
  ASSERT_EQ(txt.records[0].strings.size(), 2u);
  EXPECT_EQ(txt.records[0].text(), "v=spf1 -all");
  EXPECT_FALSE(txt.authenticated_data);
  EXPECT_EQ(txt.rcode, 0);

  const DnsAnswer alias = query_once(engine, loop, "alias.test", RRType::A);
  EXPECT_EQ(alias.status, DnsStatus::data);
  ASSERT_EQ(alias.records.size(), 1u);
  EXPECT_EQ(alias.records[0].name, "target.test");
  EXPECT_EQ(alias.records[0].address, "192.0.2.80");
  ASSERT_EQ(alias.cname_chain.size(), 1u);
  EXPECT_EQ(alias.cname_chain[0], "alias.test");

  EXPECT_TRUE(query_once(engine, loop, "signed.test", RRType::TXT).authenticated_data);
}

TEST(DnsEngine, MalformedResponseSparesOtherQueries) {
  // The server drops the first send of "pending.test", so that it is still
  // outstanding on the socket when the malformed response to "garbage.test" arrives.
  std::atomic<bool> pending_dropped{false};
  FakeDnsServer server([&](const dns::DnsMessage& query, bool tcp) -> std::optional<std::vector<uint8_t>> {
    if (query.qname == "pending.test" && !pending_dropped.exchange(true)) return std::nullopt;
    return zone(query, tcp);
  });
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));

  std::optional<DnsAnswer> pending;
  engine.query("pending.test", RRType::TXT, [&](DnsAnswer answer) { pending = std::move(answer); });
  run_until(loop, [&] { return pending_dropped.load(); });
  ASSERT_TRUE(pending_dropped.load());
  const DnsAnswer garbage = query_once(engine, loop, "garbage.test", RRType::TXT);
  run_until(loop, [&] { return pending.has_value(); });

  EXPECT_EQ(garbage.status, DnsStatus::error);
  EXPECT_EQ(garbage.tries, kSendsWhenEveryResponseIsMalformed);
  EXPECT_NE(garbage.error.find(server.address()), std::string::npos) << garbage.error;
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->status, DnsStatus::data) << pending->error;
  EXPECT_EQ(pending->tries, 2);
}

TEST(DnsEngine, RepeatedQueryReachesServer) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));

  // The TXT record has a TTL of 300 s, so a c-ares cache would serve the second
  // query without sending it.
  EXPECT_EQ(query_once(engine, loop, "data.test", RRType::TXT).status, DnsStatus::data);
  EXPECT_EQ(query_once(engine, loop, "data.test", RRType::TXT).status, DnsStatus::data);
  EXPECT_EQ(server.udp_queries(), 2);
}

TEST(DnsEngine, CallbackNeverRunsInsideQuery) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));
  bool returned = false;
  bool called_early = false;
  bool called = false;
  engine.query("data.test", RRType::TXT, [&](DnsAnswer) {
    called_early = !returned;
    called = true;
  });
  returned = true;
  run_until(loop, [&] { return called; });
  EXPECT_TRUE(called);
  EXPECT_FALSE(called_early);
}

TEST(DnsEngine, InvalidNameThrows) {
  EventLoop loop;
  DnsEngine engine(loop, options_for({"127.0.0.1:53"}));
  EXPECT_THROW(engine.query("a..test", RRType::A, [](DnsAnswer) {}), Error);
  EXPECT_THROW(engine.query(std::string(64, 'x') + ".test", RRType::A, [](DnsAnswer) {}), Error);
  EXPECT_EQ(engine.stats().queries_started, 0u);
}

TEST(DnsEngine, TruncatedAnswerRetriedOverTcp) {
  // Twenty 100-octet TXT records make a response of more than 2,000 octets,
  // over the 1,232 octets advertised with EDNS.
  FakeDnsServer server([](const dns::DnsMessage& query, bool tcp) -> std::optional<std::vector<uint8_t>> {
    if (!tcp) return make_response(query, 0, {}, true);
    std::vector<FakeRecord> records;
    for (int i = 0; i < 20; ++i) {
      records.push_back({query.qname, RRType::TXT, 60, testing::txt_rdata({std::string(100, static_cast<char>('a' + i))})});
    }
    return make_response(query, 0, records);
  });
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));

  const DnsAnswer answer = query_once(engine, loop, "big.test", RRType::TXT);
  EXPECT_EQ(answer.status, DnsStatus::data) << answer.error;
  EXPECT_TRUE(answer.truncated_retried_over_tcp);
  ASSERT_EQ(answer.records.size(), 20u);
  EXPECT_EQ(answer.records[19].text(), std::string(100, 't'));
  EXPECT_EQ(answer.tries, 2);
  EXPECT_EQ(server.udp_queries(), 1);
  EXPECT_EQ(server.tcp_queries(), 1);
  EXPECT_EQ(engine.stats().tcp_retries, 1u);
}

TEST(DnsEngine, SilentServerTimesOutWithinDeadline) {
  FakeDnsServer server([](const dns::DnsMessage&, bool) { return std::nullopt; });
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}, 0.3, 3));

  const auto started = EventLoop::Clock::now();
  const DnsAnswer answer = query_once(engine, loop, "silent.test", RRType::A);
  const double waited_ms = std::chrono::duration<double, std::milli>(EventLoop::Clock::now() - started).count();

  EXPECT_EQ(answer.status, DnsStatus::timeout);
  EXPECT_EQ(answer.tries, 3);
  EXPECT_EQ(answer.rcode, -1);
  EXPECT_FALSE(answer.error.empty());
  EXPECT_GE(waited_ms, 250.0);
  // Generous bound for a loaded machine; the deadline itself is 300 ms.
  EXPECT_LT(waited_ms, 1500.0);
  run_until(loop, [&] { return server.udp_queries() >= 3; }, milliseconds(1000));
  EXPECT_EQ(server.udp_queries(), 3);
  EXPECT_EQ(engine.stats().retries, 2u);
  EXPECT_EQ(engine.stats().answers(DnsStatus::timeout), 1u);
}

TEST(DnsEngine, RetryGoesToNextNameserver) {
  FakeDnsServer silent([](const dns::DnsMessage&, bool) { return std::nullopt; });
  FakeDnsServer working(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({silent.address(), working.address()}, 1.0, 2));

  const DnsAnswer answer = query_once(engine, loop, "data.test", RRType::TXT);
  EXPECT_EQ(answer.status, DnsStatus::data) << answer.error;
  EXPECT_EQ(answer.server, working.address());
  EXPECT_EQ(answer.tries, 2);
  EXPECT_EQ(silent.udp_queries(), 1);
  EXPECT_EQ(working.udp_queries(), 1);
  EXPECT_EQ(engine.stats().retries, 1u);
}

TEST(DnsEngine, LateAnswerIgnored) {
  FakeDnsServer slow([](const dns::DnsMessage& query, bool) -> std::optional<std::vector<uint8_t>> {
    std::this_thread::sleep_for(milliseconds(400));
    return zone(query, false);
  });
  EventLoop loop;
  DnsEngine engine(loop, options_for({slow.address()}, 0.15, 1));

  int calls = 0;
  DnsAnswer last;
  engine.query("data.test", RRType::TXT, [&](DnsAnswer answer) {
    ++calls;
    last = std::move(answer);
  });
  run_until(loop, [&] { return calls > 0; });
  EXPECT_EQ(last.status, DnsStatus::timeout);
  EXPECT_LT(last.elapsed_ms, 390.0);

  // Let the late response arrive and c-ares finish its own query.
  run_until(loop, [] { return false; }, milliseconds(700));
  EXPECT_EQ(calls, 1);
  EXPECT_GE(engine.stats().late_answers, 1u);
  EXPECT_EQ(engine.stats().in_flight, 0u);
}

TEST(DnsEngine, ClosedPortIsErrorNotTimeout) {
  EventLoop loop;
  DnsEngine engine(loop, options_for({"127.0.0.1:" + std::to_string(closed_udp_port())}, 2.0, 2));
  const DnsAnswer answer = query_once(engine, loop, "data.test", RRType::A);
  EXPECT_EQ(answer.status, DnsStatus::error);
  EXPECT_EQ(answer.tries, 2);
  EXPECT_NE(answer.error.find("127.0.0.1:"), std::string::npos) << answer.error;
  EXPECT_LT(answer.elapsed_ms, 1500.0);
}

TEST(DnsEngine, ClosedPortErrorsEveryQuery) {
  // Many queries share a socket. The port-unreachable error reaches only some of
  // their sends, and the other tries time out. Every query still ends as an error.
  EventLoop loop;
  DnsEngine engine(loop, options_for({"127.0.0.1:" + std::to_string(closed_udp_port())}, 1.5, 3));
  constexpr size_t kCount = 40;
  std::array<size_t, 7> by_status{};
  size_t finished = 0;
  for (size_t i = 0; i < kCount; ++i) {
    engine.query("closed" + std::to_string(i) + ".test", RRType::TXT, [&](DnsAnswer answer) {
      ++by_status[static_cast<size_t>(answer.status)];
      ++finished;
      EXPECT_NE(answer.error.find("127.0.0.1:"), std::string::npos) << answer.error;
    });
  }
  run_until(loop, [&] { return finished == kCount; });
  EXPECT_EQ(finished, kCount);
  EXPECT_EQ(by_status[static_cast<size_t>(DnsStatus::error)], kCount);
}

TEST(DnsEngine, QpsCapKeepsFifoOrder) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngineOptions options = options_for({server.address()});
  options.qps = 200;
  DnsEngine engine(loop, options);

  constexpr int kCount = 60;
  std::vector<int> completion_order;
  size_t max_queued = 0;
  for (int i = 0; i < kCount; ++i) {
    engine.query("q" + std::to_string(i) + ".test", RRType::TXT, [&, i](DnsAnswer answer) {
      EXPECT_EQ(answer.status, DnsStatus::data);
      completion_order.push_back(i);
    });
  }
  const auto started = EventLoop::Clock::now();
  run_until(loop, [&] {
    max_queued = std::max(max_queued, engine.stats().queued);
    return completion_order.size() == static_cast<size_t>(kCount);
  });
  const double seconds = std::chrono::duration<double>(EventLoop::Clock::now() - started).count();

  ASSERT_EQ(completion_order.size(), static_cast<size_t>(kCount));
  // 60 queries at 200 per second with a burst of 10 need at least 0.25 s.
  EXPECT_GE(seconds, 0.2);
  EXPECT_GT(max_queued, 0u);
  const auto names = server.names();
  ASSERT_EQ(names.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(names[i], "q" + std::to_string(i) + ".test");
  EXPECT_EQ(engine.stats().queries_sent, static_cast<uint64_t>(kCount));
}

TEST(DnsEngine, PerNameserverCapBoundsInFlight) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngineOptions options = options_for({server.address()});
  options.max_inflight_per_nameserver = 5;
  DnsEngine engine(loop, options);

  constexpr size_t kCount = 200;
  size_t finished = 0;
  size_t max_in_flight = 0;
  size_t max_queued = 0;
  for (size_t i = 0; i < kCount; ++i) {
    engine.query("n" + std::to_string(i) + ".test", RRType::TXT, [&](DnsAnswer answer) {
      EXPECT_EQ(answer.status, DnsStatus::data);
      ++finished;
      max_in_flight = std::max(max_in_flight, engine.stats().in_flight);
      max_queued = std::max(max_queued, engine.stats().queued);
    });
  }
  run_until(loop, [&] { return finished == kCount; });
  EXPECT_EQ(finished, kCount);
  EXPECT_LE(max_in_flight, 5u);
  EXPECT_GT(max_queued, 0u);
}

TEST(DnsEngine, CallbackExceptionReachesLoop) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, options_for({server.address()}));
  engine.query("data.test", RRType::TXT, [](DnsAnswer) { throw std::runtime_error("callback failed"); });
  bool thrown = false;
  const auto give_up = EventLoop::Clock::now() + milliseconds(5000);
  while (!thrown && EventLoop::Clock::now() < give_up) {
    try {
      loop.run_once(milliseconds(20));
    } catch (const std::runtime_error& error) {
      thrown = std::string(error.what()) == "callback failed";
    }
  }
  EXPECT_TRUE(thrown);

  // The engine keeps working afterwards.
  EXPECT_EQ(query_once(engine, loop, "data.test", RRType::TXT).status, DnsStatus::data);
}

TEST(DnsEngine, ThousandsInFlight) {
  FakeDnsServer server(zone);
  EventLoop loop;
  constexpr size_t kCount = 5000;
  DnsEngineOptions options = options_for({server.address()}, 10.0, 3);
  options.max_inflight_per_nameserver = kCount;
  options.min_inflight_per_nameserver = kCount;
  DnsEngine engine(loop, options);

  std::array<size_t, 7> by_status{};
  size_t finished = 0;
  size_t max_in_flight = 0;
  for (size_t i = 0; i < kCount; ++i) {
    engine.query("host" + std::to_string(i) + ".test", RRType::TXT, [&](DnsAnswer answer) {
      ++by_status[static_cast<size_t>(answer.status)];
      ++finished;
      max_in_flight = std::max(max_in_flight, engine.stats().in_flight);
    });
  }
  run_until(loop, [&] { return finished == kCount; }, milliseconds(30000));
  EXPECT_EQ(finished, kCount);
  EXPECT_EQ(by_status[static_cast<size_t>(DnsStatus::data)], kCount);
  const DnsEngineStats stats = engine.stats();
  EXPECT_EQ(stats.answers(DnsStatus::data), kCount);
  EXPECT_EQ(stats.in_flight, 0u);
  EXPECT_EQ(stats.retries, 0u);
  // All sends go out in one pass before the first response is read.
  EXPECT_GT(max_in_flight, 1000u);
}

// Runs `count` queries for `prefix`N.test at once and returns the highest number in
// flight seen from their callbacks.
size_t run_batch(DnsEngine& engine, EventLoop& loop, const std::string& prefix, size_t count) {
  size_t finished = 0;
  size_t max_in_flight = 0;
  for (size_t i = 0; i < count; ++i) {
    engine.query(prefix + std::to_string(i) + ".test", RRType::TXT, [&](DnsAnswer) {
      ++finished;
      max_in_flight = std::max(max_in_flight, engine.stats().in_flight + 1);
    });
  }
  run_until(loop, [&] { return finished == count; });
  EXPECT_EQ(finished, count);
  return max_in_flight;
}

// Drops every query whose name starts with "lost" and responds to the others as zone() does.
std::optional<std::vector<uint8_t>> lossy_zone(const dns::DnsMessage& query, bool tcp) {
  if (query.qname.rfind("lost", 0) == 0) return std::nullopt;
  return zone(query, tcp);
}

// Options for `server` with an in-flight limit from `min` to `max`.
DnsEngineOptions limit_options(const FakeDnsServer& server, size_t min, size_t max, double timeout = 2.0,
                               int tries = 3) {
  DnsEngineOptions options = options_for({server.address()}, timeout, tries);
  options.min_inflight_per_nameserver = min;
  options.max_inflight_per_nameserver = max;
  return options;
}

TEST(DnsEngine, InFlightLimitGrowsToMaximum) {
  // Every response is delayed 20 ms whatever the load, so round trips stay flat.
  FakeDnsServer server(zone, milliseconds(20));
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 8, 64));
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{8});

  const size_t max_in_flight = run_batch(engine, loop, "grow", 2000);
  EXPECT_GT(max_in_flight, 8u);
  EXPECT_LE(max_in_flight, 64u);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{64});
}

TEST(DnsEngine, InFlightLimitIdleStays) {
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 8, 64));
  for (int round = 0; round < 20; ++round) run_batch(engine, loop, "idle", 4);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{8});
}

TEST(DnsEngine, InFlightLimitHalvesOnLoss) {
  FakeDnsServer server(lossy_zone, milliseconds(20));
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 4, 64, 0.3, 1));
  run_batch(engine, loop, "warm", 2000);
  ASSERT_EQ(engine.stats().inflight_limits, std::vector<size_t>{64});

  // Ten tries lost together halve the limit once.
  run_batch(engine, loop, "lost-a", 10);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{32});
  EXPECT_EQ(engine.stats().answers(DnsStatus::timeout), 10u);

  // A later loss halves it again, down to the minimum and no further.
  run_batch(engine, loop, "lost-b", 1);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{16});
  for (int round = 0; round < 4; ++round) run_batch(engine, loop, "lost-c" + std::to_string(round), 1);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{4});
}

TEST(DnsEngine, InFlightLimitQueueingStays) {
  // An undelayed server responds to the first queries at once and later ones only after
  // the queue in front of them, so round trips grow with the load.
  FakeDnsServer server(zone);
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 8, 4096));
  run_batch(engine, loop, "queue", 3000);
  // Growing on every answer would have reached about 1,700 here.
  EXPECT_LT(engine.stats().inflight_limits[0], 500u);
}

TEST(DnsEngine, InFlightLimitShrinksOnQueueing) {
  FakeDnsServer server(zone, milliseconds(5));
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 8, 64));
  run_batch(engine, loop, "fast", 2000);
  ASSERT_EQ(engine.stats().inflight_limits, std::vector<size_t>{64});

  // Round trips of 50 ms are ten times the lowest, so each answer gives a place back.
  server.set_udp_delay(milliseconds(50));
  run_batch(engine, loop, "slow", 200);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{8});
}

TEST(DnsEngine, FixedInFlightLimit) {
  FakeDnsServer server(lossy_zone);
  EventLoop loop;
  DnsEngine engine(loop, limit_options(server, 16, 16, 0.3, 1));
  EXPECT_LE(run_batch(engine, loop, "fixed", 500), 16u);
  run_batch(engine, loop, "lost", 3);
  EXPECT_EQ(engine.stats().inflight_limits, std::vector<size_t>{16});
}

}  // namespace
}  // namespace dnsscience
