#include "core/block_sparse.h"

#include <algorithm>

#include "core/error.h"

namespace qf {

BlockShape BlockShape::parse(const std::string& s) {
  BlockShape b;
  try {
    if (!is_block(s)) throw 0;
    const std::string rc = s.substr(6);
    const auto x = rc.find('x');
    if (x == std::string::npos) throw 0;
    for (size_t i = 0; i < rc.size(); ++i)  // digits only (stoi would take " 4" or "+4")
      if (i != x && (rc[i] < '0' || rc[i] > '9')) throw 0;
    size_t a = 0, c = 0;
    b.rows = std::stoi(rc.substr(0, x), &a);
    b.cols = std::stoi(rc.substr(x + 1), &c);
    if (a != x || c != rc.size() - x - 1 || a == 0 || c == 0) throw 0;
  } catch (...) {
    throw Error("sparsity '" + s + "' is not of the form block:RxC (e.g. block:32x32)");
  }
  if (b.rows < 1 || b.rows > 256 || b.cols < 1 || b.cols > 256)
    throw Error("sparsity '" + s + "': block rows and columns must be in [1, 256]");
  return b;
}

BlockCompressed block_compress(const int8_t* codes, int64_t rows, int64_t k, BlockShape shape) {
  BlockCompressed c;
  c.rows = rows;
  c.cols = k;
  c.shape = shape;
  const int64_t br = shape.rows, bc = shape.cols, nbr = block_count(rows, br), nbc = block_count(k, bc);
  c.row_ptr.assign(1, 0);
  for (int64_t R = 0; R < nbr; ++R) {
    for (int64_t C = 0; C < nbc; ++C) {
      bool nonzero = false;
      for (int64_t r = R * br; r < std::min(rows, R * br + br) && !nonzero; ++r)
        for (int64_t kk = C * bc; kk < std::min(k, C * bc + bc); ++kk)
          if (codes[r * k + kk] != 0) { nonzero = true; break; }
      if (!nonzero) continue;
      c.col.push_back(C);
      const size_t at = c.blocks.size();
      c.blocks.resize(at + static_cast<size_t>(br * bc), 0);
      for (int64_t r = 0; r < br && R * br + r < rows; ++r)
        for (int64_t j = 0; j < bc && C * bc + j < k; ++j)
          c.blocks[at + static_cast<size_t>(r * bc + j)] = codes[(R * br + r) * k + C * bc + j];
    }
    c.row_ptr.push_back(c.nnzb());
  }
  return c;
}

std::vector<int8_t> block_decompress(const BlockCompressed& c) {
  const int64_t br = c.shape.rows, bc = c.shape.cols;
  std::vector<int8_t> x(static_cast<size_t>(c.rows * c.cols), 0);
  for (int64_t R = 0; R + 1 < static_cast<int64_t>(c.row_ptr.size()); ++R)
    for (int64_t j = c.row_ptr[R]; j < c.row_ptr[R + 1]; ++j)
      for (int64_t r = 0; r < br && R * br + r < c.rows; ++r)
        for (int64_t q = 0; q < bc && c.col[j] * bc + q < c.cols; ++q)
          x[static_cast<size_t>((R * br + r) * c.cols + c.col[j] * bc + q)] =
              c.blocks[static_cast<size_t>((j * br + r) * bc + q)];
  return x;
}

std::string block_check(const BlockCompressed& c) {
  const int64_t br = c.shape.rows, bc = c.shape.cols, nbr = block_count(c.rows, br), nbc = block_count(c.cols, bc);
  if (static_cast<int64_t>(c.row_ptr.size()) != nbr + 1)
    return "row_ptr has " + std::to_string(c.row_ptr.size()) + " entries, expected " + std::to_string(nbr + 1);
  if (c.row_ptr[0] != 0) return "row_ptr[0] is not 0";
  if (c.row_ptr[static_cast<size_t>(nbr)] != c.nnzb())
    return "row_ptr ends at " + std::to_string(c.row_ptr[static_cast<size_t>(nbr)]) + " but there are " +
           std::to_string(c.nnzb()) + " blocks";
  for (int64_t R = 0; R < nbr; ++R)
    if (c.row_ptr[R + 1] < c.row_ptr[R]) return "row_ptr decreases at block row " + std::to_string(R);
  for (int64_t R = 0; R < nbr; ++R) {
    for (int64_t j = c.row_ptr[R]; j < c.row_ptr[R + 1]; ++j) {
      if (c.col[j] < 0 || c.col[j] >= nbc)
        return "block column " + std::to_string(c.col[j]) + " of block " + std::to_string(j) + " outside [0, " +
               std::to_string(nbc) + ")";
      if (j > c.row_ptr[R] && c.col[j] <= c.col[j - 1])
        return "block columns not strictly increasing in block row " + std::to_string(R);
    }
  }
  if (static_cast<int64_t>(c.blocks.size()) != c.nnzb() * br * bc) return "blocks array has the wrong size";
  for (int64_t R = 0; R < nbr; ++R)
    for (int64_t j = c.row_ptr[R]; j < c.row_ptr[R + 1]; ++j)
      for (int64_t r = 0; r < br; ++r)
        for (int64_t q = 0; q < bc; ++q)
          if ((R * br + r >= c.rows || c.col[j] * bc + q >= c.cols) && c.blocks[static_cast<size_t>((j * br + r) * bc + q)] != 0)
            return "padding position (" + std::to_string(r) + ", " + std::to_string(q) + ") of block " +
                   std::to_string(j) + " is not 0";
  return "";
}

}  // namespace qf
