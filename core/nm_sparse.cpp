#include "core/nm_sparse.h"

namespace qf {

NMPattern NMPattern::parse(const std::string& s) {
  const auto colon = s.find(':');
  NMPattern p;
  try {
    if (colon == std::string::npos) throw 0;
    size_t a = 0, b = 0;
    p.n = std::stoi(s.substr(0, colon), &a);
    p.m = std::stoi(s.substr(colon + 1), &b);
    if (a != colon || b != s.size() - colon - 1) throw 0;
  } catch (...) {
    throw Error("sparsity '" + s + "' is not of the form N:M (e.g. 2:4)");
  }
  if (p.n < 1 || p.m > 16 || p.n > p.m)
    throw Error("sparsity '" + s + "': need 1 <= N <= M <= 16");
  return p;
}

std::string nm_check_indices(const uint8_t* indices, int64_t rows, int64_t k, NMPattern p) {
  const int bits = nm_index_bits(p.m);
  const int64_t kept = nm_kept_per_row(k, p.n, p.m), rb = nm_index_row_bytes(k, p.n, p.m);
  for (int64_t r = 0; r < rows; ++r) {
    int prev = -1;
    for (int64_t j = 0; j < kept; ++j) {
      if (j % p.n == 0) prev = -1;
      const int i = nm_get_index(indices + r * rb, j, bits);
      if (i >= p.m)
        return "index " + std::to_string(i) + " >= M = " + std::to_string(p.m) + " at row " +
               std::to_string(r) + ", entry " + std::to_string(j);
      if (i <= prev)
        return "indices not strictly increasing within group " + std::to_string(j / p.n) +
               " of row " + std::to_string(r);
      prev = i;
    }
  }
  return "";
}

}  // namespace qf
