#include "dnsscience/email/spf_evaluator.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "dnsscience/email/finding_codes.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

// Orders statuses from best to worst, for the evaluation's summary status.
int status_rank(DnsStatus status) {
  switch (status) {
    case DnsStatus::data: return 0;
    case DnsStatus::nodata: return 1;
    case DnsStatus::nxdomain: return 2;
    case DnsStatus::refused: return 3;
    case DnsStatus::servfail: return 4;
    case DnsStatus::error: return 5;
    case DnsStatus::timeout: return 6;
  }
  return 6;
}

bool is_void(DnsStatus status) { return status == DnsStatus::nodata || status == DnsStatus::nxdomain; }

std::string to_lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A name that can be queried: 1-63 octet labels, at most 253 octets, at least
// two labels (RFC 7208 section 4.3 treats single-label names as malformed).
bool is_valid_domain(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '[') return false;
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const size_t length = (dot == std::string::npos ? name.size() : dot) - start;
    if (length == 0 || length > 63) return false;
    ++labels;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

// The in-addr.arpa or ip6.arpa name of `ip` (RFC 1035 section 3.5, RFC 3596 section 2.5).
std::string reverse_name(const IpAddress& ip) {
  std::string name;
  if (!ip.is_v6) {
    for (int i = 3; i >= 0; --i) name += std::to_string(ip.bytes[i]) + ".";
    return name + "in-addr.arpa";
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    name += kHex[ip.bytes[i] & 15];
    name += '.';
    name += kHex[ip.bytes[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

bool address_matches(const ResourceRecord& record, const IpAddress& ip, int prefix_length) {
  auto address = IpAddress::parse(record.address);
  return address && address->in_network(ip, prefix_length);
}

// The CIDR length of an a or mx term for the client's family; a full-length
// match when the term gives none.
int prefix_length(const SpfTerm& term, bool v6) {
  if (v6) return term.cidr6 < 0 ? 128 : term.cidr6;
  return term.cidr4 < 0 ? 32 : term.cidr4;
}

SpfResult result_of(SpfQualifier qualifier) {
  switch (qualifier) {
    case SpfQualifier::pass: return SpfResult::pass;
    case SpfQualifier::fail: return SpfResult::fail;
    case SpfQualifier::softfail: return SpfResult::softfail;
    case SpfQualifier::neutral: return SpfResult::neutral;
  }
  return SpfResult::neutral;
}

struct Outcome {
  SpfResult result = SpfResult::neutral;
  std::string explanation;
  std::optional<SpfQualifier> all_qualifier;
};

// A mechanism's outcome: a match, no match, or an error that ends check_host().
struct Match {
  bool matched = false;
  std::optional<SpfResult> error;
};

// One record being evaluated.
struct Frame {
  std::string domain;
  SpfRecord record;
  std::vector<std::string> path;  // domains from the top down to this one
  bool top_chain = false;         // the top-level record or one reached by redirect from it
};

using FramePtr = std::shared_ptr<const Frame>;
using OutcomeCallback = std::function<void(Outcome)>;
using MatchCallback = std::function<void(Match)>;
using AnswerCallback = std::function<void(const DnsAnswer&)>;
using TargetCallback = std::function<void(const std::string& target, const DnsAnswer&)>;

class Evaluation : public std::enable_shared_from_this<Evaluation> {
 public:
  Evaluation(Resolver& resolver, SpfLimits limits, SpfRequest request,
             std::function<void(SpfEvaluation)> done)
      : resolver_(resolver), limits_(limits), request_(std::move(request)), done_(std::move(done)) {}

  void start();

 private:
  struct CacheEntry {
    bool done = false;
    DnsAnswer answer;
    std::vector<AnswerCallback> waiters;
  };

  bool worst_case() const { return !context_.ip; }

  std::shared_ptr<CacheEntry> send(const std::string& name, RRType type);
  void fetch(const std::string& name, RRType type, AnswerCallback callback);
  void prefetch(const Frame& frame);

  void check_host(const std::string& domain, std::vector<std::string> path, bool top_chain,
                  OutcomeCallback done);
  void run_terms(FramePtr frame, size_t index, OutcomeCallback done);
  void finish_match(FramePtr frame, const SpfTerm& term, OutcomeCallback done);
  void follow_redirect(FramePtr frame, OutcomeCallback done);
  void evaluate_mechanism(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void evaluate_include(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void lookup_target(FramePtr frame, const SpfTerm& term, RRType type, MatchCallback done, TargetCallback use);
  void evaluate_a(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void evaluate_mx(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void evaluate_mx_hosts(std::shared_ptr<std::vector<std::string>> hosts, size_t index,
                         const SpfTerm& term, MatchCallback done);
  void evaluate_ptr(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void evaluate_exists(FramePtr frame, const SpfTerm& term, MatchCallback done);
  void compute_explanation(FramePtr frame, std::function<void(std::string)> done);

  void expand_domain(const Frame& frame, const std::string& spec, std::function<void(std::string)> done);
  void expand_text(const Frame& frame, const std::string& text, std::function<void(std::string)> done);
  void resolve_validated_names(std::function<void()> done);
  void validate_ptr_names(std::shared_ptr<std::vector<std::string>> names, size_t index,
                          std::function<void()> done);
  std::string choose_validated_name(const std::string& domain) const;

  bool count_lookup(const Frame& frame, const SpfTerm& term);
  bool count_void(const Frame& frame, const SpfTerm& term, bool ipv4_path, bool ipv6_path);
  Match error(SpfResult result, const std::string& problem);
  bool skip_sender_macro(const Frame& frame, const SpfTerm& term, const std::string& spec);
  void add_finding(const std::string& code, std::string message);
  void add_record_findings(const Frame& frame);
  void finish(Outcome outcome);

  Resolver& resolver_;
  SpfLimits limits_;
  SpfRequest request_;
  std::function<void(SpfEvaluation)> done_;
  SpfMacroContext context_;
  std::map<std::pair<std::string, RRType>, std::shared_ptr<CacheEntry>> cache_;
  std::optional<std::vector<std::string>> validated_names_;
  int lookups_ = 0;
  int voids_ = 0;
  int voids_ipv6_ = 0;
  DnsStatus worst_status_ = DnsStatus::data;
  DnsStatus record_status_ = DnsStatus::data;
  std::string problem_;
  std::vector<std::string> top_records_;
  std::vector<Finding> findings_;
  bool finished_ = false;
};

void Evaluation::start() {
  context_.ip = request_.ip;
  // RFC 7208 section 5: an IPv4-mapped IPv6 client is evaluated as IPv4.
  if (context_.ip) {
    if (auto v4 = context_.ip->ipv4_mapped()) context_.ip = v4;
  }
  std::string sender = request_.sender.empty() ? "postmaster@" + request_.helo : request_.sender;
  const size_t at = sender.rfind('@');
  context_.local_part = at == std::string::npos ? std::string() : sender.substr(0, at);
  context_.sender_domain = at == std::string::npos ? sender : sender.substr(at + 1);
  // RFC 7208 section 4.3: a sender without a local-part uses "postmaster".
  if (context_.local_part.empty()) context_.local_part = "postmaster";
  context_.sender = context_.local_part + "@" + context_.sender_domain;
  context_.helo = request_.helo;
  context_.receiver = request_.receiver;
  context_.timestamp = request_.timestamp;

  auto self = shared_from_this();
  check_host(to_lower(request_.domain), {}, true, [self](Outcome outcome) { self->finish(std::move(outcome)); });
}

std::shared_ptr<Evaluation::CacheEntry> Evaluation::send(const std::string& name, RRType type) {
  const auto key = std::make_pair(to_lower(name), type);
  auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  auto entry = std::make_shared<CacheEntry>();
  cache_.emplace(key, entry);
  auto self = shared_from_this();
  Resolver::Callback callback = [self, entry](DnsAnswer answer) {
    entry->done = true;
    entry->answer = std::move(answer);
    auto waiters = std::move(entry->waiters);
    entry->waiters.clear();
    for (auto& waiter : waiters) waiter(entry->answer);
  };
  try {
    resolver_.query(key.first, type, callback);
  } catch (const Error& error) {
    // A name that cannot be encoded cannot exist; is_valid_domain() filters
    // most of them before they get here.
    if (error.kind() != ErrorKind::invalid_argument) throw;
    DnsAnswer answer;
    answer.qname = key.first;
    answer.qtype = type;
    answer.status = DnsStatus::nxdomain;
    answer.error = error.what();
    callback(std::move(answer));
  }
  return entry;
}

void Evaluation::fetch(const std::string& name, RRType type, AnswerCallback callback) {
  auto entry = send(name, type);
  auto self = shared_from_this();
  AnswerCallback consume = [self, callback = std::move(callback)](const DnsAnswer& answer) {
    if (status_rank(answer.status) > status_rank(self->worst_status_)) self->worst_status_ = answer.status;
    callback(answer);
  };
  if (entry->done) {
    consume(entry->answer);
  } else {
    entry->waiters.push_back(std::move(consume));
  }
}

// Sends the queries of a record's terms at once, so that nested lookups run in
// parallel; the answers are still consumed in term order by run_terms().
void Evaluation::prefetch(const Frame& frame) {
  int budget = limits_.max_dns_terms - lookups_;
  for (const SpfTerm& term : frame.record.terms) {
    if (!term.queries_dns() || budget <= 0) continue;
    --budget;
    const std::string spec = term.is_modifier ? term.modifier_value : term.argument;
    if (spf_macro_depends_on_sender(spec)) continue;
    SpfMacroContext context = context_;
    context.domain = frame.domain;
    const std::string target = spec.empty() ? frame.domain : finish_expanded_domain(expand_spf_macros(spec, context));
    if (!is_valid_domain(target)) continue;
    if (term.is_modifier) {
      if (!frame.record.has_all()) send(target, RRType::TXT);
      continue;
    }
    switch (term.mechanism) {
      case SpfMechanism::include:
        send(target, RRType::TXT);
        break;
      case SpfMechanism::a:
        if (worst_case() || !context_.ip->is_v6) send(target, RRType::A);
        if (worst_case() || context_.ip->is_v6) send(target, RRType::AAAA);
        break;
      case SpfMechanism::mx:
        send(target, RRType::MX);
        break;
      case SpfMechanism::exists:
        send(target, RRType::A);
        break;
      default:
        break;
    }
  }
}

void Evaluation::check_host(const std::string& domain, std::vector<std::string> path, bool top_chain,
                            OutcomeCallback done) {
  // RFC 7208 section 4.3: a malformed domain gives "none".
  if (!is_valid_domain(domain)) {
    done(Outcome{SpfResult::none, {}, {}});
    return;
  }
  path.push_back(domain);
  auto self = shared_from_this();
  const bool top_level = path.size() == 1;
  fetch(domain, RRType::TXT, [self, domain, path, top_chain, top_level, done](const DnsAnswer& answer) {
    if (top_level) self->record_status_ = answer.status;
    if (dns_status_transient(answer.status)) {
      self->problem_ = "the TXT lookup of " + domain + " failed: " + dns_status_name(answer.status);
      done(Outcome{SpfResult::temperror, {}, {}});
      return;
    }
    std::vector<std::string> records;
    for (const ResourceRecord& record : answer.records) {
      std::string text = record.text();
      if (is_spf_record(text)) records.push_back(std::move(text));
    }
    if (top_level) {
      self->top_records_ = records;
      self->record_status_ = answer.status;
    }
    if (records.empty()) {
      done(Outcome{SpfResult::none, {}, {}});
      return;
    }
    // RFC 7208 section 4.5: more than one record is a permerror.
    if (records.size() > 1) {
      self->problem_ = domain + " has " + std::to_string(records.size()) + " SPF records";
      self->add_finding(finding::kSpfMultipleRecords, self->problem_);
      done(Outcome{SpfResult::permerror, {}, {}});
      return;
    }
    auto frame = std::make_shared<Frame>();
    frame->domain = domain;
    frame->record = parse_spf_record(records.front());
    frame->path = path;
    frame->top_chain = top_chain;
    // RFC 7208 section 4.6: a syntax error anywhere in the record is a permerror.
    if (!frame->record.valid()) {
      for (const SpfSyntaxError& error : frame->record.errors) {
        self->add_finding(finding::kSpfSyntaxError,
                          "SPF record of " + domain + ": \"" + error.term + "\": " + error.message);
      }
      const SpfSyntaxError& first = frame->record.errors.front();
      self->problem_ = "syntax error in the SPF record of " + domain + " at \"" + first.term + "\": " + first.message;
      done(Outcome{SpfResult::permerror, {}, {}});
      return;
    }
    self->add_record_findings(*frame);
    self->prefetch(*frame);
    self->run_terms(frame, 0, done);
  });
}

void Evaluation::run_terms(FramePtr frame, size_t index, OutcomeCallback done) {
  const auto& terms = frame->record.terms;
  while (index < terms.size() && terms[index].is_modifier) ++index;
  if (index == terms.size()) {
    // RFC 7208 section 6.1: redirect= applies only when no mechanism matched
    // and the record has no "all" mechanism.
    if (frame->record.redirect && !frame->record.has_all()) {
      follow_redirect(frame, std::move(done));
    } else {
      done(Outcome{SpfResult::neutral, {}, {}});
    }
    return;
  }
  const SpfTerm& term = terms[index];
  if (term.queries_dns() && !count_lookup(*frame, term)) {
    done(Outcome{SpfResult::permerror, {}, {}});
    return;
  }
  auto self = shared_from_this();
  evaluate_mechanism(frame, term, [self, frame, index, done](Match match) {
    if (match.error) {
      done(Outcome{*match.error, {}, {}});
    } else if (match.matched) {
      self->finish_match(frame, frame->record.terms[index], done);
    } else {
      self->run_terms(frame, index + 1, done);
    }
  });
}

void Evaluation::finish_match(FramePtr frame, const SpfTerm& term, OutcomeCallback done) {
  Outcome outcome;
  outcome.result = result_of(term.qualifier);
  if (term.mechanism == SpfMechanism::all) outcome.all_qualifier = term.qualifier;
  // RFC 7208 section 6.2: exp= is used only for a fail result of the record
  // that produced it; include evaluates it never.
  if (outcome.result != SpfResult::fail || !frame->top_chain || !frame->record.explanation || worst_case()) {
    done(std::move(outcome));
    return;
  }
  compute_explanation(frame, [outcome, done](std::string explanation) mutable {
    outcome.explanation = std::move(explanation);
    done(std::move(outcome));
  });
}

void Evaluation::follow_redirect(FramePtr frame, OutcomeCallback done) {
  SpfTerm redirect_term;
  for (const SpfTerm& term : frame->record.terms) {
    if (term.is_modifier && term.modifier_name == "redirect") redirect_term = term;
  }
  if (!count_lookup(*frame, redirect_term)) {
    done(Outcome{SpfResult::permerror, {}, {}});
    return;
  }
  const std::string spec = *frame->record.redirect;
  if (worst_case() && spf_macro_depends_on_sender(spec)) {
    add_finding(finding::kSpfSenderMacro, "SPF record of " + frame->domain + ": \"" + redirect_term.text +
                                              "\" depends on the sender and was not followed");
    done(Outcome{SpfResult::neutral, {}, {}});
    return;
  }
  auto self = shared_from_this();
  expand_domain(*frame, spec, [self, frame, done](std::string target) {
    if (std::find(frame->path.begin(), frame->path.end(), target) != frame->path.end()) {
      self->problem_ = "redirect loop: " + frame->domain + " redirects to " + target + ", already on the path";
      self->add_finding(finding::kSpfLoop, self->problem_);
      done(Outcome{SpfResult::permerror, {}, {}});
      return;
    }
    self->check_host(target, frame->path, frame->top_chain, [self, frame, target, done](Outcome outcome) {
      // RFC 7208 section 6.1: a redirect target without an SPF record is a permerror.
      if (outcome.result == SpfResult::none) {
        self->problem_ = "the redirect target " + target + " of " + frame->domain + " has no SPF record";
        self->add_finding(finding::kSpfRedirectWithoutRecord, self->problem_);
        outcome.result = SpfResult::permerror;
      }
      done(std::move(outcome));
    });
  });
}

void Evaluation::evaluate_mechanism(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  switch (term.mechanism) {
    case SpfMechanism::all:
      done(Match{true, {}});
      return;
    case SpfMechanism::ip4:
      done(Match{context_.ip && !context_.ip->is_v6 &&
                     context_.ip->in_network(term.network, term.cidr4 < 0 ? 32 : term.cidr4),
                 {}});
      return;
    case SpfMechanism::ip6:
      done(Match{context_.ip && context_.ip->is_v6 &&
                     context_.ip->in_network(term.network, term.cidr6 < 0 ? 128 : term.cidr6),
                 {}});
      return;
    case SpfMechanism::include:
      evaluate_include(frame, term, std::move(done));
      return;
    case SpfMechanism::a:
      evaluate_a(frame, term, std::move(done));
      return;
    case SpfMechanism::mx:
      evaluate_mx(frame, term, std::move(done));
      return;
    case SpfMechanism::ptr:
      evaluate_ptr(frame, term, std::move(done));
      return;
    case SpfMechanism::exists:
      evaluate_exists(frame, term, std::move(done));
      return;
  }
}

void Evaluation::evaluate_include(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  if (skip_sender_macro(*frame, term, term.argument)) {
    done(Match{});
    return;
  }
  auto self = shared_from_this();
  const std::string text = term.text;
  expand_domain(*frame, term.argument, [self, frame, text, done](std::string target) {
    if (std::find(frame->path.begin(), frame->path.end(), target) != frame->path.end()) {
      self->problem_ = "include loop: " + frame->domain + " includes " + target + ", already on the path";
      self->add_finding(finding::kSpfLoop, self->problem_);
      done(self->error(SpfResult::permerror, self->problem_));
      return;
    }
    self->check_host(target, frame->path, false, [self, frame, target, text, done](Outcome outcome) {
      // RFC 7208 section 5.2: how an included result maps to a match.
      switch (outcome.result) {
        case SpfResult::pass:
          done(Match{true, {}});
          return;
        case SpfResult::fail:
        case SpfResult::softfail:
        case SpfResult::neutral:
          done(Match{});
          return;
        case SpfResult::temperror:
          done(Match{false, SpfResult::temperror});
          return;
        case SpfResult::permerror:
          done(Match{false, SpfResult::permerror});
          return;
        case SpfResult::none:
          self->problem_ = "\"" + text + "\" in the SPF record of " + frame->domain + ": " + target +
                           " has no SPF record";
          self->add_finding(finding::kSpfIncludeWithoutRecord, self->problem_);
          done(Match{false, SpfResult::permerror});
          return;
      }
    });
  });
}

// Expands the term's target and queries it for `type`. Ends the mechanism
// with no match when the term depends on the sender (worst case) or the name
// is invalid, and with temperror when the lookup fails transiently; otherwise
// hands the answer to `use`.
void Evaluation::lookup_target(FramePtr frame, const SpfTerm& term, RRType type, MatchCallback done,
                               TargetCallback use) {
  if (skip_sender_macro(*frame, term, term.argument)) {
    done(Match{});
    return;
  }
  auto self = shared_from_this();
  const SpfTerm copy = term;
  expand_domain(*frame, term.argument, [self, copy, type, done, use](std::string target) {
    if (!is_valid_domain(target)) {
      done(Match{});
      return;
    }
    self->fetch(target, type, [self, copy, type, target, done, use](const DnsAnswer& answer) {
      if (dns_status_transient(answer.status)) {
        done(self->error(SpfResult::temperror, "the " + rrtype_name(type) + " lookup of " + target + " for \"" +
                                                   copy.text + "\" failed: " + dns_status_name(answer.status)));
        return;
      }
      use(target, answer);
    });
  });
}

void Evaluation::evaluate_a(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  auto self = shared_from_this();
  const SpfTerm copy = term;
  if (!worst_case()) {
    const bool v6 = context_.ip->is_v6;
    lookup_target(frame, term, v6 ? RRType::AAAA : RRType::A, done,
                  [self, frame, copy, v6, done](const std::string&, const DnsAnswer& answer) {
                    if (is_void(answer.status) && !self->count_void(*frame, copy, true, true)) {
                      done(Match{false, SpfResult::permerror});
                      return;
                    }
                    const int prefix = prefix_length(copy, v6);
                    const bool matched = std::any_of(answer.records.begin(), answer.records.end(),
                                                     [&](const ResourceRecord& record) {
                                                       return address_matches(record, *self->context_.ip, prefix);
                                                     });
                    done(Match{matched, {}});
                  });
    return;
  }
  // Worst case: the A answer decides the result and the void count; the AAAA
  // answer only feeds the IPv6 void count.
  lookup_target(frame, term, RRType::A, done,
                [self, frame, copy, done](const std::string& target, const DnsAnswer& a_answer) {
                  self->fetch(target, RRType::AAAA, [self, frame, copy, a_answer, done](const DnsAnswer& aaaa_answer) {
                    if (is_void(aaaa_answer.status)) self->count_void(*frame, copy, false, true);
                    if (is_void(a_answer.status) && !self->count_void(*frame, copy, true, false)) {
                      done(Match{false, SpfResult::permerror});
                      return;
                    }
                    done(Match{});
                  });
                });
}

void Evaluation::evaluate_mx(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  auto self = shared_from_this();
  const SpfTerm copy = term;
  lookup_target(frame, term, RRType::MX, done, [self, frame, copy, done](const std::string&, const DnsAnswer& answer) {
    if (is_void(answer.status)) {
      done(self->count_void(*frame, copy, true, true) ? Match{} : Match{false, SpfResult::permerror});
      return;
    }
    // RFC 7208 section 4.6.4: more than 10 MX names is a permerror.
    if (static_cast<int>(answer.records.size()) > self->limits_.max_mx_names) {
      self->problem_ = "\"" + copy.text + "\" in the SPF record of " + frame->domain + " resolves to " +
                       std::to_string(answer.records.size()) + " MX names, more than " +
                       std::to_string(self->limits_.max_mx_names);
      self->add_finding(finding::kSpfTooManyMx, self->problem_);
      done(Match{false, SpfResult::permerror});
      return;
    }
    auto hosts = std::make_shared<std::vector<std::string>>();
    for (const ResourceRecord& record : answer.records) {
      // A null MX (RFC 7505) names no host.
      if (!record.target.empty()) hosts->push_back(record.target);
    }
    const RRType type = !self->worst_case() && self->context_.ip->is_v6 ? RRType::AAAA : RRType::A;
    for (const std::string& host : *hosts) {
      if (is_valid_domain(host)) self->send(host, type);
    }
    self->evaluate_mx_hosts(hosts, 0, copy, done);
  });
}

void Evaluation::evaluate_mx_hosts(std::shared_ptr<std::vector<std::string>> hosts, size_t index,
                                   const SpfTerm& term, MatchCallback done) {
  while (index < hosts->size() && !is_valid_domain((*hosts)[index])) ++index;
  if (index == hosts->size()) {
    done(Match{});
    return;
  }
  const bool v6 = !worst_case() && context_.ip->is_v6;
  auto self = shared_from_this();
  fetch((*hosts)[index], v6 ? RRType::AAAA : RRType::A, [self, hosts, index, term, v6, done](const DnsAnswer& answer) {
    if (dns_status_transient(answer.status)) {
      done(self->error(SpfResult::temperror, "the address lookup of MX host " + (*hosts)[index] + " for \"" +
                                                 term.text + "\" failed: " + dns_status_name(answer.status)));
      return;
    }
    if (!self->worst_case()) {
      const int prefix = prefix_length(term, v6);
      for (const ResourceRecord& record : answer.records) {
        if (address_matches(record, *self->context_.ip, prefix)) {
          done(Match{true, {}});
          return;
        }
      }
    }
    self->evaluate_mx_hosts(hosts, index + 1, term, done);
  });
}

void Evaluation::evaluate_ptr(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  // Without a client address there is no PTR name to query: the term is
  // counted but cannot match.
  if (worst_case() || skip_sender_macro(*frame, term, term.argument)) {
    done(Match{});
    return;
  }
  auto self = shared_from_this();
  expand_domain(*frame, term.argument, [self, done](std::string target) {
    self->resolve_validated_names([self, target, done] {
      const std::string wanted = to_lower(target);
      for (const std::string& name : *self->validated_names_) {
        const std::string lowered = to_lower(name);
        if (lowered == wanted ||
            (lowered.size() > wanted.size() && lowered.compare(lowered.size() - wanted.size(), wanted.size(), wanted) == 0 &&
             lowered[lowered.size() - wanted.size() - 1] == '.')) {
          done(Match{true, {}});
          return;
        }
      }
      done(Match{});
    });
  });
}

void Evaluation::evaluate_exists(FramePtr frame, const SpfTerm& term, MatchCallback done) {
  auto self = shared_from_this();
  const SpfTerm copy = term;
  // RFC 7208 section 5.7: exists always queries A, whatever the client's family.
  lookup_target(frame, term, RRType::A, done, [self, frame, copy, done](const std::string&, const DnsAnswer& answer) {
    if (is_void(answer.status)) {
      done(self->count_void(*frame, copy, true, true) ? Match{} : Match{false, SpfResult::permerror});
      return;
    }
    // The worst case stands for a sender that no mechanism but "all" matches.
    done(Match{!self->worst_case(), {}});
  });
}

void Evaluation::compute_explanation(FramePtr frame, std::function<void(std::string)> done) {
  auto self = shared_from_this();
  expand_domain(*frame, *frame->record.explanation, [self, frame, done](std::string target) {
    if (!is_valid_domain(target)) {
      done({});
      return;
    }
    // RFC 7208 section 6.2: any DNS error, no record, several records or a
    // syntax error in the text means no explanation.
    self->fetch(target, RRType::TXT, [self, frame, done](const DnsAnswer& answer) {
      if (answer.status != DnsStatus::data || answer.records.size() != 1) {
        done({});
        return;
      }
      const std::string text = answer.records.front().text();
      if (!check_macro_string(text, true).empty()) {
        done({});
        return;
      }
      self->expand_text(*frame, text, done);
    });
  });
}

void Evaluation::expand_domain(const Frame& frame, const std::string& spec, std::function<void(std::string)> done) {
  if (spec.empty()) {
    done(frame.domain);
    return;
  }
  expand_text(frame, spec, [done](std::string expanded) { done(to_lower(finish_expanded_domain(std::move(expanded)))); });
}

void Evaluation::expand_text(const Frame& frame, const std::string& text, std::function<void(std::string)> done) {
  const bool needs_p = text.find("%{p") != std::string::npos || text.find("%{P") != std::string::npos;
  auto self = shared_from_this();
  const std::string domain = frame.domain;
  auto expand = [self, domain, text, done] {
    SpfMacroContext context = self->context_;
    context.domain = domain;
    if (self->validated_names_) context.validated_name = self->choose_validated_name(domain);
    done(expand_spf_macros(text, context));
  };
  if (needs_p && context_.ip && !validated_names_) {
    resolve_validated_names(expand);
  } else {
    expand();
  }
}

// RFC 7208 section 5.5: the PTR names of the client whose address records
// include the client address. At most max_ptr_names names are checked.
void Evaluation::resolve_validated_names(std::function<void()> done) {
  if (validated_names_) {
    done();
    return;
  }
  auto self = shared_from_this();
  fetch(reverse_name(*context_.ip), RRType::PTR, [self, done](const DnsAnswer& answer) {
    auto names = std::make_shared<std::vector<std::string>>();
    if (answer.status == DnsStatus::data) {
      for (const ResourceRecord& record : answer.records) {
        if (static_cast<int>(names->size()) >= self->limits_.max_ptr_names) break;
        if (is_valid_domain(record.target)) names->push_back(record.target);
      }
    }
    self->validated_names_.emplace();
    const RRType type = self->context_.ip->is_v6 ? RRType::AAAA : RRType::A;
    for (const std::string& name : *names) self->send(name, type);
    self->validate_ptr_names(names, 0, done);
  });
}

void Evaluation::validate_ptr_names(std::shared_ptr<std::vector<std::string>> names, size_t index,
                                    std::function<void()> done) {
  if (index == names->size()) {
    done();
    return;
  }
  auto self = shared_from_this();
  const RRType type = context_.ip->is_v6 ? RRType::AAAA : RRType::A;
  fetch((*names)[index], type, [self, names, index, done](const DnsAnswer& answer) {
    const int prefix = self->context_.ip->is_v6 ? 128 : 32;
    for (const ResourceRecord& record : answer.records) {
      if (address_matches(record, *self->context_.ip, prefix)) {
        self->validated_names_->push_back((*names)[index]);
        break;
      }
    }
    self->validate_ptr_names(names, index + 1, done);
  });
}

// RFC 7208 section 7.3: prefer a validated name equal to the domain, then one
// below it, then any.
std::string Evaluation::choose_validated_name(const std::string& domain) const {
  const std::string wanted = to_lower(domain);
  const std::vector<std::string>& names = *validated_names_;
  for (const std::string& name : names) {
    if (to_lower(name) == wanted) return name;
  }
  for (const std::string& name : names) {
    const std::string lowered = to_lower(name);
    if (lowered.size() > wanted.size() + 1 &&
        lowered.compare(lowered.size() - wanted.size() - 1, wanted.size() + 1, "." + wanted) == 0) {
      return name;
    }
  }
  return names.empty() ? std::string("unknown") : names.front();
}

bool Evaluation::count_lookup(const Frame& frame, const SpfTerm& term) {
  ++lookups_;
  if (lookups_ <= limits_.max_dns_terms) return true;
  problem_ = "more than " + std::to_string(limits_.max_dns_terms) +
             " DNS-querying terms (include, a, mx, ptr, exists, redirect); the limit was exceeded at \"" +
             term.text + "\" in the SPF record of " + frame.domain;
  add_finding(finding::kSpfTooManyLookups, problem_);
  return false;
}

// Counts a void lookup (RFC 7208 section 4.6.4) on the IPv4 path, the IPv6
// path or both. Returns false when the IPv4 path exceeds the limit.
bool Evaluation::count_void(const Frame& frame, const SpfTerm& term, bool ipv4_path, bool ipv6_path) {
  if (ipv6_path) ++voids_ipv6_;
  if (!ipv4_path) return true;
  ++voids_;
  if (voids_ <= limits_.max_void_lookups) return true;
  problem_ = "more than " + std::to_string(limits_.max_void_lookups) +
             " void lookups (NXDOMAIN or no records); the limit was exceeded at \"" + term.text +
             "\" in the SPF record of " + frame.domain;
  add_finding(finding::kSpfTooManyVoidLookups, problem_);
  return false;
}

Match Evaluation::error(SpfResult result, const std::string& problem) {
  if (problem_.empty()) problem_ = problem;
  return Match{false, result};
}

// In the worst case a term whose target depends on the sender cannot be
// resolved: it is counted (by the caller) but not followed.
bool Evaluation::skip_sender_macro(const Frame& frame, const SpfTerm& term, const std::string& spec) {
  if (!worst_case() || !spf_macro_depends_on_sender(spec)) return false;
  add_finding(finding::kSpfSenderMacro,
              "SPF record of " + frame.domain + ": \"" + term.text + "\" depends on the sender and was not followed");
  return true;
}

void Evaluation::add_finding(const std::string& code, std::string message) {
  for (const Finding& existing : findings_) {
    if (existing.code == code && existing.message == message) return;
  }
  findings_.push_back(make_finding(code, std::move(message)));
}

void Evaluation::add_record_findings(const Frame& frame) {
  const std::string where = "SPF record of " + frame.domain;
  for (const SpfTerm& term : frame.record.terms) {
    if (term.is_modifier) {
      if (spf_modifier_looks_like_mechanism(term.modifier_name)) {
        add_finding(finding::kSpfModifierTypo, where + ": \"" + term.text + "\" is an unknown modifier, ignored; \"" +
                                                   term.modifier_name + ":\" was probably meant");
      } else if (term.modifier_name != "redirect" && term.modifier_name != "exp") {
        add_finding(finding::kSpfUnknownModifier, where + ": unknown modifier \"" + term.text + "\" is ignored");
      }
      continue;
    }
    if (term.mechanism == SpfMechanism::ptr) {
      add_finding(finding::kSpfPtr, where + ": \"" + term.text + "\" uses the ptr mechanism, which RFC 7208 section 5.5 deprecates");
    }
    if (term.mechanism == SpfMechanism::all && term.qualifier == SpfQualifier::pass) {
      add_finding(finding::kSpfPlusAll, where + ": \"" + term.text + "\" authorizes every host on the internet");
    }
    if (term.mechanism == SpfMechanism::all && term.qualifier == SpfQualifier::neutral) {
      add_finding(finding::kSpfNeutralAll, where + ": \"" + term.text + "\" makes unauthorized senders neutral");
    }
  }
  if (frame.record.redirect && frame.record.has_all()) {
    add_finding(finding::kSpfRedirectIgnored, where + ": redirect=" + *frame.record.redirect +
                                                  " is ignored because the record has an \"all\" mechanism");
  }
  if (frame.top_chain && !frame.record.redirect && !frame.record.has_all()) {
    add_finding(finding::kSpfNoAll, where + " has neither an \"all\" mechanism nor redirect=, so unmatched senders get neutral");
  }
}

void Evaluation::finish(Outcome outcome) {
  if (finished_) return;
  finished_ = true;
  SpfEvaluation evaluation;
  evaluation.result = outcome.result;
  evaluation.explanation = std::move(outcome.explanation);
  evaluation.all_qualifier = outcome.all_qualifier;
  if (outcome.result == SpfResult::permerror || outcome.result == SpfResult::temperror) {
    evaluation.problem = problem_;
  }
  evaluation.lookup_count = lookups_;
  evaluation.void_lookup_count = voids_;
  evaluation.void_lookup_count_ipv6 = voids_ipv6_;
  evaluation.worst_status = worst_status_;
  evaluation.record_status = record_status_;
  evaluation.records = top_records_;
  if (outcome.result == SpfResult::temperror) {
    add_finding(finding::kSpfTemperror, problem_.empty() ? "a DNS lookup failed transiently" : problem_);
  }
  if (worst_case() && voids_ipv6_ != voids_ && outcome.result != SpfResult::permerror &&
      outcome.result != SpfResult::temperror) {
    std::string message = "an IPv6 client would see " + std::to_string(voids_ipv6_) +
                          " void lookups where an IPv4 client sees " + std::to_string(voids_) +
                          " (a and mx targets resolved with AAAA instead of A)";
    if (voids_ipv6_ > limits_.max_void_lookups) message += ", which exceeds the limit and gives permerror";
    add_finding(finding::kSpfIpv6PathDiffers, std::move(message));
  }
  evaluation.findings = std::move(findings_);
  auto done = std::move(done_);
  done(std::move(evaluation));
}

}  // namespace

const char* spf_result_name(SpfResult result) noexcept {
  switch (result) {
    case SpfResult::none: return "none";
    case SpfResult::neutral: return "neutral";
    case SpfResult::pass: return "pass";
    case SpfResult::fail: return "fail";
    case SpfResult::softfail: return "softfail";
    case SpfResult::permerror: return "permerror";
    case SpfResult::temperror: return "temperror";
  }
  return "none";
}

void SpfEvaluator::evaluate(const SpfRequest& request, std::function<void(SpfEvaluation)> done) {
  auto evaluation = std::make_shared<Evaluation>(resolver_, limits_, request, std::move(done));
  evaluation->start();
}

}  // namespace dnsscience
