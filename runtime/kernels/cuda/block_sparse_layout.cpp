// Load-time layouts of block-sparse weights for the `cuda` table (block_sparse_gemm.h describes
// them). Host code, std-only: runs once per weight.
#include <string>

#include "core/error.h"
#include "core/int4_pack.h"
#include "runtime/kernels/cuda/block_sparse_gemm.h"
#include "runtime/kernels/cuda/block_sparse_wgmma.h"

namespace qf::cuda {

namespace {
constexpr int kSliceRows = 32;  // outputs per slice: four n8 tiles of mma m16n8k32
constexpr int kStepK = 32;      // k per step: one mma m16n8k32
constexpr int64_t kInt4MaxSumK = 65536;  // 16 x |sum| < 2^31 (codes in [-8, 7], activations < 256)
}  // namespace

bool bs_steps_apply(const kernels::QWeights& w, std::string* why) {
  auto no = [&](const std::string& s) {
    if (why) *why = s;
    return false;
  };
  if (w.bs_rows % kSliceRows != 0) return no("block rows of " + std::to_string(w.bs_rows) + " (not a multiple of 32)");
  if (w.bs_cols % kStepK != 0) return no("block columns of " + std::to_string(w.bs_cols) + " (not a multiple of 32)");
  if (w.per_group && w.group_size % kStepK != 0)
    return no("groups of " + std::to_string(w.group_size) + " (not a multiple of 32)");
  const int64_t sum_k = w.per_group ? w.group_size : w.k;
  if (w.kind == kernels::QWeightKind::kBSInt4 && sum_k > kInt4MaxSumK)
    return no("int4 sums over " + std::to_string(sum_k) + " k (the x16 nibble trick allows 65536)");
  if (w.n > (int64_t{1} << 30) || w.k > (int64_t{1} << 30)) return no("dimensions over 2^30");
  return true;
}

BSLayout bs_layout(const kernels::QWeights& w, bool wgmma_copy) {
  using kernels::QWeightKind;
  if (!kernels::is_block_sparse(w.kind)) throw Error("cuda block-sparse prep: not a block-sparse weight");
  if (w.n <= 0 || w.k <= 0) throw Error("cuda block-sparse prep: empty weight");
  if (w.bs_rows < 1 || w.bs_cols < 1) throw Error("cuda block-sparse prep: block shape missing");
  if (!w.block_row_ptr || !w.scales) throw Error("cuda block-sparse prep: index arrays or scales missing");
  if (w.per_group && (w.group_size <= 0 || w.k % w.group_size != 0))
    throw Error("cuda block-sparse prep: group size " + std::to_string(w.group_size) + " does not divide K = " +
                std::to_string(w.k));
  BSLayout L;
  L.int4 = w.kind == QWeightKind::kBSInt4;
  L.n = w.n;
  L.k = w.k;
  L.br = w.bs_rows;
  L.bc = w.bs_cols;
  L.group_size = w.per_group ? w.group_size : 0;
  L.groups = w.per_group ? w.k / w.group_size : 1;
  L.scales.assign(w.scales, w.scales + w.n * L.groups);

  // The BSR arrays (absolute offsets: a rows_slice starts at block_row_ptr[0] > 0), checked,
  // since the kernels index with them.
  const int64_t nbr = (w.n + w.bs_rows - 1) / w.bs_rows, nbc = (w.k + w.bs_cols - 1) / w.bs_cols;
  const int64_t j0 = w.block_row_ptr[0], nnzb = w.block_row_ptr[nbr] - j0;
  if (j0 < 0 || nnzb < 0) throw Error("cuda block-sparse prep: block_row_ptr is negative or decreasing");
  if (nnzb > 0 && !w.block_col) throw Error("cuda block-sparse prep: block_col missing");
  for (int64_t R = 0; R < nbr; ++R) {
    if (w.block_row_ptr[R + 1] < w.block_row_ptr[R])
      throw Error("cuda block-sparse prep: block_row_ptr decreases at block row " + std::to_string(R));
    for (int64_t j = w.block_row_ptr[R]; j < w.block_row_ptr[R + 1]; ++j) {
      if (w.block_col[j] < 0 || w.block_col[j] >= nbc)
        throw Error("cuda block-sparse prep: block column " + std::to_string(w.block_col[j]) + " outside [0, " +
                    std::to_string(nbc) + ") in block row " + std::to_string(R));
      if (j > w.block_row_ptr[R] && w.block_col[j] <= w.block_col[j - 1])
        throw Error("cuda block-sparse prep: block columns not strictly increasing in block row " + std::to_string(R));
    }
  }
  const int64_t bpr = L.int4 ? int4_row_bytes(w.bs_cols) : w.bs_cols;  // bytes per block row of codes
  if (nnzb > 0 && !(L.int4 ? static_cast<const void*>(w.packed) : static_cast<const void*>(w.codes)))
    throw Error("cuda block-sparse prep: block codes missing");
  // Code (r, c) of block j (absolute), r < br, c < bc.
  auto code = [&](int64_t j, int64_t r, int64_t c) -> int32_t {
    if (L.int4) {
      const uint8_t b = w.packed[(j * w.bs_rows + r) * bpr + c / 2];
      return (c & 1) ? int4_hi_signed(b) : int4_lo_signed(b);
    }
    return w.codes[(j * w.bs_rows + r) * w.bs_cols + c];
  };

  if (!bs_steps_apply(w)) {
    L.kind = BSLayout::Kind::kBsr;
    L.row_ptr.resize(static_cast<size_t>(nbr + 1));
    for (int64_t R = 0; R <= nbr; ++R) L.row_ptr[static_cast<size_t>(R)] = static_cast<int32_t>(w.block_row_ptr[R] - j0);
    L.col.assign(w.block_col + j0, w.block_col + j0 + nnzb);
    const uint8_t* src = L.int4 ? w.packed : reinterpret_cast<const uint8_t*>(w.codes);
    L.blocks.assign(src + j0 * w.bs_rows * bpr, src + (j0 + nnzb) * w.bs_rows * bpr);
    return L;
  }

  L.kind = BSLayout::Kind::kSteps;
  L.slices = (w.n + kSliceRows - 1) / kSliceRows;
  L.slice_ptr.reserve(static_cast<size_t>(L.slices + 1));
  L.slice_ptr.push_back(0);
  L.rowsums.assign(static_cast<size_t>(w.n * L.groups), 0);
  L.step_data.reserve(static_cast<size_t>(nnzb * (w.bs_rows / kSliceRows) * (w.bs_cols / kStepK) * L.step_bytes()));
  const int64_t gs = w.per_group ? w.group_size : w.k;
  for (int64_t s = 0; s < L.slices; ++s) {
    const int64_t row0 = s * kSliceRows, R = row0 / w.bs_rows, roff = row0 - R * w.bs_rows;
    for (int64_t j = w.block_row_ptr[R]; j < w.block_row_ptr[R + 1]; ++j) {
      const int64_t k0 = static_cast<int64_t>(w.block_col[j]) * w.bs_cols;
      for (int64_t ks = 0; ks < w.bs_cols; ks += kStepK) {
        const int64_t kq = k0 + ks;
        if (kq >= w.k) break;  // the rest of an edge block is padding
        const size_t at = L.step_data.size();
        L.step_data.resize(at + static_cast<size_t>(L.step_bytes()), 0);
        uint8_t* d = L.step_data.data() + at;
        const int64_t grp = kq / gs;  // a step lies in one group (gs % 32 == 0)
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          for (int nt = 0; nt < 4; ++nt) {
            // The 8 codes of slice row 8 nt + g at k = kq + 8 t .. + 7 (zero past N or K).
            const int64_t row = row0 + 8 * nt + g, kk = kq + 8 * t;
            int32_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (row < w.n)
              for (int i = 0; i < 8 && kk + i < w.k; ++i) v[i] = code(j, roff + 8 * nt + g, ks + 8 * t + i);
            if (L.int4) {  // word nt: byte i = code i (low nibble) | code 4 + i (high nibble)
              for (int i = 0; i < 4; ++i)
                d[lane * 16 + nt * 4 + i] =
                    static_cast<uint8_t>((static_cast<uint32_t>(v[i]) & 0xFu) | ((static_cast<uint32_t>(v[4 + i]) & 0xFu) << 4));
            } else {  // half nt / 2, bytes (nt % 2) * 8 ..
              for (int i = 0; i < 8; ++i)
                d[((nt / 2) * 32 + lane) * 16 + (nt % 2) * 8 + i] = static_cast<uint8_t>(static_cast<int8_t>(v[i]));
            }
            if (row < w.n) {
              int32_t sum = 0;
              for (int i = 0; i < 8; ++i) sum += v[i];
              L.rowsums[static_cast<size_t>(row * L.groups + grp)] += sum;
            }
          }
        }
        if (wgmma_copy) {  // the step as a 32 x 32 int8 tile, swizzled (block_sparse_wgmma.h)
          const size_t wat = L.wg_data.size();
          L.wg_data.resize(wat + kBSWgStepBytes, 0);
          for (int r = 0; r < kSliceRows && row0 + r < w.n; ++r)
            for (int c = 0; c < kStepK && kq + c < w.k; ++c)
              L.wg_data[wat + static_cast<size_t>(bs_wg_offset(r, c))] =
                  static_cast<uint8_t>(static_cast<int8_t>(code(j, roff + r, ks + c)));
        }
        L.step_k.push_back(static_cast<int32_t>(kq));
      }
    }
    L.slice_ptr.push_back(static_cast<int32_t>(L.step_k.size()));
  }
  return L;
}

}  // namespace qf::cuda
