// Table-driven tests of the `cuda` kernel table (runtime/kernels/cuda/cuda_table.h) against the
// reference table on random inputs and awkward shapes (M = 1, odd K and N, K not a multiple of
// 16 or of the tensor-core tile, per-channel and per-group scales, per-tensor and per-row
// activation scales). Integer GEMMs, f32_gemm, quantizers and data movement must be
// bit-identical; layernorm / softmax / attention / gelu within the bounds stated per test.
// Without a GPU every test skips with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "runtime/kernels/ref/decoder_ref.h"
#include "runtime/kernels/ref/kv_cache_ref.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::cuda {
namespace {

using kernels::KernelTable;
using kernels::QActs;
using kernels::QWeightKind;
using kernels::QWeights;
using test::DevVec;

const KernelTable& ref() { return kernels::ref_kernel_table(); }
const KernelTable& cu() { return cuda_kernel_table(); }

std::vector<float> randf(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}
template <class T>
std::vector<T> randi(size_t n, unsigned seed, int lo, int hi) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(d(g));
  return v;
}
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
// max |a - b| / max(max |b|, floor)
double rel_diff(const std::vector<float>& a, const std::vector<float>& b, double floor = 1e-6) {
  double worst = 0, scale = floor;
  for (size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return worst / scale;
}

struct GemmCase {
  int64_t m, n, k;
  QWeightKind kind;
  int64_t group;      // 0: per channel
  bool unsigned_x;
  bool per_row_sx;
  bool bias;
  bool clamp = false;  // codes at the ends of their ranges only (x: -128 / 127 or 0 / 255; w: -8 / 7)
  bool int8_fits4 = false;  // int8 weight codes of 4 bits: per group (or row) in [-8, 7] or [-7, 8]
};

std::string name_of(const GemmCase& c) {
  return std::string(c.unsigned_x ? "qu8" : "qs8") + " x " + (c.kind == QWeightKind::kInt4 ? "int4" : "int8") +
         " M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) + " K=" + std::to_string(c.k) +
         (c.group ? " group " + std::to_string(c.group) : " per channel") + (c.per_row_sx ? " per-row sx" : "") +
         (c.bias ? " bias" : "") + (c.clamp ? " clamp" : "") + (c.int8_fits4 ? " 4-bit codes" : "");
}

void run_gemm_case(const GemmCase& c, unsigned seed) {
  SCOPED_TRACE(name_of(c));
  const bool int4 = c.kind == QWeightKind::kInt4;
  const int64_t groups = c.group ? c.k / c.group : 1;
  const int64_t rb = (c.k + 1) / 2;
  std::vector<int8_t> w8 = randi<int8_t>(static_cast<size_t>(c.n * c.k), seed, c.int8_fits4 ? -8 : -127,
                                         c.int8_fits4 ? 7 : 127);
  std::vector<uint8_t> w4 = randi<uint8_t>(static_cast<size_t>(c.n * rb), seed + 1, 0, 255);
  std::vector<float> sw = randf(static_cast<size_t>(c.n * groups), seed + 2, 1e-3f, 2e-2f);
  std::vector<float> bias = randf(static_cast<size_t>(c.n), seed + 3);
  std::vector<float> sx = randf(static_cast<size_t>(c.per_row_sx ? c.m : 1), seed + 4, 1e-3f, 5e-2f);
  std::vector<uint8_t> xu = randi<uint8_t>(static_cast<size_t>(c.m * c.k), seed + 5, 0, 255);
  std::vector<int8_t> xs = randi<int8_t>(static_cast<size_t>(c.m * c.k), seed + 6, -127, 127);
  const int32_t zp = c.unsigned_x ? 131 : 0;
  if (c.int8_fits4)  // like llama.cpp's Q4_0 blocks stored with positive scales: every other group in [-7, 8]
    for (int64_t r = 0; r < c.n; ++r)
      for (int64_t g = 0; g < groups; ++g)
        if ((r + g) % 2 == 1)
          for (int64_t j = 0; j < c.k / groups; ++j) w8[r * c.k + g * (c.k / groups) + j] *= -1;
  if (c.clamp) {
    for (int8_t& v : xs) v = (v & 1) ? 127 : -128;
    for (uint8_t& v : xu) v = (v & 1) ? 255 : 0;
    for (uint8_t& v : w4) v = static_cast<uint8_t>(((v & 1) ? 0x7 : 0x8) | (((v & 2) ? 0x7 : 0x8) << 4));
  }

  QWeights w;
  w.kind = c.kind;
  w.n = c.n;
  w.k = c.k;
  w.codes = w8.data();
  w.packed = w4.data();
  w.scales = sw.data();
  w.per_group = c.group > 0;
  w.group_size = c.group;
  const QActs hx{c.unsigned_x ? static_cast<const void*>(xu.data()) : xs.data(), zp, sx.data(), c.per_row_sx ? 1 : 0};
  const int a = c.unsigned_x ? 0 : 1, wk = int4 ? 1 : 0;
  std::vector<float> want(static_cast<size_t>(c.m * c.n));
  ref().qgemm[a][wk](c.m, hx, w, c.bias ? bias.data() : nullptr, want.data());

  auto prepared = cu().prepare_qweights(w);
  ASSERT_TRUE(prepared);
  QWeights dw = w;
  dw.prepared = prepared.get();
  DevVec<uint8_t> dxu(xu);
  DevVec<int8_t> dxs(xs);
  DevVec<float> dsx(sx), dbias(bias), dy(static_cast<size_t>(c.m * c.n));
  const QActs dx{c.unsigned_x ? static_cast<const void*>(dxu.get()) : dxs.get(), zp, dsx.get(), c.per_row_sx ? 1 : 0};
  cu().qgemm[a][wk](c.m, dx, dw, c.bias ? dbias.get() : nullptr, dy.get());
  const std::vector<float> got = dy.host();
  EXPECT_TRUE(same_bits(got, want)) << "max rel diff " << rel_diff(got, want);
}

TEST(CudaTable, QGemmBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  std::vector<GemmCase> cases;
  // (M, N, K, group): M = 1 and small M take the warp kernel; M > 8 with K % 16 == 0 and
  // int8 groups of 64 (or per channel) take the tensor-core W8A8 kernel.
  const struct { int64_t m, n, k, group8, group4; } shapes[] = {
      {1, 1, 1, 0, 0},     {1, 37, 45, 0, 0},    {3, 17, 96, 32, 32},  {1, 130, 128, 64, 16},
      {13, 130, 128, 64, 32}, {40, 70, 192, 64, 48}, {64, 33, 200, 0, 8}, {9, 300, 512, 128, 128},
      {133, 65, 80, 16, 16}};
  unsigned seed = 1;
  for (const auto& s : shapes)
    for (QWeightKind kind : {QWeightKind::kInt8, QWeightKind::kInt4})
      for (bool ux : {false, true})
        for (bool grouped : {false, true}) {
          const int64_t g = kind == QWeightKind::kInt4 ? s.group4 : s.group8;
          if (grouped && g == 0) continue;
          cases.push_back({s.m, s.n, s.k, kind, grouped ? g : 0, ux, !ux || s.m % 2 == 1, (seed % 3) != 0});
          ++seed;
        }
  for (const GemmCase& c : cases) run_gemm_case(c, 100 + static_cast<unsigned>(&c - cases.data()) * 7);
}

// The int4 decode GEMV (q4_gemv_exact.cu: M <= 8, K a multiple of 32 up to 8192, groups of 32 /
// 64 / 128 or per channel): every width it instantiates (2 and 8 chunks a lane, lanes left idle
// when K < 1024), M = 1 .. 8, odd N, codes at the clamp (the int32 sums at their largest), and
// int8 weights whose codes fit 4 bits (prepared as nibbles for it).
TEST(CudaTable, QGemmInt4DecodeGemvBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  std::vector<GemmCase> cases;
  unsigned seed = 0;
  for (int64_t k : {32, 96, 1024, 2048, 4096, 8192})
    for (int64_t m : {1, 2, 5, 8})
      for (int64_t group : {0, 32, 64, 128}) {
        if (group && k % group != 0) continue;
        ++seed;
        cases.push_back({m, seed % 2 ? 7 : 130, k, QWeightKind::kInt4, group, seed % 3 == 0, m % 2 == 1, seed % 4 != 0,
                         seed % 5 == 0});
      }
  for (bool ux : {false, true})  // the largest sums, both activation kinds
    cases.push_back({3, 9, 8192, QWeightKind::kInt4, 32, ux, true, true, true});
  // int8 storage of 4-bit codes: the cuda table packs them as nibbles for the same GEMV
  for (int64_t k : {64, 2048, 8192})
    for (int64_t group : {0, 32, 64}) {
      ++seed;
      cases.push_back({seed % 2 ? 1 : 4, 33, k, QWeightKind::kInt8, group, seed % 3 == 0, true, true, false, true});
    }
  for (const GemmCase& c : cases) run_gemm_case(c, 900 + static_cast<unsigned>(&c - cases.data()) * 11);
}

// N:M (kNM) weights: kept int8 values + packed indices, the k of kept value j being
// (j / N) * M + index j; per channel and per group (groups of whole M-blocks).
TEST(CudaTable, QGemmNMBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  // four_bit: kept codes in [-8, 7] (a 2:4 Q4_0 weight): at M <= 8 and K % 32 == 0 the 2:4 decode
  // GEMV of q4_gemv_exact.cu takes them (groups of 32 / 64 / 128 or per channel).
  const struct { int64_t m, n, k; int nn, mm; int64_t group; bool four_bit; } cases[] = {
      {1, 5, 8, 2, 4, 0, false},       {3, 37, 96, 2, 4, 32, false},   {13, 64, 128, 2, 4, 0, false},
      {40, 33, 64, 1, 2, 16, false},   {2, 17, 48, 4, 8, 24, false},   {1, 9, 32, 2, 4, 32, true},
      {3, 37, 96, 2, 4, 32, true},     {8, 130, 2048, 2, 4, 32, true}, {1, 7, 2048, 2, 4, 0, true},
      {2, 33, 8192, 2, 4, 64, true},   {5, 20, 4096, 2, 4, 128, true}, {1, 64, 8192, 2, 4, 32, true}};
  unsigned seed = 500;
  for (const auto& c : cases)
    for (bool ux : {false, true}) {
      SCOPED_TRACE("N:M " + std::to_string(c.nn) + ":" + std::to_string(c.mm) + " M=" + std::to_string(c.m) + " N=" +
                   std::to_string(c.n) + " K=" + std::to_string(c.k) + " group " + std::to_string(c.group) +
                   (ux ? " qu8" : " qs8") + (c.four_bit ? " 4-bit codes" : ""));
      const int bits = c.mm <= 2 ? 1 : (c.mm <= 4 ? 2 : 4);
      const int64_t kept = c.k / c.mm * c.nn, ldi = (kept * bits + 7) / 8, groups = c.group ? c.k / c.group : 1;
      auto vals = randi<int8_t>(static_cast<size_t>(c.n * kept), seed++, c.four_bit ? -8 : -127, c.four_bit ? 7 : 127);
      if (c.four_bit)  // every other group in [-7, 8], as a 2:4 Q4_0 weight with positive scales has them
        for (int64_t r = 0; r < c.n; ++r)
          for (int64_t g = 0; g < groups; ++g)
            if ((r + g) % 2 == 1)
              for (int64_t j = 0; j < kept / groups; ++j) vals[static_cast<size_t>(r * kept + g * (kept / groups) + j)] *= -1;
      // Distinct indices per block (what compression writes), except in the first case's rows,
      // where repeats check that such a weight stays exact (the warp kernel, no dense decode).
      std::vector<int> idx(static_cast<size_t>(c.n * kept));
      std::mt19937 gen(seed++);
      for (int64_t blk = 0; blk < c.n * kept / c.nn; ++blk) {
        std::vector<int> perm(static_cast<size_t>(c.mm));
        for (int i = 0; i < c.mm; ++i) perm[static_cast<size_t>(i)] = i;
        std::shuffle(perm.begin(), perm.end(), gen);
        for (int i = 0; i < c.nn; ++i) idx[static_cast<size_t>(blk * c.nn + i)] = perm[static_cast<size_t>(i)];
      }
      if (&c == &cases[2] || &c == &cases[7]) idx[1] = idx[0];  // a repeat in row 0 (warp kernel, GEMV)
      std::vector<uint8_t> packed(static_cast<size_t>(c.n * ldi), 0);
      for (int64_t r = 0; r < c.n; ++r)
        for (int64_t j = 0; j < kept; ++j) {
          const int64_t bit = j * bits;
          packed[static_cast<size_t>(r * ldi + bit / 8)] |=
              static_cast<uint8_t>(idx[static_cast<size_t>(r * kept + j)] << (bit % 8));
        }
      const auto sw = randf(static_cast<size_t>(c.n * groups), seed++, 1e-3f, 2e-2f);
      const auto bias = randf(static_cast<size_t>(c.n), seed++);
      const auto sx = randf(static_cast<size_t>(c.m), seed++, 1e-3f, 5e-2f);
      const auto xu = randi<uint8_t>(static_cast<size_t>(c.m * c.k), seed++, 0, 255);
      const auto xs = randi<int8_t>(static_cast<size_t>(c.m * c.k), seed++, -127, 127);
      QWeights w;
      w.kind = QWeightKind::kNM;
      w.n = c.n;
      w.k = c.k;
      w.codes = vals.data();
      w.packed = packed.data();
      w.nm_n = c.nn;
      w.nm_m = c.mm;
      w.scales = sw.data();
      w.per_group = c.group > 0;
      w.group_size = c.group;
      const int a = ux ? 0 : 1;
      const QActs hx{ux ? static_cast<const void*>(xu.data()) : xs.data(), ux ? 120 : 0, sx.data(), 1};
      std::vector<float> want(static_cast<size_t>(c.m * c.n));
      ref().qgemm[a][2](c.m, hx, w, bias.data(), want.data());
      auto prepared = cu().prepare_qweights(w);
      ASSERT_TRUE(prepared);
      QWeights dw = w;
      dw.prepared = prepared.get();
      DevVec<uint8_t> dxu(xu);
      DevVec<int8_t> dxs(xs);
      DevVec<float> dsx(sx), db(bias), dy(want.size());
      const QActs dx{ux ? static_cast<const void*>(dxu.get()) : dxs.get(), ux ? 120 : 0, dsx.get(), 1};
      cu().qgemm[a][2](c.m, dx, dw, db.get(), dy.get());
      EXPECT_TRUE(same_bits(dy.host(), want)) << "max rel diff " << rel_diff(dy.host(), want);
    }
}

TEST(CudaTable, PrepareRejectsAGroupThatDoesNotDivideK) {
  QF_SKIP_WITHOUT_GPU();
  std::vector<int8_t> w8(4 * 10, 1);
  std::vector<float> sw(4 * 3, 0.1f);
  QWeights w;
  w.kind = QWeightKind::kInt8;
  w.n = 4;
  w.k = 10;
  w.codes = w8.data();
  w.scales = sw.data();
  w.per_group = true;
  w.group_size = 3;
  EXPECT_THROW(cu().prepare_qweights(w), Error);
}

TEST(CudaTable, F32GemmBitIdenticalToRef) {
  QF_SKIP_WITHOUT_GPU();
  const struct { int64_t m, n, k; } shapes[] = {{1, 1, 1}, {1, 50, 33}, {5, 17, 16}, {40, 70, 129}, {3, 1000, 64}};
  unsigned seed = 7;
  for (const auto& s : shapes)
    for (bool with_bias : {false, true}) {
      SCOPED_TRACE("M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k));
      const auto x = randf(static_cast<size_t>(s.m * s.k), seed++), w = randf(static_cast<size_t>(s.n * s.k), seed++),
                 b = randf(static_cast<size_t>(s.n), seed++);
      std::vector<float> want(static_cast<size_t>(s.m * s.n));
      ref().f32_gemm(s.m, s.n, s.k, x.data(), w.data(), with_bias ? b.data() : nullptr, want.data());
      DevVec<float> dx(x), dw(w), db(b), dy(want.size());
      cu().f32_gemm(s.m, s.n, s.k, dx.get(), dw.get(), with_bias ? db.get() : nullptr, dy.get());
      EXPECT_TRUE(same_bits(dy.host(), want));
    }
}

TEST(CudaTable, DataMovementAndElementwiseBitIdentical) {
  QF_SKIP_WITHOUT_GPU();
  for (int64_t n : {1, 7, 1000, 70001}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto a = randf(static_cast<size_t>(n), 11, -4, 4), b = randf(static_cast<size_t>(n), 12, -4, 4);
    DevVec<float> da(a), db(b), dy(static_cast<size_t>(n));
    std::vector<float> want(static_cast<size_t>(n));
    ref().add(a.data(), b.data(), n, want.data());
    cu().add(da.get(), db.get(), n, dy.get());
    EXPECT_TRUE(same_bits(dy.host(), want)) << "add";
    ref().relu(a.data(), n, want.data());
    cu().relu(da.get(), n, dy.get());
    EXPECT_TRUE(same_bits(dy.host(), want)) << "relu";
    // gelu: CUDA's erff is within 2 ulp of the host's; the product keeps the error at a few ulp.
    ref().gelu(a.data(), n, want.data());
    cu().gelu(da.get(), n, dy.get());
    EXPECT_LE(rel_diff(dy.host(), want, 1.0), 1e-6) << "gelu";
  }
  // add_rows (positional rows, period T), gather_rows (ids on the device), transpose, copy_rows
  const int64_t rows = 13, d = 37, period = 5;
  const auto x = randf(static_cast<size_t>(rows * d), 21), table = randf(static_cast<size_t>(50 * d), 22);
  DevVec<float> dx(x), dt(table), dy(static_cast<size_t>(rows * d)), dz(static_cast<size_t>(rows * d * 2));
  std::vector<float> want(static_cast<size_t>(rows * d));
  ref().add_rows(x.data(), rows, period, d, table.data() + 3 * d, want.data());
  cu().add_rows(dx.get(), rows, period, d, dt.get() + 3 * d, dy.get());
  EXPECT_TRUE(same_bits(dy.host(), want)) << "add_rows";
  const std::vector<int64_t> ids = {0, 49, 3, 3, 17, 1, 2, 48, 0, 9, 10, 11, 12};
  DevVec<int64_t> dids(ids);
  ref().gather_rows(table.data(), d, ids.data(), rows, want.data());
  cu().gather_rows(dt.get(), d, dids.get(), rows, dy.get());
  EXPECT_TRUE(same_bits(dy.host(), want)) << "gather_rows";
  ref().transpose(x.data(), rows, d, want.data());
  cu().transpose(dx.get(), rows, d, dy.get());
  EXPECT_TRUE(same_bits(dy.host(), want)) << "transpose";
  std::vector<float> want2(static_cast<size_t>(rows * d * 2), 0.0f);
  DevVec<float> dz0(want2);
  ref().copy_rows(x.data() + 2, d, rows, d - 5, want2.data() + 1, 2 * d);
  cu().copy_rows(dx.get() + 2, d, rows, d - 5, dz0.get() + 1, 2 * d);
  EXPECT_TRUE(same_bits(dz0.host(), want2)) << "copy_rows";
}

TEST(CudaTable, QuantizersBitIdentical) {
  QF_SKIP_WITHOUT_GPU();
  const int64_t rows = 9, cols = 77, n = rows * cols;
  auto x = randf(static_cast<size_t>(n), 31, -3, 3);
  const float s = 0.0234375f;  // exact halves below round half to even
  for (int i = 0; i < 20; ++i) x[static_cast<size_t>(i)] = (static_cast<float>(i) - 10.0f + 0.5f) * s;
  for (int64_t c = 0; c < cols; ++c) x[static_cast<size_t>(4 * cols + c)] = 0.0f;  // a zero row: scale 1
  x[100] = 1e9f;  // clamps
  DevVec<float> dx(x);
  {
    std::vector<uint8_t> want(static_cast<size_t>(n));
    ref().quantize_u8(x.data(), n, s, 128, 0, 255, want.data());
    DevVec<uint8_t> dc(static_cast<size_t>(n));
    cu().quantize_u8(dx.get(), n, s, 128, 0, 255, dc.get());
    EXPECT_EQ(dc.host(), want) << "quantize_u8";
  }
  {
    std::vector<int8_t> want(static_cast<size_t>(n));
    ref().quantize_s8(x.data(), n, s, -127, 127, want.data());
    DevVec<int8_t> dc(static_cast<size_t>(n));
    cu().quantize_s8(dx.get(), n, s, -127, 127, dc.get());
    EXPECT_EQ(dc.host(), want) << "quantize_s8";
  }
  {
    std::vector<int8_t> want(static_cast<size_t>(n));
    std::vector<float> wscales(static_cast<size_t>(rows));
    ref().quantize_per_row_s8(x.data(), rows, cols, want.data(), wscales.data());
    DevVec<int8_t> dc(static_cast<size_t>(n));
    DevVec<float> ds(static_cast<size_t>(rows));
    cu().quantize_per_row_s8(dx.get(), rows, cols, dc.get(), ds.get());
    EXPECT_EQ(dc.host(), want) << "quantize_per_row_s8 codes";
    EXPECT_TRUE(same_bits(ds.host(), wscales)) << "quantize_per_row_s8 scales";
  }
}

// Float reductions in another order: layernorm (double statistics) agrees to a few ulp of the
// output's scale; softmax (a float sum of cols terms, expf) to cols * u of it; attention to 2e-6.
TEST(CudaTable, NormsSoftmaxAttentionWithinBounds) {
  QF_SKIP_WITHOUT_GPU();
  for (int64_t cols : {1, 8, 77, 768, 3000}) {
    SCOPED_TRACE("cols=" + std::to_string(cols));
    const int64_t rows = 5;
    const auto x = randf(static_cast<size_t>(rows * cols), 41, -3, 3), g = randf(static_cast<size_t>(cols), 42),
               b = randf(static_cast<size_t>(cols), 43);
    DevVec<float> dx(x), dg(g), db(b), dy(x.size());
    std::vector<float> want(x.size());
    ref().layernorm(x.data(), rows, cols, g.data(), b.data(), 1e-5f, want.data());
    cu().layernorm(dx.get(), rows, cols, dg.get(), db.get(), 1e-5f, dy.get());
    EXPECT_LE(rel_diff(dy.host(), want), 1e-6) << "layernorm";
    ref().softmax(x.data(), rows, cols, want.data());
    cu().softmax(dx.get(), rows, cols, dy.get());
    // A float sum of `cols` terms in another order: the recursive-summation bound, cols * u.
    EXPECT_LE(rel_diff(dy.host(), want), std::max(1e-6, static_cast<double>(cols) * 6e-8)) << "softmax";
  }
  // Causal attention: queries are the last T of L positions; q rows strided inside a qkv row.
  const struct { int64_t t, l, c, heads; } shapes[] = {{1, 1, 8, 2}, {5, 5, 64, 4}, {1, 37, 64, 4}, {3, 20, 96, 3}, {16, 300, 128, 2}};
  unsigned seed = 50;
  for (const auto& s : shapes) {
    SCOPED_TRACE("T=" + std::to_string(s.t) + " L=" + std::to_string(s.l) + " C=" + std::to_string(s.c));
    const int64_t qs = 3 * s.c, kvs = s.c + 3;
    const auto q = randf(static_cast<size_t>(s.t * qs), seed++, -2, 2), k = randf(static_cast<size_t>(s.l * kvs), seed++, -2, 2),
               v = randf(static_cast<size_t>(s.l * kvs), seed++, -2, 2);
    std::vector<float> want(static_cast<size_t>(s.t * s.c)), scratch(static_cast<size_t>(s.l));
    ref().causal_attention(q.data(), qs, k.data(), v.data(), kvs, s.t, s.l, s.c, s.heads, scratch.data(), want.data());
    DevVec<float> dq(q), dk(k), dv(v), dscratch(static_cast<size_t>(s.l)), dy(want.size());
    cu().causal_attention(dq.get(), qs, dk.get(), dv.get(), kvs, s.t, s.l, s.c, s.heads, dscratch.get(), dy.get());
    EXPECT_LE(rel_diff(dy.host(), want), 2e-6) << "causal_attention";
  }
}

// The Hugging Face decoder entries: double inside, one rounding to float, so within an ulp or two
// of the reference (CUDA's double libm differs from the host's in the last double bits).
TEST(CudaTable, DecoderEntriesWithinAnUlpOrTwo) {
  QF_SKIP_WITHOUT_GPU();
  const int64_t n = 7, d = 64;
  const auto x = randf(static_cast<size_t>(n * d), 61, -3, 3), w = randf(static_cast<size_t>(d), 62),
             u = randf(static_cast<size_t>(n * d), 63, -2, 2);
  DevVec<float> dx(x), dw(w), du(u), dy(x.size());
  std::vector<float> want(x.size());
  for (int plus_one : {0, 1}) {
    ref().rms_norm(x.data(), n, d, w.data(), 1e-6f, plus_one, want.data());
    cu().rms_norm(dx.get(), n, d, dw.get(), 1e-6f, plus_one, dy.get());
    EXPECT_LE(rel_diff(dy.host(), want), 1e-6) << "rms_norm plus_one " << plus_one;
  }
  for (int act : {0, 1}) {
    ref().gated_act(x.data(), u.data(), n * d, act, want.data());
    cu().gated_act(dx.get(), du.get(), n * d, act, dy.get());
    EXPECT_LE(rel_diff(dy.host(), want, 1.0), 3e-7) << "gated_act " << act;
  }
  ref().scale(x.data(), n * d, 0.37f, want.data());
  cu().scale(dx.get(), n * d, 0.37f, dy.get());
  EXPECT_TRUE(same_bits(dy.host(), want)) << "scale";
  // rope on [rows, heads * 2 * h2], positions p0 + r % period, in place on the device
  const int64_t heads = 4, h2 = 8;  // rows * heads * 2 * h2 = n * d
  std::vector<float> inv(static_cast<size_t>(h2));
  for (int64_t i = 0; i < h2; ++i) inv[static_cast<size_t>(i)] = std::pow(10000.0f, -static_cast<float>(i) / h2);
  DevVec<float> dinv(inv), dxx(x);
  ref().rope(x.data(), n, 3, 5, heads, h2, inv.data(), want.data());
  cu().rope(dxx.get(), n, 3, 5, heads, h2, dinv.get(), dxx.get());
  EXPECT_LE(rel_diff(dxx.host(), want), 3e-7) << "rope";
  const struct { int64_t t, l, heads, kv_heads, d, window; } shapes[] = {
      {1, 1, 4, 2, 16, 0}, {5, 9, 8, 2, 32, 4}, {3, 40, 2, 1, 64, 0}, {1, 300, 6, 3, 24, 100}};
  unsigned seed = 70;
  for (const auto& s : shapes) {
    SCOPED_TRACE("gqa T=" + std::to_string(s.t) + " L=" + std::to_string(s.l) + " window " + std::to_string(s.window));
    const int64_t c = s.heads * s.d, kvc = s.kv_heads * s.d, qs = c + kvc * 2 + 1;
    const auto q = randf(static_cast<size_t>(s.t * qs), seed++, -2, 2), k = randf(static_cast<size_t>(s.l * kvc), seed++, -2, 2),
               v = randf(static_cast<size_t>(s.l * kvc), seed++, -2, 2);
    std::vector<float> want2(static_cast<size_t>(s.t * c)), scratch(static_cast<size_t>(s.l));
    const float sc = 1.0f / std::sqrt(static_cast<float>(s.d));
    ref().gqa_attention(q.data(), qs, k.data(), v.data(), kvc, s.t, s.l, s.heads, s.kv_heads, s.d, s.window, sc,
                        scratch.data(), want2.data());
    DevVec<float> dq(q), dk(k), dv(v), dy2(want2.size());
    cu().gqa_attention(dq.get(), qs, dk.get(), dv.get(), kvc, s.t, s.l, s.heads, s.kv_heads, s.d, s.window, sc, nullptr,
                       dy2.get());
    EXPECT_LE(rel_diff(dy2.host(), want2), 3e-7) << "gqa_attention";
  }
}

// The quantized KV cache: rows quantized bit-identically to the reference (codes, fp16 scales
// and offsets), and attention over the quantized cache equal, bit for bit, to the float kernels
// on the dequantized cache (the same kernels reading through a dequantizing accessor), and
// within the float kernels' bounds of the reference.
TEST(CudaTable, QuantizedKvCache) {
  QF_SKIP_WITHOUT_GPU();
  const struct { int bits; bool sym; int64_t group, c; float clip; bool zp = false; } schemes[] = {
      {4, true, 32, 64, 1.0f}, {4, false, 16, 64, 1.0f}, {8, true, 64, 64, 0.9f}, {8, false, 32, 96, 1.0f},
      {4, true, 7, 21, 1.0f} /* odd int4 groups share bytes: a thread per row */,
      // integer zero points (kv_cache_zero_point): int4 (zero points share bytes; 3 groups leave a
      // padding nibble), int4 with odd groups, int8
      {4, false, 32, 96, 1.0f, true}, {4, false, 7, 21, 1.0f, true}, {8, false, 16, 64, 1.0f, true}};
  unsigned seed = 90;
  for (const auto& sc : schemes) {
    SCOPED_TRACE("bits " + std::to_string(sc.bits) + (sc.sym ? " sym" : " asym") + " group " + std::to_string(sc.group) +
                 " C=" + std::to_string(sc.c));
    kernels::KvQuant q;
    q.bits = sc.bits;
    q.group = sc.group;
    q.symmetric = sc.sym;
    q.clip = sc.clip;
    q.int_zero_point = sc.zp;
    const int64_t l = 37, xs = sc.c + 5, ss = sc.c / sc.group;
    const int64_t zero_at = sc.zp ? kv_code_bytes(sc.c, sc.bits) : 0;
    const int64_t cb = kv_row_code_bytes(sc.c, sc.group, kernels::kv_scheme_of(q));
    const bool offs = !sc.sym && !sc.zp;  // fp16 offsets
    auto x = randf(static_cast<size_t>(l * xs), seed++, -3, 3);
    for (int64_t e = 0; e < sc.c; ++e) x[static_cast<size_t>(2 * xs + e)] = 0.0f;  // a zero row
    std::vector<uint8_t> codes(static_cast<size_t>(l * cb), 0xAB);
    std::vector<uint16_t> scales(static_cast<size_t>(l * ss)), offsets(scales.size());
    ref().quantize_kv_rows(x.data(), l, xs, sc.c, q, codes.data(), cb, scales.data(), offs ? offsets.data() : nullptr, ss);
    DevVec<float> dx(x);
    DevVec<uint8_t> dcodes(std::vector<uint8_t>(codes.size(), 0xAB));
    DevVec<uint16_t> dscales(scales.size()), doffsets(offsets.size());
    cu().quantize_kv_rows(dx.get(), l, xs, sc.c, q, dcodes.get(), cb, dscales.get(), offs ? doffsets.get() : nullptr, ss);
    EXPECT_EQ(dcodes.host(), codes) << "codes";
    EXPECT_EQ(dscales.host(), scales) << "scales";
    if (offs) {
      EXPECT_EQ(doffsets.host(), offsets) << "offsets";
    }
    // The dequantized cache (core's rule), K and V the same rows.
    std::vector<float> deq(static_cast<size_t>(l * sc.c));
    for (int64_t j = 0; j < l; ++j)
      kv_dequantize_row(codes.data() + j * cb, scales.data() + j * ss, offs ? offsets.data() + j * ss : nullptr, 0, sc.c,
                        sc.group, kernels::kv_scheme_of(q), deq.data() + j * sc.c,
                        sc.zp ? codes.data() + j * cb + zero_at : nullptr);
    kernels::QuantKvRows hr{codes.data(), scales.data(), offs ? offsets.data() : nullptr, cb, ss, q, zero_at};
    kernels::QuantKvRows dr{dcodes.get(), dscales.get(), offs ? doffsets.get() : nullptr, cb, ss, q, zero_at};
    DevVec<float> ddeq(deq);
    const int64_t heads = sc.c % 3 == 0 ? 3 : 2, d = sc.c / heads;
    for (int64_t t : {int64_t{1}, int64_t{5}}) {
      const auto qv = randf(static_cast<size_t>(t * 2 * sc.c), seed++, -2, 2);
      DevVec<float> dq(qv), dy1(static_cast<size_t>(t * sc.c)), dy2(static_cast<size_t>(t * sc.c));
      std::vector<float> want(static_cast<size_t>(t * sc.c)), scratch(static_cast<size_t>(l));
      cu().qkv_causal_attention(dq.get(), 2 * sc.c, dr, dr, t, l, sc.c, heads, nullptr, dy1.get());
      cu().causal_attention(dq.get(), 2 * sc.c, ddeq.get(), ddeq.get(), sc.c, t, l, sc.c, heads, nullptr, dy2.get());
      EXPECT_TRUE(same_bits(dy1.host(), dy2.host())) << "qkv_causal_attention vs causal_attention on the dequantized cache";
      ref().qkv_causal_attention(qv.data(), 2 * sc.c, hr, hr, t, l, sc.c, heads, scratch.data(), want.data());
      EXPECT_LE(rel_diff(dy1.host(), want), 2e-6) << "qkv_causal_attention vs ref";
      // GQA: `heads` query heads over one shared K/V head of d values (cache rows of C = d... use
      // the first d channels as one kv head, row stride C).
      const int64_t qh = 2;
      cu().qkv_gqa_attention(dq.get(), 2 * sc.c, dr, dr, t, l, qh, 1, d, 0, 0.25f, nullptr, dy1.get());
      cu().gqa_attention(dq.get(), 2 * sc.c, ddeq.get(), ddeq.get(), sc.c, t, l, qh, 1, d, 0, 0.25f, nullptr, dy2.get());
      const auto g1 = dy1.host(), g2 = dy2.host();
      EXPECT_TRUE(std::equal(g1.begin(), g1.begin() + t * qh * d, g2.begin())) << "qkv_gqa_attention vs gqa_attention";
      ref().qkv_gqa_attention(qv.data(), 2 * sc.c, hr, hr, t, l, qh, 1, d, 0, 0.25f, scratch.data(), want.data());
      std::vector<float> a(g1.begin(), g1.begin() + t * qh * d), b(want.begin(), want.begin() + t * qh * d);
      EXPECT_LE(rel_diff(a, b), 3e-7) << "qkv_gqa_attention vs ref";
    }
  }
}

// im2col (float, u8, s8, channels-last codes with pad columns) and the pools: bit-identical.
TEST(CudaTable, ConvDataEntriesBitIdentical) {
  QF_SKIP_WITHOUT_GPU();
  const struct { int64_t c, h, w, kh, kw, sh, sw, ph, pw; } geoms[] = {
      {1, 5, 7, 3, 3, 1, 1, 1, 1}, {3, 9, 8, 3, 2, 2, 1, 1, 0}, {2, 4, 4, 2, 2, 2, 2, 0, 0}, {4, 11, 6, 5, 3, 1, 2, 2, 1}};
  unsigned seed = 110;
  for (const auto& q : geoms) {
    const int64_t oh = (q.h + 2 * q.ph - q.kh) / q.sh + 1, ow = (q.w + 2 * q.pw - q.kw) / q.sw + 1;
    const kernels::Conv2dGeom g{q.c, q.h, q.w, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, oh, ow, q.h * q.w};
    SCOPED_TRACE("c " + std::to_string(q.c) + " " + std::to_string(q.h) + "x" + std::to_string(q.w) + " k " +
                 std::to_string(q.kh) + "x" + std::to_string(q.kw));
    const int64_t n = q.c * q.h * q.w, cols = oh * ow * q.c * q.kh * q.kw;
    auto x = randf(static_cast<size_t>(n), seed++, -2, 2);
    x[1] = std::nanf("");  // max pooling's NaN rule
    const auto xu = randi<uint8_t>(static_cast<size_t>(n), seed++, 0, 255);
    const auto xs = randi<int8_t>(static_cast<size_t>(n), seed++, -127, 127);
    DevVec<float> dx(x), dcol(static_cast<size_t>(cols));
    DevVec<uint8_t> dxu(xu), dcu(static_cast<size_t>(cols + oh * ow * 8));
    DevVec<int8_t> dxs(xs), dcs(static_cast<size_t>(cols));
    std::vector<float> want(static_cast<size_t>(cols));
    ref().im2col_f32(x.data(), g, 0.5f, want.data());
    cu().im2col_f32(dx.get(), g, 0.5f, dcol.get());
    const auto got = dcol.host();
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << "im2col_f32";
    std::vector<uint8_t> wu(static_cast<size_t>(cols));
    ref().im2col_u8(xu.data(), g, 7, wu.data());
    cu().im2col_u8(dxu.get(), g, 7, dcu.get());
    auto gu = dcu.host();
    gu.resize(wu.size());
    EXPECT_EQ(gu, wu) << "im2col_u8";
    std::vector<int8_t> ws(static_cast<size_t>(cols));
    ref().im2col_s8(xs.data(), g, 0, ws.data());
    cu().im2col_s8(dxs.get(), g, 0, dcs.get());
    EXPECT_EQ(dcs.host(), ws) << "im2col_s8";
    const int64_t kdim = q.kh * q.kw * q.c, ld = (kdim + 7) / 8 * 8;
    std::vector<uint8_t> wn(static_cast<size_t>(oh * ow * ld));
    ref().im2col_nhwc_x8(xu.data(), g, 9, ld, wn.data());  // xu read as [h, w, c]
    cu().im2col_nhwc_x8(dxu.get(), g, 9, ld, dcu.get());
    gu = dcu.host();
    gu.resize(wn.size());
    EXPECT_EQ(gu, wn) << "im2col_nhwc_x8";
    // pools over the c planes of x (geometry's c unused)
    std::vector<float> wp(static_cast<size_t>(q.c * oh * ow));
    DevVec<float> dp(wp.size());
    ref().maxpool2d(x.data(), q.c, g, wp.data());
    cu().maxpool2d(dx.get(), q.c, g, dp.get());
    auto gp = dp.host();
    EXPECT_EQ(0, std::memcmp(gp.data(), wp.data(), wp.size() * 4)) << "maxpool2d";
    // (no NaN here: NaN payloads out of arithmetic differ between the CPU and the GPU)
    std::vector<float> xa = x;
    xa[1] = 0.25f;
    DevVec<float> dxa(xa);
    ref().avgpool2d(xa.data(), q.c, g, wp.data());
    cu().avgpool2d(dxa.get(), q.c, g, dp.get());
    gp = dp.host();
    EXPECT_EQ(0, std::memcmp(gp.data(), wp.data(), wp.size() * 4)) << "avgpool2d";
    // channels-last: x read as [1 image, h, w, c channels]
    for (bool relu_first : {false, true}) {
      ref().maxpool2d_nhwc(x.data(), 1, q.c, g, relu_first, wp.data());
      cu().maxpool2d_nhwc(dx.get(), 1, q.c, g, relu_first, dp.get());
      gp = dp.host();
      EXPECT_EQ(0, std::memcmp(gp.data(), wp.data(), wp.size() * 4)) << "maxpool2d_nhwc relu_first " << relu_first;
    }
  }
}

TEST(CudaTable, MemoryOpsRoundTrip) {
  QF_SKIP_WITHOUT_GPU();
  const MemoryOps& m = cuda_memory();
  EXPECT_EQ(m.device.kind, DeviceKind::kCuda);
  const std::vector<int32_t> h = {1, 2, 3, 4, 5};
  void* a = m.alloc(20);
  void* b = m.alloc(20);
  m.to_device(a, h.data(), 20);
  m.copy(b, a, 20);
  std::vector<int32_t> back(5);
  m.to_host(back.data(), b, 20);
  EXPECT_EQ(back, h);
  m.release(a);
  m.release(b);
  Buffer buf(m);
  buf.reserve(64);
  buf.grow(128, 64);
  EXPECT_GE(buf.capacity(), 128u);
}

}  // namespace
}  // namespace qf::cuda
