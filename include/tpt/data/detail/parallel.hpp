// A minimal parallel-for for the image pipeline: items are claimed one at a time from an atomic
// counter, so uneven decode times balance out, and results depend only on the item index.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tpt::data::detail {

/// `requested` threads, or every hardware thread when 0; never more than there are items.
inline std::size_t resolve_threads(std::size_t requested, std::size_t items) {
  std::size_t n = requested ? requested : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(n, items));
}

/// Call f(i) for every i in [0, n) on `threads` threads (the caller's thread is one of them).
/// The first exception stops the claiming of new items and is rethrown after all threads join.
template <class F>
void parallel_for(std::size_t n, std::size_t threads, F&& f) {
  if (n == 0) return;
  threads = resolve_threads(threads, n);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      try {
        f(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  try {
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  } catch (...) {
    failed = true;
    for (auto& th : pool) th.join();
    throw;
  }
  work();
  for (auto& th : pool) th.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace tpt::data::detail
