// Reference kernels against straightforward loops. Integer GEMMs are compared exactly
// (tolerance 0): the test recomputes acc in int32 from the *dense* decoded weight and applies
// the documented epilogue, so any packing / index / group bookkeeping error shows up.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "core/quantize_rows.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/ref_kernels.h"
#include "test_util.h"

namespace qf::kernels {
namespace {

struct GemmCase {
  int64_t m, n, k;
  QWeightKind kind;
  int bits;
  int64_t group;  // 0: per channel
  int nm_n, nm_m;
  bool unsigned_act;
  bool per_token;
};

std::string name_of(const ::testing::TestParamInfo<GemmCase>& info) {
  const GemmCase& c = info.param;
  std::string s = "m" + std::to_string(c.m) + "n" + std::to_string(c.n) + "k" + std::to_string(c.k);
  s += c.kind == QWeightKind::kInt8 ? "_i8" : c.kind == QWeightKind::kInt4 ? "_i4" : "_nm" + std::to_string(c.nm_n) + std::to_string(c.nm_m);
  s += c.group ? "_g" + std::to_string(c.group) : "_ch";
  s += c.unsigned_act ? "_u8" : "_s8";
  if (c.per_token) s += "_tok";
  return s + "_" + std::to_string(info.index);
}

class QGemmTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(QGemmTest, MatchesPlainLoopsExactly) {
  const GemmCase c = GetParam();
  std::mt19937 gen(static_cast<unsigned>(c.m * 1000 + c.n * 10 + c.k));
  // Dense weight codes in the symmetric range (N:M-pruned when sparse).
  const int32_t qmax = quant_range(c.bits, true).qmax;
  std::uniform_int_distribution<int32_t> wd(-qmax, qmax);
  std::vector<int32_t> wc(static_cast<size_t>(c.n * c.k));
  for (auto& v : wc) v = wd(gen);
  if (c.kind == QWeightKind::kNM)
    for (int64_t r = 0; r < c.n; ++r)
      for (int64_t g = 0; g < c.k; g += c.nm_m) {
        // keep a random subset of at most nm_n per group
        std::vector<int> pos(static_cast<size_t>(c.nm_m));
        for (int i = 0; i < c.nm_m; ++i) pos[static_cast<size_t>(i)] = i;
        std::shuffle(pos.begin(), pos.end(), gen);
        const int keep = static_cast<int>(gen() % static_cast<unsigned>(c.nm_n + 1));
        for (int i = keep; i < c.nm_m; ++i) wc[static_cast<size_t>(r * c.k + g + pos[static_cast<size_t>(i)])] = 0;
      }
  const int64_t groups = c.group ? c.k / c.group : 1;
  std::vector<float> sw(static_cast<size_t>(c.n * groups));
  std::uniform_real_distribution<float> sd(0.001f, 0.1f);
  for (auto& s : sw) s = sd(gen);
  std::vector<float> bias(static_cast<size_t>(c.n));
  for (auto& b : bias) b = sd(gen) - 0.05f;

  // Activations.
  std::vector<uint8_t> xu(static_cast<size_t>(c.m * c.k));
  std::vector<int8_t> xs(static_cast<size_t>(c.m * c.k));
  std::uniform_int_distribution<int> ud(0, 255), sdi(-127, 127);
  for (auto& v : xu) v = static_cast<uint8_t>(ud(gen));
  for (auto& v : xs) v = static_cast<int8_t>(sdi(gen));
  const int32_t zx = c.unsigned_act ? 131 : 0;
  std::vector<float> sx(c.per_token ? static_cast<size_t>(c.m) : 1);
  for (auto& s : sx) s = sd(gen);

  // Storage under test.
  std::vector<int8_t> codes8;
  std::vector<uint8_t> packed;
  QWeights w;
  w.kind = c.kind;
  w.n = c.n;
  w.k = c.k;
  w.scales = sw.data();
  w.per_group = c.group != 0;
  w.group_size = c.group;
  if (c.kind == QWeightKind::kInt8) {
    codes8.assign(wc.begin(), wc.end());
    w.codes = codes8.data();
  } else if (c.kind == QWeightKind::kInt4) {
    packed = pack_int4_rows(wc.data(), c.n, c.k);
    w.packed = packed.data();
  } else {
    std::vector<int8_t> dense(wc.begin(), wc.end());
    auto nm = nm_compress(dense.data(), c.n, c.k, NMPattern{c.nm_n, c.nm_m});
    codes8 = nm.values;
    packed = nm.indices;
    w.codes = codes8.data();
    w.packed = packed.data();
    w.nm_n = c.nm_n;
    w.nm_m = c.nm_m;
  }
  QActs x{c.unsigned_act ? static_cast<const void*>(xu.data()) : static_cast<const void*>(xs.data()), zx, sx.data(),
          c.per_token ? 1 : 0};
  std::vector<float> y(static_cast<size_t>(c.m * c.n), NAN);
  const KernelTable& kt = ref_kernel_table();
  kt.qgemm[c.unsigned_act ? 0 : 1][static_cast<int>(c.kind)](c.m, x, w, bias.data(), y.data());

  for (int64_t i = 0; i < c.m; ++i) {
    const float s = sx[c.per_token ? static_cast<size_t>(i) : 0];
    for (int64_t o = 0; o < c.n; ++o) {
      float expect;
      auto xv = [&](int64_t kk) {
        return c.unsigned_act ? static_cast<int32_t>(xu[static_cast<size_t>(i * c.k + kk)]) - zx
                              : static_cast<int32_t>(xs[static_cast<size_t>(i * c.k + kk)]);
      };
      if (!c.group) {
        int32_t acc = 0;
        for (int64_t kk = 0; kk < c.k; ++kk) acc += xv(kk) * wc[static_cast<size_t>(o * c.k + kk)];
        expect = static_cast<float>(acc) * (s * sw[static_cast<size_t>(o)]);
      } else {
        float total = 0;
        for (int64_t g = 0; g < groups; ++g) {
          int32_t acc = 0;
          for (int64_t kk = g * c.group; kk < (g + 1) * c.group; ++kk) acc += xv(kk) * wc[static_cast<size_t>(o * c.k + kk)];
          total += static_cast<float>(acc) * sw[static_cast<size_t>(o * groups + g)];
        }
        expect = s * total;
      }
      expect += bias[static_cast<size_t>(o)];
      ASSERT_EQ(y[static_cast<size_t>(i * c.n + o)], expect) << "row " << i << " col " << o;
    }
  }

  // Row slicing (conv groups) addresses the same rows.
  if (c.n >= 2) {
    const QWeights tail = w.rows_slice(1, c.n - 1);
    std::vector<float> y2(static_cast<size_t>(c.m * (c.n - 1)));
    kt.qgemm[c.unsigned_act ? 0 : 1][static_cast<int>(c.kind)](c.m, x, tail, bias.data() + 1, y2.data());
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t o = 1; o < c.n; ++o)
        ASSERT_EQ(y2[static_cast<size_t>(i * (c.n - 1) + o - 1)], y[static_cast<size_t>(i * c.n + o)]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, QGemmTest,
    ::testing::Values(
        GemmCase{1, 1, 1, QWeightKind::kInt8, 8, 0, 0, 0, true, false},
        GemmCase{3, 5, 7, QWeightKind::kInt8, 8, 0, 0, 0, true, false},
        GemmCase{4, 9, 33, QWeightKind::kInt8, 8, 11, 0, 0, false, true},
        GemmCase{1, 17, 300, QWeightKind::kInt8, 8, 0, 0, 0, false, false},  // large K: int32 sums
        GemmCase{2, 3, 1, QWeightKind::kInt4, 4, 0, 0, 0, true, false},
        GemmCase{5, 6, 13, QWeightKind::kInt4, 4, 0, 0, 0, false, true},     // odd K
        GemmCase{3, 4, 15, QWeightKind::kInt4, 4, 5, 0, 0, true, false},     // odd K, groups of 5
        GemmCase{1, 7, 64, QWeightKind::kInt4, 3, 32, 0, 0, false, false},
        GemmCase{3, 5, 12, QWeightKind::kNM, 8, 0, 2, 4, true, false},       // K not a multiple of 8
        GemmCase{1, 3, 20, QWeightKind::kNM, 8, 10, 2, 4, false, true},      // group not a multiple of M
        GemmCase{2, 4, 8, QWeightKind::kNM, 4, 4, 1, 4, true, false},
        GemmCase{4, 3, 24, QWeightKind::kNM, 8, 12, 4, 8, false, false}),
    name_of);

TEST(RefKernels, F32GemmMatchesDouble) {
  const int64_t m = 3, n = 5, k = 37;
  auto x = test::randn(m * k, 1), w = test::randn(n * k, 2), b = test::randn(n, 3);
  std::vector<float> y(static_cast<size_t>(m * n));
  f32_gemm_ref(m, n, k, x.data(), w.data(), b.data(), y.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      double acc = b[static_cast<size_t>(o)];
      for (int64_t kk = 0; kk < k; ++kk) acc += static_cast<double>(x[static_cast<size_t>(i * k + kk)]) * w[static_cast<size_t>(o * k + kk)];
      EXPECT_NEAR(y[static_cast<size_t>(i * n + o)], acc, 1e-4);
    }
}

TEST(RefKernels, Im2colConvMatchesDirectConv) {
  // Direct 2-D convolution vs im2col + gemm; stride 2, asymmetric padding, non-square kernel.
  const int64_t c = 3, h = 7, w = 6, o = 4, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 0;
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  auto x = test::randn(c * h * w, 4), wt = test::randn(o * c * kh * kw, 5);
  Conv2dGeom g{c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, h * w};
  std::vector<float> col(static_cast<size_t>(oh * ow * c * kh * kw)), y(static_cast<size_t>(oh * ow * o));
  f32_im2col_ref(x.data(), g, 0.f, col.data());
  f32_gemm_ref(oh * ow, o, c * kh * kw, col.data(), wt.data(), nullptr, y.data());
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        double acc = 0;
        for (int64_t ic = 0; ic < c; ++ic)
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iy = oy * sh - ph + i, ix = ox * sw - pw + j;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += static_cast<double>(x[static_cast<size_t>((ic * h + iy) * w + ix)]) *
                     wt[static_cast<size_t>(((oc * c + ic) * kh + i) * kw + j)];
            }
        EXPECT_NEAR(y[static_cast<size_t>((oy * ow + ox) * o + oc)], acc, 1e-4);
      }
  // The 8-bit variant pads with the given value (the zero point).
  std::vector<uint8_t> xq(x.size(), 7), colq(col.size());
  x8_im2col_u8_ref(xq.data(), g, 99, colq.data());
  EXPECT_EQ(colq[0], 99);  // output (0,0), channel 0, tap (0,0) is in the top padding row
  EXPECT_EQ(colq[static_cast<size_t>(kw)], 7);  // tap (1,0) is inside
}

TEST(RefKernels, Pooling) {
  const int64_t h = 5, w = 5;
  auto x = test::randn(2 * h * w, 6);
  Conv2dGeom g{0, h, w, 3, 3, 2, 2, 1, 1, 3, 3, h * w};
  std::vector<float> ymax(18), yavg(18);
  f32_maxpool2d_ref(x.data(), 2, g, ymax.data());
  f32_avgpool2d_ref(x.data(), 2, g, yavg.data());
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t oy = 0; oy < 3; ++oy)
      for (int64_t ox = 0; ox < 3; ++ox) {
        float m = -INFINITY;
        double s = 0;
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            const int64_t iy = oy * 2 - 1 + i, ix = ox * 2 - 1 + j;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            m = std::max(m, x[static_cast<size_t>((p * h + iy) * w + ix)]);
            s += x[static_cast<size_t>((p * h + iy) * w + ix)];
          }
        EXPECT_EQ(ymax[static_cast<size_t>((p * 3 + oy) * 3 + ox)], m);
        EXPECT_NEAR(yavg[static_cast<size_t>((p * 3 + oy) * 3 + ox)], s / 9.0, 1e-6);  // count_include_pad
      }
}

TEST(RefKernels, ElementwiseAndNorms) {
  auto x = test::randn(3 * 7, 7, 3.f);
  std::vector<float> y(x.size());
  f32_relu_ref(x.data(), 21, y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] > 0 ? x[i] : 0.f);
  f32_gelu_ref(x.data(), 21, y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0))), 1e-5);
  f32_softmax_ref(x.data(), 3, 7, y.data());
  for (int r = 0; r < 3; ++r) {
    double m = -1e30, s = 0;
    for (int c = 0; c < 7; ++c) m = std::max(m, static_cast<double>(x[static_cast<size_t>(r * 7 + c)]));
    for (int c = 0; c < 7; ++c) s += std::exp(x[static_cast<size_t>(r * 7 + c)] - m);
    for (int c = 0; c < 7; ++c) EXPECT_NEAR(y[static_cast<size_t>(r * 7 + c)], std::exp(x[static_cast<size_t>(r * 7 + c)] - m) / s, 1e-6);
  }
  std::vector<float> big = {1000.f, 1001.f};  // stable: no overflow
  std::vector<float> sb(2);
  f32_softmax_ref(big.data(), 1, 2, sb.data());
  EXPECT_NEAR(sb[1], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  auto gamma = test::randn(7, 8), beta = test::randn(7, 9);
  f32_layernorm_ref(x.data(), 3, 7, gamma.data(), beta.data(), 1e-5f, y.data());
  for (int r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < 7; ++c) mean += x[static_cast<size_t>(r * 7 + c)];
    mean /= 7;
    for (int c = 0; c < 7; ++c) var += std::pow(x[static_cast<size_t>(r * 7 + c)] - mean, 2);
    var /= 7;
    for (int c = 0; c < 7; ++c)
      EXPECT_NEAR(y[static_cast<size_t>(r * 7 + c)],
                  (x[static_cast<size_t>(r * 7 + c)] - mean) / std::sqrt(var + 1e-5) * gamma[static_cast<size_t>(c)] + beta[static_cast<size_t>(c)], 1e-5);
  }
}

// Naive attention over the full sequence, in double.
std::vector<double> naive_attention(const std::vector<float>& qkv, int64_t t, int64_t c, int64_t heads) {
  const int64_t d = c / heads;
  std::vector<double> y(static_cast<size_t>(t * c), 0.0);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < t; ++i) {
      std::vector<double> s(static_cast<size_t>(i + 1));
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e)
          dot += static_cast<double>(qkv[static_cast<size_t>(i * 3 * c + h * d + e)]) * qkv[static_cast<size_t>(j * 3 * c + c + h * d + e)];
        s[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(d));
        m = std::max(m, s[static_cast<size_t>(j)]);
      }
      for (auto& v : s) sum += (v = std::exp(v - m));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t e = 0; e < d; ++e)
          y[static_cast<size_t>(i * c + h * d + e)] += s[static_cast<size_t>(j)] / sum * qkv[static_cast<size_t>(j * 3 * c + 2 * c + h * d + e)];
    }
  return y;
}

TEST(RefKernels, CausalAttention) {
  const int64_t t = 5, c = 6, heads = 2;
  auto qkv = test::randn(t * 3 * c, 10);
  std::vector<float> k, v;
  for (int64_t i = 0; i < t; ++i) {
    k.insert(k.end(), qkv.begin() + i * 3 * c + c, qkv.begin() + i * 3 * c + 2 * c);
    v.insert(v.end(), qkv.begin() + i * 3 * c + 2 * c, qkv.begin() + i * 3 * c + 3 * c);
  }
  std::vector<float> y(static_cast<size_t>(t * c)), scratch(static_cast<size_t>(t));
  f32_causal_attention_ref(qkv.data(), 3 * c, k.data(), v.data(), c, t, t, c, heads, scratch.data(), y.data());
  auto ref = naive_attention(qkv, t, c, heads);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-5);
  // The last query alone against the full cache gives the last row.
  std::vector<float> y1(static_cast<size_t>(c));
  f32_causal_attention_ref(qkv.data() + (t - 1) * 3 * c, 3 * c, k.data(), v.data(), c, 1, t, c, heads, scratch.data(), y1.data());
  for (int64_t e = 0; e < c; ++e) EXPECT_EQ(y1[static_cast<size_t>(e)], y[static_cast<size_t>((t - 1) * c + e)]);
}

}  // namespace
}  // namespace qf::kernels
