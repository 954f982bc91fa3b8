#include "core/hadamard.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/splitmix64.h"

namespace qf {

std::vector<double> randomized_hadamard(int64_t d, uint64_t seed) {
  if (d < 1 || (d & (d - 1)) != 0)
    throw Error("a Hadamard rotation needs a power-of-two dimension, got " + std::to_string(d));
  std::vector<double> signs(static_cast<size_t>(d), 1.0);
  // The splitmix64 sequence from `seed` (fixed across platforms and standard libraries, which
  // std::mt19937's distributions are not): sign j is the top bit of its j-th output.
  uint64_t state = seed;
  for (int64_t j = 0; seed != 0 && j < d; ++j, state += 0x9e3779b97f4a7c15ULL)
    signs[static_cast<size_t>(j)] = (splitmix64(state) >> 63) ? -1.0 : 1.0;
  const double norm = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> r(static_cast<size_t>(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)  // Sylvester: H[i][j] = (-1)^popcount(i & j)
      r[static_cast<size_t>(i * d + j)] =
          (__builtin_popcountll(static_cast<uint64_t>(i & j)) & 1 ? -norm : norm) * signs[static_cast<size_t>(j)];
  return r;
}

}  // namespace qf
