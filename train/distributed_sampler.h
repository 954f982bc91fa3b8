// The distributed sampler: which part of each global batch a rank trains on. Std only.
//
// A task draws its global batches exactly as a single process does (a function of seed, epoch and
// step: train/batcher.h), so the data order is independent of the number of workers, an epoch is
// reshuffled from the seed, and a run resumes with any number of workers. Each global batch is
// then cut into `world` contiguous, nearly equal shards, rank r taking shard r.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace qf::train {

struct Shard {
  int rank = 0, world = 1;
  bool whole() const { return world == 1; }
};

// [begin, end) of rank's shard of n items: floor(n*r/w) .. floor(n*(r+1)/w). Throws when some
// rank would get no item (n < world): every rank must run the same graph on every step.
inline std::pair<int64_t, int64_t> shard_bounds(int64_t n, const Shard& s) {
  if (n < s.world)
    throw std::invalid_argument("a batch of " + std::to_string(n) + " examples cannot be split over " +
                                std::to_string(s.world) + " workers (each needs at least one): use a larger "
                                "data.batch_size or fewer workers");
  return {n * s.rank / s.world, n * (s.rank + 1) / s.world};
}

template <typename T>
std::vector<T> shard_of(const std::vector<T>& items, const Shard& s) {
  const auto [b, e] = shard_bounds(static_cast<int64_t>(items.size()), s);
  return std::vector<T>(items.begin() + b, items.begin() + e);
}

}  // namespace qf::train
