#include "dnsscience/tls/tls_session.hpp"

#include "dnsscience/error.hpp"

namespace dnsscience::tls {

namespace {

// Collects the results of one item's probes (one per port) and delivers them once.
struct ItemProbes {
  size_t remaining = 0;
  std::vector<std::vector<ProbeResult>> per_port;
  BatchSession::Done done;
};

// The loop-thread objects of one session. Members are destroyed in reverse order, so
// the prober, which sends queries through the engine, goes first.
struct SessionObjects {
  std::unique_ptr<DnsEngine> engine;
  std::unique_ptr<TlsProber> prober;
};

}  // namespace

BatchSession::Starter make_tls_starter(TlsProber& prober, std::vector<uint16_t> default_ports) {
  if (default_ports.empty()) {
    throw Error(ErrorKind::invalid_argument, "the list of default ports is empty; give at least one port");
  }
  return [&prober, default_ports](const std::string& item, BatchSession::Done done) {
    // Port 0 marks an item that names no port.
    const ProbeTarget parsed = parse_target(item, 0);
    std::vector<ProbeTarget> targets;
    if (parsed.port != 0) {
      targets.push_back(parsed);
    } else {
      for (uint16_t port : default_ports) {
        ProbeTarget target = parsed;
        target.port = port;
        targets.push_back(target);
      }
    }

    auto collected = std::make_shared<ItemProbes>();
    collected->remaining = targets.size();
    collected->per_port.resize(targets.size());
    collected->done = std::move(done);
    for (size_t i = 0; i < targets.size(); ++i) {
      prober.probe(targets[i], [collected, i](std::vector<ProbeResult> results) {
        collected->per_port[i] = std::move(results);
        if (--collected->remaining != 0) return;
        std::vector<ProbeResult> all;
        for (auto& port_results : collected->per_port) {
          for (auto& result : port_results) all.push_back(std::move(result));
        }
        collected->done(all.size() == 1 ? to_json(all.front()) : to_json(all));
      });
    }
  };
}

std::unique_ptr<BatchSession> make_tls_session(TlsSessionOptions options) {
  options.prober.validate();
  if (options.default_ports.empty()) {
    throw Error(ErrorKind::invalid_argument, "the list of default ports is empty; give at least one port");
  }
  for (uint16_t port : options.default_ports) {
    if (port == 0) {
      throw Error(ErrorKind::invalid_argument, "invalid default port 0; use ports from 1 to 65535");
    }
  }
  if (!options.prober.ca_file.empty()) {
    // Loaded here once so that a bad CA file fails the call that opens the session.
    TrustStore check(options.prober.ca_file);
  }
  const size_t max_in_flight = options.max_in_flight;
  auto setup = [options = std::move(options)](EventLoop& loop) -> BatchSession::Starter {
    auto objects = std::make_shared<SessionObjects>();
    objects->engine = std::make_unique<DnsEngine>(loop, options.dns);
    objects->prober = std::make_unique<TlsProber>(loop, *objects->engine, options.prober);
    BatchSession::Starter starter = make_tls_starter(*objects->prober, options.default_ports);
    // The starter keeps the engine and the prober alive; BatchSession destroys it on
    // the loop thread, as both require.
    return [objects, starter](const std::string& item, BatchSession::Done done) {
      starter(item, std::move(done));
    };
  };
  return std::make_unique<BatchSession>(std::move(setup), max_in_flight);
}

}  // namespace dnsscience::tls
