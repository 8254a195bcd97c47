#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace dnsscience {

/// A single-threaded epoll event loop with timers and a thread-safe task queue.
///
/// Every method except post() and stop() must be called on the thread that runs
/// run() (or before run() starts). Callbacks run on that thread. The DNS engine
/// and the TLS prober register their sockets and deadlines here.
class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdCallback = std::function<void(uint32_t events)>;  ///< epoll event bits
  using TimerCallback = std::function<void()>;
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT, ...). Replaces an earlier watch.
  void watch(int fd, uint32_t events, FdCallback callback);
  /// Stops watching `fd`. Safe to call from inside that fd's callback.
  void unwatch(int fd);
  bool watching(int fd) const { return fds_.count(fd) != 0; }

  /// Runs `callback` once at `deadline`. Returns an id for cancel_timer().
  TimerId add_timer(Clock::time_point deadline, TimerCallback callback);
  TimerId add_timer(std::chrono::milliseconds delay, TimerCallback callback) {
    return add_timer(Clock::now() + delay, std::move(callback));
  }
  /// Cancels a pending timer. Cancelling a fired or unknown timer does nothing.
  void cancel_timer(TimerId id);

  /// Queues `task` to run on the loop thread. Thread-safe.
  void post(std::function<void()> task);

  /// Processes events until stop() is called.
  void run();
  /// Processes ready events and due timers once, waiting at most `max_wait`.
  void run_once(std::chrono::milliseconds max_wait);
  /// Makes run() return after the current iteration. Thread-safe.
  void stop();

 private:
  void drain_posted();
  int next_timeout_ms(std::chrono::milliseconds max_wait) const;
  void fire_due_timers();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unordered_map<int, FdCallback> fds_;
  std::multimap<Clock::time_point, TimerId> timer_order_;
  std::unordered_map<TimerId, std::pair<Clock::time_point, TimerCallback>> timers_;
  TimerId next_timer_id_ = 1;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;
  std::mutex stop_mutex_;
};

}  // namespace dnsscience
