// The runtime's one thread pool: process-wide, blocking (never busy-waiting for long), used by
// the kernels to split work over outputs (n) or rows (m) -- never over k, so the number of
// threads never changes a result.
//
//   qf::kernels::set_num_threads(2);   // the CLI's --threads; 0 = the hardware's core count
//   qf::kernels::parallel_for(tiles, cost_per_tile, [&](int64_t t0, int64_t t1) { ... });
//
// Why it blocks (after a short spin): on a shared, oversubscribed 2-core machine a spinning
// barrier burns the time slice the other thread needs (we measured ~20x slowdowns with unbounded
// busy waits). Here the caller always works too and takes chunks dynamically, so if a worker is
// not scheduled the caller simply does all the work. A thread out of work spins for at most
// QF_THREAD_SPIN_US (default 100 us) for the next job or the last claimed chunk, then blocks on a
// condition variable: back-to-back calls (a decoding step's GEMVs) skip the wake-up round trip.
#pragma once

#include <cstdint>
#include <functional>

namespace qf::kernels {

// Sets the number of threads kernels may use (the calling thread included). 0 = hardware
// concurrency. Takes effect for the next parallel_for; safe to call at any time.
void set_num_threads(int n);
int num_threads();  // what parallel_for will use now (>= 1)

// Runs fn(begin, end) over disjoint chunks covering [0, tasks). `work_per_task` is a rough cost
// (e.g. multiply-adds) used to stay single-threaded for tiny work, where waking a thread costs
// more than it saves. Nested calls (fn calling parallel_for) and calls from several threads at
// once run inline on the caller; each chunk is handed to exactly one thread.
void parallel_for(int64_t tasks, double work_per_task, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qf::kernels
