// Table-driven tests of the CUDA GEMMs (runtime/kernels/cuda) against host references over
// awkward shapes: M = 1, odd N, K not a multiple of the tile or of 16, per-channel and
// per-group scales. Integer paths (W8A8) must be bit-identical to the reference kernels;
// fp16/bf16 paths are compared with a float64 product by ||y - ref|| / ||ref|| (bound below).
#include "runtime/kernels/cuda/cuda_qgemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/cuda/fp8_gemm.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::cuda {
namespace {

#define SKIP_WITHOUT_GPU()                                                   \
  do {                                                                       \
    std::string why_;                                                        \
    if (!device_available(&why_)) GTEST_SKIP() << "no CUDA GPU here (" << why_ << "): GPU test skipped"; \
  } while (0)

// Device buffer owned by a test.
struct DBuf {
  void* p = nullptr;
  explicit DBuf(int64_t bytes) : p(device_alloc(bytes)) {}
  ~DBuf() { device_free(p); }
};

// Host fp16/bf16 conversion (test side, independent of the library's).
float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t f;
  if (exp == 0) {
    if (mant == 0) {
      f = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) { mant <<= 1; --exp; }
      f = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    f = sign | 0x7F800000u | (mant << 13);
  } else {
    f = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}
float bf16_to_float(uint16_t h) {
  const uint32_t f = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}
// Activations are drawn as values exactly representable in both formats (k/64, |k| < 256).
uint16_t exact_bits(float v, bool bf16) {
  uint32_t f;
  std::memcpy(&f, &v, 4);
  if (bf16) return static_cast<uint16_t>(f >> 16);
  // v = i / 64 with |i| < 256: representable in fp16 exactly.
  if (v == 0.0f) return 0;
  const uint16_t sign = (f >> 31) ? 0x8000 : 0;
  const int e = static_cast<int>((f >> 23) & 0xFF) - 127;
  return static_cast<uint16_t>(sign | ((e + 15) << 10) | ((f >> 13) & 0x3FF));
}

struct W4Case {
  int64_t m, n, k, gs;
  bool bf16, sparse;
  int gemv = 0;        // W4Config::gemv: 0 = the launcher picks, 1 = CUDA-core kernel, -1 = tensor-core kernel
  bool clamp = false;  // codes only -8 / 7 and activations at +-255/64 (the ends of both ranges)
  int tiles_per_warp = 0, warps_k = 0;  // CUDA-core kernel shape (0 = pick)
  int pipeline = 0;                     // W4Config::gemv_pipeline
  int stream = 0, stream_ctas = 0, stream_tile_rows = 0, stream_pdl = 0, stream_cpw = 0;  // W4Config::stream*
  bool twice = false;  // call twice on the same device weight; the two outputs must be bit-identical
  int sp_kernel = 0, sparse_depth = 0, sparse_meta_shfl = 0, sparse_bulk = 0, sparse_msplit = 0;  // W4Config::sparse*
  bool same_as_ring = false;  // 2:4: the earlier cp.async-ring kernel must give the same bits
  int pdl = 0;                // W4Config::pdl (the register-streaming kernels launched with PDL)
};

std::string name(const W4Case& c) {
  return std::string(c.sparse ? "w4sp" : "w4") + (c.bf16 ? "_bf16" : "_fp16") + "_m" + std::to_string(c.m) + "_n" +
         std::to_string(c.n) + "_k" + std::to_string(c.k) + "_gs" + std::to_string(c.gs) +
         (c.gemv > 0 ? "_gemv" : c.gemv < 0 ? "_mma" : "") + (c.clamp ? "_clamp" : "") +
         (c.tiles_per_warp ? "_t" + std::to_string(c.tiles_per_warp) : "") +
         (c.warps_k ? "_wk" + std::to_string(c.warps_k) : "") + (c.pipeline < 0 ? "_batched" : "") +
         (c.stream > 0 ? "_stream" : c.stream < 0 ? "_nostream" : "") +
         (c.stream_ctas ? "_ctas" + std::to_string(c.stream_ctas) : "") +
         (c.stream_tile_rows ? "_rows" + std::to_string(c.stream_tile_rows) : "") + (c.stream_pdl > 0 ? "_pdl" : "") +
         (c.stream_cpw ? "_cpw" + std::to_string(c.stream_cpw) : "") + (c.sp_kernel < 0 ? "_ring" : "") +
         (c.sparse_depth ? "_d" + std::to_string(c.sparse_depth) : "") + (c.sparse_meta_shfl > 0 ? "_shfl" : "") +
         (c.sparse_bulk > 0 ? "_bulk" : "") + (c.sparse_msplit < 0 ? "_rows16" : "") +
         (c.same_as_ring ? "_vsring" : "") + (c.pdl > 0 ? "_launchpdl" : "");
}

// Random int4 codes [n, k] in [-8, 7] (clamp: -8 or 7 only); sparse: 2 kept of every 4 along k.
std::vector<int32_t> random_w4_codes(std::mt19937& rng, int64_t n, int64_t k, bool sparse, bool clamp) {
  std::uniform_int_distribution<int> code(-8, 7), pick(0, 5);
  auto draw = [&] { return clamp ? (pick(rng) % 2 ? 7 : -8) : code(rng); };
  std::vector<int32_t> w(static_cast<size_t>(n * k), 0);
  if (sparse) {
    static const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    for (int64_t r = 0; r < n; ++r)
      for (int64_t q = 0; q < k / 4; ++q) {
        const int* pr = pairs[pick(rng)];
        for (int j = 0; j < 2; ++j) w[static_cast<size_t>(r * k + 4 * q + pr[j])] = draw();
      }
  } else {
    for (auto& v : w) v = draw();
  }
  return w;
}

// Runs one case; returns ||y - ref|| / ||ref||.
double run_w4(const W4Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> xi(-255, 255), pick(0, 5);
  std::uniform_real_distribution<float> sd(0.002f, 0.05f);
  const int64_t groups = c.gs > 0 ? c.k / c.gs : 1;
  const std::vector<int32_t> w = random_w4_codes(rng, c.n, c.k, c.sparse, c.clamp);
  std::vector<float> scales(static_cast<size_t>(c.n * groups));
  for (auto& s : scales) s = sd(rng);
  const int64_t ldx = (c.k + 7) / 8 * 8;
  std::vector<uint16_t> xb(static_cast<size_t>(c.m * ldx), 0x7E00);  // NaN between K and ldx: must be ignored
  std::vector<float> xf(static_cast<size_t>(c.m * c.k));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t kk = 0; kk < c.k; ++kk) {
      const float v = c.clamp ? (pick(rng) % 2 ? 255.0f : -255.0f) / 64.0f : static_cast<float>(xi(rng)) / 64.0f;
      xf[static_cast<size_t>(i * c.k + kk)] = v;
      xb[static_cast<size_t>(i * ldx + kk)] = exact_bits(v, c.bf16);
    }
  std::unique_ptr<W4Device> dw;
  if (c.sparse) {
    const auto comp = nm_compress(w.data(), c.n, c.k, NMPattern{2, 4});
    const int64_t kept = nm_kept_per_row(c.k, 2, 4);
    const auto v4 = pack_int4_rows(comp.values.data(), c.n, kept);
    dw = std::make_unique<W4Device>(w4sp_prepare(v4.data(), comp.indices.data(), scales.data(), c.n, c.k, c.gs, c.bf16));
  } else {
    const auto p4 = pack_int4_rows(w.data(), c.n, c.k);
    dw = std::make_unique<W4Device>(w4_prepare(p4.data(), scales.data(), c.n, c.k, c.gs, c.bf16));
  }
  DBuf dx(static_cast<int64_t>(xb.size() * 2)), dy(c.m * c.n * 2);
  copy_to_device(dx.p, xb.data(), static_cast<int64_t>(xb.size() * 2));
  std::vector<uint16_t> poison(static_cast<size_t>(c.m * c.n), 0x7E00);  // NaN: every output must be written
  copy_to_device(dy.p, poison.data(), c.m * c.n * 2);
  W4Config cfg;
  cfg.gemv = c.gemv;
  if (c.gemv > 0) {
    cfg.tiles_per_warp = c.tiles_per_warp;
    cfg.warps_k = c.warps_k;
  }
  cfg.gemv_pipeline = c.pipeline;
  cfg.stream = c.stream;
  cfg.stream_ctas = c.stream_ctas;
  cfg.stream_tile_rows = c.stream_tile_rows;
  cfg.stream_pdl = c.stream_pdl;
  cfg.stream_cpw = c.stream_cpw;
  cfg.sparse = c.sp_kernel;
  cfg.sparse_depth = c.sparse_depth;
  cfg.sparse_meta_shfl = c.sparse_meta_shfl;
  cfg.sparse_bulk_prefetch = c.sparse_bulk;
  cfg.sparse_msplit = c.sparse_msplit;
  cfg.pdl = c.pdl;
  w4a16_gemm(*dw, c.m, dx.p, ldx, dy.p, nullptr, cfg);
  device_sync();
  std::vector<uint16_t> yb(static_cast<size_t>(c.m * c.n));
  copy_to_host(yb.data(), dy.p, c.m * c.n * 2);
  if (c.same_as_ring) {
    // The same product through the earlier 2:4 kernel (same K split, same sums): same bits.
    W4Config ring = cfg;
    ring.sparse = -1;
    copy_to_device(dy.p, poison.data(), c.m * c.n * 2);
    w4a16_gemm(*dw, c.m, dx.p, ldx, dy.p, nullptr, ring);
    device_sync();
    std::vector<uint16_t> y2(yb.size());
    copy_to_host(y2.data(), dy.p, c.m * c.n * 2);
    int64_t diff = 0;
    for (size_t i = 0; i < yb.size(); ++i) diff += yb[i] != y2[i];
    if (diff) ADD_FAILURE() << name(c) << ": differs from the cp.async-ring kernel in " << diff << " of " << yb.size();
  }
  if (c.twice) {
    // Same weight object (its workspace and split-K counters reused), y poisoned again.
    copy_to_device(dy.p, poison.data(), c.m * c.n * 2);
    w4a16_gemm(*dw, c.m, dx.p, ldx, dy.p, nullptr, cfg);
    device_sync();
    std::vector<uint16_t> y2(yb.size());
    copy_to_host(y2.data(), dy.p, c.m * c.n * 2);
    int64_t diff = 0;
    for (size_t i = 0; i < yb.size(); ++i) diff += yb[i] != y2[i];
    if (diff) ADD_FAILURE() << name(c) << ": two identical calls differ in " << diff << " of " << yb.size() << " outputs";
  }
  double num = 0, den = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t o = 0; o < c.n; ++o) {
      double ref = 0;
      for (int64_t kk = 0; kk < c.k; ++kk)
        ref += static_cast<double>(xf[static_cast<size_t>(i * c.k + kk)]) * w[static_cast<size_t>(o * c.k + kk)] *
               scales[static_cast<size_t>(o * groups + (c.gs > 0 ? kk / c.gs : 0))];
      const uint16_t b = yb[static_cast<size_t>(i * c.n + o)];
      const double got = c.bf16 ? bf16_to_float(b) : half_to_float(b);
      if (!std::isfinite(got)) {
        ADD_FAILURE() << name(c) << ": y[" << i << ", " << o << "] = " << got << " (not written or overflow)";
        return 1e9;
      }
      num += (got - ref) * (got - ref);
      den += ref * ref;
    }
  return std::sqrt(num / std::max(den, 1e-30));
}

// Bound: weights are code * scale rounded once to fp16 (2^-11 relative) or bf16 (2^-8), products
// accumulate in fp32, the output is rounded once more: ~1e-3 (fp16) / ~8e-3 (bf16) worst case.
// The small-M CUDA-core kernel (w4_gemv.cu) instead keeps codes exact and sums 8 fp16 products per
// partial before fp32 (fp16: one rounding per add, 2^-11 of a partial) or uses exact fp32 products
// (bf16): within the same bounds.
constexpr double kTolF16 = 2e-3, kTolBF16 = 1.2e-2;

// A case launched with programmatic dependent launch (W4Config::pdl), twice on the same weight.
W4Case pdl(W4Case c) {
  c.pdl = 1;
  c.twice = true;
  return c;
}

class W4A16Small : public ::testing::TestWithParam<W4Case> {};
TEST_P(W4A16Small, MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  const W4Case c = GetParam();
  for (uint32_t seed : {1u, 2u}) {
    const double err = run_w4(c, seed);
    EXPECT_LT(err, c.bf16 ? kTolBF16 : kTolF16) << name(c) << " seed " << seed;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W4A16Small,
    ::testing::Values(W4Case{1, 16, 64, 0, false, false}, W4Case{1, 33, 99, 0, false, false},
                      W4Case{3, 17, 96, 32, false, false}, W4Case{16, 100, 1040, 80, false, false},
                      W4Case{9, 130, 4160, 64, false, false}, W4Case{40, 48, 256, 128, false, false},
                      W4Case{128, 257, 512, 128, false, false}, W4Case{5, 70, 384, 128, true, false},
                      W4Case{1, 64, 128, 0, false, true}, W4Case{5, 37, 260, 0, false, true},
                      W4Case{16, 64, 512, 128, false, true}, W4Case{33, 80, 2048, 64, false, true},
                      W4Case{8, 31, 132, 0, false, true}, W4Case{3, 48, 640, 128, true, true},
                      pdl(W4Case{1, 33, 99, 0, false, false}), pdl(W4Case{16, 100, 1040, 80, false, false}),
                      pdl(W4Case{12, 130, 4160, 64, true, false}), pdl(W4Case{40, 48, 256, 128, false, false})),
    [](const ::testing::TestParamInfo<W4Case>& i) { return name(i.param); });

// The small-M CUDA-core kernel (w4_gemv.cu) and the tensor-core kernel on the same shapes: M = 1..4
// as the launcher picks and with either kernel forced, 5 / 8 / 16 forced, odd N, K not a multiple of the 64-k chunk or of
// the group, per-channel and per-group scales (group sizes that are and are not multiples of 64),
// fp16 and bf16, codes and activations at the ends of their ranges, every block shape.
W4Case gemv(int64_t m, int64_t n, int64_t k, int64_t gs, bool bf16, int mode, bool clamp = false, int tpw = 0,
            int wk = 0) {
  W4Case c{m, n, k, gs, bf16, false};
  c.gemv = mode;
  c.clamp = clamp;
  c.tiles_per_warp = tpw;
  c.warps_k = wk;
  return c;
}
class W4GemvSmall : public ::testing::TestWithParam<W4Case> {};
TEST_P(W4GemvSmall, MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  const W4Case c = GetParam();
  for (uint32_t seed : {3u, 4u}) {
    const double err = run_w4(c, seed);
    EXPECT_LT(err, c.bf16 ? kTolBF16 : kTolF16) << name(c) << " seed " << seed;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W4GemvSmall,
    ::testing::Values(gemv(1, 16, 64, 0, false, 1), gemv(1, 33, 99, 0, false, 1), gemv(2, 17, 96, 32, false, 0),
                      gemv(3, 100, 1040, 80, false, 0), gemv(4, 130, 4160, 64, false, 0),
                      gemv(1, 257, 528, 48, true, 1), gemv(2, 70, 384, 128, true, 0),
                      gemv(3, 31, 200, 0, true, 0), gemv(4, 48, 1000, 0, false, 0),
                      gemv(8, 130, 640, 128, false, 1), gemv(16, 65, 384, 128, true, 1),
                      gemv(5, 40, 256, 16, false, 1), gemv(1, 2000, 4096, 128, false, 1, false, 2, 32),
                      gemv(2, 33, 4160, 64, true, 1, false, 2, 1), gemv(1, 48, 8192, 0, false, 1, false, 1, 7),
                      gemv(1, 64, 1024, 128, false, 1, true), gemv(4, 64, 1024, 0, true, 0, true),
                      gemv(2, 64, 1024, 128, false, -1, true), gemv(4, 100, 1040, 80, false, -1),
                      gemv(2, 17, 96, 32, true, -1), gemv(2, 17, 96, 32, false, 1),
                      gemv(3, 100, 1040, 80, false, 1), gemv(4, 130, 4160, 64, false, 1),
                      gemv(4, 48, 1000, 0, true, 1), gemv(3, 64, 1024, 128, false, 1, true)),
    [](const ::testing::TestParamInfo<W4Case>& i) { return name(i.param); });

TEST(W4Gemv, EveryBlockShapeMatchesAndRepeatsExactly) {
  // The K split is reduced in a fixed order (no atomics): the same call twice gives the same
  // output, so the same error to the last bit. Block shapes differ in summation order only.
  SKIP_WITHOUT_GPU();
  for (bool bf16 : {false, true})
    for (int wk : {1, 4, 32})
      for (int tpw : {1, 2})
        for (int pipeline : {0, -1}) {
          // bf16 at M = 3 (the 4-row kernel, one tile per warp), fp16 at M = 2.
          W4Case c = gemv(bf16 ? 3 : 2, 96, 2048, 128, bf16, 1, false, tpw, wk);
          c.pipeline = pipeline;
          const double e1 = run_w4(c, 9), e2 = run_w4(c, 9);
          EXPECT_LT(e1, bf16 ? kTolBF16 : kTolF16) << name(c);
          EXPECT_EQ(e1, e2) << name(c) << ": two identical calls differ";
        }
}

// The streaming kernel (w4_stream_gemm.cu: bulk copies into a shared-memory ring, persistent
// grid, split-K finished by the last CTA of a unit): M = 1..16, odd N, K not a multiple of the
// 64-k chunk or of 16, group sizes that are and are not multiples of 64 and per channel, fp16
// and bf16, codes -8 / 7 with activations at +-255/64, 64- and 128-row units, and grids of 1..11
// CTAs as well as one per SM, so that units are split between CTAs in every way (a unit over
// three CTAs, a CTA over three units). Every case runs twice on the same weight: same bits.
// Where no 9.x GPU is present, the launcher's checks are what run (the GPU tests skip).
W4Case stream(int64_t m, int64_t n, int64_t k, int64_t gs, bool bf16, int ctas = 0, bool clamp = false, int rows = 0,
              int pdl = 0, int cpw = 0) {
  W4Case c{m, n, k, gs, bf16, false};
  c.stream_pdl = pdl;
  c.stream_cpw = cpw;
  c.stream = 1;
  c.stream_ctas = ctas;
  c.stream_tile_rows = rows;
  c.clamp = clamp;
  c.twice = true;
  return c;
}
class W4StreamSmall : public ::testing::TestWithParam<W4Case> {};
TEST_P(W4StreamSmall, MatchesFloat64ReferenceAndRepeatsExactly) {
  SKIP_WITHOUT_GPU();
  const W4Case c = GetParam();
  if (!w4a16_stream_supported()) GTEST_SKIP() << "the streaming kernel needs a 9.x GPU and an sm_90 build";
  for (uint32_t seed : {5u, 6u}) {
    const double err = run_w4(c, seed);
    EXPECT_LT(err, c.bf16 ? kTolBF16 : kTolF16) << name(c) << " seed " << seed;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W4StreamSmall,
    ::testing::Values(stream(1, 16, 64, 0, false), stream(1, 33, 99, 0, false, 3), stream(2, 17, 96, 32, false),
                      stream(3, 100, 1040, 80, false, 7), stream(4, 130, 4160, 64, false, 5),
                      stream(5, 257, 528, 48, true), stream(6, 70, 384, 128, true, 2),
                      stream(7, 31, 200, 0, true, 11), stream(8, 48, 1000, 0, false),
                      stream(9, 130, 640, 128, false, 7), stream(10, 65, 384, 128, true),
                      stream(11, 40, 256, 16, false, 3), stream(12, 2000, 4096, 128, false),
                      stream(13, 33, 4160, 64, true, 1), stream(14, 48, 8192, 0, false, 9),
                      stream(15, 64, 1024, 128, false, 0, true), stream(16, 100, 1040, 80, false),
                      stream(16, 257, 2048, 128, true, 7, false, 128), stream(16, 130, 4160, 0, false, 0, false, 128),
                      stream(1, 64, 1024, 128, true, 0, true), stream(16, 64, 1024, 0, true, 5, true),
                      stream(8, 1000, 512, 32, true), stream(12, 48, 640, 128, false, 0, true, 128),
                      stream(9, 17, 72, 0, true, 4), stream(2, 4100, 256, 64, false, 0),
                      stream(4, 300, 1040, 80, true, 7, false, 0, 1), stream(13, 257, 4096, 128, false, 0, false, 0, 1),
                      stream(1, 33, 99, 0, false, 3, false, 0, 0, 2), stream(5, 130, 4160, 64, true, 7, false, 0, 0, 2),
                      stream(8, 100, 1040, 80, false, 0, true, 0, 0, 2), stream(16, 257, 2048, 128, true, 5, false, 0, 0, 2),
                      stream(11, 40, 256, 16, false, 3, false, 0, 1, 2), stream(1, 33, 99, 0, false, 0, false, 32),
                      stream(3, 100, 1040, 80, true, 7, false, 32), stream(8, 130, 4160, 64, false, 5, true, 32, 1),
                      stream(12, 257, 2048, 128, true, 0, false, 32), stream(16, 65, 384, 0, false, 3, false, 32, 1)),
    [](const ::testing::TestParamInfo<W4Case>& i) { return name(i.param); });

// 4-bit + 2:4 at M = 1..16 (w4sp_reg_kernel for group sizes that are multiples of 128 and per
// channel; w4sp_kernel, the cp.async-ring kernel, for the other group sizes and when forced):
// odd N, K not a multiple of the 128-k chunk (down to one chunk, and fewer chunks than warps),
// group sizes 128, 256, 384, per channel and 16 / 32 / 64 (the other kernel), fp16 and bf16, kept
// codes -8 / 7 with activations at +-255/64, both prefetch depths, both metadata forms, the bulk
// prefetch and both M = 9..16 forms. The picked kernel splits K like the ring kernel and must give
// the same bits (same_as_ring). Every case runs twice on the same weight (same bits).
// variant: 0 = the pick, 1 = depth 3, 2 = shuffled metadata, 3 = bulk L2 prefetch, 4 = depth 3 +
// bulk, 7 = M = 9..16 in one 16-row kernel, 8 = the 16-row kernel + bulk, -1 = the cp.async-ring
// kernel. At M = 9..16 the pick runs two 8-row slices with the ring kernel's K split: same bits.
// The 16-row kernel splits K six ways instead of eight (another summation order: the bound only).
W4Case sp(int64_t m, int64_t n, int64_t k, int64_t gs, bool bf16, bool clamp = false, int variant = 0) {
  W4Case c{m, n, k, gs, bf16, true};
  c.clamp = clamp;
  c.sp_kernel = variant < 0 ? -1 : 0;
  c.sparse_depth = variant == 1 || variant == 4 ? 3 : 0;
  c.sparse_meta_shfl = variant == 2 ? 1 : 0;
  c.sparse_bulk = variant == 3 || variant == 4 || variant == 8 ? 1 : 0;
  c.sparse_msplit = variant == 7 || variant == 8 ? -1 : 0;
  c.twice = true;
  c.same_as_ring = variant >= 0 && c.sparse_msplit == 0 && m <= 16 && (gs == 0 || gs % 128 == 0);
  return c;
}
class W4SparseSmall : public ::testing::TestWithParam<W4Case> {};
TEST_P(W4SparseSmall, MatchesFloat64ReferenceAndRingKernel) {
  SKIP_WITHOUT_GPU();
  const W4Case c = GetParam();
  for (uint32_t seed : {11u, 12u}) {
    const double err = run_w4(c, seed);
    EXPECT_LT(err, c.bf16 ? kTolBF16 : kTolF16) << name(c) << " seed " << seed;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W4SparseSmall,
    ::testing::Values(sp(1, 16, 128, 128, false), sp(1, 33, 132, 0, false), sp(2, 17, 260, 0, true),
                      sp(3, 100, 1024, 128, false), sp(4, 130, 4096, 256, true), sp(5, 257, 1152, 384, false),
                      sp(6, 70, 2048, 128, true, true), sp(7, 31, 1000, 0, false, true), sp(8, 48, 8192, 128, false),
                      sp(9, 130, 640, 128, false), sp(10, 65, 384, 128, true), sp(11, 40, 4160, 0, false),
                      sp(12, 2000, 4096, 128, false), sp(13, 33, 1040, 0, true, true), sp(14, 48, 8192, 0, false),
                      sp(15, 64, 1024, 256, false, true), sp(16, 100, 2048, 128, false), sp(16, 257, 4096, 128, true),
                      sp(16, 16, 128, 0, false), sp(9, 17, 4, 0, false), sp(1, 17, 4, 0, true),
                      sp(1, 64, 1024, 128, true, true), sp(16, 64, 1024, 0, true, true),
                      sp(1, 130, 4096, 128, false, false, 1), sp(12, 130, 4096, 128, false, false, 1),
                      sp(4, 100, 2048, 128, false, false, 2), sp(16, 100, 2048, 128, true, false, 2),
                      sp(8, 33, 1000, 0, true, false, 3), sp(16, 33, 1000, 0, true, false, 3),
                      sp(2, 130, 4160, 0, false, false, 4), sp(13, 130, 4096, 256, false, false, 4),
                      sp(1, 257, 2048, 128, false, false, 3), sp(11, 257, 2048, 128, true, false, 3),
                      sp(5, 17, 4, 0, false, false, 3), sp(10, 70, 1152, 384, true, true, 8),
                      sp(3, 100, 1024, 128, false, false, -1), sp(16, 65, 384, 128, true, false, -1),
                      sp(9, 33, 1000, 0, false, false, 7), sp(16, 130, 4096, 128, true, false, 7),
                      sp(12, 257, 1152, 384, false, true, 7), sp(14, 40, 256, 128, false, false, 7),
                      sp(5, 48, 640, 64, false), sp(16, 33, 1024, 32, true), sp(2, 17, 96, 16, false),
                      sp(12, 70, 2048, 64, false, true), pdl(sp(1, 130, 4096, 128, false)),
                      pdl(sp(12, 2000, 4096, 128, true)), pdl(sp(16, 33, 1000, 0, false, true))),
    [](const ::testing::TestParamInfo<W4Case>& i) { return name(i.param); });

class W4A16Large : public ::testing::TestWithParam<W4Case> {};
TEST_P(W4A16Large, MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  const W4Case c = GetParam();
  if (c.stream > 0 && !w4a16_stream_supported()) GTEST_SKIP() << "the streaming kernel needs a 9.x GPU";
  EXPECT_LT(run_w4(c, 7), c.bf16 ? kTolBF16 : kTolF16) << name(c);
}
INSTANTIATE_TEST_SUITE_P(Shapes, W4A16Large,
                         ::testing::Values(W4Case{1, 4096, 4096, 128, false, false},
                                           W4Case{16, 4096, 4096, 128, false, true},
                                           W4Case{64, 1024, 4096, 128, false, false},
                                           stream(1, 8192, 8192, 128, false), stream(16, 8192, 8192, 128, true),
                                           stream(16, 4096, 4096, 128, false, 0, false, 128)),
                         [](const ::testing::TestParamInfo<W4Case>& i) { return name(i.param); });

// Programmatic dependent launch (W4Config::pdl): a chain of three calls, each reading the output
// of the one before (dense, 2:4, dense; M = 1, 5 and 16), launched back to back with PDL and no
// synchronisation between them, must give the bits of the same chain launched plainly. A call
// that read its activations before the previous call had finished would read the poison (NaN)
// its input held, or a partial result.
TEST(W4Pdl, AChainOfPdlCallsGivesThePlainChainsBits) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> xi(-255, 255);
  std::uniform_real_distribution<float> sd(0.001f, 0.004f);
  struct Layer {
    int64_t n, k;
    bool sparse;
  };
  const Layer layers[3] = {{512, 1040, false}, {136, 512, true}, {72, 136, false}};
  std::vector<std::unique_ptr<W4Device>> w;
  for (const Layer& l : layers) {
    const std::vector<int32_t> codes = random_w4_codes(rng, l.n, l.k, l.sparse, false);
    std::vector<float> scales(static_cast<size_t>(l.n));  // per channel (group size 0)
    for (auto& v : scales) v = sd(rng);
    if (l.sparse) {
      const auto comp = nm_compress(codes.data(), l.n, l.k, NMPattern{2, 4});
      const auto v4 = pack_int4_rows(comp.values.data(), l.n, nm_kept_per_row(l.k, 2, 4));
      w.push_back(std::make_unique<W4Device>(w4sp_prepare(v4.data(), comp.indices.data(), scales.data(), l.n, l.k, 0, false)));
    } else {
      const auto p4 = pack_int4_rows(codes.data(), l.n, l.k);
      w.push_back(std::make_unique<W4Device>(w4_prepare(p4.data(), scales.data(), l.n, l.k, 0, false)));
    }
  }
  for (int64_t m : {1, 5, 16}) {
    std::vector<uint16_t> xb(static_cast<size_t>(m * layers[0].k));
    for (auto& v : xb) v = exact_bits(static_cast<float>(xi(rng)) / 64.0f, false);
    DBuf x(static_cast<int64_t>(xb.size() * 2)), y0(m * layers[0].n * 2), y1(m * layers[1].n * 2), y2(m * layers[2].n * 2);
    copy_to_device(x.p, xb.data(), static_cast<int64_t>(xb.size() * 2));
    void* const ys[3] = {y0.p, y1.p, y2.p};
    auto chain = [&](int use_pdl) {
      for (int i = 0; i < 3; ++i) {  // poison every output, then the three calls back to back
        std::vector<uint16_t> poison(static_cast<size_t>(m * layers[i].n), 0x7E00);
        copy_to_device(ys[i], poison.data(), static_cast<int64_t>(poison.size() * 2));
      }
      W4Config cfg;
      cfg.pdl = use_pdl ? 1 : -1;
      cfg.stream = -1;
      for (int i = 0; i < 3; ++i) w4a16_gemm(*w[i], m, i == 0 ? x.p : ys[i - 1], layers[i].k, ys[i], nullptr, cfg);
      device_sync();
      std::vector<std::vector<uint16_t>> out(3);
      for (int i = 0; i < 3; ++i) {
        out[i].resize(static_cast<size_t>(m * layers[i].n));
        copy_to_host(out[i].data(), ys[i], static_cast<int64_t>(out[i].size() * 2));
      }
      return out;
    };
    const auto plain = chain(0);
    for (int rep = 0; rep < 3; ++rep) {
      const auto got = chain(1);
      for (int i = 0; i < 3; ++i) {
        int64_t diff = 0, nan = 0;
        for (size_t j = 0; j < plain[i].size(); ++j) {
          diff += plain[i][j] != got[i][j];
          nan += std::isnan(half_to_float(got[i][j]));
        }
        EXPECT_EQ(diff, 0) << "M = " << m << ", call " << i << ": " << diff << " of " << plain[i].size()
                           << " outputs differ from the plain launch (" << nan << " NaN)";
      }
    }
  }
}

// ---- W8A8: bit-identical to the reference kernels ----

struct W8Case {
  int64_t m, n, k, gs;
  bool x_unsigned, per_row, bias, relu, quant_next;
  // Codes at the ends of their ranges (x -128 / 127 or 0 / 255, w -128 / 127): the largest
  // int32 sums, where a wrong sign or zero-point path shows.
  bool extreme = false;
};
std::string name(const W8Case& c) {
  return std::string("w8a8_m") + std::to_string(c.m) + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.k) +
         "_gs" + std::to_string(c.gs) + (c.x_unsigned ? "_u8" : "_s8") + (c.per_row ? "_rows" : "_tensor") +
         (c.bias ? "_bias" : "") + (c.relu ? "_relu" : "") + (c.quant_next ? "_q" : "") + (c.extreme ? "_extreme" : "");
}
std::string name(const W8Config& k) {
  return "kernel " + std::to_string(k.kernel) + " tiles " + std::to_string(64 * k.consumers) + "x" +
         std::to_string(k.block_n) + (k.persistent > 0 ? " persistent" : k.persistent < 0 ? " one CTA per tile" : "") +
         (k.cluster == 2 ? " multicast" : "") + (k.block_k == 64 ? " 64-code stages" : "") +
         (k.pingpong > 0 ? " ping-pong" : k.pingpong < 0 ? " no ping-pong" : "") +
         (k.release_cluster_scope > 0 ? " cluster-scope release" : "");
}

// Runs case c with each kernel configuration in `kernels`, every output bit-compared with the
// reference kernel's (poisoned before each run, so an unwritten output fails too).
void run_w8(const W8Case& c, uint32_t seed, const std::vector<W8Config>& kernels = {W8Config{}}) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> wc(-127, 127), xs(-127, 127), xu(0, 255), zp(0, 255), coin(0, 1);
  std::uniform_real_distribution<float> sd(1e-4f, 2e-2f), bd(-3.0f, 3.0f);
  const int64_t groups = c.gs > 0 ? c.k / c.gs : 1;
  std::vector<int8_t> w(static_cast<size_t>(c.n * c.k));
  for (auto& v : w) v = static_cast<int8_t>(c.extreme ? (coin(rng) ? 127 : -128) : wc(rng));
  std::vector<float> sw(static_cast<size_t>(c.n * groups)), bias(static_cast<size_t>(c.n)),
      sx(static_cast<size_t>(c.per_row ? c.m : 1));
  for (auto& s : sw) s = sd(rng);
  for (auto& b : bias) b = bd(rng);
  for (auto& s : sx) s = sd(rng) * 10.0f;
  const int64_t ldx = (c.k + 15) / 16 * 16;
  std::vector<uint8_t> x(static_cast<size_t>(c.m * ldx), 0xA5);  // garbage between K and ldx
  std::vector<uint8_t> xdense(static_cast<size_t>(c.m * c.k));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t kk = 0; kk < c.k; ++kk) {
      const int xv = c.extreme ? (c.x_unsigned ? (coin(rng) ? 255 : 0) : (coin(rng) ? 127 : -128))
                               : (c.x_unsigned ? xu(rng) : xs(rng));
      const uint8_t v = c.x_unsigned ? static_cast<uint8_t>(xv) : static_cast<uint8_t>(static_cast<int8_t>(xv));
      x[static_cast<size_t>(i * ldx + kk)] = v;
      xdense[static_cast<size_t>(i * c.k + kk)] = v;
    }
  const int32_t zx = c.x_unsigned ? zp(rng) : 0;

  // Host reference: the runtime's reference kernel, then ReLU and quantization by the ref table.
  kernels::QWeights qw;
  qw.kind = kernels::QWeightKind::kInt8;
  qw.n = c.n;
  qw.k = c.k;
  qw.codes = w.data();
  qw.scales = sw.data();
  qw.per_group = c.gs > 0;
  qw.group_size = c.gs;
  kernels::QActs qa;
  qa.codes = xdense.data();
  qa.zero_point = zx;
  qa.scales = sx.data();
  qa.scale_stride = c.per_row ? 1 : 0;
  std::vector<float> ref(static_cast<size_t>(c.m * c.n));
  (c.x_unsigned ? kernels::qu8_qs8w_gemm_f32_ref : kernels::qs8_qs8w_gemm_f32_ref)(c.m, qa, qw, c.bias ? bias.data() : nullptr,
                                                                                   ref.data());
  if (c.relu) kernels::f32_relu_ref(ref.data(), c.m * c.n, ref.data());
  const float qs = 0.05f;
  const int32_t qz = 128;
  std::vector<uint8_t> qref(static_cast<size_t>(c.m * c.n));
  kernels::f32_quantize_u8_ref(ref.data(), c.m * c.n, qs, qz, 0, 255, qref.data());

  W8Device dw(w8_prepare(w.data(), sw.data(), c.n, c.k, c.gs));
  DBuf dx(static_cast<int64_t>(x.size())), dsx(static_cast<int64_t>(sx.size() * 4)), db(c.n * 4),
      dy(c.m * c.n * 4), dq(c.m * c.n);
  copy_to_device(dx.p, x.data(), static_cast<int64_t>(x.size()));
  copy_to_device(dsx.p, sx.data(), static_cast<int64_t>(sx.size() * 4));
  copy_to_device(db.p, bias.data(), c.n * 4);
  std::vector<float> poison(static_cast<size_t>(c.m * c.n), std::nanf(""));
  const std::vector<uint8_t> qpoison(static_cast<size_t>(c.m * c.n), 0x5A);
  W8Acts a;
  a.codes = dx.p;
  a.ldx = ldx;
  a.is_unsigned = c.x_unsigned;
  a.zero_point = zx;
  a.scales = static_cast<const float*>(dsx.p);
  a.per_row = c.per_row;
  W8Epilogue e;
  e.bias = c.bias ? static_cast<const float*>(db.p) : nullptr;
  e.relu = c.relu;
  e.y = static_cast<float*>(dy.p);
  if (c.quant_next) {
    e.q_out = dq.p;
    e.ldq = c.n;
    e.q_unsigned = true;
    e.q_scale = qs;
    e.q_zero_point = qz;
    e.q_min = 0;
    e.q_max = 255;
  }
  for (const W8Config& cfg : kernels) {
    copy_to_device(dy.p, poison.data(), c.m * c.n * 4);
    copy_to_device(dq.p, qpoison.data(), c.m * c.n);
    w8a8_gemm(dw, c.m, a, e, nullptr, cfg);
    device_sync();
    std::vector<float> y(static_cast<size_t>(c.m * c.n));
    copy_to_host(y.data(), dy.p, c.m * c.n * 4);
    int64_t bad = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (std::memcmp(&y[i], &ref[i], 4) != 0 && bad++ < 5)
        ADD_FAILURE() << name(c) << ", " << name(cfg) << ": y[" << i / c.n << ", " << i % c.n << "] = " << y[i]
                      << ", reference " << ref[i];
    EXPECT_EQ(bad, 0) << name(c) << ", " << name(cfg) << ": outputs not bit-identical to the reference kernel";
    if (c.quant_next) {
      std::vector<uint8_t> q(static_cast<size_t>(c.m * c.n));
      copy_to_host(q.data(), dq.p, c.m * c.n);
      int64_t qbad = 0;
      for (size_t i = 0; i < q.size(); ++i) qbad += q[i] != qref[i];
      EXPECT_EQ(qbad, 0) << name(c) << ", " << name(cfg) << ": quantized next input differs from the reference";
      // The quantizing epilogue alone, without the float y (how a W8A8 chain runs it).
      W8Epilogue q_only = e;
      q_only.y = nullptr;
      copy_to_device(dq.p, qpoison.data(), c.m * c.n);
      w8a8_gemm(dw, c.m, a, q_only, nullptr, cfg);
      device_sync();
      copy_to_host(q.data(), dq.p, c.m * c.n);
      qbad = 0;
      for (size_t i = 0; i < q.size(); ++i) qbad += q[i] != qref[i];
      EXPECT_EQ(qbad, 0) << name(c) << ", " << name(cfg) << ": next input without y differs from the reference";
    }
  }
}

class W8A8Small : public ::testing::TestWithParam<W8Case> {};
TEST_P(W8A8Small, BitIdenticalToReferenceKernel) {
  SKIP_WITHOUT_GPU();
  for (uint32_t seed : {11u, 12u}) run_w8(GetParam(), seed);
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W8A8Small,
    ::testing::Values(W8Case{1, 1, 1, 0, false, true, false, false, false},
                      W8Case{1, 7, 64, 0, false, true, true, false, false},
                      W8Case{3, 130, 100, 0, true, false, true, true, true},
                      W8Case{128, 128, 128, 0, false, true, true, false, true},
                      W8Case{129, 257, 320, 64, false, true, true, false, false},
                      W8Case{200, 64, 1000, 0, true, false, false, true, true},
                      W8Case{17, 300, 2048, 128, true, false, true, false, true},
                      W8Case{64, 96, 33, 0, false, false, true, true, false}),
    [](const ::testing::TestParamInfo<W8Case>& i) { return name(i.param); });

class W8A8Large : public ::testing::TestWithParam<W8Case> {};
TEST_P(W8A8Large, BitIdenticalToReferenceKernel) {
  SKIP_WITHOUT_GPU();
  run_w8(GetParam(), 21u);
}
INSTANTIATE_TEST_SUITE_P(Shapes, W8A8Large,
                         ::testing::Values(W8Case{300, 1024, 2048, 0, false, true, true, true, true},
                                           W8Case{256, 512, 4096, 256, true, false, true, false, true}),
                         [](const ::testing::TestParamInfo<W8Case>& i) { return name(i.param); });

// The Hopper wgmma kernel (w8a8_wgmma_gemm.cu), every tile shape forced, one CTA per tile and
// persistent, plus the mma.sync kernel forced and the launcher's pick: all bit-identical to the
// reference. Shapes: M not a multiple of any tile (1, 3, 129, 200, 300, 600), odd N, K not a
// multiple of the 128-code stage (1, 33, 100, 1000, 1100, 4160), x row stride past K holding
// garbage, extreme codes, more tiles than SMs.
#define SKIP_WITHOUT_WGMMA()                                                                         \
  do {                                                                                               \
    SKIP_WITHOUT_GPU();                                                                              \
    std::string why_wg_;                                                                             \
    if (!w8a8_wgmma_available(&why_wg_)) GTEST_SKIP() << "no wgmma here (" << why_wg_ << "): skipped"; \
  } while (0)

std::vector<W8Config> all_w8_kernels() {
  std::vector<W8Config> v = {W8Config{}, W8Config{1, 0, 0, 0}};
  for (int persistent : {-1, 1})
    for (auto [consumers, bn] : {std::pair{1, 64}, {1, 128}, {2, 64}, {2, 128}, {2, 256}})
      v.push_back(W8Config{2, consumers, bn, persistent});
  v.push_back(W8Config{2, 0, 0, 0});
  v.push_back(W8Config{2, 2, 128, -1, 2});  // multicast w over CTA pairs
  v.push_back(W8Config{2, 2, 256, -1, 2});
  v.push_back(W8Config{2, 2, 256, 1, 1, 64});  // 64-code stages (64-byte swizzle)
  v.push_back(W8Config{2, 2, 128, -1, 1, 64});
  // The ping-pong schedule (two consumer warpgroups, each its own tile, taking turns), and the
  // pick with it turned off.
  v.push_back(W8Config{2, 1, 256, 1, 1, 0, 1});
  v.push_back(W8Config{2, 2, 128, 1, 1, 0, 1});
  v.push_back(W8Config{2, 1, 256, 1, 2, 0, 1});  // CTA pairs multicasting w
  v.push_back(W8Config{2, 0, 0, 0, 1, 0, -1});
  // Multicast, deeper rings, persistent pairs (branch w8mc): ping-pong 64 x 256 with 64-code
  // stages, plain and multicast; multicast with the first (cluster-scope) stage release, ping-pong
  // and cooperative; cooperative 128 x 256 multicast on persistent CTA pairs.
  v.push_back(W8Config{2, 1, 256, 1, 1, 64, 1});
  v.push_back(W8Config{2, 1, 256, 1, 2, 64, 1});
  v.push_back(W8Config{2, 1, 256, 1, 2, 0, 1, 1});
  v.push_back(W8Config{2, 2, 256, -1, 2, 0, 0, 1});
  v.push_back(W8Config{2, 2, 256, 1, 2});
  // A build without QFORGE_CUDA_KERNEL_VARIANTS has only the shapes the launcher picks.
  const size_t all = v.size();
  v.erase(std::remove_if(v.begin(), v.end(), [](const W8Config& k) { return !w8a8_wgmma_tiles_built(k); }), v.end());
  if (v.size() < all)
    std::printf(
        "[w8a8 wgmma] %zu of %zu tile configurations not in this build (-DQFORGE_CUDA_KERNEL_VARIANTS=ON "
        "builds them): not run\n",
        all - v.size(), all);
  return v;
}

class W8A8Wgmma : public ::testing::TestWithParam<W8Case> {};
TEST_P(W8A8Wgmma, EveryTileShapeBitIdenticalToReferenceKernel) {
  SKIP_WITHOUT_WGMMA();
  run_w8(GetParam(), 31u, all_w8_kernels());
}
INSTANTIATE_TEST_SUITE_P(
    Shapes, W8A8Wgmma,
    ::testing::Values(W8Case{1, 1, 1, 0, false, true, false, false, false},
                      W8Case{3, 130, 100, 0, true, false, true, true, true},
                      W8Case{64, 96, 33, 0, false, false, true, true, false},
                      W8Case{129, 257, 320, 0, false, true, true, false, true},
                      W8Case{200, 64, 1000, 0, true, false, false, true, true},
                      W8Case{300, 1000, 4160, 0, true, true, true, false, true},
                      W8Case{257, 520, 8192, 0, false, true, true, false, false, true},
                      W8Case{130, 300, 8192, 0, true, true, false, false, true, true},
                      // More tiles than SMs: persistent CTAs walk several, their stage ring
                      // running on across tiles (K steps 2 and 9 against 8 / 6 / 4 stages).
                      W8Case{1000, 2000, 256, 0, true, true, true, true, true},
                      W8Case{600, 2100, 1100, 0, false, false, true, false, false},
                      // M = 16 .. 1024 with N edges for the ping-pong tiles; at M = 1024,
                      // N = 6400 the pick runs ping-pong 64 x 256 (400 tiles: each consumer
                      // several, odd and even counts per CTA).
                      W8Case{16, 300, 520, 0, true, true, true, false, true},
                      W8Case{100, 257, 2000, 0, false, true, false, true, false, true},
                      W8Case{1024, 6400, 160, 0, true, true, true, true, true},
                      // 800 ping-pong tiles, twice the pick's threshold on a 132-SM H100: each
                      // CTA ~6, so both consumers hand over several turns.
                      W8Case{1024, 12800, 128, 0, false, true, true, false, true}),
    [](const ::testing::TestParamInfo<W8Case>& i) { return name(i.param); });

// M = 128 rows of K = 128 codes against 64 output channels of weight 3 (per group of `group_size`
// when > 0): a problem for checking which launches are taken or refused, not their values.
struct LaunchProblem {
  std::vector<int8_t> w = std::vector<int8_t>(64 * 128, 3);
  std::vector<float> sw;
  W8Device dw;
  DBuf dx{128 * 128}, dsx{4}, dy{128 * 64 * 4};
  W8Acts a;
  W8Epilogue e;
  explicit LaunchProblem(int64_t group_size)
      : sw(static_cast<size_t>(64 * (group_size > 0 ? 128 / group_size : 1)), 0.01f),
        dw(w8_prepare(w.data(), sw.data(), 64, 128, group_size)) {
    a.codes = dx.p;
    a.ldx = 128;
    a.scales = static_cast<const float*>(dsx.p);
    e.y = static_cast<float*>(dy.p);
  }
  void run(const W8Config& k = {}) { w8a8_gemm(dw, 128, a, e, nullptr, k); }
};

TEST(W8A8Wgmma, RefusesPerGroupWeightsWhenForced) {
  SKIP_WITHOUT_WGMMA();
  LaunchProblem p(64);
  EXPECT_THROW(p.run(W8Config{2, 0, 0, 0}), Error);
  EXPECT_NO_THROW(p.run());  // the launcher's pick falls back to mma.sync
  device_sync();
}

// The build's kernel set (no GPU needed for the first half): the launcher's pick and every forced
// shape it could pick are always built; the benchmarks' variants only with
// QFORGE_CUDA_KERNEL_VARIANTS. A variant left out is refused with an error naming the option.
TEST(W8A8WgmmaBuild, PickableShapesAlwaysVariantsOnRequest) {
#ifdef QF_WGMMA_VARIANTS
  const bool variants = true;
#else
  const bool variants = false;
#endif
  for (const W8Config& k :
       {W8Config{}, W8Config{2, 0, 0, 0}, W8Config{2, 0, 0, 0, 1, 0, -1}, W8Config{2, 1, 64, 0}, W8Config{2, 1, 128, 1},
        W8Config{2, 2, 64, 0}, W8Config{2, 2, 128, 1}, W8Config{2, 2, 256, 0}, W8Config{2, 1, 256, 0, 1, 0, 1}})
    EXPECT_TRUE(w8a8_wgmma_tiles_built(k)) << name(k);
  for (const W8Config& k :
       {W8Config{2, 0, 0, -1}, W8Config{2, 0, 0, 0, 1, 64}, W8Config{2, 2, 128, -1}, W8Config{2, 2, 256, -1, 2},
        W8Config{2, 2, 256, 1, 1, 64}, W8Config{2, 2, 128, 1, 1, 0, 1}, W8Config{2, 1, 256, 1, 2, 0, 1}})
    EXPECT_EQ(w8a8_wgmma_tiles_built(k), variants) << name(k);
  for (const Fp8Tiles& t : {Fp8Tiles{}, Fp8Tiles{2, 192, 1, 0}, Fp8Tiles{1, 64, 1, 1}})
    EXPECT_TRUE(fp8_wgmma_tiles_built(t, Fp8Accum::kPromoted));
  EXPECT_TRUE(fp8_wgmma_tiles_built(Fp8Tiles{1, 256, 1, 1, 0, 1}, Fp8Accum::kFast));
  EXPECT_EQ(fp8_wgmma_tiles_built(Fp8Tiles{1, 128, 1, 1, 0, 1}, Fp8Accum::kPromoted), variants);  // ping-pong
  EXPECT_EQ(fp8_wgmma_tiles_built(Fp8Tiles{2, 256, 1, -1}, Fp8Accum::kFast), variants);

  if (variants) return;
  SKIP_WITHOUT_WGMMA();
  LaunchProblem p(0);
  try {
    p.run(W8Config{2, 2, 128, -1});
    ADD_FAILURE() << "a variant left out of the build ran";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("QFORGE_CUDA_KERNEL_VARIANTS"), std::string::npos) << err.what();
  }
  EXPECT_NO_THROW(p.run(W8Config{2, 2, 128, 0}));  // the same tiles, persistent
  device_sync();
}

// ---- load-time layout checks (no GPU needed) ----

TEST(CudaWeightLayouts, RejectGroupSizesTheKernelsCannotApply) {
  std::vector<uint8_t> p4(64 * 32, 0);
  std::vector<float> s(64 * 8, 1.0f);
  EXPECT_THROW(w4_prepare(p4.data(), s.data(), 64, 64, 8, false), Error);   // not a multiple of 16
  EXPECT_THROW(w4_prepare(p4.data(), s.data(), 64, 64, 48, false), Error);  // does not divide K
  std::vector<int8_t> c(64 * 64, 0);
  EXPECT_THROW(w8_prepare(c.data(), s.data(), 64, 64, 32), Error);  // W8A8 flushes groups per 64 k
  std::vector<uint8_t> idx(64 * 8, 0);  // all indices 0: not strictly increasing
  EXPECT_THROW(w4sp_prepare(p4.data(), idx.data(), s.data(), 64, 64, 0, false), Error);
}

TEST(CudaWeightLayouts, W4FragmentOrderHoldsEveryCodeOnce) {
  // Each code lands in exactly one nibble, biased by 8, where cuda_qgemm.h says: lane (g, c),
  // word t, row g at chunk k 16c + 4t + {0,1} -> nibbles 0 and 4, {2,3} -> nibbles 2 and 6.
  const int64_t n = 16, k = 64;
  std::vector<int32_t> codes(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n * k; ++i) codes[static_cast<size_t>(i)] = static_cast<int32_t>(i % 15) - 7;
  const auto p4 = pack_int4_rows(codes.data(), n, k);
  std::vector<float> s(n, 1.0f);
  const W4Prepared p = w4_prepare(p4.data(), s.data(), n, k, 0, false);
  ASSERT_EQ(p.packed.size(), 32u * 4u);
  for (int lane = 0; lane < 32; ++lane)
    for (int t = 0; t < 4; ++t) {
      const uint32_t word = p.packed[static_cast<size_t>(lane * 4 + t)];
      const int64_t g = lane / 4, c = lane % 4, kb = 16 * c + 4 * t;
      auto nib = [&](int i) { return static_cast<int32_t>((word >> (4 * i)) & 0xF) - 8; };
      EXPECT_EQ(nib(0), codes[static_cast<size_t>(g * k + kb)]);
      EXPECT_EQ(nib(4), codes[static_cast<size_t>(g * k + kb + 1)]);
      EXPECT_EQ(nib(1), codes[static_cast<size_t>((g + 8) * k + kb)]);
      EXPECT_EQ(nib(2), codes[static_cast<size_t>(g * k + kb + 2)]);
      EXPECT_EQ(nib(6), codes[static_cast<size_t>(g * k + kb + 3)]);
      EXPECT_EQ(nib(7), codes[static_cast<size_t>((g + 8) * k + kb + 3)]);
    }
}

}  // namespace
}  // namespace qf::cuda
