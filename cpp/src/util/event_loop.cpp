#include "dnsscience/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dnsscience/error.hpp"

namespace dnsscience {

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    throw Error(ErrorKind::io, std::string("epoll_create1 failed: ") + std::strerror(errno));
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    close(epoll_fd_);
    throw Error(ErrorKind::io, std::string("eventfd failed: ") + std::strerror(errno));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
}

EventLoop::~EventLoop() {
  close(wake_fd_);
  close(epoll_fd_);
}

void EventLoop::watch(int fd, uint32_t events, FdCallback callback) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  const bool known = fds_.count(fd) != 0;
  if (epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event) != 0) {
    throw Error(ErrorKind::io, "epoll_ctl failed for fd " + std::to_string(fd) + ": " +
                                   std::strerror(errno));
  }
  fds_[fd] = std::move(callback);
}

void EventLoop::unwatch(int fd) {
  if (fds_.erase(fd) != 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
}

EventLoop::TimerId EventLoop::add_timer(Clock::time_point deadline, TimerCallback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(id, std::make_pair(deadline, std::move(callback)));
  timer_order_.emplace(deadline, id);
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = timer_order_.equal_range(it->second.first);
  for (auto order = range.first; order != range.second; ++order) {
    if (order->second == id) {
      timer_order_.erase(order);
      break;
    }
  }
  timers_.erase(it);
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  // A full eventfd counter still wakes the loop, so a failed write needs no handling.
  [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof one);
}

void EventLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stop_requested_ = true;
  }
  post([] {});
}

void EventLoop::run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(stop_mutex_);
      if (stop_requested_) {
        stop_requested_ = false;
        return;
      }
    }
    run_once(std::chrono::milliseconds(1000));
  }
}

int EventLoop::next_timeout_ms(std::chrono::milliseconds max_wait) const {
  if (timer_order_.empty()) return static_cast<int>(max_wait.count());
  const auto until = timer_order_.begin()->first - Clock::now();
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until).count();
  if (ms <= 0) return 0;
  return static_cast<int>(std::min<long long>(ms, max_wait.count()));
}

void EventLoop::drain_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

void EventLoop::fire_due_timers() {
  const auto now = Clock::now();
  while (!timer_order_.empty() && timer_order_.begin()->first <= now) {
    const TimerId id = timer_order_.begin()->second;
    timer_order_.erase(timer_order_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    TimerCallback callback = std::move(it->second.second);
    timers_.erase(it);
    callback();
  }
}

void EventLoop::run_once(std::chrono::milliseconds max_wait) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  const int count = epoll_wait(epoll_fd_, events, kMaxEvents, next_timeout_ms(max_wait));
  if (count < 0 && errno != EINTR) {
    throw Error(ErrorKind::io, std::string("epoll_wait failed: ") + std::strerror(errno));
  }
  for (int i = 0; i < count; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t counter;
      [[maybe_unused]] ssize_t got = read(wake_fd_, &counter, sizeof counter);
      continue;
    }
    auto it = fds_.find(fd);
    if (it == fds_.end()) continue;  // unwatched by an earlier callback in this round
    // Copy: the callback may unwatch or re-watch its own fd.
    FdCallback callback = it->second;
    callback(events[i].events);
  }
  drain_posted();
  fire_due_timers();
}

}  // namespace dnsscience
