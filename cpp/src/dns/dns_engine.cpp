#include "dnsscience/dns_engine.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "dns/dns_message.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

using Clock = EventLoop::Clock;

// A large receive buffer lets one UDP socket absorb a burst of responses. The
// kernel caps it at net.core.rmem_max.
constexpr int kSocketReceiveBuffer = 4 << 20;
// How often c-ares gets to expire its own queries while any is outstanding. The
// engine's own timers decide outcomes; this only frees c-ares' bookkeeping.
constexpr std::chrono::milliseconds kAresTick{50};
// Capacity of the token bucket, in seconds' worth of queries at the qps cap.
constexpr double kBurstSeconds = 0.05;
// The in-flight limit grows while the smoothed round trip stays within this factor
// of the lowest one, and shrinks above it. The average moves by 1/kRttSmoothing of
// each difference.
constexpr double kQueueingRttFactor = 2.0;
constexpr double kRttSmoothing = 8.0;

double milliseconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

void initialize_cares_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    const int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
      throw Error(ErrorKind::io, std::string("c-ares library initialization failed: ") + ares_strerror(status));
    }
  });
}

}  // namespace

struct DnsEngine::Impl {
  // One c-ares channel: one nameserver, UDP or TCP only, and at most
  // max_queries_per_socket outstanding queries.
  struct Channel {
    Impl* engine = nullptr;
    ares_channel handle = nullptr;
    size_t nameserver = 0;
    bool tcp = false;
    size_t outstanding = 0;
  };

  // Identifies one message handed to c-ares; c-ares passes it back to on_result.
  struct Send {
    Impl* engine;
    uint64_t query_id;
    Channel* channel;
    int sequence;  // the query's send count after this send, to spot the latest send
    Clock::time_point sent_at;
  };

  struct Query {
    DnsAnswer answer;
    Callback callback;
    std::vector<uint8_t> packet;
    Clock::time_point first_send{};
    Clock::time_point last_send{};
    std::string last_failure;  // the latest network failure of a try, if any
    Clock::time_point deadline{};
    int attempts = 0;  // tries started, TCP resends after truncation excluded
    size_t last_nameserver = 0;
    bool sent = false;
    bool use_tcp = false;
    bool waiting = false;
    EventLoop::TimerId timer = 0;
  };

  // The adaptive in-flight limit of one nameserver.
  struct Window {
    double limit = 0;
    double threshold = 0;  // below it the limit grows by one per response, above by 1/limit
    Clock::time_point reduced_at{};
    double min_rtt_ms = 0;       // lowest round trip seen, 0 before the first response
    double smoothed_rtt_ms = 0;  // moving average of recent round trips
  };

  // A send waiting for the qps cap or a nameserver's in-flight cap.
  struct Dispatch {
    uint64_t query_id;
    std::optional<size_t> nameserver;  // fixed for retries and TCP resends
    bool tcp;
  };

  Impl(EventLoop& event_loop, DnsEngineOptions engine_options);
  ~Impl();

  void start(const std::string& name, RRType type, Callback callback);
  void schedule_pump();
  void pump();
  bool take_token();
  size_t least_loaded_nameserver() const;
  bool window_full(size_t nameserver) const;
  void adapt_window(size_t nameserver, double rtt_ms);
  void narrow_window(size_t nameserver, Clock::time_point sent_at);
  Channel* channel_for(size_t nameserver, bool tcp);
  std::unique_ptr<Channel> create_channel(size_t nameserver, bool tcp);
  void send(Query& query, uint64_t id, size_t nameserver, bool tcp);
  void handle_result(Send& sent, int status, const unsigned char* buffer, int length);
  void handle_response(Query& query, uint64_t id, size_t nameserver, bool tcp, const unsigned char* buffer,
                       int length);
  void retry_or_fail(uint64_t id, const std::string& failure);
  void finish(uint64_t id, DnsStatus status, std::string error = {});
  void finish_without_response(uint64_t id, const std::string& timeout_detail);
  void arm_timer(Query& query, uint64_t id, Clock::time_point when);
  void ensure_tick();
  void tick();

  void rethrow_callback_exception();

  static void on_result(void* argument, int status, int timeouts, unsigned char* buffer, int length);
  static void on_socket_state(void* argument, ares_socket_t fd, int readable, int writable);

  EventLoop& loop;
  DnsEngineOptions options;
  std::chrono::nanoseconds per_try_timeout{};
  std::vector<std::string> server_names;
  std::vector<size_t> nameserver_in_flight;
  std::vector<Window> windows;
  std::vector<std::vector<std::unique_ptr<Channel>>> udp_channels;
  std::vector<std::vector<std::unique_ptr<Channel>>> tcp_channels;

  std::unordered_map<uint64_t, Query> queries;
  uint64_t next_query_id = 1;
  std::deque<Dispatch> retry_queue;  // served before new queries: their deadlines already run
  std::deque<Dispatch> new_queue;
  size_t waiting_count = 0;
  size_t in_flight_count = 0;
  size_t outstanding_sends = 0;

  double tokens = 0;
  Clock::time_point tokens_updated{};
  bool pump_scheduled = false;
  EventLoop::TimerId pump_timer = 0;
  bool tick_scheduled = false;
  EventLoop::TimerId tick_timer = 0;
  bool destroying = false;
  // An exception thrown by a query callback while c-ares was on the stack. It is
  // rethrown after c-ares returns because it must not unwind through C code.
  std::exception_ptr callback_exception;

  DnsEngineStats stats;
};

DnsEngine::Impl::Impl(EventLoop& event_loop, DnsEngineOptions engine_options)
    : loop(event_loop), options(std::move(engine_options)) {
  if (!(options.timeout > 0) || !std::isfinite(options.timeout)) {
    throw Error(ErrorKind::invalid_argument,
                "invalid DNS timeout " + std::to_string(options.timeout) + ": pass a number of seconds above 0");
  }
  if (options.tries < 1) {
    throw Error(ErrorKind::invalid_argument,
                "invalid DNS tries " + std::to_string(options.tries) + ": pass 1 or more");
  }
  if (!(options.qps >= 0) || !std::isfinite(options.qps)) {
    throw Error(ErrorKind::invalid_argument,
                "invalid qps " + std::to_string(options.qps) + ": pass 0 (no cap) or a positive rate");
  }
  if (options.max_inflight_per_nameserver == 0 || options.max_queries_per_socket == 0) {
    throw Error(ErrorKind::invalid_argument,
                "invalid in-flight cap 0: max_inflight_per_nameserver and max_queries_per_socket must be 1 or more");
  }
  if (options.nameservers.empty()) {
    options.nameservers = read_resolv_conf_nameservers();
    if (options.nameservers.empty()) {
      throw Error(ErrorKind::configuration,
                  "no nameserver given and /etc/resolv.conf lists none: pass nameservers such as 127.0.0.1:53");
    }
  }
  initialize_cares_once();

  per_try_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(options.timeout / options.tries));
  for (const Nameserver& server : options.nameservers) server_names.push_back(server.to_string());
  nameserver_in_flight.assign(options.nameservers.size(), 0);
  options.min_inflight_per_nameserver =
      std::max<size_t>(1, std::min(options.min_inflight_per_nameserver, options.max_inflight_per_nameserver));
  Window initial;
  initial.limit = static_cast<double>(options.min_inflight_per_nameserver);
  initial.threshold = static_cast<double>(options.max_inflight_per_nameserver);
  windows.assign(options.nameservers.size(), initial);
  udp_channels.resize(options.nameservers.size());
  tcp_channels.resize(options.nameservers.size());
  tokens = std::max(1.0, options.qps * kBurstSeconds);
  tokens_updated = Clock::now();

  // Fail at construction, not at the first query, when c-ares cannot start.
  udp_channels[0].push_back(create_channel(0, false));
}

DnsEngine::Impl::~Impl() {
  destroying = true;
  if (pump_timer != 0) loop.cancel_timer(pump_timer);
  if (tick_timer != 0) loop.cancel_timer(tick_timer);
  for (auto& [id, query] : queries) {
    if (query.timer != 0) loop.cancel_timer(query.timer);
  }
  // ares_destroy runs each outstanding callback with ARES_EDESTRUCTION and reports
  // each socket closed through on_socket_state, which unwatches it.
  for (auto* pool : {&udp_channels, &tcp_channels}) {
    for (auto& channels : *pool) {
      for (auto& channel : channels) ares_destroy(channel->handle);
    }
  }
}

std::unique_ptr<DnsEngine::Impl::Channel> DnsEngine::Impl::create_channel(size_t nameserver, bool tcp) {
  auto channel = std::make_unique<Channel>();
  channel->engine = this;
  channel->nameserver = nameserver;
  channel->tcp = tcp;

  ares_options cares{};
  int mask = 0;
  // NOCHECKRESP: deliver SERVFAIL, REFUSED and NOTIMP answers instead of trying
  // another server, so the engine sees the RCODE. IGNTC: hand over truncated
  // answers, so the engine decides about TCP and knows it happened.
  // EDNS: with IGNTC, c-ares 1.18 cuts a UDP answer to 512 octets unless EDNS is
  // on, so a complete 600-octet answer would arrive damaged. The queries carry
  // their own OPT record with the same payload size.
  cares.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_IGNTC | ARES_FLAG_NOSEARCH |
                ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
  if (tcp) cares.flags |= ARES_FLAG_USEVC;
  mask |= ARES_OPT_FLAGS;
  cares.ednspsz = dns::kEdnsUdpPayloadSize;
  mask |= ARES_OPT_EDNSPSZ;
  const auto per_try_ms = std::chrono::duration_cast<std::chrono::milliseconds>(per_try_timeout).count();
  cares.timeout = static_cast<int>(std::max<long long>(1, per_try_ms));
  mask |= ARES_OPT_TIMEOUTMS;
  cares.tries = 1;
  mask |= ARES_OPT_TRIES;
  cares.sock_state_cb = &Impl::on_socket_state;
  cares.sock_state_cb_data = channel.get();
  mask |= ARES_OPT_SOCK_STATE_CB;
  cares.socket_receive_buffer_size = kSocketReceiveBuffer;
  mask |= ARES_OPT_SOCK_RCVBUF;
  // NOTE: c-ares 1.18 and 1.34 have run these tests. c-ares 1.18 lacks the two
  // options below. With 1.34 a test checks that the query cache is off, but no
  // test checks the effect of ARES_OPT_MAXTIMEOUTMS.
#ifdef ARES_OPT_MAXTIMEOUTMS
  // c-ares versions with this option may lengthen a timeout (from measured
  // latency or after a retry); cap it at one try.
  cares.maxtimeout = cares.timeout;
  mask |= ARES_OPT_MAXTIMEOUTMS;
#endif
#ifdef ARES_OPT_QUERY_CACHE
  // c-ares versions with a query cache enable it by default, but every
  // measurement must reach the server.
  cares.qcache_max_ttl = 0;
  mask |= ARES_OPT_QUERY_CACHE;
#endif

  int status = ares_init_options(&channel->handle, &cares, mask);
  if (status != ARES_SUCCESS) {
    throw Error(ErrorKind::io, std::string("c-ares channel initialization failed: ") + ares_strerror(status));
  }

  const Nameserver& server = options.nameservers[nameserver];
  ares_addr_port_node node{};
  node.next = nullptr;
  if (server.address.find(':') != std::string::npos) {
    node.family = AF_INET6;
    inet_pton(AF_INET6, server.address.c_str(), &node.addr.addr6);
  } else {
    node.family = AF_INET;
    inet_pton(AF_INET, server.address.c_str(), &node.addr.addr4);
  }
  node.udp_port = server.port;
  node.tcp_port = server.port;
  status = ares_set_servers_ports(channel->handle, &node);
  if (status != ARES_SUCCESS) {
    ares_destroy(channel->handle);
    throw Error(ErrorKind::io, "c-ares rejected nameserver " + server.to_string() + ": " + ares_strerror(status));
  }
  return channel;
}

DnsEngine::Impl::Channel* DnsEngine::Impl::channel_for(size_t nameserver, bool tcp) {
  auto& channels = tcp ? tcp_channels[nameserver] : udp_channels[nameserver];
  for (auto& channel : channels) {
    if (channel->outstanding < options.max_queries_per_socket) return channel.get();
  }
  channels.push_back(create_channel(nameserver, tcp));
  return channels.back().get();
}

void DnsEngine::Impl::start(const std::string& name, RRType type, Callback callback) {
  Query query;
  query.answer.qname = dns::canonical_name(name);
  query.answer.qtype = type;
  query.packet = dns::encode_query(query.answer.qname, type);
  query.callback = std::move(callback);
  query.waiting = true;
  query.attempts = 1;

  const uint64_t id = next_query_id++;
  queries.emplace(id, std::move(query));
  new_queue.push_back(Dispatch{id, std::nullopt, false});
  ++waiting_count;
  ++stats.queries_started;
  // Deferred so that no callback runs before query() returns, even when c-ares
  // fails a send synchronously.
  schedule_pump();
}

void DnsEngine::Impl::schedule_pump() {
  if (pump_scheduled) return;
  pump_scheduled = true;
  pump_timer = loop.add_timer(Clock::now(), [this] {
    pump_scheduled = false;
    pump_timer = 0;
    pump();
  });
}

bool DnsEngine::Impl::take_token() {
  if (options.qps <= 0) return true;
  const auto now = Clock::now();
  const double capacity = std::max(1.0, options.qps * kBurstSeconds);
  tokens = std::min(capacity, tokens + std::chrono::duration<double>(now - tokens_updated).count() * options.qps);
  tokens_updated = now;
  if (tokens >= 1.0) {
    tokens -= 1.0;
    return true;
  }
  if (!pump_scheduled) {
    const auto wait = std::chrono::duration<double>((1.0 - tokens) / options.qps);
    pump_scheduled = true;
    pump_timer = loop.add_timer(now + std::chrono::duration_cast<Clock::duration>(wait), [this] {
      pump_scheduled = false;
      pump_timer = 0;
      pump();
    });
  }
  return false;
}

size_t DnsEngine::Impl::least_loaded_nameserver() const {
  size_t best = 0;
  for (size_t i = 1; i < nameserver_in_flight.size(); ++i) {
    if (nameserver_in_flight[i] < nameserver_in_flight[best]) best = i;
  }
  return best;
}

bool DnsEngine::Impl::window_full(size_t nameserver) const {
  return static_cast<double>(nameserver_in_flight[nameserver]) >= std::floor(windows[nameserver].limit);
}

void DnsEngine::Impl::adapt_window(size_t nameserver, double rtt_ms) {
  Window& window = windows[nameserver];
  if (window.min_rtt_ms == 0 || rtt_ms < window.min_rtt_ms) window.min_rtt_ms = rtt_ms;
  window.smoothed_rtt_ms = window.smoothed_rtt_ms == 0
                               ? rtt_ms
                               : window.smoothed_rtt_ms + (rtt_ms - window.smoothed_rtt_ms) / kRttSmoothing;
  if (window.smoothed_rtt_ms > kQueueingRttFactor * window.min_rtt_ms) {
    // Queries already queue at the server (or in this process), so more in flight
    // would only lengthen the queue. Each such response gives back one place.
    const double minimum = static_cast<double>(options.min_inflight_per_nameserver);
    window.limit = std::max(minimum, window.limit - 1.0);
    return;
  }
  // Only a limit that keeps queries waiting grows, so an idle engine keeps its limit.
  if (waiting_count == 0) return;
  const double maximum = static_cast<double>(options.max_inflight_per_nameserver);
  window.limit += window.limit < window.threshold ? 1.0 : 1.0 / window.limit;
  window.limit = std::min(window.limit, maximum);
}

void DnsEngine::Impl::narrow_window(size_t nameserver, Clock::time_point sent_at) {
  // The tries lost in one burst time out together, so only the first timeout of a
  // send made after the last reduction halves the limit.
  Window& window = windows[nameserver];
  if (sent_at < window.reduced_at) return;
  const double minimum = static_cast<double>(options.min_inflight_per_nameserver);
  window.limit = std::max(minimum, window.limit / 2);
  window.threshold = window.limit;
  window.reduced_at = Clock::now();
}

void DnsEngine::Impl::pump() {
  for (;;) {
    std::deque<Dispatch>& queue = !retry_queue.empty() ? retry_queue : new_queue;
    if (queue.empty()) return;
    const Dispatch next = queue.front();
    auto it = queries.find(next.query_id);
    if (it == queries.end()) {
      // Finished while waiting (its deadline passed).
      queue.pop_front();
      continue;
    }
    const size_t nameserver = next.nameserver ? *next.nameserver : least_loaded_nameserver();
    // Strict FIFO: the head waits for its nameserver, and everything else waits
    // behind it. A finished send calls schedule_pump() again.
    if (window_full(nameserver)) return;
    if (!take_token()) return;
    queue.pop_front();
    Query& query = it->second;
    query.waiting = false;
    --waiting_count;
    send(query, next.query_id, nameserver, next.tcp);
  }
}

void DnsEngine::Impl::arm_timer(Query& query, uint64_t id, Clock::time_point when) {
  if (query.timer != 0) loop.cancel_timer(query.timer);
  query.timer = loop.add_timer(when, [this, id] {
    auto it = queries.find(id);
    if (it == queries.end()) return;
    it->second.timer = 0;
    retry_or_fail(id, {});
  });
}

void DnsEngine::Impl::send(Query& query, uint64_t id, size_t nameserver, bool tcp) {
  const auto now = Clock::now();
  if (!query.sent) {
    query.sent = true;
    query.first_send = now;
    query.deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout));
    ++in_flight_count;
  }
  query.last_nameserver = nameserver;
  query.last_send = now;
  query.answer.server = server_names[nameserver];
  ++query.answer.tries;
  ++stats.queries_sent;

  Channel* channel = channel_for(nameserver, tcp);
  ++channel->outstanding;
  ++nameserver_in_flight[nameserver];
  ++outstanding_sends;
  arm_timer(query, id, std::min(now + per_try_timeout, query.deadline));
  ensure_tick();

  auto* context = new Send{this, id, channel, query.answer.tries, now};
  ares_send(channel->handle, query.packet.data(), static_cast<int>(query.packet.size()), &Impl::on_result,
            context);
  rethrow_callback_exception();
}

void DnsEngine::Impl::rethrow_callback_exception() {
  if (!callback_exception) return;
  std::exception_ptr error = callback_exception;
  callback_exception = nullptr;
  std::rethrow_exception(error);
}

void DnsEngine::Impl::on_result(void* argument, int status, int /*timeouts*/, unsigned char* buffer, int length) {
  std::unique_ptr<Send> context(static_cast<Send*>(argument));
  Impl* engine = context->engine;
  if (engine->destroying) return;
  try {
    engine->handle_result(*context, status, buffer, length);
  } catch (...) {
    if (!engine->callback_exception) engine->callback_exception = std::current_exception();
  }
}

void DnsEngine::Impl::handle_result(Send& sent, int status, const unsigned char* buffer, int length) {
  Channel& channel = *sent.channel;
  --channel.outstanding;
  --nameserver_in_flight[channel.nameserver];
  --outstanding_sends;
  // A slot is free: queued sends may go now.
  if (waiting_count > 0) schedule_pump();

  auto it = queries.find(sent.query_id);
  if (it == queries.end()) {
    ++stats.late_answers;
    return;
  }
  Query& query = it->second;

  if (status == ARES_SUCCESS) {
    adapt_window(channel.nameserver, milliseconds_between(sent.sent_at, Clock::now()));
    handle_response(query, sent.query_id, channel.nameserver, channel.tcp, buffer, length);
    return;
  }
  if (status == ARES_ETIMEOUT || status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
    // The engine's own timer decides when a try has timed out.
    return;
  }
  // A network failure of the latest send (ICMP port unreachable, a reset TCP
  // connection) ends its try at once, and so does ARES_EBADRESP. c-ares 1.34 closes
  // a socket that received a malformed response and fails every query on it with
  // that status, without saying which query the response was for. A failure of an
  // older send changes nothing.
  if (sent.sequence == query.answer.tries && !query.waiting) {
    retry_or_fail(sent.query_id,
                  std::string("nameserver ") + server_names[channel.nameserver] + ": " + ares_strerror(status));
  }
}

void DnsEngine::Impl::handle_response(Query& query, uint64_t id, size_t nameserver, bool tcp,
                                      const unsigned char* buffer, int length) {
  dns::DnsMessage message;
  try {
    message = dns::parse_message(buffer, static_cast<size_t>(length));
  } catch (const dns::MalformedMessage& malformed) {
    query.answer.server = server_names[nameserver];
    finish(id, DnsStatus::error, std::string("nameserver ") + server_names[nameserver] + " sent a " + malformed.what());
    return;
  }

  if (message.tc && !tcp) {
    // RFC 7766 section 5: repeat the query over TCP on the same server.
    query.use_tcp = true;
    query.answer.truncated_retried_over_tcp = true;
    ++stats.tcp_retries;
    if (!query.waiting) {
      query.waiting = true;
      ++waiting_count;
      retry_queue.push_back(Dispatch{id, nameserver, true});
      schedule_pump();
    }
    return;
  }

  query.answer.server = server_names[nameserver];
  dns::extract_answer(message, query.answer);
  const DnsStatus status = query.answer.status;
  std::string error = std::move(query.answer.error);
  finish(id, status, std::move(error));
}

// Ends the current try, which timed out (`failure` empty) or failed with `failure`.
void DnsEngine::Impl::retry_or_fail(uint64_t id, const std::string& failure) {
  auto it = queries.find(id);
  if (it == queries.end()) return;
  Query& query = it->second;
  const auto now = Clock::now();
  if (failure.empty() && !query.waiting) narrow_window(query.last_nameserver, query.last_send);
  if (!failure.empty()) query.last_failure = failure;
  if (now >= query.deadline) {
    finish_without_response(id, "no response within " + std::to_string(options.timeout) + " s after " +
                                    std::to_string(query.answer.tries) + " sends");
    return;
  }
  if (query.waiting) {
    // A send (a TCP resend after truncation) is already queued; only the overall
    // deadline runs until it goes out.
    arm_timer(query, id, query.deadline);
    return;
  }
  if (query.attempts >= options.tries) {
    finish_without_response(id, "no response after " + std::to_string(query.answer.tries) +
                                    " sends within " + std::to_string(options.timeout) + " s");
    return;
  }

  ++query.attempts;
  ++stats.retries;
  const size_t next = (query.last_nameserver + 1) % options.nameservers.size();
  query.waiting = true;
  ++waiting_count;
  retry_queue.push_back(Dispatch{id, next, query.use_tcp});
  // While the retry waits for a cap, only the overall deadline runs.
  arm_timer(query, id, query.deadline);
  schedule_pump();
}

void DnsEngine::Impl::finish_without_response(uint64_t id, const std::string& timeout_detail) {
  Query& query = queries.at(id);
  // A try that failed outright (the port is closed, the connection was reset) shows
  // that the server is unreachable, not slow, so it decides over the other timeouts.
  if (!query.last_failure.empty()) {
    std::string failure = std::move(query.last_failure);
    finish(id, DnsStatus::error, std::move(failure));
  } else {
    finish(id, DnsStatus::timeout, timeout_detail);
  }
}

void DnsEngine::Impl::finish(uint64_t id, DnsStatus status, std::string error) {
  auto it = queries.find(id);
  if (it == queries.end()) return;
  Query& query = it->second;
  if (query.timer != 0) loop.cancel_timer(query.timer);
  if (query.waiting) --waiting_count;
  if (query.sent) --in_flight_count;

  DnsAnswer answer = std::move(query.answer);
  Callback callback = std::move(query.callback);
  answer.status = status;
  answer.error = std::move(error);
  if (status != DnsStatus::data) answer.records.clear();
  answer.elapsed_ms = query.sent ? milliseconds_between(query.first_send, Clock::now()) : 0.0;
  ++stats.answers_by_status[static_cast<size_t>(status)];
  // Erase first: the callback may start new queries.
  queries.erase(it);
  callback(std::move(answer));
}

void DnsEngine::Impl::ensure_tick() {
  if (tick_scheduled) return;
  tick_scheduled = true;
  tick_timer = loop.add_timer(kAresTick, [this] { tick(); });
}

void DnsEngine::Impl::tick() {
  tick_scheduled = false;
  tick_timer = 0;
  // Collect first: callbacks run inside ares_process_fd may add channels.
  std::vector<ares_channel> busy;
  for (auto* pool : {&udp_channels, &tcp_channels}) {
    for (auto& channels : *pool) {
      for (auto& channel : channels) {
        if (channel->outstanding > 0) busy.push_back(channel->handle);
      }
    }
  }
  for (ares_channel handle : busy) ares_process_fd(handle, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  rethrow_callback_exception();
  if (outstanding_sends > 0) ensure_tick();
}

void DnsEngine::Impl::on_socket_state(void* argument, ares_socket_t fd, int readable, int writable) {
  auto* channel = static_cast<Channel*>(argument);
  EventLoop& loop = channel->engine->loop;
  if (!readable && !writable) {
    loop.unwatch(fd);
    return;
  }
  uint32_t events = 0;
  if (readable) events |= EPOLLIN;
  if (writable) events |= EPOLLOUT;
  auto on_ready = [channel, fd](uint32_t ready) {
    const bool read_ready = ready & (EPOLLIN | EPOLLERR | EPOLLHUP);
    const bool write_ready = ready & (EPOLLOUT | EPOLLERR);
    ares_process_fd(channel->handle, read_ready ? fd : ARES_SOCKET_BAD, write_ready ? fd : ARES_SOCKET_BAD);
    channel->engine->rethrow_callback_exception();
  };
  // This runs inside c-ares, so nothing may be thrown from here. A failed watch
  // leaves the socket unwatched, and its queries end by the engine's timers.
  try {
    loop.watch(fd, events, on_ready);
  } catch (const Error&) {
    // The loop may still list an fd number that was closed and reused.
    loop.unwatch(fd);
    try {
      loop.watch(fd, events, on_ready);
    } catch (const Error&) {
    }
  }
}

DnsEngine::DnsEngine(EventLoop& loop, DnsEngineOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

DnsEngine::~DnsEngine() = default;

void DnsEngine::query(const std::string& name, RRType type, Callback callback) {
  impl_->start(name, type, std::move(callback));
}

DnsEngineStats DnsEngine::stats() const {
  DnsEngineStats snapshot = impl_->stats;
  snapshot.in_flight = impl_->in_flight_count;
  snapshot.queued = impl_->waiting_count;
  for (const auto& window : impl_->windows) {
    snapshot.inflight_limits.push_back(static_cast<size_t>(window.limit));
  }
  return snapshot;
}

const std::vector<Nameserver>& DnsEngine::nameservers() const { return impl_->options.nameservers; }

}  // namespace dnsscience
