// Stress of the runtime's thread pool (runtime/kernels/threads.h): several callers issue tens of
// thousands of small parallel_for jobs back to back, with pauses that let workers fall asleep,
// and every task must run exactly once. Exits 1 on a miscount. Its purpose is the data-race check
// docs/RESULTS.md quotes, a ThreadSanitizer build of the pool alone:
//
//   g++ -std=c++17 -O1 -g -fsanitize=thread -I. bench/pool_stress.cpp runtime/kernels/threads.cpp \
//       -o /tmp/pool_stress && /tmp/pool_stress && QF_THREAD_SPIN_US=0 /tmp/pool_stress
//
// (The ordinary build makes build/bench/pool_stress; the unit test is
// Threads.BackToBackJobsFromSeveralCallersRunEachTaskOnce.)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "runtime/kernels/threads.h"

namespace {

using qf::kernels::parallel_for;

// `jobs` jobs of 1..37 tasks; every 1000th is followed by a pause longer than the spin.
int64_t miscounted_tasks(int jobs) {
  int64_t wrong = 0;
  for (int n = 0; n < jobs; ++n) {
    const int64_t tasks = 1 + n % 37;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(tasks));
    parallel_for(tasks, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) wrong += h.load() != 1;
    if (n % 1000 == 999) std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  return wrong;
}

}  // namespace

int main() {
  int64_t wrong = 0;
  qf::kernels::set_num_threads(3);
  std::atomic<int64_t> other_wrong{0};
  std::thread other([&] { other_wrong = miscounted_tasks(2000); });  // runs inline while the main caller holds the pool
  wrong += miscounted_tasks(10000);
  other.join();
  wrong += other_wrong.load();
  qf::kernels::set_num_threads(2);  // a new pool: the old one's workers stop and join
  wrong += miscounted_tasks(2000);
  std::printf("pool_stress: %lld tasks run other than once\n", static_cast<long long>(wrong));
  return wrong == 0 ? 0 : 1;
}
