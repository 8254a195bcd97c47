#include "dnsscience/email/email_session.hpp"

#include "dnsscience/domain_name.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

BatchSession::Starter make_email_starter(EmailChecker& checker) {
  return [&checker](const std::string& item, BatchSession::Done done) {
    std::string domain;
    try {
      domain = normalize_domain(item);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::invalid_argument) throw;
      done(to_json(email_error_result(item, error.what())));
      return;
    }
    checker.check(domain, [done = std::move(done)](EmailResult result) { done(to_json(result)); });
  };
}

std::unique_ptr<BatchSession> make_email_session(EmailSessionOptions options) {
  {
    // Validates the email options in the caller's thread, so that bad values
    // fail the call that opens the session.
    EventLoop loop;
    struct NoResolver : Resolver {
      void query(const std::string&, RRType, Callback) override {}
    } resolver;
    EmailChecker check(resolver, loop, options.email);
  }
  const size_t max_in_flight = options.max_in_flight;
  auto setup = [options = std::move(options)](EventLoop& loop) -> BatchSession::Starter {
    struct Objects {
      std::unique_ptr<DnsEngine> engine;
      std::unique_ptr<EmailChecker> checker;
    };
    auto objects = std::make_shared<Objects>();
    objects->engine = std::make_unique<DnsEngine>(loop, options.dns);
    objects->checker = std::make_unique<EmailChecker>(*objects->engine, loop, options.email);
    BatchSession::Starter starter = make_email_starter(*objects->checker);
    // The starter owns the engine and the checker; BatchSession destroys it on
    // the loop thread, as DnsEngine requires.
    return [objects, starter](const std::string& item, BatchSession::Done done) { starter(item, std::move(done)); };
  };
  return std::make_unique<BatchSession>(std::move(setup), max_in_flight);
}

}  // namespace dnsscience
