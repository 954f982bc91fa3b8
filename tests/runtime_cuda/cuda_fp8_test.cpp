// The `cuda` table's FP8 E4M3 entries against the reference kernels (kernels/ref/fp8_ref.cpp):
// the quantizers and the exact GEMM bit for bit; the Hopper tensor-core GEMM within
// kFp8TensorCoreRelBound of the exact sum (kernels.h, "FP8 E4M3"), every tile shape forced, on
// awkward shapes (M = 1, odd N, K not a multiple of the 128-code stage), NaN codes and saturated
// values. Skips without a GPU (the wgmma cases also without a compute capability 9.0 one).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/fp8_e4m3.h"
#include "runtime/kernels/cuda/fp8_gemm.h"
#include "runtime/kernels/kernels.h"
#include "tests/runtime_cuda/cuda_test_util.h"

namespace qf::cuda::test {
namespace {

using kernels::QActs;
using kernels::QWeightKind;
using kernels::QWeights;

bool same_bits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y || (std::isnan(a) && std::isnan(b));
}

// Random floats with the edge cases of E4M3 conversion mixed in.
std::vector<float> awkward_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> v(n);
  const float specials[] = {0.0f, -0.0f, 448.0f, -448.0f, 464.0f, 1e9f, -INFINITY, INFINITY, NAN,
                            0x1p-9f, 0x1p-10f, 0x3p-11f, 0x1p-17f, 1.0625f, 1.1875f, 240.0f, 0x1p-6f};
  for (size_t i = 0; i < n; ++i)
    v[i] = (g() % 8 == 0) ? specials[g() % (sizeof specials / sizeof specials[0])] : nd(g);
  return v;
}

TEST(CudaFp8, QuantizersBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  const auto& ref = kernels::ref_kernel_table();
  const auto& cu = cuda_kernel_table();
  ASSERT_TRUE(cu.quantize_e4m3 && cu.quantize_per_row_e4m3);
  const int64_t rows = 7, cols = 333;
  std::vector<float> x = awkward_floats(rows * cols, 1);
  for (int64_t c = 0; c < cols; ++c) x[2 * cols + c] = 0.0f;   // an all-zero row: scale 1
  for (int64_t c = 0; c < cols; ++c) x[4 * cols + c] = 1e-20f;  // below the scale floor
  for (float scale : {1.0f, 0.0173f, 3.5f}) {
    std::vector<uint8_t> want(x.size());
    ref.quantize_e4m3(x.data(), static_cast<int64_t>(x.size()), scale, want.data());
    DevVec<float> dx(x);
    DevVec<uint8_t> dc(x.size());
    cu.quantize_e4m3(dx.get(), static_cast<int64_t>(x.size()), scale, dc.get());
    EXPECT_EQ(dc.host(), want) << "scale " << scale;
  }
  std::vector<uint8_t> want(x.size());
  std::vector<float> want_s(rows);
  ref.quantize_per_row_e4m3(x.data(), rows, cols, want.data(), want_s.data());
  DevVec<float> dx(x);
  DevVec<uint8_t> dc(x.size());
  DevVec<float> ds(static_cast<size_t>(rows));
  cu.quantize_per_row_e4m3(dx.get(), rows, cols, dc.get(), ds.get());
  EXPECT_EQ(dc.host(), want);
  const std::vector<float> got_s = ds.host();
  for (int64_t r = 0; r < rows; ++r) EXPECT_TRUE(same_bits(got_s[r], want_s[r])) << "row " << r;
}

struct Case {
  int64_t m, n, k;
  bool per_row, bias;
};

struct Operands {
  std::vector<uint8_t> x, w;
  std::vector<float> sx, sw, bias;
};

// Random codes (no NaN in w: the reader rejects them), a NaN code in row 0 of x when m > 2,
// one row of saturated +-448 and one with huge and tiny values (truncation stress).
Operands make_operands(const Case& c, uint32_t seed) {
  std::mt19937 g(seed);
  Operands o;
  o.x.resize(c.m * c.k);
  o.w.resize(c.n * c.k);
  for (auto& b : o.x) b = static_cast<uint8_t>(g());
  for (auto& b : o.x)
    if (e4m3_is_nan(b)) b ^= 1;
  for (auto& b : o.w) {
    b = static_cast<uint8_t>(g());
    if (e4m3_is_nan(b)) b ^= 1;
  }
  if (c.m > 2) o.x[static_cast<size_t>(c.k / 2)] = (g() & 1) ? 0x7F : 0xFF;
  if (c.m > 3)
    for (int64_t k = 0; k < c.k; ++k) o.x[1 * c.k + k] = (g() & 1) ? kE4M3MaxCode : 0xFE;
  if (c.m > 4)
    for (int64_t k = 0; k < c.k; ++k) o.x[2 * c.k + k] = (k % 3 == 0) ? kE4M3MaxCode : static_cast<uint8_t>(g() % 8);
  o.sx.resize(c.per_row ? c.m : 1);
  for (auto& s : o.sx) s = 0.001f + 0.01f * static_cast<float>(g() % 1000) / 1000.0f;
  o.sw.resize(c.n);
  for (auto& s : o.sw) s = 0.002f + 0.01f * static_cast<float>(g() % 1000) / 1000.0f;
  if (c.bias) {
    o.bias.resize(c.n);
    for (auto& b : o.bias) b = static_cast<float>(static_cast<int>(g() % 2001) - 1000) / 500.0f;
  }
  return o;
}

std::vector<float> ref_gemm(const Case& c, const Operands& o) {
  QActs a;
  a.codes = o.x.data();
  a.scales = o.sx.data();
  a.scale_stride = c.per_row ? 1 : 0;
  QWeights w;
  w.kind = QWeightKind::kFp8E4M3;
  w.n = c.n;
  w.k = c.k;
  w.packed = o.w.data();
  w.scales = o.sw.data();
  std::vector<float> y(c.m * c.n);
  kernels::ref_kernel_table().qf8_gemm(c.m, a, w, c.bias ? o.bias.data() : nullptr, y.data());
  return y;
}

// Runs fn(gemm) on device copies of the operands, y poisoned first.
template <class Fn>
std::vector<float> run_device(const Case& c, const Operands& o, Fn fn) {
  DevVec<uint8_t> dx(o.x), dw(o.w);
  DevVec<float> dsx(o.sx), dsw(o.sw), db(c.bias ? o.bias : std::vector<float>(1));
  DevVec<float> dy(std::vector<float>(c.m * c.n, 1e30f));
  Fp8Gemm g;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.x = dx.get();
  g.sx = dsx.get();
  g.sx_stride = c.per_row ? 1 : 0;
  g.w = dw.get();
  g.sw = dsw.get();
  g.bias = c.bias ? db.get() : nullptr;
  g.y = dy.get();
  fn(g);
  return dy.host();
}

const Case kCases[] = {
    {1, 77, 208, true, true},     // one row, odd N, K = 1.6 stages
    {5, 64, 16, false, false},    // K one wgmma instruction's half
    {130, 200, 1040, true, true}, // partial tiles in M, N and K
    {64, 129, 128, true, false},  // exactly one stage, N one past a tile
    {300, 384, 4096, true, true}, // many stages, several waves of stages per CTA
    {520, 1100, 320, true, true}, // more 64 x 64 tiles than SMs: persistent CTAs walk several
};

TEST(CudaFp8, ExactKernelBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  const Case cases[] = {{1, 77, 208, true, true}, {3, 5, 100, false, true}, {130, 33, 1001, true, false},
                        {6, 40, 13, true, true}};
  uint32_t seed = 10;
  for (const Case& c : cases) {
    const Operands o = make_operands(c, seed++);
    const std::vector<float> want = ref_gemm(c, o);
    const std::vector<float> got = run_device(c, o, [](const Fp8Gemm& g) { fp8_gemm_exact(g); });
    int bad = 0;
    for (size_t i = 0; i < want.size(); ++i) bad += !same_bits(got[i], want[i]);
    EXPECT_EQ(bad, 0) << "M=" << c.m << " N=" << c.n << " K=" << c.k;
  }
}

// sum_k |x[m, k] * w[n, k]| per output (the bound's magnitude), NaN codes counted as 0.
std::vector<double> magnitudes(const Case& c, const Operands& o) {
  std::vector<double> xv(o.x.size()), wv(o.w.size()), mag(static_cast<size_t>(c.m * c.n));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = e4m3_is_nan(o.x[i]) ? 0.0 : std::fabs(e4m3_to_fp32(o.x[i]));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = std::fabs(e4m3_to_fp32(o.w[i]));
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t n = 0; n < c.n; ++n) {
      double s = 0;
      for (int64_t k = 0; k < c.k; ++k) s += xv[r * c.k + k] * wv[n * c.k + k];
      mag[r * c.n + n] = s;
    }
  return mag;
}

// |got - exact| against the documented bound, per output; also the relative L2 error.
void expect_within_bound(const Case& c, const Operands& o, const std::vector<double>& mags,
                         const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  double worst = 0, num = 0, den = 0;
  int64_t bad = 0, nan_bad = 0;
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t n = 0; n < c.n; ++n) {
      const size_t i = static_cast<size_t>(r * c.n + n);
      if (std::isnan(want[i]) || std::isnan(got[i])) {
        nan_bad += std::isnan(want[i]) != std::isnan(got[i]);
        continue;
      }
      const double mag = mags[i];
      const double s = std::fabs(double(o.sx[c.per_row ? r : 0]) * double(o.sw[n]));
      const double b = c.bias ? std::fabs(double(o.bias[n])) : 0.0;
      // The tensor-core bound on P, scaled, plus the epilogue's three float32 roundings.
      const double allowed = kernels::kFp8TensorCoreRelBound * mag * s + 4.0 * std::ldexp(1.0, -24) * (std::fabs(want[i]) + b);
      const double err = std::fabs(double(got[i]) - double(want[i]));
      bad += !(err <= allowed);
      if (mag > 0) worst = std::fmax(worst, err / (mag * s));
      num += err * err;
      den += double(want[i]) * double(want[i]);
    }
  const double rel_l2 = den > 0 ? std::sqrt(num / den) : 0.0;
  std::printf("[fp8 wgmma %s] M=%ld N=%ld K=%ld: max |err| / (sum|x w| sx sw) = %.3g (bound %.3g), rel L2 %.3g\n", what,
              long(c.m), long(c.n), long(c.k), worst, kernels::kFp8TensorCoreRelBound, rel_l2);
  EXPECT_EQ(bad, 0) << what << " M=" << c.m << " N=" << c.n << " K=" << c.k;
  EXPECT_EQ(nan_bad, 0) << what << ": NaN rows differ";
  // A gross-error check beside the per-output bound: an indexing mistake (wrong K chunk, row or
  // swizzle) gives a relative L2 error of order 1; the tensor cores' truncation gives ~1e-4 here
  // (codes over the whole E4M3 range: a few large products dominate each sum and the small ones
  // lose their low bits).
  EXPECT_LT(rel_l2, 1e-2) << what;
}

TEST(CudaFp8, WgmmaWithinBoundOfExact) {
  QF_SKIP_WITHOUT_GPU();
  const char* why = "";
  if (!fp8_wgmma_available(&why)) GTEST_SKIP() << "fp8 wgmma kernel not runnable here: " << why;
  // Every shape one CTA per tile, multicast, and persistent (the mainloop's tile walk).
  const Fp8Tiles tiles[] = {{1, 64, 1, -1}, {1, 128, 1, -1}, {2, 64, 1, -1}, {2, 128, 1, -1},
                            {2, 192, 1, -1}, {2, 128, 2},     {2, 192, 2},     {0, 0, 1, -1},
                            {1, 64, 1, 1},   {2, 128, 1, 1},  {2, 192, 1, 1},  {0, 0},
                            {1, 128, 1, 1, 0, 1}, {1, 192, 1, 1, 0, 1}};  // ping-pong
  if (!fp8_wgmma_tiles_built(Fp8Tiles{2, 128, 1, -1}, Fp8Accum::kPromoted))
    std::printf(
        "[fp8 wgmma] the tile variants are not in this build (-DQFORGE_CUDA_KERNEL_VARIANTS=ON builds "
        "them): the pick's shapes only\n");
  uint32_t seed = 100;
  for (const Case& c : kCases) {
    const Operands o = make_operands(c, seed++);
    const std::vector<float> want = ref_gemm(c, o);
    const std::vector<double> mags = magnitudes(c, o);
    for (const Fp8Tiles& t : tiles) {
      if (!fp8_wgmma_tiles_built(t, Fp8Accum::kPromoted)) continue;  // a variant this build leaves out
      const std::vector<float> got = run_device(c, o, [&](const Fp8Gemm& g) {
        ASSERT_TRUE(fp8_gemm_wgmma(g, Fp8Accum::kPromoted, t));
      });
      char what[64];
      std::snprintf(what, sizeof what, "promoted %dx%d%s%s%s", 64 * t.consumers, t.block_n,
                    t.cluster == 2 ? " multicast" : "", t.cluster == 1 && t.persistent >= 0 ? " persistent" : "",
                    t.pingpong > 0 ? " ping-pong" : "");
      expect_within_bound(c, o, mags, got, want, what);
    }
    // The fast (unpromoted) accumulation: no bound is claimed (all of K in the tensor core's
    // accumulator); reported, and held to the gross-error check only.
    for (const Fp8Tiles& t : {Fp8Tiles{0, 0}, Fp8Tiles{2, 128, 1, -1}, Fp8Tiles{2, 256, 1, -1}, Fp8Tiles{2, 256, 2},
                              Fp8Tiles{2, 256, 1, 1}, Fp8Tiles{2, 256, 1, 1, 64}, Fp8Tiles{1, 256, 1, 1, 0, 1},
                              Fp8Tiles{2, 128, 1, 1, 0, 1}}) {
      if (!fp8_wgmma_tiles_built(t, Fp8Accum::kFast)) continue;
      const std::vector<float> fast = run_device(c, o, [&](const Fp8Gemm& g) {
        ASSERT_TRUE(fp8_gemm_wgmma(g, Fp8Accum::kFast, t));
      });
      double num = 0, den = 0, worst = 0;
      int64_t nan_bad = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        nan_bad += std::isnan(want[i]) != std::isnan(fast[i]);
        if (!std::isnan(want[i])) {
          num += (double(fast[i]) - want[i]) * (double(fast[i]) - want[i]);
          den += double(want[i]) * want[i];
          worst = std::fmax(worst, std::fabs(double(fast[i]) - want[i]));
        }
      }
      std::printf("[fp8 wgmma fast %dx%d%s%s%s] M=%ld N=%ld K=%ld: max |err| %.3g, rel L2 %.3g\n", 64 * t.consumers,
                  t.block_n, t.cluster == 2 ? " multicast" : "",
                  t.cluster == 1 && t.persistent >= 0 ? (t.block_k == 64 ? " persistent bk64" : " persistent") : "",
                  t.pingpong > 0 ? " ping-pong" : "", long(c.m),
                  long(c.n), long(c.k), worst,
                  std::sqrt(num / den));
      EXPECT_LT(std::sqrt(num / den), 1e-2);
      EXPECT_EQ(nan_bad, 0);
    }
  }
}

// The ping-pong schedule (wgmma_pingpong.cuh) against the cooperative one with the same wgmma
// instruction (m64nBNk32, same K order, promoted every 128 codes or not at all): bit for bit, on
// M = 16 .. 1024 not multiples of the tile, N edges, K not a multiple of the stage, several
// tiles per consumer (M = 1024, N = 6400: 400 tiles of 64 x 256 over at most 132 CTAs), and the
// launcher's pick at that size (ping-pong where it chooses it) against ping-pong turned off.
TEST(CudaFp8, PingpongBitIdenticalToCooperative) {
  QF_SKIP_WITHOUT_GPU();
  const char* why = "";
  if (!fp8_wgmma_available(&why)) GTEST_SKIP() << "fp8 wgmma kernel not runnable here: " << why;
  struct Pair {
    Fp8Accum acc;
    Fp8Tiles pingpong, cooperative;
    const char* what;
  };
  const Pair pairs[] = {
      {Fp8Accum::kPromoted, {1, 128, 1, 1, 0, 1}, {2, 128, 1, 1}, "promoted 64x128 ping-pong vs 128x128"},
      {Fp8Accum::kPromoted, {1, 192, 1, 1, 0, 1}, {2, 192, 1, 1}, "promoted 64x192 ping-pong vs 128x192"},
      {Fp8Accum::kFast, {1, 256, 1, 1, 0, 1}, {2, 256, 1, 1}, "fast 64x256 ping-pong vs 128x256"},
      {Fp8Accum::kFast, {2, 128, 1, 1, 0, 1}, {2, 128, 1, 1}, "fast 128x128 ping-pong vs 128x128"},
      {Fp8Accum::kFast, {1, 256, 2, 1, 0, 1}, {2, 256, 1, 1}, "fast 64x256 ping-pong multicast vs 128x256"},
      // Branch w8mc: deeper rings (64-code stages), the cluster-scope release form, persistent
      // multicast pairs -- the same wgmma sequence per accumulator, so the same bits.
      {Fp8Accum::kFast, {1, 256, 1, 1, 64, 1}, {2, 256, 1, 1}, "fast 64x256 ping-pong 64-code stages vs 128x256"},
      {Fp8Accum::kFast, {1, 256, 2, 1, 64, 1}, {2, 256, 1, 1}, "fast 64x256 ping-pong multicast 64-code vs 128x256"},
      {Fp8Accum::kFast, {1, 256, 2, 1, 0, 1, 1}, {2, 256, 1, 1}, "fast 64x256 ping-pong multicast cluster-scope vs 128x256"},
      {Fp8Accum::kFast, {2, 256, 2, 1}, {2, 256, 1, 1}, "fast 128x256 multicast persistent pairs vs 128x256"},
      {Fp8Accum::kFast, {2, 256, 2, -1, 0, 0, 1}, {2, 256, 1, 1}, "fast 128x256 multicast cluster-scope vs 128x256"},
      {Fp8Accum::kPromoted, {2, 192, 2, 1}, {2, 192, 1, 1}, "promoted 128x192 multicast persistent pairs vs 128x192"},
      {Fp8Accum::kPromoted, {2, 192, 2, -1, 0, 0, 1}, {2, 192, 1, 1}, "promoted 128x192 multicast cluster-scope vs 128x192"},
      {Fp8Accum::kFast, {0, 0}, {0, 0, 1, 0, 0, -1}, "fast pick vs pick without ping-pong"},
      {Fp8Accum::kPromoted, {0, 0}, {0, 0, 1, 0, 0, -1}, "promoted pick vs pick without ping-pong"},
  };
  if (!fp8_wgmma_tiles_built(Fp8Tiles{1, 128, 1, 1, 0, 1}, Fp8Accum::kPromoted))
    std::printf("[fp8 wgmma] the tile variants are not in this build: only the pairs of shapes the pick has run\n");
  const Case cases[] = {{16, 300, 1040, true, true},   {77, 129, 208, false, true}, {200, 520, 4096, true, false},
                        {1000, 1100, 128, true, true}, {1024, 6400, 160, true, true}};
  uint32_t seed = 300;
  for (const Case& c : cases) {
    const Operands o = make_operands(c, seed++);
    for (const Pair& p : pairs) {
      if (!fp8_wgmma_tiles_built(p.pingpong, p.acc) || !fp8_wgmma_tiles_built(p.cooperative, p.acc)) continue;
      const std::vector<float> a = run_device(c, o, [&](const Fp8Gemm& g) { ASSERT_TRUE(fp8_gemm_wgmma(g, p.acc, p.pingpong)); });
      const std::vector<float> b =
          run_device(c, o, [&](const Fp8Gemm& g) { ASSERT_TRUE(fp8_gemm_wgmma(g, p.acc, p.cooperative)); });
      int64_t bad = 0, unwritten = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        bad += !same_bits(a[i], b[i]);
        unwritten += a[i] == 1e30f;  // run_device's poison
      }
      EXPECT_EQ(bad, 0) << p.what << " M=" << c.m << " N=" << c.n << " K=" << c.k;
      EXPECT_EQ(unwritten, 0) << p.what << " M=" << c.m << " N=" << c.n << " K=" << c.k;
    }
  }
}

// The table entry: the wgmma kernel where it runs (K % 16 == 0), the exact one otherwise, with
// the QActs / QWeights plumbing (static per-tensor and per-row scales).
TEST(CudaFp8, TableEntryAgainstRef) {
  QF_SKIP_WITHOUT_GPU();
  const auto& cu = cuda_kernel_table();
  ASSERT_TRUE(cu.qf8_gemm);
  EXPECT_EQ(cu.qf8_gemm_rel_bound, kernels::kFp8TensorCoreRelBound);
  EXPECT_EQ(kernels::ref_kernel_table().qf8_gemm_rel_bound, 0.0);
  const bool tc = fp8_wgmma_available();
  const Case cases[] = {{1, 77, 208, true, true}, {33, 65, 512, false, true}, {4, 9, 100, true, false}};
  uint32_t seed = 200;
  for (const Case& c : cases) {
    const Operands o = make_operands(c, seed++);
    const std::vector<float> want = ref_gemm(c, o);
    const std::vector<float> got = run_device(c, o, [&](const Fp8Gemm& g) {
      QActs a;
      a.codes = g.x;
      a.scales = g.sx;
      a.scale_stride = g.sx_stride;
      QWeights w;
      w.kind = QWeightKind::kFp8E4M3;
      w.n = g.n;
      w.k = g.k;
      w.packed = g.w;
      w.scales = g.sw;
      cu.qf8_gemm(g.m, a, w, g.bias, g.y);
    });
    if (tc && c.k % 16 == 0) {
      expect_within_bound(c, o, magnitudes(c, o), got, want, "table");
    } else {
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i) bad += !same_bits(got[i], want[i]);
      EXPECT_EQ(bad, 0) << "exact path M=" << c.m << " N=" << c.n << " K=" << c.k;
    }
  }
}

}  // namespace
}  // namespace qf::cuda::test
