// Stress of the runtime's thread pool (runtime/kernels/threads.h): several callers issue tens of
// thousands of small parallel_for jobs back to back (tests/runtime/pool_jobs.h), with pauses that
// let workers fall asleep, and every task must run exactly once. Exits 1 on a miscount. Its
// purpose is the data-race check docs/RESULTS.md quotes, a ThreadSanitizer build of the pool alone:
//
//   g++ -std=c++17 -O1 -g -fsanitize=thread -I. bench/pool_stress.cpp runtime/kernels/threads.cpp -o /tmp/pool_stress
//   /tmp/pool_stress && QF_THREAD_SPIN_US=0 /tmp/pool_stress
//
// (The ordinary build makes build/bench/pool_stress; the unit test is
// Threads.BackToBackJobsFromSeveralCallersRunEachTaskOnce.)
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "runtime/kernels/threads.h"
#include "tests/runtime/pool_jobs.h"

using qf::kernels::miscounted_pool_tasks;

int main() {
  int64_t wrong = 0;
  qf::kernels::set_num_threads(3);
  std::atomic<int64_t> other_wrong{0};
  // The second caller's jobs run inline while the main caller holds the pool.
  std::thread other([&] { other_wrong = miscounted_pool_tasks(2000, 1000); });
  wrong += miscounted_pool_tasks(10000, 1000);
  other.join();
  wrong += other_wrong.load();
  qf::kernels::set_num_threads(2);  // a new pool: the old one's workers stop and join
  wrong += miscounted_pool_tasks(2000, 1000);
  std::printf("pool_stress: %lld tasks run other than once\n", static_cast<long long>(wrong));
  return wrong == 0 ? 0 : 1;
}
