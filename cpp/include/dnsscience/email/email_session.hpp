#pragma once

#include <cstddef>
#include <memory>

#include "dnsscience/batch_session.hpp"
#include "dnsscience/dns_engine.hpp"
#include "dnsscience/email/email_checker.hpp"

namespace dnsscience {

/// Settings of an email BatchSession.
struct EmailSessionOptions {
  DnsEngineOptions dns;  ///< resolver of the session
  EmailOptions email;
  size_t max_in_flight = 1000;  ///< domains checked at once
};

/// Returns the BatchSession starter that checks domain items with `checker`.
/// Each item is normalized with normalize_domain(); an invalid name gives
/// email_error_result() instead of an exception. The result is to_json().
BatchSession::Starter make_email_starter(EmailChecker& checker);

/// Creates a BatchSession whose loop thread owns a DnsEngine and an
/// EmailChecker. Throws Error(invalid_argument) for bad email options (checked
/// here, before the thread starts). Errors of the DnsEngine construction are
/// rethrown by the session's first poll() or submit().
std::unique_ptr<BatchSession> make_email_session(EmailSessionOptions options);

}  // namespace dnsscience
