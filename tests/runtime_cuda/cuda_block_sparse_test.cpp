// Block-sparse GEMMs of the `cuda` table (qgemm[qu8 | qs8][kBSInt8 | kBSInt4],
// runtime/kernels/cuda/block_sparse_gemm.h) against the ref table, tolerance 0 (memcmp), on
// awkward shapes: partial blocks at the N and K edges, an all-zero block row, 0% and 100% kept,
// M = 1, 2, 3, 5, 8, 9, 16, 64, 128, 133. That covers every launch configuration of the
// tensor-core kernel (one warp row of M split across steps, two rows, 2 and 4 warps across M, two
// CTAs along M); on Hopper, where K % 16 == 0, the wgmma kernel of block_sparse_wgmma.h forced at
// every M with 64 and 128 rows per CTA (partial and several row blocks, rings that wrap) and the
// mma kernel beside its default; at M <= 8 with per-channel scales the dp4a GEMV of
// block_sparse_gemv.h too, with 16 warps and fewer, and the mma kernel on the same operands; where
// its staged activations do not fit, the fallback to the mma kernel. Also: odd N, K not a multiple
// of 8 or 16 (byte-wise activation loads), per-channel and per-group scales (groups that hold
// whole steps, and groups that split blocks), 32x32 and 64x32 / 32x64 blocks (the tensor-core
// layout) and 16x16, 8x8, 32x16, 5x3, 4x4 (the BSR kernel); and the same on a row slice (a conv
// group). The outputs are poisoned with NaN first, so an unwritten element fails. The layout
// checks at the end run without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "core/block_sparse.h"
#include "core/error.h"
#include "core/int4_pack.h"
#include "cuda_test_util.h"
#include "runtime/kernels/cuda/block_sparse_gemm.h"
#include "runtime/kernels/cuda/block_sparse_gemv.h"
#include "runtime/kernels/cuda/block_sparse_wgmma.h"

namespace qf::cuda {
namespace {

using kernels::KernelTable;
using kernels::QActs;
using kernels::QWeightKind;
using kernels::QWeights;
using test::DevVec;

struct BSCase {
  int bits;
  int64_t m, n, k;
  int br, bc;
  int64_t group;  // 0: per channel
  double keep;
  bool zero_row;  // block row nbr / 2 pruned entirely
};

std::string case_name(const BSCase& c) {
  return "w" + std::to_string(c.bits) + "_m" + std::to_string(c.m) + "n" + std::to_string(c.n) + "k" +
         std::to_string(c.k) + "_b" + std::to_string(c.br) + "x" + std::to_string(c.bc) +
         (c.group ? "_g" + std::to_string(c.group) : "_ch") + "_keep" + std::to_string(static_cast<int>(c.keep * 100)) +
         (c.zero_row ? "_zrow" : "");
}

void PrintTo(const BSCase& c, std::ostream* os) { *os << case_name(c); }  // readable ctest names

std::vector<BSCase> cases() {
  struct Shape {
    int64_t n, k;
    int br, bc;
    int64_t group;
    double keep;
    bool zero_row;
  };
  const Shape shapes[] = {
      // tensor-core layout
      {70, 100, 32, 32, 0, 0.5, true},     // partial blocks at both edges, K % 8 != 0, an empty block row
      {64, 96, 32, 32, 0, 0.3, false},
      {40, 70, 32, 32, 0, 0.0, false},     // nothing kept
      {40, 70, 32, 32, 0, 1.0, false},     // everything kept
      {97, 160, 32, 32, 32, 0.6, true},    // per group (a group per block: empty groups), odd N
      {96, 256, 32, 64, 128, 0.5, false},  // two steps per block
      {130, 64, 64, 32, 0, 0.6, false},    // two slices per block row, partial last block row
      {160, 1000, 32, 32, 0, 0.3, false},  // an edge block with one valid 8-k run
      {64, 2048, 32, 32, 128, 0.8, false}, // per group: one warp walks > 32 steps (two batches of k)
      {70, 4104, 32, 32, 0, 0.7, true},    // GEMV: warps walk several batches of steps; K % 16 == 8;
                                           // it applies up to M = 7 (32 KB of activations), not at 8
      // K % 16 == 0, where the wgmma kernel applies
      {70, 176, 32, 32, 0, 0.5, true},     // partial blocks at both edges (16 k), an empty block row
      {40, 80, 32, 32, 0, 0.0, false},     // nothing kept
      {40, 80, 32, 32, 0, 1.0, false},     // everything kept
      {64, 4096, 32, 32, 0, 0.9, false},   // ~115 steps a slice: the per-channel ring wraps many times
      // BSR kernel
      {48, 128, 16, 16, 32, 0.5, true},
      {33, 96, 32, 32, 48, 0.5, false},    // groups splitting blocks
      {37, 81, 16, 16, 0, 0.4, false},
      {30, 50, 8, 8, 0, 0.5, true},
      {50, 40, 32, 16, 0, 0.5, false},
      {11, 23, 5, 3, 0, 0.5, false},       // odd block columns (int4 pads a nibble)
      {20, 36, 4, 4, 0, 0.5, false}};
  std::vector<BSCase> v;
  for (int bits : {8, 4})
    for (int64_t m : {1, 2, 3, 5, 8, 9, 16, 64, 128, 133})
      for (const Shape& s : shapes) v.push_back({bits, m, s.n, s.k, s.br, s.bc, s.group, s.keep, s.zero_row});
  return v;
}

// A block-sparse weight from random codes with whole blocks pruned (each kept with probability
// `keep`), in the checkpoint's BSR layout.
struct BSWeight {
  std::vector<int32_t> dense;
  std::vector<int8_t> codes;
  std::vector<uint8_t> packed;
  std::vector<int32_t> ptr, col;
  std::vector<float> sw;
  QWeights w;
};

BSWeight make_weight(const BSCase& c, std::mt19937& gen, bool extremes) {
  BSWeight b;
  // int4 codes over the nibble's whole range [-8, 7] (feature int4_full_range); int8 restricted.
  const int32_t qmin = c.bits == 4 ? -8 : -127, qmax = c.bits == 4 ? 7 : 127;
  std::uniform_int_distribution<int32_t> wd(qmin, qmax), coin(0, 3);
  b.dense.resize(static_cast<size_t>(c.n * c.k));
  for (auto& v : b.dense) v = extremes && coin(gen) < 2 ? (coin(gen) & 1 ? qmax : qmin) : wd(gen);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const int64_t nbr = block_count(c.n, c.br), nbc = block_count(c.k, c.bc);
  for (int64_t R = 0; R < nbr; ++R)
    for (int64_t C = 0; C < nbc; ++C) {
      if (u01(gen) < c.keep && !(c.zero_row && R == nbr / 2)) continue;
      for (int64_t r = R * c.br; r < std::min(c.n, R * c.br + c.br); ++r)
        for (int64_t kk = C * c.bc; kk < std::min(c.k, C * c.bc + c.bc); ++kk) b.dense[static_cast<size_t>(r * c.k + kk)] = 0;
    }
  const std::vector<int8_t> d8(b.dense.begin(), b.dense.end());
  const BlockCompressed bc = block_compress(d8.data(), c.n, c.k, BlockShape{c.br, c.bc});
  b.ptr.assign(bc.row_ptr.begin(), bc.row_ptr.end());
  b.col.assign(bc.col.begin(), bc.col.end());
  if (c.bits == 4) {
    const std::vector<int32_t> blk(bc.blocks.begin(), bc.blocks.end());
    b.packed = pack_int4_rows(blk.data(), bc.nnzb() * c.br, c.bc);
  } else {
    b.codes = bc.blocks;
  }
  const int64_t groups = c.group ? c.k / c.group : 1;
  std::uniform_real_distribution<float> sd(0.001f, 0.1f);
  b.sw.resize(static_cast<size_t>(c.n * groups));
  for (auto& s : b.sw) s = sd(gen);
  QWeights& w = b.w;
  w.kind = c.bits == 4 ? QWeightKind::kBSInt4 : QWeightKind::kBSInt8;
  w.n = c.n;
  w.k = c.k;
  w.codes = b.codes.data();
  w.packed = b.packed.data();
  w.bs_rows = c.br;
  w.bs_cols = c.bc;
  w.block_row_ptr = b.ptr.data();
  w.block_col = b.col.data();
  w.scales = b.sw.data();
  w.per_group = c.group > 0;
  w.group_size = c.group;
  return b;
}

class CudaBlockSparse : public ::testing::TestWithParam<BSCase> {};

// One choice of kernel and launch knobs (block_sparse_gemm.h, block_sparse_gemv.h); the knobs go
// back to their defaults when it ends.
struct Variant {
  const char* name;
  BSConfig bs;
  BSGemvConfig gemv;
};
struct VariantScope {
  explicit VariantScope(const Variant& v) {
    set_bs_config(v.bs);
    set_bs_gemv_config(v.gemv);
  }
  ~VariantScope() {
    set_bs_config(BSConfig{});
    set_bs_gemv_config(BSGemvConfig{});
  }
};
// The table's own choice, and where the GEMV applies (the tensor-core layout of 32 x 32-aligned
// blocks, per channel, M <= 8; BSR shapes never reach it) the mma kernel and the GEMV's other
// launch shapes on the same operands; on the tensor-core layout the wgmma kernel forced (BM = 64
// and 128; it runs where K % 16 == 0 on Hopper, else the mma kernel does), and at M >=
// kBSWgmmaDefaultMinM the mma kernel with the wgmma kernel off.
std::vector<Variant> variants(const BSCase& c) {
  std::vector<Variant> v = {{"default", BSConfig{}, BSGemvConfig{}}};
  const bool steps_layout = c.br % 32 == 0 && c.bc % 32 == 0 && c.group % 32 == 0;
  if (steps_layout) {
    v.push_back({"wgmma kernel, BM 64", BSConfig{0, 0, -1, 1, 64}, BSGemvConfig{}});
    v.push_back({"wgmma kernel, BM 128", BSConfig{0, 0, -1, 1, 128}, BSGemvConfig{}});
    if (c.m >= kBSWgmmaDefaultMinM) v.push_back({"mma kernel, wgmma off", BSConfig{0, 0, -1, -1}, BSGemvConfig{}});
  }
  if (steps_layout && c.group == 0 && c.m <= kBSGemvMaxM) {
    v.push_back({"mma kernel", BSConfig{0, 0, -1, -1}, BSGemvConfig{}});
    v.push_back({"gemv, 16 warps", BSConfig{0, 0, 1}, BSGemvConfig{16}});
    v.push_back({"gemv, 2 warps", BSConfig{0, 0, 1}, BSGemvConfig{2}});
    v.push_back({"gemv, 7 warps", BSConfig{0, 0, 1}, BSGemvConfig{7}});
  }
  return v;
}

TEST_P(CudaBlockSparse, BitIdenticalToRefTable) {
  QF_SKIP_WITHOUT_GPU();
  const BSCase c = GetParam();
  const KernelTable& ref = kernels::ref_kernel_table();
  const KernelTable& cu = cuda_kernel_table();
  struct Act {
    bool u8;
    int32_t zx;
    bool per_row, bias, extremes;
  };
  const Act acts[] = {{true, 131, false, true, false},
                      {true, 255, true, false, true},
                      {false, 0, false, true, false},
                      {false, 0, true, true, true}};
  std::mt19937 gen(static_cast<unsigned>(c.m * 7919 + c.n * 131 + c.k * 17 + c.bits + c.br * 3 + c.bc));
  const bool want_steps = c.br % 32 == 0 && c.bc % 32 == 0 && c.group % 32 == 0;
  for (const Act& a : acts) {
    SCOPED_TRACE(std::string(a.u8 ? "qu8 zp " + std::to_string(a.zx) : "qs8") + (a.per_row ? " per-row sx" : "") +
                 (a.bias ? " bias" : "") + (a.extremes ? " extremes" : ""));
    BSWeight bw = make_weight(c, gen, a.extremes);
    EXPECT_EQ(bs_steps_apply(bw.w), want_steps);
    std::uniform_int_distribution<int> ud(0, 255), sdi(-127, 127), coin(0, 3);
    std::vector<uint8_t> xu(static_cast<size_t>(c.m * c.k));
    std::vector<int8_t> xs(static_cast<size_t>(c.m * c.k));
    for (auto& v : xu) v = static_cast<uint8_t>(a.extremes ? (coin(gen) & 1 ? 255 : 0) : ud(gen));
    for (auto& v : xs) v = static_cast<int8_t>(a.extremes ? (coin(gen) == 0 ? -128 : coin(gen) & 1 ? 127 : -127) : sdi(gen));
    std::uniform_real_distribution<float> sd(0.001f, 0.1f);
    std::vector<float> sx(a.per_row ? static_cast<size_t>(c.m) : 1), bias(static_cast<size_t>(c.n));
    for (auto& s : sx) s = sd(gen);
    for (auto& v : bias) v = sd(gen) - 0.05f;
    const int act = a.u8 ? 0 : 1, kind = static_cast<int>(bw.w.kind);
    const QActs hx{a.u8 ? static_cast<const void*>(xu.data()) : xs.data(), a.zx, sx.data(), a.per_row ? 1 : 0};
    DevVec<uint8_t> dxu(xu);
    DevVec<int8_t> dxs(xs);
    DevVec<float> dsx(sx), dbias(bias);
    const QActs dx{a.u8 ? static_cast<const void*>(dxu.get()) : dxs.get(), a.zx, dsx.get(), a.per_row ? 1 : 0};

    // The whole weight, then (when there are two block rows) the slice from block row 1 on, as a
    // conv group would run it (its own prepare, bias and output offset).
    for (const int64_t r0 : {int64_t{0}, static_cast<int64_t>(c.br)}) {
      if (r0 > 0 && r0 >= c.n) break;
      SCOPED_TRACE(r0 ? "row slice from " + std::to_string(r0) : "whole weight");
      const QWeights hw = r0 ? bw.w.rows_slice(r0, c.n - r0) : bw.w;
      const float* hb = a.bias ? bias.data() + r0 : nullptr;
      std::vector<float> want(static_cast<size_t>(c.m * hw.n));
      ref.qgemm[act][kind](c.m, hx, hw, hb, want.data());
      auto prepared = cu.prepare_qweights(hw);
      ASSERT_TRUE(prepared);
      QWeights dw = hw;
      dw.prepared = prepared.get();
      for (const Variant& v : variants(c)) {
        SCOPED_TRACE(v.name);
        VariantScope knobs(v);
        DevVec<float> dy(std::vector<float>(want.size(), std::nanf("")));  // poisoned: unwritten outputs fail
        const int64_t launches = bs_wgmma_launches();
        cu.qgemm[act][kind](c.m, dx, dw, a.bias ? dbias.get() + r0 : nullptr, dy.get());
        if (v.bs.wgmma > 0) {  // forced: it ran exactly where it applies
          EXPECT_EQ(bs_wgmma_launches() > launches, want_steps && c.k % 16 == 0 && bs_wgmma_available());
        }
        const std::vector<float> got = dy.host();
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < got.size(); ++i)
          if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ == 0) first = i;
        EXPECT_EQ(bad, 0u) << bad << " of " << got.size() << " outputs differ; first at row "
                           << first / static_cast<size_t>(hw.n) << " col " << first % static_cast<size_t>(hw.n)
                           << ": got " << got[first] << " want " << want[first];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaBlockSparse, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<BSCase>& i) { return case_name(i.param); });

TEST(CudaBlockSparseLayout, RefusesAWeightTheTableDidNotPrepare) {
  QF_SKIP_WITHOUT_GPU();
  BSCase c{8, 1, 64, 64, 32, 32, 0, 1.0, false};
  std::mt19937 gen(3);
  BSWeight bw = make_weight(c, gen, false);
  std::vector<uint8_t> x(64, 1);
  std::vector<float> sx(1, 0.1f);
  DevVec<uint8_t> dx(x);
  DevVec<float> dsx(sx), dy(64);
  const QActs a{dx.get(), 0, dsx.get(), 0};
  EXPECT_THROW(cuda_kernel_table().qgemm[0][3](1, a, bw.w, nullptr, dy.get()), Error);
}

// ---- the load-time layout (no GPU needed) ----

// The tensor-core layout holds exactly the kept blocks' steps, in increasing k per slice, and its
// fragments decode back to the dense weight (block_sparse_gemm.h's fragment order).
TEST(CudaBlockSparseLayout, StepsAreTheKeptBlocksInFragmentOrder) {
  for (int bits : {8, 4}) {
    SCOPED_TRACE("int" + std::to_string(bits));
    // 96 x 200, 32x32 blocks: block row 0 keeps block columns 1 and 6 (the partial edge block),
    // block row 1 none, block row 2 column 0 and 3.
    BSCase c{bits, 1, 96, 200, 32, 32, 0, 1.0, false};
    std::mt19937 gen(11);
    BSWeight bw = make_weight(c, gen, false);
    auto keep = [](int64_t R, int64_t C) { return (R == 0 && (C == 1 || C == 6)) || (R == 2 && (C == 0 || C == 3)); };
    for (int64_t r = 0; r < c.n; ++r)
      for (int64_t kk = 0; kk < c.k; ++kk)
        if (!keep(r / 32, kk / 32)) bw.dense[static_cast<size_t>(r * c.k + kk)] = 0;
    const std::vector<int8_t> d8(bw.dense.begin(), bw.dense.end());
    const BlockCompressed comp = block_compress(d8.data(), c.n, c.k, BlockShape{32, 32});
    ASSERT_EQ(comp.nnzb(), 4);
    bw.ptr.assign(comp.row_ptr.begin(), comp.row_ptr.end());
    bw.col.assign(comp.col.begin(), comp.col.end());
    if (bits == 4) {
      const std::vector<int32_t> blk(comp.blocks.begin(), comp.blocks.end());
      bw.packed = pack_int4_rows(blk.data(), comp.nnzb() * 32, 32);
      bw.w.packed = bw.packed.data();
    } else {
      bw.codes = comp.blocks;
      bw.w.codes = bw.codes.data();
    }
    bw.w.block_row_ptr = bw.ptr.data();
    bw.w.block_col = bw.col.data();
    const BSLayout L = bs_layout(bw.w);
    ASSERT_EQ(L.kind, BSLayout::Kind::kSteps);
    EXPECT_EQ(L.slices, 3);
    EXPECT_EQ(L.slice_ptr, (std::vector<int32_t>{0, 2, 2, 4}));
    EXPECT_EQ(L.step_k, (std::vector<int32_t>{32, 192, 0, 96}));
    ASSERT_EQ(L.step_data.size(), static_cast<size_t>(4 * L.step_bytes()));
    // Decode every fragment back: lane (g, t), tile nt holds row 8 nt + g at k = 8 t + i.
    std::vector<int32_t> back(bw.dense.size(), 0);
    for (int64_t s = 0; s < L.slices; ++s)
      for (int32_t q = L.slice_ptr[static_cast<size_t>(s)]; q < L.slice_ptr[static_cast<size_t>(s) + 1]; ++q) {
        const uint8_t* d = L.step_data.data() + q * L.step_bytes();
        for (int lane = 0; lane < 32; ++lane)
          for (int nt = 0; nt < 4; ++nt)
            for (int i = 0; i < 8; ++i) {
              int32_t v;
              if (bits == 4) {
                const uint8_t b = d[lane * 16 + nt * 4 + i % 4];
                v = i < 4 ? int4_lo_signed(b) : int4_hi_signed(b);
              } else {
                v = static_cast<int8_t>(d[((nt / 2) * 32 + lane) * 16 + (nt % 2) * 8 + i]);
              }
              const int64_t row = s * 32 + 8 * nt + lane / 4, kk = L.step_k[static_cast<size_t>(q)] + 8 * (lane % 4) + i;
              if (row >= c.n || kk >= c.k) {
                EXPECT_EQ(v, 0) << "padding at row " << row << " k " << kk;
                continue;
              }
              back[static_cast<size_t>(row * c.k + kk)] = v;
            }
      }
    EXPECT_EQ(back, bw.dense);
    // The wgmma kernel's copy (asked for): every step a 32 x 32 int8 tile in the 32-byte swizzle.
    EXPECT_TRUE(L.wg_data.empty());
    const BSLayout W = bs_layout(bw.w, true);
    EXPECT_EQ(W.step_k, L.step_k);
    EXPECT_EQ(W.step_data, L.step_data);
    ASSERT_EQ(W.wg_data.size(), static_cast<size_t>(4 * kBSWgStepBytes));
    std::vector<int32_t> back_wg(bw.dense.size(), 0);
    for (int64_t s = 0; s < W.slices; ++s)
      for (int32_t q = W.slice_ptr[static_cast<size_t>(s)]; q < W.slice_ptr[static_cast<size_t>(s) + 1]; ++q)
        for (int r = 0; r < 32; ++r)
          for (int cc = 0; cc < 32; ++cc) {
            const size_t at = static_cast<size_t>(q) * kBSWgStepBytes + static_cast<size_t>(bs_wg_offset(r, cc));
            const int32_t v = static_cast<int8_t>(W.wg_data[at]);
            const int64_t row = s * 32 + r, kk = W.step_k[static_cast<size_t>(q)] + cc;
            if (row >= c.n || kk >= c.k) {
              EXPECT_EQ(v, 0) << "padding at row " << row << " k " << kk;
              continue;
            }
            back_wg[static_cast<size_t>(row * c.k + kk)] = v;
          }
    EXPECT_EQ(back_wg, bw.dense);
    // The swizzle: row 4's first 16 codes sit in the second half of its 32 bytes.
    EXPECT_EQ(bs_wg_offset(4, 0), 4 * 32 + 16);
    EXPECT_EQ(bs_wg_offset(3, 17), 3 * 32 + 17);
    // Row sums (qu8's zero-point term) are the dense rows' sums.
    for (int64_t r = 0; r < c.n; ++r) {
      int32_t s = 0;
      for (int64_t kk = 0; kk < c.k; ++kk) s += bw.dense[static_cast<size_t>(r * c.k + kk)];
      EXPECT_EQ(L.rowsums[static_cast<size_t>(r)], s) << "row " << r;
    }
  }
}

TEST(CudaBlockSparseLayout, OtherShapesKeepTheBsrArraysAndBadIndicesAreRefused) {
  BSCase c{8, 1, 30, 50, 8, 8, 0, 0.5, false};
  std::mt19937 gen(5);
  BSWeight bw = make_weight(c, gen, false);
  std::string why;
  EXPECT_FALSE(bs_steps_apply(bw.w, &why));
  EXPECT_NE(why.find("block rows of 8"), std::string::npos) << why;
  const BSLayout L = bs_layout(bw.w);
  EXPECT_EQ(L.kind, BSLayout::Kind::kBsr);
  EXPECT_EQ(L.row_ptr, bw.ptr);
  EXPECT_EQ(L.col, bw.col);
  EXPECT_EQ(L.blocks.size(), bw.codes.size());
  // A row slice rebases the pointers to its first block.
  const QWeights tail = bw.w.rows_slice(8, 22);
  const BSLayout T = bs_layout(tail);
  EXPECT_EQ(T.row_ptr.front(), 0);
  EXPECT_EQ(T.row_ptr.back(), bw.ptr.back() - bw.ptr[1]);
  // A block column out of range, and one not increasing.
  ASSERT_GE(bw.col.size(), 2u);
  std::vector<int32_t> bad = bw.col;
  bad[0] = 7;  // nbc = 7
  QWeights w = bw.w;
  w.block_col = bad.data();
  EXPECT_THROW(bs_layout(w), Error);
  const int32_t R = [&] {  // a block row with two blocks
    for (size_t r = 0; r + 1 < bw.ptr.size(); ++r)
      if (bw.ptr[r + 1] - bw.ptr[r] >= 2) return static_cast<int32_t>(r);
    return -1;
  }();
  ASSERT_GE(R, 0);
  bad = bw.col;
  bad[static_cast<size_t>(bw.ptr[static_cast<size_t>(R)] + 1)] = bad[static_cast<size_t>(bw.ptr[static_cast<size_t>(R)])];
  w.block_col = bad.data();
  EXPECT_THROW(bs_layout(w), Error);
}

}  // namespace
}  // namespace qf::cuda
