// Items made on worker threads and handed over strictly in order, at most `window` ahead of the
// consumer: decoding runs while the model works on earlier batches, and memory stays bounded.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace tpt::predict::detail {

template <class T>
class ordered_pipeline {
 public:
  /// make(i) for i in [0, n) on `workers` threads (0: on the consumer's thread, inside next()).
  ordered_pipeline(std::size_t n, std::size_t workers, std::size_t window, std::function<T(std::size_t)> make)
      : n_(n), window_(std::max<std::size_t>(window, 1)), make_(std::move(make)), slots_(window_) {
    const std::size_t threads = std::min(workers, n);
    try {
      for (std::size_t t = 0; t < threads; ++t) threads_.emplace_back([this] { work(); });
    } catch (...) {
      shutdown();
      throw;
    }
  }

  ordered_pipeline(const ordered_pipeline&) = delete;
  ordered_pipeline& operator=(const ordered_pipeline&) = delete;
  ~ordered_pipeline() { shutdown(); }

  [[nodiscard]] bool done() const noexcept { return consumed_ == n_; }

  /// The next item in order; rethrows what make() threw for it.
  T next() {
    if (threads_.empty()) return make_(consumed_++);
    std::unique_lock lock(mutex_);
    slot& s = slots_[consumed_ % window_];
    ready_.wait(lock, [&] { return s.value.has_value() || s.error; });
    if (s.error) {
      std::exception_ptr e = std::exchange(s.error, nullptr);
      ++consumed_;
      space_.notify_all();
      std::rethrow_exception(e);
    }
    T out = std::move(*s.value);
    s.value.reset();
    ++consumed_;
    space_.notify_all();
    return out;
  }

 private:
  struct slot {
    std::optional<T> value;
    std::exception_ptr error;
  };

  void work() {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return stop_ || (claimed_ < n_ && claimed_ < consumed_ + window_); });
        if (stop_) return;
        i = claimed_++;
      }
      std::optional<T> value;
      std::exception_ptr error;
      try {
        value.emplace(make_(i));
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        slot& s = slots_[i % window_];
        s.value = std::move(value);
        s.error = error;
      }
      ready_.notify_all();
      if (claimed_done()) return;
    }
  }

  bool claimed_done() {
    std::lock_guard lock(mutex_);
    return claimed_ >= n_;
  }

  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    space_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  std::size_t n_;
  std::size_t window_;
  std::function<T(std::size_t)> make_;
  std::vector<slot> slots_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::size_t claimed_ = 0;
  std::size_t consumed_ = 0;
  bool stop_ = false;
};

}  // namespace tpt::predict::detail
