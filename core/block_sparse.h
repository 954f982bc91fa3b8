// Block sparsity (BSR) of a [rows, K] code matrix: the matrix is tiled into blocks of
// br x bc (br output rows x bc input columns, the last block row / column partial when rows or
// K is not a multiple), and only the blocks holding a nonzero code are stored.
//
// Compressed form (the checkpoint's layout, FORMAT.md "Block sparsity", and what the runtime's
// block-sparse GEMMs read):
//  * row_ptr [ceil(rows/br) + 1]: row_ptr[0] = 0, nondecreasing; block row R keeps the blocks
//    j in [row_ptr[R], row_ptr[R+1]).
//  * col [nnzb]: block j covers columns col[j]*bc .. col[j]*bc + bc - 1; strictly increasing
//    within each block row, each < ceil(K/bc).
//  * blocks [nnzb, br, bc]: block j's codes, row-major (r, c) = W[R*br + r, col[j]*bc + c].
//    Positions past the matrix's last row / column (partial edge blocks) hold 0.
// Every block not stored is all zeros, so the dense product equals the sum over stored blocks
// exactly (zero blocks contribute exact integer zeros).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf {

struct BlockShape {
  int rows = 32, cols = 32;
  // Parses the checkpoint's sparsity attribute "block:RxC" ("block:32x32"); 1 <= R, C <= 256.
  // Throws qf::Error.
  static BlockShape parse(const std::string& s);
  static bool is_block(const std::string& s) { return s.rfind("block:", 0) == 0; }
  std::string str() const { return "block:" + std::to_string(rows) + "x" + std::to_string(cols); }
};

constexpr int64_t block_count(int64_t n, int64_t b) { return (n + b - 1) / b; }

struct BlockCompressed {
  int64_t rows = 0, cols = 0;
  BlockShape shape;
  std::vector<int64_t> row_ptr;  // [ceil(rows/br) + 1]
  std::vector<int64_t> col;      // [nnzb]
  std::vector<int8_t> blocks;    // [nnzb, br, bc]
  int64_t nnzb() const { return static_cast<int64_t>(col.size()); }
};

// Keeps exactly the blocks that hold a nonzero code (a kept block may hold zeros).
BlockCompressed block_compress(const int8_t* codes, int64_t rows, int64_t k, BlockShape shape);
// The dense [rows, K] codes.
std::vector<int8_t> block_decompress(const BlockCompressed& c);
// Checks row_ptr / col (given nnzb = col.size()) and that padding positions of `blocks` are 0.
// Returns an empty string when valid, else the first problem.
std::string block_check(const BlockCompressed& c);

}  // namespace qf
