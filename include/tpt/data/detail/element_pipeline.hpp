// Hands the elements a json_stream finds to a second thread in batches, in file order, so that
// scanning (and reading from disk) overlaps with parsing. One consumer thread keeps the order,
// so results and errors are the same as when everything runs on the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "tpt/data/detail/json_stream.hpp"

namespace tpt::data::detail {

/// Consecutive elements of one array (or one member value), copied out of the stream's buffer.
struct element_batch {
  struct element {
    std::size_t begin = 0;
    std::size_t size = 0;
    std::uint64_t offset = 0;  ///< in the file
    std::size_t index = 0;     ///< in its array
  };
  std::uint32_t tag = 0;  ///< what the elements are (the caller's code)
  std::string name;       ///< the member they belong to
  std::vector<char> bytes;
  std::vector<element> elements;

  [[nodiscard]] json_slice slice(const element& e) const { return {bytes.data() + e.begin, e.size, e.offset}; }
  void clear() {
    bytes.clear();
    elements.clear();
  }
};

class element_pipeline {
 public:
  using handler = std::function<void(const element_batch&)>;

  /// `background`: run `handle` on a second thread; otherwise on the calling thread.
  element_pipeline(handler handle, bool background, std::size_t batch_bytes = std::size_t{4} << 20)
      : handle_(std::move(handle)), batch_bytes_(batch_bytes), current_(std::make_unique<element_batch>()) {
    if (background) worker_ = std::thread([this] { run(); });
  }
  ~element_pipeline() { stop(); }
  element_pipeline(const element_pipeline&) = delete;
  element_pipeline& operator=(const element_pipeline&) = delete;

  /// Queue an element (copied). Throws the handler's error as soon as one is known.
  void add(std::uint32_t tag, const std::string& name, const json_slice& e, std::size_t index) {
    if (!current_->elements.empty() && (current_->tag != tag || current_->name != name)) flush();
    if (current_->elements.empty()) {
      current_->tag = tag;
      current_->name = name;
    }
    const std::size_t begin = current_->bytes.size();
    current_->bytes.insert(current_->bytes.end(), e.data, e.data + e.size);
    current_->elements.push_back({begin, e.size, e.offset, index});
    if (current_->bytes.size() >= batch_bytes_) flush();
  }

  /// Send an element-less batch carrying only `tag` (e.g. "the images array ended"), in order.
  void mark(std::uint32_t tag) {
    flush();
    current_->tag = tag;
    current_->name.clear();
    flush(true);
  }

  /// Everything added has been handled; rethrows the handler's error if it failed.
  void finish() {
    flush();
    stop();
    if (error_) std::rethrow_exception(error_);
  }

  /// For the scanner's own errors: let the handler finish what was queued (it lies earlier in
  /// the file), then rethrow the handler's error if it had one. Returns otherwise, and the caller
  /// rethrows the scanner's error: either way the first error in the file is the one reported.
  void drain_and_rethrow_earlier() {
    // A handler error already recorded is the earliest: nothing after it may be handled (the
    // worker may be stopped already, and flush would then handle the batch on this thread and
    // throw a later element's error instead).
    if (failed_) {
      stop();
      std::rethrow_exception(error_);
    }
    // The batch still being filled lies before the scanner's error too: without this flush its
    // elements were never checked, and "images[3]: missing field 'id'" gave way to a syntax
    // error further on.
    flush();
    stop();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void flush(bool even_if_empty = false) {
    if (current_->elements.empty() && !even_if_empty) return;
    // simdjson reads up to SIMDJSON_PADDING bytes past the last element.
    current_->bytes.resize(current_->bytes.size() + simdjson::SIMDJSON_PADDING, ' ');
    if (!worker_.joinable()) {
      // Emptied even when the handler throws: its error propagates to the scanner, whose
      // drain_and_rethrow_earlier must not handle the same elements a second time.
      struct clear_after {
        element_batch& batch;
        ~clear_after() { batch.clear(); }
      } guard{*current_};
      handle_(*current_);
      return;
    }
    std::unique_ptr<element_batch> next;
    {
      std::unique_lock lock(mutex_);
      space_.wait(lock, [this] { return queue_.size() < max_queued || failed_; });
      if (failed_) {
        lock.unlock();
        stop();
        std::rethrow_exception(error_);
      }
      queue_.push_back(std::move(current_));
      if (!spare_.empty()) {
        next = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    ready_.notify_one();
    current_ = next ? std::move(next) : std::make_unique<element_batch>();
    current_->clear();
  }

  void run() {
    while (true) {
      std::unique_ptr<element_batch> batch;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      space_.notify_one();
      if (!failed_) {
        try {
          handle_(*batch);
        } catch (...) {
          std::lock_guard lock(mutex_);
          error_ = std::current_exception();
          failed_ = true;
          space_.notify_all();
        }
      }
      batch->clear();
      std::lock_guard lock(mutex_);
      spare_.push_back(std::move(batch));
    }
  }

  void stop() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
    worker_.join();
  }

  static constexpr std::size_t max_queued = 4;
  handler handle_;
  std::size_t batch_bytes_;
  std::unique_ptr<element_batch> current_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<std::unique_ptr<element_batch>> queue_;
  std::vector<std::unique_ptr<element_batch>> spare_;
  bool closed_ = false;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace tpt::data::detail
