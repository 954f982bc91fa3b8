// The `cuda` table's block-sparse GEMMs (kBSInt8 / kBSInt4, format feature `block_sparse`): the
// load-time layouts (host code, std-only, testable without a GPU) and a measurement knob.
//
// Two layouts, chosen per weight at load (bs_layout):
//  * kSteps, the tensor-core layout, where it applies (block rows a multiple of 32 outputs, block
//    columns a multiple of 32 k, per-group scales in groups of a multiple of 32; int4: at most
//    65536 k per integer sum): the weight is cut into slices of 32 outputs, each holding a list of
//    k32 steps -- one per 32 columns of each kept block, in increasing k, pruned blocks absent --
//    and each step is stored in the fragment order of mma.sync m16n8k32 (row.col, s8): lane
//    (g = lane / 4, t = lane % 4) of n8 tile nt reads output row 8 nt + g at k = 8 t .. 8 t + 7.
//    (mma's k order inside a step is remapped: its logical k 4t+i and 16+4t+i are physical
//    8t+i and 8t+4+i, for A and B alike, so each lane's activations are 8 contiguous bytes; the
//    integer sum does not depend on the order of k.)
//      int8: step_data [steps][2][32 lanes][16 B]: half h holds tiles 2h (bytes 0..7) and 2h+1;
//      int4: step_data [steps][32 lanes][4 words]: word nt holds tile nt's 8 codes as nibbles,
//        codes 0..3 in the low nibbles of bytes 0..3, codes 4..7 in the high nibbles, so
//        (w << 4) & 0xF0F0F0F0 and w & 0xF0F0F0F0 are mma's two B registers holding 16 x code
//        (exact; the int32 sum is shifted right by 4 once, hence the 65536-k bound).
//    One kernel streams it for every M: at M <= 16 a CTA's warps split a slice's steps (the
//    weight-bandwidth-bound decode case: only kept blocks are read, once), for larger M warps
//    also split the rows of M (tensor-core throughput). With per-channel scales at M <= 8,
//    where the activation rows fit 32 KB, a dp4a GEMV reads the same steps instead
//    (block_sparse_gemv.h: fewer dependent trips to memory). On Hopper at M >= kBSWgmmaDefaultMinM
//    (K % 16 == 0) a wgmma kernel reads a second, swizzled copy of the steps (block_sparse_wgmma.h).
//  * kBsr, everything else (block shapes like 8x8 or 5x3, groups that split 32 k): the
//    checkpoint's BSR arrays as they are, read by a warp per output that visits only the kept
//    blocks (exact, not fast).
// Both are bit-identical to the reference kernels: exact int32 sums, the contract's float epilogue
// in its order (per group: a flush per group in increasing g, empty groups included).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernels/kernels.h"

namespace qf::cuda {

struct BSLayout {
  enum class Kind { kSteps, kBsr };
  Kind kind = Kind::kBsr;
  bool int4 = false;
  int64_t n = 0, k = 0, groups = 1, group_size = 0;  // group_size 0: per channel
  int br = 0, bc = 0;
  std::vector<float> scales;  // [n, groups]
  // kSteps (slices of 32 outputs)
  int64_t slices = 0;
  std::vector<int32_t> slice_ptr;  // [slices + 1]: slice s owns steps [slice_ptr[s], slice_ptr[s+1])
  std::vector<int32_t> step_k;     // [steps]: first k of each step (a multiple of 32, < K)
  std::vector<uint8_t> step_data;  // [steps][1024 B int8 | 512 B int4]
  std::vector<int32_t> rowsums;    // [n, groups]: sum of the codes (qu8's zero-point term)
  // Where asked (bs_layout's wgmma_copy): the steps again for the wgmma kernel, [steps][1024 B],
  // int8 codes in the swizzled K-major order of block_sparse_wgmma.h.
  std::vector<uint8_t> wg_data;
  // kBsr (block_row_ptr rebased to 0, as int32; blocks copied as stored)
  std::vector<int32_t> row_ptr, col;
  std::vector<uint8_t> blocks;
  int64_t steps() const { return static_cast<int64_t>(step_k.size()); }
  int64_t step_bytes() const { return int4 ? 512 : 1024; }
};

// Whether the tensor-core layout applies to w (why not, when it does not).
bool bs_steps_apply(const kernels::QWeights& w, std::string* why = nullptr);
// The layout of w (kBSInt8 / kBSInt4, host pointers). Throws qf::Error on inconsistent BSR arrays
// (row_ptr decreasing, a block column out of range or not increasing in its block row).
// wgmma_copy: with the kSteps layout, also fill wg_data.
BSLayout bs_layout(const kernels::QWeights& w, bool wgmma_copy = false);

// Measurement knobs (bench/cuda), 0 = pick by M: warps splitting a slice's steps per CTA
// (per-channel scales only; per group one warp walks every step, the flushes being ordered;
// at most 16 / warps_m), and warps across the rows of M (1, 2 or 4; 16 rows each at M <= 16,
// 32 above).
// gemv: 1 = the dp4a GEMV (block_sparse_gemv.h) wherever it applies (kSteps, per channel,
// M <= kBSGemvMaxM), -1 = never, 0 = the default rule (kBSGemvDefaultMaxM below).
// wgmma: 1 = the wgmma kernel (block_sparse_wgmma.h) wherever it applies (kSteps on a Hopper GPU,
// K % 16 == 0, any M), -1 = never, 0 = the default rule (M >= kBSWgmmaDefaultMinM); wgmma_bm: its
// rows of M per CTA (64 or 128; 0 = 64 at M <= 64, else 128).
struct BSConfig {
  int warps_k = 0;
  int warps_m = 0;
  int gemv = 0;
  int wgmma = 0;
  int wgmma_bm = 0;
};
// The largest M for which the table picks the GEMV over the mma kernel by default (per channel,
// kSteps layout): the H100 measurement in docs/RESULTS.md.
constexpr int64_t kBSGemvDefaultMaxM = 8;
// The smallest M for which the table picks the wgmma kernel over the mma kernel by default (H100,
// docs/RESULTS.md: faster at M = 128, slower at 64).
constexpr int64_t kBSWgmmaDefaultMinM = 128;
void set_bs_config(BSConfig c);

}  // namespace qf::cuda
