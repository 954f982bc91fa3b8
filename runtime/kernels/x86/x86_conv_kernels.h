// The fused convolution epilogue of the x86 tables (kernels.h, QConvPoolArgs): the conv GEMM
// with relu -> 2x2 max pool -> relu -> quantize applied to each window's rows in registers.
//
// qconv_pool_x86.cpp (baseline flags) holds the table entry: it checks the weight is this
// table's dense int8 per-channel packing (else it runs the reference) and splits pooled rows
// over threads; qconv_pool_avx512vnni.cpp (AVX-512 VNNI flags) holds the range kernel. Only
// plain structs and raw pointers cross that boundary (x86_kernels.h says why).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/kernels/kernels.h"
#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {

// Table entry: 4 conv rows (one pool window) x 64 outputs per tile, k-blocks of 4.
void x8_conv2d_pool_4x64c4__avx512vnni(const QConvPoolArgs& a, const QWeights& w, const float* bias);
// Pooling on the int32 sums where the epilogue is monotone (qconv_pool_avx512vnni.cpp says when
// that is exact); off: the four-value float fold for every lane. For measurements and tests
// only (both are bit-identical to the reference); default on.
void set_conv_pool_int32_pooling(bool on);
// Pooled rows [r0, r1) (r = image * pooled_h + py) with a weight the entry has checked.
void x8_conv2d_pool_rows__avx512vnni(const QConvPoolArgs& a, const PackedQWeights& w, const float* bias, int64_t r0,
                                     int64_t r1, bool int32_pooling);

// ---- the 2:4 convolution (QConvPoolArgs::cij_channels > 0) ----
//
// Half the vpdpbusd of the dense kernel: per 8 k (two 2:4 groups of the checkpoint's (c, i, j)
// K) each output lane multiplies its 4 kept codes with the 4 activations they select, which one
// vpermb picks out of a 64-byte table holding the pixel's codes of a 64-k block of that K. The
// table's arrangement is fixed at load time: block b's codes of window position (i, j) are one
// run of channels, a "piece" at a fixed table offset, and the vpermb controls packed with the
// weight point into it. A tile is one 2x2 pool window (4 conv rows): per block it reads the
// window's 4 image rows x 128 bytes (kw + 1 pixels of channels from the block's first channel)
// once, and one vpermt2b per conv row and window row moves the codes into place. So the path
// takes 3 x 3 windows whose kw + 1 pixels of a block's channels fit 128 bytes (the CNN's conv2:
// 32 channels); elsewhere prepare declines and the op runs the dense conv (docs/RESULTS.md:
// filling the table with one masked load per piece instead was no faster than dense).

// The arrangement of each 64-k block's table, a function of (channels, kh, kw) only: piece
// (block, i, j) holds channels [c0, c0 + len) of window position (i, j) at table byte dest.
struct CijPiece {
  int64_t block, i, j, c0, len, dest;
};
std::vector<CijPiece> cij_pieces(int64_t channels, int64_t kh, int64_t kw);
// Whether a 3 x 3 (kh = 3) window's reads fit the shared 128-byte rows (see above).
bool cij_window_fits(int64_t channels, int64_t kh, int64_t kw);

// prepare_qconv_pool of the AVX-512 table: a 2:4 (kNM 2:4, per-channel) weight, per 16-output
// panel and step of 8 k: 64 bytes of kept codes [lane][4] (s8) then 64 bytes of vpermb controls
// [lane][4] (each kept code's byte in its block's table; a step never straddles a 64-k block).
// Null for anything else.
struct PackedConvSparse24 final : PreparedQWeights {
  const void* src_codes = nullptr;
  const void* src_packed = nullptr;
  const float* src_scales = nullptr;
  int64_t n = 0, k = 0;
  int64_t channels = 0, kh = 0, kw = 0;  // the geometry the tables are arranged for
  int64_t panels = 0, steps = 0;  // steps = ceil(K / 8); the last holds one group when K % 8 == 4
  uint8_t* data = nullptr;        // 64-byte aligned, [panels][steps][128]
  int32_t* rowsum = nullptr;      // [panels * 16]: sum of the kept codes (zero-point term)
  float* scales = nullptr;        // [panels * 16], 0 in padding lanes
  std::unique_ptr<uint8_t[]> storage;
};
std::unique_ptr<PreparedQWeights> prepare_qconv_pool__avx512vnni(const QWeights& w, int64_t channels, int64_t kh,
                                                                 int64_t kw);
// Whether prepare_qconv_pool__avx512vnni packs 2:4 weights (default true; off: it returns null,
// so a conv loaded meanwhile runs the dense channels-last kernel). For measurements and tests only.
void set_conv_sparse24(bool on);

// One call's addressing: per block b, the window's 4 image rows are read as 128 bytes from
// byte base[b] of the window's first pixel (load masks lo / hi keep them inside the kw + 1
// pixels), and entry (b * 2 + dx) * 3 + s gives the vpermt2b indices (idx, 64 bytes) and the table
// bytes (sel) of window row s for the conv rows with column offset dx.
struct CijPlan {
  int64_t blocks = 0;
  std::vector<int64_t> base;
  std::vector<uint64_t> lo, hi, sel;
  std::vector<uint8_t> idx;  // [blocks * 6][64]
};
// False when the args do not address padded channels-last images as the window reads need
// (x_pixel = channels, x_row = x_seg) or the window does not fit: the entry then runs the reference.
bool make_cij_plan(const QConvPoolArgs& a, const PackedConvSparse24& w, CijPlan& plan);
// Pooled rows [r0, r1) with a weight and plan the entry has checked.
void x8_conv2d_pool_sp24_rows__avx512vnni(const QConvPoolArgs& a, const PackedConvSparse24& w, const CijPlan& plan,
                                          const float* bias, int64_t r0, int64_t r1, bool int32_pooling);

}  // namespace qf::kernels::x86
