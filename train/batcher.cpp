#include "train/batcher.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/splitmix64.h"

namespace qf {
namespace {

void check_positive(int64_t v, const char* what) {
  if (v <= 0) throw std::invalid_argument(std::string(what) + " must be > 0, got " + std::to_string(v));
}

constexpr uint64_t kStreamPermutation = 1, kStreamSubset = 2, kStreamLmWindows = 3;

}  // namespace

std::mt19937_64 make_rng(uint64_t seed, uint64_t epoch, uint64_t step, uint64_t stream) {
  // Chained splitmix64 so that nearby tuples ((0,1) vs (1,0)) land far apart.
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ epoch);
  h = splitmix64(h ^ step);
  h = splitmix64(h ^ stream);
  return std::mt19937_64(h);
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("uniform_below: bound must be > 0");
  // Reject the top partial block of the 2^64 range: threshold = 2^64 mod bound.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  if (n < 0) throw std::invalid_argument("epoch_permutation: n must be >= 0");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng = make_rng(seed, static_cast<uint64_t>(epoch), 0, kStreamPermutation);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::vector<int64_t> subset_indices(int64_t n, int64_t k, uint64_t seed) {
  if (n < 0 || k < 0) throw std::invalid_argument("subset_indices: n and k must be >= 0");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  if (k == 0 || k >= n) return p;
  std::mt19937_64 rng = make_rng(seed, 0, 0, kStreamSubset);
  // Partial Fisher-Yates: the first k slots are a uniform k-subset.
  for (int64_t i = 0; i < k; ++i) {
    const auto j = i + static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(n - i)));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  p.resize(static_cast<size_t>(k));
  std::sort(p.begin(), p.end());
  return p;
}

int64_t num_batches(int64_t n, int64_t batch_size, bool drop_last) {
  check_positive(batch_size, "batch_size");
  if (n < 0) throw std::invalid_argument("num_batches: n must be >= 0");
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

std::vector<int64_t> batch_at(const std::vector<int64_t>& order, int64_t batch_size, int64_t b) {
  check_positive(batch_size, "batch_size");
  const auto n = static_cast<int64_t>(order.size());
  const int64_t begin = b * batch_size;
  if (b < 0 || begin >= n)
    throw std::out_of_range("batch_at: batch " + std::to_string(b) + " out of range for " +
                            std::to_string(n) + " items of batch size " + std::to_string(batch_size));
  const int64_t end = std::min(n, begin + batch_size);
  return std::vector<int64_t>(order.begin() + begin, order.begin() + end);
}

std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                               bool drop_last) {
  const int64_t nb = num_batches(static_cast<int64_t>(order.size()), batch_size, drop_last);
  std::vector<std::vector<int64_t>> out;
  out.reserve(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) out.push_back(batch_at(order, batch_size, b));
  return out;
}

std::vector<int64_t> lm_window_starts(int64_t stream_len, int64_t context, int64_t batch_size,
                                      uint64_t seed, int64_t epoch, int64_t step) {
  check_positive(context, "context");
  check_positive(batch_size, "batch_size");
  if (stream_len < context + 1)
    throw std::invalid_argument("token stream of " + std::to_string(stream_len) +
                                " tokens is shorter than one window of context + 1 = " +
                                std::to_string(context + 1));
  const auto positions = static_cast<uint64_t>(stream_len - context);  // starts 0..len-context-1
  std::mt19937_64 rng = make_rng(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(step),
                                 kStreamLmWindows);
  std::vector<int64_t> starts(static_cast<size_t>(batch_size));
  for (auto& s : starts) s = static_cast<int64_t>(uniform_below(rng, positions));
  return starts;
}

std::vector<int64_t> lm_eval_starts(int64_t stream_len, int64_t context, int64_t max_windows) {
  check_positive(context, "context");
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + context + 1 <= stream_len; s += context) {
    if (max_windows > 0 && static_cast<int64_t>(starts.size()) >= max_windows) break;
    starts.push_back(s);
  }
  return starts;
}

}  // namespace qf
