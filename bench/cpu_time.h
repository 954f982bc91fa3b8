// What the CPU benchmarks measure while other work shares the machine: the process's CPU time
// (every runtime thread, user + system), not the wall clock, and a mean ± sample standard
// deviation over rounds.
#pragma once

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace qf::bench {

inline double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// "m ± s" with `digits` decimals (s = 0 for a single value).
inline std::string mean_std(const std::vector<double>& v, int digits) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  s = v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", digits, m, digits, s);
  return buf;
}

}  // namespace qf::bench
