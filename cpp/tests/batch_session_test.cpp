#include "dnsscience/batch_session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "dns_test_support.hpp"
#include "dnsscience/dns_engine.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {
namespace {

using std::chrono::milliseconds;

// Polls until `expected` results arrived or 10 s passed.
std::vector<std::string> collect(BatchSession& session, size_t expected) {
  std::vector<std::string> results;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (results.size() < expected && std::chrono::steady_clock::now() < give_up) {
    for (std::string& result : session.poll(0, 0.5)) results.push_back(std::move(result));
  }
  return results;
}

// A starter that completes each item 1 ms later with {"item": item}, counting the
// items in flight.
BatchSession::Starter delayed_echo(EventLoop& loop, std::atomic<int>& in_flight, std::atomic<int>& max_in_flight) {
  return [&loop, &in_flight, &max_in_flight](const std::string& item, BatchSession::Done done) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    loop.add_timer(milliseconds(1), [&in_flight, item, done = std::move(done)] {
      --in_flight;
      done(nlohmann::json{{"item", item}}.dump());
    });
  };
}

TEST(BatchSession, RunsEveryItemWithinCap) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  BatchSession session([&](EventLoop& loop) { return delayed_echo(loop, in_flight, max_in_flight); }, 8);

  std::vector<std::string> items;
  for (int i = 0; i < 200; ++i) items.push_back("item" + std::to_string(i));
  session.submit(items);

  const std::vector<std::string> results = collect(session, items.size());
  ASSERT_EQ(results.size(), items.size());
  std::set<std::string> seen;
  for (const std::string& result : results) seen.insert(nlohmann::json::parse(result).at("item").get<std::string>());
  EXPECT_EQ(seen, std::set<std::string>(items.begin(), items.end()));
  EXPECT_LE(max_in_flight.load(), 8);
  EXPECT_GT(max_in_flight.load(), 1);
  EXPECT_EQ(session.completed(), items.size());
  EXPECT_EQ(session.in_flight(), 0u);
  EXPECT_EQ(session.queued(), 0u);
}

TEST(BatchSession, SynchronousDoneDoesNotRecurse) {
  BatchSession session(
      [](EventLoop&) -> BatchSession::Starter {
        return [](const std::string& item, BatchSession::Done done) { done(item); };
      },
      4);
  std::vector<std::string> items(50000, "x");
  session.submit(items);
  EXPECT_EQ(collect(session, items.size()).size(), items.size());
}

TEST(BatchSession, SetupAndStarterRunOnLoopThread) {
  std::thread::id setup_thread;
  std::thread::id starter_thread;
  BatchSession session(
      [&](EventLoop&) -> BatchSession::Starter {
        setup_thread = std::this_thread::get_id();
        return [&](const std::string& item, BatchSession::Done done) {
          starter_thread = std::this_thread::get_id();
          done(item);
        };
      },
      1);
  session.submit({"one"});
  ASSERT_EQ(collect(session, 1).size(), 1u);
  EXPECT_EQ(setup_thread, starter_thread);
  EXPECT_NE(setup_thread, std::this_thread::get_id());
}

TEST(BatchSession, SetupErrorReachesPollAndSubmit) {
  BatchSession session(
      [](EventLoop&) -> BatchSession::Starter {
        throw Error(ErrorKind::configuration, "no nameserver configured");
      },
      1);
  try {
    session.poll(1, 5.0);
    ADD_FAILURE() << "poll() did not throw";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::configuration);
    EXPECT_STREQ(error.what(), "no nameserver configured");
  }
  EXPECT_THROW(session.submit({"a"}), Error);
  EXPECT_THROW(session.poll(1, 0), Error);
}

TEST(BatchSession, StarterExceptionReportedOnce) {
  BatchSession session(
      [](EventLoop&) -> BatchSession::Starter {
        return [](const std::string& item, BatchSession::Done done) {
          if (item == "bad") throw std::runtime_error("cannot start bad");
          done(item);
        };
      },
      1);
  session.submit({"good1", "bad", "good2"});

  std::vector<std::string> results;
  int errors = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (results.size() < 2 && std::chrono::steady_clock::now() < give_up) {
    try {
      for (std::string& result : session.poll(0, 0.5)) results.push_back(std::move(result));
    } catch (const Error& error) {
      ++errors;
      EXPECT_EQ(error.kind(), ErrorKind::internal);
      EXPECT_NE(std::string(error.what()).find("cannot start bad"), std::string::npos) << error.what();
    }
  }
  EXPECT_EQ(errors, 1);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(session.completed(), 3u);
  EXPECT_TRUE(session.poll(0, 0).empty());
}

TEST(BatchSession, StopNewReturnsQueuedItems) {
  BatchSession session(
      [](EventLoop&) -> BatchSession::Starter {
        // Never finishes an item, so the first one stays in flight.
        return [](const std::string&, BatchSession::Done) {};
      },
      1);
  session.submit({"a", "b", "c"});
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (session.in_flight() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(session.in_flight(), 1u);

  const std::vector<std::string> unstarted = session.stop_new();
  ASSERT_EQ(unstarted.size(), 2u);
  EXPECT_EQ(unstarted[0], "b");
  EXPECT_EQ(unstarted[1], "c");
  EXPECT_EQ(session.queued(), 0u);
  EXPECT_THROW(session.submit({"d"}), Error);
}

TEST(BatchSession, PollWaitsThenReturnsEmpty) {
  BatchSession session(
      [](EventLoop&) -> BatchSession::Starter { return [](const std::string&, BatchSession::Done) {}; }, 1);
  // Nothing submitted: no wait at all.
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(session.poll(10, 5.0).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));

  // One item that never finishes: poll waits for the full time.
  session.submit({"stuck"});
  started = std::chrono::steady_clock::now();
  EXPECT_TRUE(session.poll(10, 0.2).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(150));
}

TEST(BatchSession, CloseIsIdempotent) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  BatchSession session([&](EventLoop& loop) { return delayed_echo(loop, in_flight, max_in_flight); }, 2);
  session.submit({"a"});
  ASSERT_EQ(collect(session, 1).size(), 1u);
  session.close();
  session.close();
  EXPECT_THROW(session.submit({"b"}), Error);
  EXPECT_TRUE(session.poll(1, 5.0).empty());
}

TEST(BatchSession, RejectsZeroCap) {
  EXPECT_THROW(BatchSession([](EventLoop&) { return BatchSession::Starter(); }, 0), Error);
}

TEST(BatchSession, DrivesDnsEngine) {
  testing::FakeDnsServer server([](const dns::DnsMessage& query, bool) -> std::optional<std::vector<uint8_t>> {
    if (query.qname.rfind("nx", 0) == 0) return testing::make_response(query, dns::kRcodeNxDomain, {});
    return testing::make_response(query, 0, {{query.qname, RRType::TXT, 60, testing::txt_rdata({"v=spf1 -all"})}});
  });
  const std::string address = server.address();
  BatchSession session(
      [address](EventLoop& loop) -> BatchSession::Starter {
        DnsEngineOptions options;
        options.nameservers.push_back(Nameserver::parse(address));
        auto engine = std::make_shared<DnsEngine>(loop, options);
        return [engine](const std::string& domain, BatchSession::Done done) {
          engine->query(domain, RRType::TXT, [domain, done = std::move(done)](DnsAnswer answer) {
            nlohmann::json result{{"domain", domain}, {"status", dns_status_name(answer.status)}};
            if (!answer.records.empty()) result["txt"] = answer.records[0].text();
            done(result.dump());
          });
        };
      },
      100);

  std::vector<std::string> domains;
  for (int i = 0; i < 1000; ++i) domains.push_back((i % 10 == 0 ? "nx" : "ok") + std::to_string(i) + ".test");
  session.submit(domains);
  const std::vector<std::string> results = collect(session, domains.size());
  ASSERT_EQ(results.size(), domains.size());
  size_t nxdomain = 0;
  size_t data = 0;
  for (const std::string& text : results) {
    const auto result = nlohmann::json::parse(text);
    const std::string status = result.at("status");
    if (status == "nxdomain") ++nxdomain;
    if (status == "data") {
      ++data;
      EXPECT_EQ(result.at("txt"), "v=spf1 -all");
    }
  }
  EXPECT_EQ(nxdomain, 100u);
  EXPECT_EQ(data, 900u);
}

}  // namespace
}  // namespace dnsscience
