#include "dnsscience/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <thread>
#include <vector>

namespace dnsscience {
namespace {

using std::chrono::milliseconds;

TEST(EventLoop, TimersFireInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> fired;
  loop.add_timer(milliseconds(30), [&] { fired.push_back(3); });
  loop.add_timer(milliseconds(10), [&] { fired.push_back(1); });
  loop.add_timer(milliseconds(20), [&] {
    fired.push_back(2);
  });
  loop.add_timer(milliseconds(40), [&] { loop.stop(); });
  loop.run();
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0], 1);
  EXPECT_EQ(fired[1], 2);
  EXPECT_EQ(fired[2], 3);
}

TEST(EventLoop, CancelledTimerDoesNotFire) {
  EventLoop loop;
  bool fired = false;
  auto id = loop.add_timer(milliseconds(5), [&] { fired = true; });
  loop.cancel_timer(id);
  loop.add_timer(milliseconds(20), [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(EventLoop, PostFromOtherThreadRunsOnLoop) {
  EventLoop loop;
  std::thread::id ran_on;
  std::thread poster([&] { loop.post([&] { ran_on = std::this_thread::get_id(); loop.stop(); }); });
  loop.run();
  poster.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(EventLoop, ReadableFdInvokesCallback) {
  EventLoop loop;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  char received = 0;
  loop.watch(pipe_fds[0], EPOLLIN, [&](uint32_t) {
    ASSERT_EQ(read(pipe_fds[0], &received, 1), 1);
    loop.unwatch(pipe_fds[0]);
    loop.stop();
  });
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  loop.run();
  EXPECT_EQ(received, 'x');
  EXPECT_FALSE(loop.watching(pipe_fds[0]));
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace dnsscience
