#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dnsscience/event_loop.hpp"

namespace dnsscience {

/// Runs items (domain names, host:port pairs) through an asynchronous starter on an
/// EventLoop in its own thread, with a bounded number in flight, and hands the
/// results back to another thread. The Python checkers and probers drive it.
///
/// All public methods are thread-safe.
class BatchSession {
 public:
  /// Delivers the result of one item, as a JSON text. Call it exactly once per item,
  /// on the loop thread; later calls for the same item are ignored.
  using Done = std::function<void(std::string result_json)>;
  /// Starts one item. Runs on the loop thread and must arrange for `done` to be
  /// called exactly once, possibly before it returns.
  using Starter = std::function<void(const std::string& item, Done done)>;

  /// Starts the loop thread and runs `setup` on it before any item. `setup` creates
  /// the objects the items need (a DnsEngine, a checker) and returns the starter,
  /// which owns them. close() destroys the starter on the loop thread.
  /// Throws Error(invalid_argument) when max_in_flight is 0. An exception from
  /// `setup` is rethrown by every later poll() and submit().
  BatchSession(std::function<Starter(EventLoop&)> setup, size_t max_in_flight);
  /// Calls close().
  ~BatchSession();
  BatchSession(const BatchSession&) = delete;
  BatchSession& operator=(const BatchSession&) = delete;

  /// Queues items; they start in submission order. Throws Error(invalid_argument)
  /// after stop_new() or close().
  void submit(std::vector<std::string> items);

  /// Returns up to `max_results` (0: all) finished results, as JSON texts in
  /// completion order. Blocks until at least one result is ready or `wait_seconds`
  /// elapse. Returns an empty list at once when the setup has finished and no item
  /// is queued or in flight, or after close(). Rethrows, as
  /// dnsscience::Error, an exception thrown by the setup or by a starter (each
  /// starter exception once; its item counts as completed without a result).
  std::vector<std::string> poll(size_t max_results, double wait_seconds);

  /// Stops starting queued items and returns them in order. Items in flight still
  /// finish and are returned by poll(). Later submit() calls throw.
  std::vector<std::string> stop_new();

  size_t queued() const;     ///< items submitted and not started
  size_t in_flight() const;  ///< items started and not finished
  size_t completed() const;  ///< items finished, whether or not poll() returned them yet

  /// Cancels the session: drops queued items, stops the loop, destroys the starter
  /// on the loop thread and joins that thread. Results not yet polled stay
  /// available to poll(), and items in flight never finish. Idempotent. Called on
  /// the loop thread (from a starter), it stops the loop and leaves the join to
  /// the destructor.
  void close();

 private:
  void run_loop(std::function<Starter(EventLoop&)> setup);
  void start_items();
  void finish_item(std::string result_json);
  void record_error(std::exception_ptr error);
  void join_thread();

  EventLoop loop_;
  const size_t max_in_flight_;
  Starter starter_;  // used and destroyed on the loop thread only

  mutable std::mutex mutex_;
  std::condition_variable results_ready_;
  std::deque<std::string> pending_;
  std::deque<std::string> results_;
  std::deque<std::exception_ptr> errors_;
  std::exception_ptr setup_error_;
  size_t in_flight_ = 0;
  size_t completed_ = 0;
  bool setup_finished_ = false;  // setup returned or threw
  bool accepting_ = true;
  bool closed_ = false;

  bool starting_ = false;  // loop thread only: start_items() is on the stack
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace dnsscience
