// N:M structured sparsity along K: in every row of a [rows, K] matrix, each group of M
// consecutive elements (k = g*M .. g*M+M-1) has at most N nonzeros (2:4, 1:4, 4:8, ...).
//
// Compressed form (the checkpoint's layout and what the sparse kernels read):
//  * values  [rows, K/M*N]: the N kept elements of each group, in increasing index order,
//    groups in order of g. A group with fewer than N nonzeros is filled up with zeros taken at
//    its lowest unused indices, so every group has exactly N entries and the indices within a
//    group are strictly increasing.
//  * indices: for every kept value its position within its group (0..M-1), each stored in
//    b = nm_index_bits(M) bits (M<=2: 1, M<=4: 2, M<=16: 4), packed LSB-first: index j of a row
//    occupies bits (j*b % 8) .. of byte (j*b / 8) of that row. Each row starts on a byte
//    boundary: [rows, nm_index_row_bytes(K, N, M)] uint8. For 2:4 this is 4 indices per byte,
//    the first in the low two bits (the layout of sparse tensor-core metadata per row).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace qf {

struct NMPattern {
  int n = 2;
  int m = 4;
  // Parses "N:M" ("2:4"); validates 1 <= N <= M <= 16. Throws qf::Error.
  static NMPattern parse(const std::string& s);
  std::string str() const { return std::to_string(n) + ":" + std::to_string(m); }
};

constexpr int nm_index_bits(int m) { return m <= 2 ? 1 : (m <= 4 ? 2 : 4); }
static_assert(nm_index_bits(4) == 2 && nm_index_bits(8) == 4, "2-bit indices for M=4");

constexpr int64_t nm_kept_per_row(int64_t k, int n, int m) { return k / m * n; }
constexpr int64_t nm_index_row_bytes(int64_t k, int n, int m) {
  return (nm_kept_per_row(k, n, m) * nm_index_bits(m) + 7) / 8;
}
static_assert(nm_index_row_bytes(16, 2, 4) == 2, "2:4, K=16: 8 indices of 2 bits = 2 bytes");

// Reads index j of one packed row.
inline int nm_get_index(const uint8_t* row, int64_t j, int bits) {
  const int64_t bit = j * bits;
  return (row[bit / 8] >> (bit % 8)) & ((1 << bits) - 1);
}

template <class T>
struct NMCompressed {
  int64_t rows = 0, cols = 0;
  NMPattern pattern;
  std::vector<T> values;         // [rows, K/M*N]
  std::vector<uint8_t> indices;  // [rows, nm_index_row_bytes]
};

// True when every group of M along K in every row has at most N nonzeros (and K % M == 0).
template <class T>
bool satisfies_nm(const T* x, int64_t rows, int64_t k, NMPattern p) {
  if (p.m <= 0 || k % p.m != 0) return false;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < k; g += p.m) {
      int nz = 0;
      for (int i = 0; i < p.m; ++i) nz += x[r * k + g + i] != T(0);
      if (nz > p.n) return false;
    }
  return true;
}

// Compresses; throws qf::Error if K % M != 0 or a group holds more than N nonzeros.
template <class T>
NMCompressed<T> nm_compress(const T* x, int64_t rows, int64_t k, NMPattern p) {
  if (k % p.m != 0)
    throw Error("N:M " + p.str() + ": K = " + std::to_string(k) + " is not a multiple of M");
  NMCompressed<T> c;
  c.rows = rows;
  c.cols = k;
  c.pattern = p;
  const int bits = nm_index_bits(p.m);
  const int64_t kept = nm_kept_per_row(k, p.n, p.m), rb = nm_index_row_bytes(k, p.n, p.m);
  c.values.assign(static_cast<size_t>(rows * kept), T(0));
  c.indices.assign(static_cast<size_t>(rows * rb), 0);
  std::vector<int> idx(static_cast<size_t>(p.m));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t j = 0;  // kept-value counter within the row
    for (int64_t g = 0; g < k / p.m; ++g) {
      const T* grp = x + r * k + g * p.m;
      std::vector<bool> take(static_cast<size_t>(p.m), false);
      int nz = 0;
      for (int i = 0; i < p.m; ++i)
        if (grp[i] != T(0)) { take[static_cast<size_t>(i)] = true; ++nz; }
      if (nz > p.n)
        throw Error("N:M " + p.str() + " violated: row " + std::to_string(r) + ", group " +
                    std::to_string(g) + " (k = " + std::to_string(g * p.m) + ".." +
                    std::to_string(g * p.m + p.m - 1) + ") has " + std::to_string(nz) +
                    " nonzeros");
      // Pad with zeros at the lowest unused indices.
      for (int i = 0; i < p.m && nz < p.n; ++i)
        if (!take[static_cast<size_t>(i)]) { take[static_cast<size_t>(i)] = true; ++nz; }
      for (int i = 0; i < p.m; ++i) {
        if (!take[static_cast<size_t>(i)]) continue;
        c.values[static_cast<size_t>(r * kept + j)] = grp[i];
        const int64_t bit = j * bits;
        c.indices[static_cast<size_t>(r * rb + bit / 8)] |= static_cast<uint8_t>(i << (bit % 8));
        ++j;
      }
    }
  }
  return c;
}

// Checks the index metadata of a compressed matrix: every index < M, strictly increasing within
// each group. Returns an empty string when valid, else a description of the first problem.
std::string nm_check_indices(const uint8_t* indices, int64_t rows, int64_t k, NMPattern p);

template <class T>
std::vector<T> nm_decompress(const NMCompressed<T>& c) {
  const NMPattern p = c.pattern;
  const int bits = nm_index_bits(p.m);
  const int64_t kept = nm_kept_per_row(c.cols, p.n, p.m), rb = nm_index_row_bytes(c.cols, p.n, p.m);
  std::vector<T> x(static_cast<size_t>(c.rows * c.cols), T(0));
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t j = 0; j < kept; ++j) {
      const int64_t g = j / p.n;
      const int i = nm_get_index(c.indices.data() + r * rb, j, bits);
      if (i >= p.m) throw Error("N:M index out of range");
      x[static_cast<size_t>(r * c.cols + g * p.m + i)] = c.values[static_cast<size_t>(r * kept + j)];
    }
  return x;
}

}  // namespace qf
