#include "dnsscience/email/email_checker.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>

#include "dnsscience/email/finding_codes.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

std::string iso8601_utc(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

bool definitive(DnsStatus status) { return !dns_status_transient(status); }

// Collects the texts of an answer's TXT records that `is_record` accepts.
template <typename Predicate>
std::vector<std::string> matching_texts(const DnsAnswer& answer, Predicate is_record) {
  std::vector<std::string> texts;
  for (const ResourceRecord& record : answer.records) {
    std::string text = record.text();
    if (is_record(text)) texts.push_back(std::move(text));
  }
  return texts;
}

// A selector is one or more labels of letters, digits, '-' and '_' (RFC 6376
// section 3.1 allows a dot-separated selector).
bool is_valid_selector(const std::string& selector) {
  if (selector.empty() || selector.size() > 200) return false;
  size_t label_length = 0;
  for (char c : selector) {
    if (c == '.') {
      if (label_length == 0) return false;
      label_length = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label_length > 63) return false;
  }
  return label_length != 0;
}

// The state of one domain check. Callbacks hold it alive; once finished, late
// answers are ignored.
class DomainCheck : public std::enable_shared_from_this<DomainCheck> {
 public:
  DomainCheck(Resolver& resolver, EventLoop& loop, const EmailOptions& options, std::string domain,
              std::function<void(EmailResult)> done)
      : resolver_(resolver), loop_(loop), options_(options), done_(std::move(done)) {
    result_.domain = std::move(domain);
  }

  void start();

 private:
  void query(const std::string& name, RRType type, std::function<void(const DnsAnswer&)> handle);
  void evaluate_spf();
  void handle_mx(const DnsAnswer& answer);
  void handle_spf(SpfEvaluation evaluation);
  void handle_dmarc(const DnsAnswer& answer);
  void handle_mta_sts(const DnsAnswer& answer);
  void handle_tls_rpt(const DnsAnswer& answer);
  void handle_bimi(const DnsAnswer& answer);
  void summarize_dkim();
  void lookup_finished();
  void finish(bool deadline_expired);

  Resolver& resolver_;
  EventLoop& loop_;
  const EmailOptions& options_;
  std::function<void(EmailResult)> done_;
  EmailResult result_;
  EventLoop::Clock::time_point started_;
  EventLoop::TimerId deadline_timer_ = 0;
  int pending_ = 0;
  bool finished_ = false;
  std::vector<std::optional<DnsAnswer>> dkim_answers_;
  // Findings per record type, concatenated in a fixed order by finish().
  std::vector<Finding> mx_findings_, spf_findings_, dmarc_findings_, dkim_findings_, policy_findings_;
};

void DomainCheck::start() {
  started_ = EventLoop::Clock::now();
  result_.checked_at = iso8601_utc(std::chrono::system_clock::now());
  auto self = shared_from_this();
  deadline_timer_ = loop_.add_timer(options_.domain_timeout, [self] { self->finish(true); });

  const std::string& domain = result_.domain;
  dkim_answers_.resize(options_.dkim_selectors.size());
  // Count every lookup before sending any, because a resolver may answer
  // inside query() and must not see the count reach zero early.
  pending_ = 6 + static_cast<int>(options_.dkim_selectors.size());
  query(domain, RRType::MX, [self](const DnsAnswer& answer) { self->handle_mx(answer); });
  evaluate_spf();
  query("_dmarc." + domain, RRType::TXT, [self](const DnsAnswer& answer) { self->handle_dmarc(answer); });
  for (size_t i = 0; i < options_.dkim_selectors.size(); ++i) {
    query(options_.dkim_selectors[i] + "._domainkey." + domain, RRType::TXT,
          [self, i](const DnsAnswer& answer) { self->dkim_answers_[i] = answer; });
  }
  query("_mta-sts." + domain, RRType::TXT, [self](const DnsAnswer& answer) { self->handle_mta_sts(answer); });
  query("_smtp._tls." + domain, RRType::TXT, [self](const DnsAnswer& answer) { self->handle_tls_rpt(answer); });
  query("default._bimi." + domain, RRType::TXT, [self](const DnsAnswer& answer) { self->handle_bimi(answer); });
}

void DomainCheck::query(const std::string& name, RRType type, std::function<void(const DnsAnswer&)> handle) {
  auto self = shared_from_this();
  Resolver::Callback callback = [self, handle](DnsAnswer answer) {
    if (self->finished_) return;
    handle(answer);
    self->lookup_finished();
  };
  try {
    resolver_.query(name, type, callback);
  } catch (const Error& error) {
    // A name over 255 octets (a long domain plus a selector) cannot be sent,
    // and it cannot exist either, so it is reported as NXDOMAIN.
    if (error.kind() != ErrorKind::invalid_argument) throw;
    DnsAnswer answer;
    answer.qname = name;
    answer.qtype = type;
    answer.status = DnsStatus::nxdomain;
    answer.error = error.what();
    callback(std::move(answer));
  }
}

void DomainCheck::evaluate_spf() {
  auto self = shared_from_this();
  SpfRequest request;
  request.domain = result_.domain;
  SpfEvaluator(resolver_, options_.spf_limits).evaluate(request, [self](SpfEvaluation evaluation) {
    if (self->finished_) return;
    self->handle_spf(std::move(evaluation));
    self->lookup_finished();
  });
}

void DomainCheck::handle_mx(const DnsAnswer& answer) {
  result_.lookups.mx = answer.status;
  if (answer.status == DnsStatus::nodata || answer.status == DnsStatus::nxdomain) {
    mx_findings_.push_back(make_finding(finding::kMxNone, result_.domain + " has no MX record"));
    return;
  }
  for (const ResourceRecord& record : answer.records) {
    if (record.target.empty()) {
      result_.null_mx = true;
    } else {
      result_.mx.push_back(MxHost{record.preference, record.target});
    }
  }
  std::stable_sort(result_.mx.begin(), result_.mx.end(),
                   [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
  // RFC 7505 section 3: a null MX must be the only MX record of the domain.
  if (result_.null_mx && !result_.mx.empty()) {
    mx_findings_.push_back(make_finding(finding::kMxNullMxMixed, result_.domain + " publishes a null MX together with " +
                                                                     std::to_string(result_.mx.size()) + " other MX records"));
  } else if (result_.null_mx) {
    mx_findings_.push_back(make_finding(finding::kMxNullMx, result_.domain + " publishes a null MX: it accepts no mail"));
  }
}

void DomainCheck::handle_spf(SpfEvaluation evaluation) {
  result_.lookups.spf = dns_status_transient(evaluation.worst_status) ? evaluation.worst_status : evaluation.record_status;
  result_.spf_records = std::move(evaluation.records);
  result_.spf_result = evaluation.result;
  result_.spf_lookup_count = evaluation.lookup_count;
  result_.spf_void_lookup_count = evaluation.void_lookup_count;
  result_.spf_all = evaluation.all_qualifier;
  if (!result_.spf_all && result_.spf_records.size() == 1) {
    // The "all" that evaluation did not reach (a permerror came first) still
    // describes the record.
    const SpfRecord record = parse_spf_record(result_.spf_records.front());
    for (const SpfTerm& term : record.terms) {
      if (!term.is_modifier && term.mechanism == SpfMechanism::all) result_.spf_all = term.qualifier;
    }
  }
  result_.spf_valid = result_.spf_records.size() == 1 && evaluation.result != SpfResult::permerror &&
                      evaluation.result != SpfResult::temperror;
  spf_findings_ = std::move(evaluation.findings);
  if (result_.spf_records.empty() && definitive(result_.lookups.spf)) {
    spf_findings_.insert(spf_findings_.begin(), make_finding(finding::kSpfNone, result_.domain + " has no SPF record"));
  }
}

void DomainCheck::handle_dmarc(const DnsAnswer& answer) {
  result_.lookups.dmarc = answer.status;
  result_.dmarc_records = matching_texts(answer, [](const std::string& text) { return is_dmarc_record(text); });
  const std::string name = "_dmarc." + result_.domain;
  if (result_.dmarc_records.empty()) {
    // NOTE: no fallback to the organizational domain (RFC 7489 section 6.6.3),
    // which would need the Public Suffix List.
    if (definitive(answer.status)) {
      dmarc_findings_.push_back(make_finding(finding::kDmarcNone, name + " has no DMARC record"));
    }
    return;
  }
  if (result_.dmarc_records.size() > 1) {
    dmarc_findings_.push_back(make_finding(finding::kDmarcMultipleRecords,
                                           name + " has " + std::to_string(result_.dmarc_records.size()) +
                                               " DMARC records, so no policy applies"));
    return;
  }
  DmarcRecord record = parse_dmarc_record(result_.dmarc_records.front());
  for (Finding& finding : record.findings) {
    finding.message = name + ": " + finding.message;
    dmarc_findings_.push_back(finding);
  }
  if (record.has_policy()) result_.dmarc = std::move(record);
}

void DomainCheck::summarize_dkim() {
  bool any_data = false;
  bool any_nodata = false;
  std::optional<DnsStatus> transient;
  std::map<std::string, std::vector<std::string>> other_texts;  // text -> selectors
  for (size_t i = 0; i < dkim_answers_.size(); ++i) {
    const std::string& selector = options_.dkim_selectors[i];
    if (!dkim_answers_[i]) {
      transient = DnsStatus::timeout;
      continue;
    }
    const DnsAnswer& answer = *dkim_answers_[i];
    if (dns_status_transient(answer.status) && (!transient || *transient != DnsStatus::timeout)) {
      transient = answer.status;
    }
    any_data = any_data || answer.status == DnsStatus::data;
    any_nodata = any_nodata || answer.status == DnsStatus::nodata;
    bool found_key = false;
    for (const ResourceRecord& record : answer.records) {
      const std::string text = record.text();
      DkimKey key = parse_dkim_key_record(selector, text);
      if (key.is_key_record && !found_key) {
        found_key = true;
        dkim_findings_.insert(dkim_findings_.end(), key.findings.begin(), key.findings.end());
        result_.dkim.push_back(std::move(key));
      } else if (!key.is_key_record) {
        other_texts[text].push_back(selector);
      }
    }
  }
  for (const auto& [text, selectors] : other_texts) {
    if (selectors.size() > 1) {
      dkim_findings_.push_back(make_finding(finding::kDkimWildcardTxt,
                                            std::to_string(selectors.size()) + " selectors under _domainkey." +
                                                result_.domain + " return the same non-DKIM text \"" +
                                                text.substr(0, 80) + "\", probably a wildcard TXT record"));
    } else {
      const DkimKey key = parse_dkim_key_record(selectors.front(), text);
      dkim_findings_.push_back(make_finding(finding::kDkimInvalidRecord, "DKIM selector " + selectors.front() +
                                                                             ": the TXT record is not a DKIM key record (" +
                                                                             key.problem + ")"));
    }
  }
  if (result_.dkim.empty() && !transient) {
    dkim_findings_.push_back(make_finding(finding::kDkimNone, "no DKIM key under " +
                                                                  std::to_string(dkim_answers_.size()) +
                                                                  " probed selectors of " + result_.domain));
  }
  if (transient) {
    result_.lookups.dkim = *transient;
  } else if (any_data) {
    result_.lookups.dkim = DnsStatus::data;
  } else {
    result_.lookups.dkim = any_nodata ? DnsStatus::nodata : DnsStatus::nxdomain;
  }
}

void DomainCheck::handle_mta_sts(const DnsAnswer& answer) {
  result_.lookups.mta_sts = answer.status;
  result_.mta_sts_records = matching_texts(answer, [](const std::string& text) { return is_mta_sts_record(text); });
  const std::string name = "_mta-sts." + result_.domain;
  // RFC 8461 section 3.1: anything but exactly one valid record means no policy.
  if (result_.mta_sts_records.size() > 1) {
    policy_findings_.push_back(make_finding(finding::kMtaStsMultipleRecords, name + " has " +
                                                                                 std::to_string(result_.mta_sts_records.size()) +
                                                                                 " v=STSv1 records"));
  } else if (result_.mta_sts_records.size() == 1) {
    MtaStsRecord record = parse_mta_sts_record(result_.mta_sts_records.front());
    if (record.valid()) {
      result_.mta_sts = std::move(record);
    } else {
      policy_findings_.push_back(make_finding(finding::kMtaStsSyntaxError, name + ": " + record.problem));
    }
  }
}

void DomainCheck::handle_tls_rpt(const DnsAnswer& answer) {
  result_.lookups.tls_rpt = answer.status;
  result_.tls_rpt_records = matching_texts(answer, [](const std::string& text) { return is_tls_rpt_record(text); });
  const std::string name = "_smtp._tls." + result_.domain;
  if (result_.tls_rpt_records.size() > 1) {
    policy_findings_.push_back(make_finding(finding::kTlsRptMultipleRecords, name + " has " +
                                                                                 std::to_string(result_.tls_rpt_records.size()) +
                                                                                 " v=TLSRPTv1 records"));
  } else if (result_.tls_rpt_records.size() == 1) {
    TlsRptRecord record = parse_tls_rpt_record(result_.tls_rpt_records.front());
    if (record.valid()) {
      result_.tls_rpt = std::move(record);
    } else {
      policy_findings_.push_back(make_finding(finding::kTlsRptSyntaxError, name + ": " + record.problem));
    }
  }
}

void DomainCheck::handle_bimi(const DnsAnswer& answer) {
  result_.lookups.bimi = answer.status;
  result_.bimi_records = matching_texts(answer, [](const std::string& text) { return is_bimi_record(text); });
  const std::string name = "default._bimi." + result_.domain;
  if (result_.bimi_records.size() > 1) {
    policy_findings_.push_back(make_finding(finding::kBimiMultipleRecords, name + " has " +
                                                                               std::to_string(result_.bimi_records.size()) +
                                                                               " v=BIMI1 records"));
  } else if (result_.bimi_records.size() == 1) {
    BimiRecord record = parse_bimi_record(result_.bimi_records.front());
    if (record.valid()) {
      result_.bimi = std::move(record);
    } else {
      policy_findings_.push_back(make_finding(finding::kBimiSyntaxError, name + ": " + record.problem));
    }
  }
}

void DomainCheck::lookup_finished() {
  if (--pending_ == 0) finish(false);
}

void DomainCheck::finish(bool deadline_expired) {
  if (finished_) return;
  finished_ = true;
  if (!deadline_expired) loop_.cancel_timer(deadline_timer_);
  summarize_dkim();

  const EmailLookups& lookups = result_.lookups;
  const std::pair<const char*, DnsStatus> groups[] = {
      {"MX", lookups.mx},           {"SPF", lookups.spf},         {"DMARC", lookups.dmarc}, {"DKIM", lookups.dkim},
      {"MTA-STS", lookups.mta_sts}, {"TLS-RPT", lookups.tls_rpt}, {"BIMI", lookups.bimi},
  };
  result_.complete = !deadline_expired;
  std::vector<Finding> lookup_findings;
  for (const auto& [label, status] : groups) {
    if (definitive(status)) continue;
    result_.complete = false;
    lookup_findings.push_back(make_finding(finding::kLookupFailed, std::string("the ") + label + " lookup of " +
                                                                       result_.domain + " failed: " + dns_status_name(status)));
  }
  if (deadline_expired) {
    lookup_findings.push_back(make_finding(finding::kDeadlineExceeded,
                                           "the check of " + result_.domain + " did not finish within " +
                                               std::to_string(options_.domain_timeout.count()) + " ms"));
    if (lookups.spf == DnsStatus::timeout) result_.spf_result = SpfResult::temperror;
  }

  for (auto* part : {&mx_findings_, &spf_findings_, &dmarc_findings_, &dkim_findings_, &policy_findings_, &lookup_findings}) {
    result_.findings.insert(result_.findings.end(), part->begin(), part->end());
  }
  result_.elapsed_ms =
      std::chrono::duration<double, std::milli>(EventLoop::Clock::now() - started_).count();
  auto done = std::move(done_);
  done(std::move(result_));
}

}  // namespace

bool EmailResult::has_dkim() const {
  return std::any_of(dkim.begin(), dkim.end(),
                     [](const DkimKey& key) { return !key.revoked && key.problem.empty(); });
}

EmailResult email_error_result(const std::string& input, const std::string& message) {
  EmailResult result;
  result.domain = input;
  result.checked_at = iso8601_utc(std::chrono::system_clock::now());
  result.complete = true;
  result.error = message;
  for (DnsStatus* status : {&result.lookups.mx, &result.lookups.spf, &result.lookups.dmarc, &result.lookups.dkim,
                            &result.lookups.mta_sts, &result.lookups.tls_rpt, &result.lookups.bimi}) {
    *status = DnsStatus::error;
  }
  return result;
}

EmailChecker::EmailChecker(Resolver& resolver, EventLoop& loop, EmailOptions options)
    : resolver_(resolver), loop_(loop), options_(std::move(options)) {
  if (options_.domain_timeout.count() <= 0) {
    throw Error(ErrorKind::invalid_argument, "domain_timeout must be positive, got " +
                                                 std::to_string(options_.domain_timeout.count()) + " ms");
  }
  for (const std::string& selector : options_.dkim_selectors) {
    if (!is_valid_selector(selector)) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid DKIM selector \"" + selector +
                      "\": use dot-separated labels of letters, digits, '-' and '_', each 1 to 63 characters");
    }
  }
}

void EmailChecker::check(const std::string& domain, std::function<void(EmailResult)> done) {
  auto check = std::make_shared<DomainCheck>(resolver_, loop_, options_, domain, std::move(done));
  check->start();
}

}  // namespace dnsscience
