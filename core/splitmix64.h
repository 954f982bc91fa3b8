// splitmix64 (Steele, Lea and Flood): a 64-bit mixing function whose output is fixed across
// platforms and standard libraries (std::mt19937's distributions are not), for shuffles and
// hashes that must reproduce bit for bit.
#pragma once

#include <cstdint>

namespace qf {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace qf
