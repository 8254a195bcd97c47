#pragma once

// An in-memory Resolver for unit tests: zones are a map from (name, type) to
// records, with failures and silence injectable per name and type.

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/error.hpp"
#include "dnsscience/event_loop.hpp"

namespace dnsscience::testing {

class FakeResolver : public Resolver {
 public:
  /// Without a loop, callbacks run inside query(). With one, they are posted to
  /// it, as a real engine delivers them later on its loop thread.
  explicit FakeResolver(EventLoop* loop = nullptr) : loop_(loop) {}

  void add_txt(const std::string& name, std::vector<std::string> strings) {
    ResourceRecord record = base(name, RRType::TXT);
    record.strings = std::move(strings);
    records_[key(name, RRType::TXT)].push_back(std::move(record));
  }
  void add_txt(const std::string& name, const std::string& text) { add_txt(name, std::vector<std::string>{text}); }
  void add_address(const std::string& name, const std::string& address) {
    const RRType type = address.find(':') != std::string::npos ? RRType::AAAA : RRType::A;
    ResourceRecord record = base(name, type);
    record.address = address;
    records_[key(name, type)].push_back(std::move(record));
  }
  void add_mx(const std::string& name, uint16_t preference, const std::string& exchange) {
    ResourceRecord record = base(name, RRType::MX);
    record.preference = preference;
    record.target = lower(exchange);
    records_[key(name, RRType::MX)].push_back(std::move(record));
  }
  void add_target(const std::string& name, RRType type, const std::string& target) {
    ResourceRecord record = base(name, type);
    record.target = lower(target);
    if (!record.target.empty() && record.target.back() == '.') record.target.pop_back();
    records_[key(name, type)].push_back(std::move(record));
  }
  /// Makes every query of `type` at `name` end with `status` and no records.
  void set_status(const std::string& name, RRType type, DnsStatus status) { statuses_[key(name, type)] = status; }
  /// Makes every query at `name` for a type without records time out.
  void set_timeout(const std::string& name) { timeout_names_.insert(lower(name)); }
  /// Makes queries of `type` at `name` never answer (for deadline tests).
  void set_silent(const std::string& name, RRType type) { silent_.insert(key(name, type)); }

  /// Throws Error(invalid_argument) for a name over 253 characters, as the DNS
  /// engine does for names it cannot encode.
  void query(const std::string& name, RRType type, Callback callback) override {
    if (name.size() > 253) throw Error(ErrorKind::invalid_argument, "name too long: " + name);
    queries.emplace_back(lower(name), type);
    if (silent_.count(key(name, type)) != 0) {
      held_callbacks.push_back(std::move(callback));
      return;
    }
    DnsAnswer answer = resolve(lower(name), type);
    if (loop_ == nullptr) {
      callback(std::move(answer));
    } else {
      loop_->post([callback = std::move(callback), answer = std::move(answer)]() mutable { callback(std::move(answer)); });
    }
  }

  /// Every query received, in order: (lowercase name, type).
  std::vector<std::pair<std::string, RRType>> queries;
  /// Callbacks of silent queries, kept so that they are never called.
  std::vector<Callback> held_callbacks;

  size_t count_queries(const std::string& name, RRType type) const {
    return static_cast<size_t>(std::count(queries.begin(), queries.end(), std::make_pair(lower(name), type)));
  }

 private:
  static std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  static std::pair<std::string, RRType> key(const std::string& name, RRType type) { return {lower(name), type}; }
  static ResourceRecord base(const std::string& name, RRType type) {
    ResourceRecord record;
    record.name = lower(name);
    record.type = type;
    record.ttl = 300;
    return record;
  }

  bool name_exists(const std::string& name) const {
    auto it = records_.lower_bound({name, RRType::A});
    return it != records_.end() && it->first.first == name;
  }

  // The owner to answer from: the name itself, or the closest "*." wildcard
  // (RFC 4592) when the name does not exist.
  std::string owner_for(const std::string& name) const {
    if (name_exists(name)) return name;
    for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
      const std::string wildcard = "*" + name.substr(dot);
      if (name_exists(wildcard)) return wildcard;
    }
    return name;
  }

  DnsAnswer resolve(const std::string& qname, RRType type) const {
    DnsAnswer answer;
    answer.qname = qname;
    answer.qtype = type;
    answer.server = "fake";
    answer.tries = 1;
    std::string name = qname;
    for (int hops = 0; hops < 8; ++hops) {
      auto status = statuses_.find({name, type});
      if (status != statuses_.end()) {
        answer.status = status->second;
        answer.rcode = -1;
        if (status->second == DnsStatus::servfail) answer.rcode = 2;
        if (status->second == DnsStatus::refused) answer.rcode = 5;
        return answer;
      }
      const std::string owner = owner_for(name);
      auto found = records_.find({owner, type});
      if (found != records_.end()) {
        answer.status = DnsStatus::data;
        answer.rcode = 0;
        answer.records = found->second;
        for (ResourceRecord& record : answer.records) record.name = name;
        return answer;
      }
      if (timeout_names_.count(name) != 0) {
        answer.status = DnsStatus::timeout;
        answer.error = "injected timeout";
        return answer;
      }
      auto cname = records_.find({owner, RRType::CNAME});
      if (cname != records_.end() && type != RRType::CNAME) {
        answer.cname_chain.push_back(name);
        name = cname->second.front().target;
        continue;
      }
      answer.rcode = name_exists(owner) ? 0 : 3;
      answer.status = name_exists(owner) ? DnsStatus::nodata : DnsStatus::nxdomain;
      return answer;
    }
    answer.status = DnsStatus::error;
    answer.error = "CNAME chain too long";
    return answer;
  }

  EventLoop* loop_;
  std::map<std::pair<std::string, RRType>, std::vector<ResourceRecord>> records_;
  std::map<std::pair<std::string, RRType>, DnsStatus> statuses_;
  std::set<std::string> timeout_names_;
  std::set<std::pair<std::string, RRType>> silent_;
};

}  // namespace dnsscience::testing
