#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace stackctl {

void ParallelFor(size_t n, size_t max_threads, const std::function<void(size_t)>& fn) {
  size_t threads = std::min(n, max_threads);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();  // the caller's thread is one of them
  for (auto& t : pool) t.join();
}

}  // namespace stackctl
