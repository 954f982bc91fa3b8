// Back-to-back parallel_for jobs for the checks of the runtime's thread pool
// (runtime/kernels/threads.h): the Threads tests of kernels_tables_test.cpp and
// bench/pool_stress.cpp, the ThreadSanitizer harness of the pool alone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/kernels/threads.h"

namespace qf::kernels {

// `jobs` jobs of 1..37 tasks from the calling thread, each task counting its runs; after every
// `pause_every`-th job (0: never) a pause longer than the workers' spin, so they fall asleep and
// must be woken. Returns how many tasks ran other than once.
inline int64_t miscounted_pool_tasks(int jobs, int pause_every = 0) {
  int64_t wrong = 0;
  for (int n = 0; n < jobs; ++n) {
    const int64_t tasks = 1 + n % 37;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(tasks));
    parallel_for(tasks, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) wrong += h.load() != 1;
    if (pause_every > 0 && n % pause_every == pause_every - 1)
      std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  return wrong;
}

}  // namespace qf::kernels
