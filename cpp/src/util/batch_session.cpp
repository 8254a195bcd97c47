#include "dnsscience/batch_session.hpp"

#include <chrono>
#include <cmath>

#include "dnsscience/error.hpp"

namespace dnsscience {

namespace {

// Returns `error` as an exception_ptr to a dnsscience::Error, wrapping other types.
std::exception_ptr as_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    return error;
  } catch (const std::exception& other) {
    return std::make_exception_ptr(Error(ErrorKind::internal, std::string("batch session setup or starter failed: ") + other.what()));
  } catch (...) {
    return std::make_exception_ptr(Error(ErrorKind::internal, "batch session setup or starter failed with a non-standard exception"));
  }
}

}  // namespace

BatchSession::BatchSession(std::function<Starter(EventLoop&)> setup, size_t max_in_flight)
    : max_in_flight_(max_in_flight) {
  if (max_in_flight == 0) {
    throw Error(ErrorKind::invalid_argument, "invalid max_in_flight 0: pass 1 or more items to run at once");
  }
  thread_ = std::thread([this, setup = std::move(setup)]() mutable { run_loop(std::move(setup)); });
}

BatchSession::~BatchSession() {
  close();
  join_thread();
}

void BatchSession::run_loop(std::function<Starter(EventLoop&)> setup) {
  std::exception_ptr setup_error;
  try {
    starter_ = setup(loop_);
  } catch (...) {
    setup_error = as_error(std::current_exception());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    setup_error_ = setup_error;
    setup_finished_ = true;
  }
  results_ready_.notify_all();
  if (starter_) start_items();

  for (;;) {
    try {
      loop_.run();
      break;
    } catch (...) {
      // An exception from a callback on the loop (an engine or checker bug) is
      // handed to poll(); the loop keeps serving the other items.
      record_error(std::current_exception());
    }
  }
  // Destroy the engine, checker and pending callbacks here, on the loop thread.
  starter_ = nullptr;
}

void BatchSession::submit(std::vector<std::string> items) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (setup_error_) std::rethrow_exception(setup_error_);
    if (!accepting_) {
      throw Error(ErrorKind::invalid_argument,
                  "the batch session no longer accepts items because stop_new() or close() was called; "
                  "start a new session");
    }
    for (std::string& item : items) pending_.push_back(std::move(item));
  }
  loop_.post([this] { start_items(); });
}

void BatchSession::start_items() {
  // A done() called synchronously from inside the starter lands here again; the
  // outer call keeps starting items, so the stack does not grow per item.
  if (starting_ || !starter_) return;
  starting_ = true;
  for (;;) {
    std::string item;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_ || pending_.empty() || in_flight_ >= max_in_flight_) break;
      item = std::move(pending_.front());
      pending_.pop_front();
      ++in_flight_;
    }
    auto finished = std::make_shared<bool>(false);
    Done done = [this, finished](std::string result_json) {
      if (*finished) return;
      *finished = true;
      finish_item(std::move(result_json));
    };
    try {
      starter_(item, std::move(done));
    } catch (...) {
      if (!*finished) {
        *finished = true;
        std::lock_guard<std::mutex> lock(mutex_);
        --in_flight_;
        ++completed_;
      }
      record_error(std::current_exception());
    }
  }
  starting_ = false;
}

void BatchSession::finish_item(std::string result_json) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results_.push_back(std::move(result_json));
    --in_flight_;
    ++completed_;
  }
  results_ready_.notify_all();
  start_items();
}

void BatchSession::record_error(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.push_back(as_error(error));
  }
  results_ready_.notify_all();
}

std::vector<std::string> BatchSession::poll(size_t max_results, double wait_seconds) {
  // NaN and negative waits do not block; a huge or infinite wait is capped at ~31 years.
  double seconds = (std::isnan(wait_seconds) || wait_seconds < 0) ? 0.0 : wait_seconds;
  seconds = std::min(seconds, 1e9);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));

  std::unique_lock<std::mutex> lock(mutex_);
  results_ready_.wait_until(lock, deadline, [this] {
    return !results_.empty() || !errors_.empty() || setup_error_ || closed_ ||
           (setup_finished_ && pending_.empty() && in_flight_ == 0);
  });
  if (setup_error_) std::rethrow_exception(setup_error_);
  if (!errors_.empty()) {
    std::exception_ptr error = errors_.front();
    errors_.pop_front();
    std::rethrow_exception(error);
  }

  const size_t count = (max_results == 0) ? results_.size() : std::min(max_results, results_.size());
  std::vector<std::string> taken;
  taken.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    taken.push_back(std::move(results_.front()));
    results_.pop_front();
  }
  return taken;
}

std::vector<std::string> BatchSession::stop_new() {
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = false;
  std::vector<std::string> unstarted(std::make_move_iterator(pending_.begin()),
                                     std::make_move_iterator(pending_.end()));
  pending_.clear();
  return unstarted;
}

size_t BatchSession::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.size();
}

size_t BatchSession::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_;
}

size_t BatchSession::completed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

void BatchSession::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    accepting_ = false;
    pending_.clear();
  }
  results_ready_.notify_all();
  loop_.stop();
  if (std::this_thread::get_id() != thread_.get_id()) join_thread();
}

void BatchSession::join_thread() {
  std::lock_guard<std::mutex> lock(join_mutex_);
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

}  // namespace dnsscience
