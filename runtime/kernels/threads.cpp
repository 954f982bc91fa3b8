// See threads.h. A small pool: one job at a time, chunks claimed from an atomic counter; threads
// that run out of work spin briefly, then block.
#include "runtime/kernels/threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace qf::kernels {
namespace {

// Below this much work (about 50 us of one core) a wake-up round trip is not worth it.
constexpr double kMinParallelWork = 2.0e5;

using Clock = std::chrono::steady_clock;

// How long a thread that ran out of work spins before it blocks: a worker for the next job, the
// caller for chunks a worker has claimed. Decoding a token runs ~150 parallel_for calls a few
// microseconds apart; a condition-variable wake-up costs tens of microseconds on a VM, which made
// the 2-thread step's small GEMVs slower than at 1 thread. Bounded, so that an oversubscribed
// machine loses at most this much per job (an unbounded spin was ~20x slower there).
// QF_THREAD_SPIN_US overrides it; 0 blocks at once (the pool before spinning).
int64_t spin_ns() {
  static const int64_t ns = [] {
    const char* v = std::getenv("QF_THREAD_SPIN_US");
    const long us = v && *v ? std::strtol(v, nullptr, 10) : 100;
    return static_cast<int64_t>(std::max(0L, us)) * 1000;
  }();
  return ns;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// True as soon as done() holds; false once the spin budget is spent (then the caller blocks).
template <class Done>
bool spin_until(const Done& done) {
  if (done()) return true;
  const int64_t budget = spin_ns();
  if (budget <= 0) return false;
  const Clock::time_point until = Clock::now() + std::chrono::nanoseconds(budget);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      cpu_relax();
      if (done()) return true;
    }
    if (Clock::now() >= until) return false;
  }
}

struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t tasks = 0, chunk = 1;
  std::atomic<int64_t> next{0};
};

thread_local bool t_in_parallel = false;

// Claims chunks until none are left.
void work_on(Job& j) {
  t_in_parallel = true;
  for (;;) {
    const int64_t b = j.next.fetch_add(j.chunk, std::memory_order_relaxed);
    if (b >= j.tasks) break;
    (*j.fn)(b, std::min(j.tasks, b + j.chunk));
  }
  t_in_parallel = false;
}

// The job lives on the caller's stack, so the caller must not return while a worker can still
// touch it. A worker announces itself (busy_ + 1) before it reads job_; the caller clears job_
// before it reads busy_. Both sequentially consistent: either the caller sees the worker busy and
// waits, or the worker sees no job and touches nothing.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(Job& j) {
    job_.store(&j);
    bool sleeping;
    {
      std::lock_guard<std::mutex> l(mu_);  // a worker checks gen_ under mu_ before it sleeps
      gen_.fetch_add(1);
      sleeping = sleepers_ > 0;
    }
    if (sleeping) wake_.notify_all();
    work_on(j);  // the caller always works: no progress depends on a worker being scheduled
    job_.store(nullptr);  // late workers find nothing to join
    if (spin_until([this] { return busy_.load() == 0; })) return;
    std::unique_lock<std::mutex> l(mu_);
    done_.wait(l, [this] { return busy_.load() == 0; });  // only chunks already claimed remain
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return stop_.load() || gen_.load() != seen; })) {
        std::unique_lock<std::mutex> l(mu_);
        ++sleepers_;
        wake_.wait(l, [&] { return stop_.load() || gen_.load() != seen; });
        --sleepers_;
      }
      if (stop_.load()) return;
      seen = gen_.load();
      busy_.fetch_add(1);
      if (Job* j = job_.load()) work_on(*j);
      if (busy_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> l(mu_);  // the caller checks busy_ under mu_ before it sleeps
        done_.notify_all();
      }
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> busy_{0};
  std::atomic<bool> stop_{false};
  int sleepers_ = 0;  // guarded by mu_
  std::vector<std::thread> workers_;
};

// Read once: glibc's hardware_concurrency() opens and parses /sys/devices/system/cpu/online on
// every call (~10 us), and every parallel_for asks (measured: a 4 us attention call took 13 us
// with the default thread count).
int hardware_threads() {
  static const int n = [] {
    const unsigned h = std::thread::hardware_concurrency();
    return h ? static_cast<int>(h) : 1;
  }();
  return n;
}

std::mutex g_config_mu;  // guards g_pool / g_requested
int g_requested = 0;
std::shared_ptr<Pool> g_pool;
std::mutex g_run_mu;  // one job at a time; concurrent callers run inline

std::shared_ptr<Pool> current_pool() {
  std::lock_guard<std::mutex> l(g_config_mu);
  const int want = g_requested > 0 ? g_requested : hardware_threads();
  if (!g_pool || g_pool->threads() != want) g_pool = std::make_shared<Pool>(want);
  return g_pool;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> l(g_config_mu);
  g_requested = n < 0 ? 0 : n;
}

int num_threads() {
  std::lock_guard<std::mutex> l(g_config_mu);
  return g_requested > 0 ? g_requested : hardware_threads();
}

void parallel_for(int64_t tasks, double work_per_task, const std::function<void(int64_t, int64_t)>& fn) {
  if (tasks <= 0) return;
  const int want = num_threads();
  std::unique_lock<std::mutex> run_lock(g_run_mu, std::defer_lock);
  if (want <= 1 || tasks == 1 || t_in_parallel || work_per_task * static_cast<double>(tasks) < kMinParallelWork ||
      !run_lock.try_lock()) {
    fn(0, tasks);
    return;
  }
  std::shared_ptr<Pool> pool = current_pool();
  Job j;
  j.fn = &fn;
  j.tasks = tasks;
  // About 4 chunks per thread: balance when a thread is descheduled, little claiming overhead.
  j.chunk = std::max<int64_t>(1, tasks / (4 * static_cast<int64_t>(pool->threads())));
  pool->run(j);
}

}  // namespace qf::kernels
