// Deterministic, seeded batching. Std only.
//
// Every random choice is a pure function of (seed, epoch[, step]): a run resumed at epoch e (or
// step s) sees exactly the order an uninterrupted run would. The generator is std::mt19937_64
// (its output sequence is fixed by the C++ standard) and bounded integers are drawn by our own
// rejection sampling rather than std::uniform_int_distribution, whose algorithm differs between
// standard libraries, so orders are identical across compilers and machines.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace qf {

// Generator for stream `stream` of (seed, epoch, step); distinct tuples give independent streams.
std::mt19937_64 make_rng(uint64_t seed, uint64_t epoch, uint64_t step = 0, uint64_t stream = 0);

// Uniform integer in [0, bound), bound > 0, unbiased.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);

// A permutation of 0..n-1 (Fisher-Yates), a function of (n, seed, epoch) only.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// The first k indices of a fixed seeded shuffle of 0..n-1, sorted ascending (so a subset keeps
// the dataset's order). k == 0 or k >= n means all of 0..n-1. Used for train_subset/test_subset.
std::vector<int64_t> subset_indices(int64_t n, int64_t k, uint64_t seed);

// Number of batches of `batch_size` over n items; the last partial batch counts unless drop_last.
int64_t num_batches(int64_t n, int64_t batch_size, bool drop_last = false);

// Batch b of `order` (b < num_batches): order[b*bs, min((b+1)*bs, n)).
std::vector<int64_t> batch_at(const std::vector<int64_t>& order, int64_t batch_size, int64_t b);

// All batches of `order`, in order; the last one may be shorter unless drop_last.
std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                               bool drop_last = false);

// Language model: start offsets of `batch_size` random windows of context + 1 tokens (inputs =
// window[0..context), targets = window[1..context]) in a stream of `stream_len` tokens; each start
// is uniform in [0, stream_len - context - 1]. A function of (seed, epoch, step) only. Throws if
// the stream is shorter than context + 1.
std::vector<int64_t> lm_window_starts(int64_t stream_len, int64_t context, int64_t batch_size,
                                      uint64_t seed, int64_t epoch, int64_t step);

// Language model evaluation: starts of consecutive non-overlapping windows of context + 1 tokens
// at stride `context` (each target token is predicted exactly once), at most max_windows of them
// (0 = all that fit).
std::vector<int64_t> lm_eval_starts(int64_t stream_len, int64_t context, int64_t max_windows = 0);

}  // namespace qf
