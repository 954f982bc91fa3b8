// The decoder-step float kernels of every table (causal attention over a float and a quantized
// KV cache, GELU, layernorm) against the reference kernels on random data and awkward shapes:
// head dimensions that are not a multiple of the vector width (1, 5, 17, 33), one key, one
// query and prefills, caches with a row stride wider than C, several quantization groups per
// vector and odd group counts, large logits. The x86 kernels sum in another order and use a
// polynomial exp / erf, so they are compared with first-order error bounds derived below (not
// tolerances fitted to the results); what must be exact is tested with memcmp: quantized attention
// = float attention on the dequantized cache, any thread count, a query's output whether it runs
// in a prefill or as a decoding step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/kv_quant.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/kv_cache_ref.h"
#include "runtime/kernels/threads.h"

namespace qf::kernels {
namespace {

constexpr double kU = 0x1p-24;  // unit roundoff of float

std::vector<float> randn(size_t n, unsigned seed, float sd = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

struct AttnShape {
  int64_t heads, d, t, l;
  float q_scale;  // large values give large logits (a peaked softmax, exp of very negative numbers)
};

const std::vector<AttnShape>& attn_shapes() {
  static const std::vector<AttnShape> s = {
      {1, 1, 1, 1, 1.0f},   {2, 5, 1, 1, 1.0f},  {3, 17, 1, 9, 1.0f},  {2, 16, 1, 40, 1.0f},
      {2, 33, 3, 7, 1.0f},  {4, 8, 5, 5, 1.0f},  {1, 48, 2, 30, 1.0f}, {2, 32, 1, 37, 12.0f},
      {3, 20, 4, 19, 30.0f},
      // enough work (4 L C per query >= threads.cpp's threshold) that two threads really split it
      {4, 64, 2, 200, 1.0f}};
  return s;
}

// The error bound of a float implementation of softmax(q.k / sqrt d) v against exact arithmetic,
// to first order in u: a score is a d-term dot product (|error| <= d u S_j, S_j = sum_e |q_e k_je| /
// sqrt d, + the scaling's rounding); the max is exact; exp(s_j - m) then has relative error <=
// |ds_j| + |dm| + (the exp's own error: 0.5 ulp libm, 2 ulp polynomial) <= 2 d u S + 5u; the sum
// of L terms adds L u, the division u, so p_j has relative error <= 4 d u S + (L + 12) u; the
// output sums L terms p_j v_je: |dy_e| <= (4 d u S + (2 L + 12) u) * A_e, A_e = sum_j p_j |v_je|.
// Two implementations each within it differ by at most twice that, plus the absolute flush of
// exp below 2^-126 (the x86 exp returns 0 there, the reference a subnormal).
struct Bounds {
  std::vector<double> tol;  // per output element
};
Bounds attention_bounds(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                        int64_t t, int64_t l, int64_t c, int64_t heads) {
  const int64_t d = c / heads;
  Bounds b;
  b.tol.assign(static_cast<size_t>(t * c), 0.0);
  for (int64_t i = 0; i < t; ++i)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t vis = l - t + i + 1;
      std::vector<double> s(vis);
      double smax = 0, m = -INFINITY;
      for (int64_t j = 0; j < vis; ++j) {
        double dot = 0, absdot = 0;
        for (int64_t e = 0; e < d; ++e) {
          dot += double(q[i * q_stride + h * d + e]) * k[j * kv_stride + h * d + e];
          absdot += std::fabs(double(q[i * q_stride + h * d + e]) * k[j * kv_stride + h * d + e]);
        }
        s[j] = dot / std::sqrt(double(d));
        smax = std::fmax(smax, absdot / std::sqrt(double(d)));
        m = std::fmax(m, s[j]);
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      const double rel = 2.0 * (4.0 * d * kU * smax + (2.0 * vis + 12.0) * kU);
      for (int64_t e = 0; e < d; ++e) {
        double a = 0, vmax = 0;
        for (int64_t j = 0; j < vis; ++j) {
          a += s[j] / sum * std::fabs(v[j * kv_stride + h * d + e]);
          vmax = std::fmax(vmax, std::fabs(v[j * kv_stride + h * d + e]));
        }
        b.tol[i * c + h * d + e] = rel * a + 0x1p-126 * vmax * vis;
      }
    }
  return b;
}

TEST(AttentionKernels, FloatCacheWithinTheErrorBoundOfTheReference) {
  for (const KernelTable* kt : available_kernel_tables())
    for (const AttnShape& s : attn_shapes()) {
      const int64_t c = s.heads * s.d, kv_stride = c + 3;  // a cache row wider than C
      SCOPED_TRACE(std::string(kt->name) + " heads " + std::to_string(s.heads) + " d " + std::to_string(s.d) + " T " +
                   std::to_string(s.t) + " L " + std::to_string(s.l));
      auto q = randn(static_cast<size_t>(s.t * 3 * c), 1 + static_cast<unsigned>(s.d), s.q_scale);
      const auto k = randn(static_cast<size_t>(s.l * kv_stride), 2 + static_cast<unsigned>(s.l));
      const auto v = randn(static_cast<size_t>(s.l * kv_stride), 3 + static_cast<unsigned>(s.l), 2.0f, 0.5f);
      std::vector<float> scratch(s.l), want(s.t * c), got(s.t * c);
      set_num_threads(1);
      ref_kernel_table().causal_attention(q.data(), 3 * c, k.data(), v.data(), kv_stride, s.t, s.l, c, s.heads,
                                          scratch.data(), want.data());
      kt->causal_attention(q.data(), 3 * c, k.data(), v.data(), kv_stride, s.t, s.l, c, s.heads, scratch.data(),
                           got.data());
      const Bounds b = attention_bounds(q.data(), 3 * c, k.data(), v.data(), kv_stride, s.t, s.l, c, s.heads);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_LE(std::fabs(double(got[i]) - want[i]), b.tol[i]) << "element " << i << ": " << got[i] << " vs " << want[i];
      // Two threads give the same bits, and so does each query run alone as a decoding step.
      std::vector<float> two(s.t * c);
      set_num_threads(2);
      kt->causal_attention(q.data(), 3 * c, k.data(), v.data(), kv_stride, s.t, s.l, c, s.heads, scratch.data(),
                           two.data());
      set_num_threads(0);  // the default again
      EXPECT_EQ(std::memcmp(two.data(), got.data(), got.size() * 4), 0) << "2 threads";
      for (int64_t i = 0; i < s.t; ++i) {
        std::vector<float> one(c);
        kt->causal_attention(q.data() + i * 3 * c, 3 * c, k.data(), v.data(), kv_stride, 1, s.l - s.t + i + 1, c,
                             s.heads, scratch.data(), one.data());
        EXPECT_EQ(std::memcmp(one.data(), got.data() + i * c, c * 4), 0) << "query " << i << " alone";
      }
    }
}

struct QuantCase {
  int64_t heads, d;
  KvQuant q;
};

// Groups smaller than a vector (several scales per vector: 2, 4, 5, 8), groups that do not
// divide the vector width, an odd number of groups per row, odd head dimensions (int4: the
// reference's path), 8-bit codes.
const std::vector<QuantCase>& quant_cases() {
  static const std::vector<QuantCase> c = {
      {2, 32, {4, 32, true, 1.0f}},  {2, 32, {4, 8, false, 1.0f}}, {3, 20, {4, 4, true, 1.0f}},
      {1, 6, {4, 2, true, 0.9f}},    {3, 10, {4, 5, false, 1.0f}}, {2, 24, {4, 24, true, 1.0f}},
      {1, 40, {4, 8, true, 1.0f}},   {2, 5, {4, 5, true, 1.0f}},   {2, 17, {8, 17, true, 1.0f}},
      {3, 12, {8, 4, false, 1.0f}},  {2, 32, {4, 16, true, 0.9f}}, {1, 64, {4, 64, true, 1.0f}},
      {2, 32, {8, 16, true, 1.0f}},  {2, 48, {8, 48, true, 1.0f}},
      // Integer zero points (feature kv_cache_zero_point): an odd count of int4 zero points (3
      // groups: a padding nibble), odd int4 groups that share bytes, int8.
      {3, 32, {4, 32, false, 1.0f, true}}, {3, 10, {4, 5, false, 1.0f, true}}, {2, 32, {4, 8, false, 1.0f, true}},
      {3, 12, {8, 4, false, 1.0f, true}}};
  return c;
}

TEST(AttentionKernels, QuantizedCacheEqualsFloatOnTheDequantizedCacheAndNearsTheReference) {
  for (const KernelTable* kt : available_kernel_tables())
    for (const QuantCase& qc : quant_cases())
      for (auto [t, l] : {std::pair<int64_t, int64_t>{1, 1}, {1, 23}, {4, 9}}) {
        const int64_t c = qc.heads * qc.d;
        SCOPED_TRACE(std::string(kt->name) + " heads " + std::to_string(qc.heads) + " d " + std::to_string(qc.d) +
                     " bits " + std::to_string(qc.q.bits) + " group " + std::to_string(qc.q.group) + " T " +
                     std::to_string(t) + " L " + std::to_string(l));
        // The cache as the runtime keeps it: codes and fp16 scales (+ offsets) per row, quantized
        // by the table's own quantize_kv_rows, which must be core/kv_quant.h's rule exactly.
        const int64_t cb = kv_row_code_bytes(c, qc.q.group, kv_scheme_of(qc.q)), groups = c / qc.q.group;
        const int64_t zero_at = qc.q.int_zero_point ? kv_code_bytes(c, qc.q.bits) : 0;
        auto kv = randn(static_cast<size_t>(l * 2 * c), 5 + static_cast<unsigned>(c), 1.5f, 0.3f);
        // Groups whose scale is special: all zeros (scale 1), tiny (an fp16 subnormal or 2^-24),
        // huge (clamped to 65504).
        const float special[] = {0.0f, 1e-9f, 1e-6f, 1e6f};
        for (int64_t j = 0; j < l && j < 4; ++j)
          for (int64_t e = 0; e < qc.q.group; ++e) kv[j * 2 * c + e] *= special[j];
        std::vector<uint8_t> kc(l * cb), vc(l * cb), kc_ref(l * cb);
        std::vector<uint16_t> ks(l * groups), vs(l * groups), ko(l * groups), vo(l * groups), ks_ref(l * groups),
            ko_ref(l * groups);
        const bool asym = !qc.q.symmetric && !qc.q.int_zero_point;  // fp16 offsets
        kt->quantize_kv_rows(kv.data(), l, 2 * c, c, qc.q, kc.data(), cb, ks.data(), asym ? ko.data() : nullptr, groups);
        kt->quantize_kv_rows(kv.data() + c, l, 2 * c, c, qc.q, vc.data(), cb, vs.data(), asym ? vo.data() : nullptr,
                             groups);
        for (int64_t j = 0; j < l; ++j)
          kv_quantize_row(kv.data() + j * 2 * c, c, qc.q.group, kv_scheme_of(qc.q), kc_ref.data() + j * cb,
                          ks_ref.data() + j * groups, ko_ref.data() + j * groups);
        ASSERT_EQ(kc, kc_ref);
        ASSERT_EQ(ks, ks_ref);
        if (asym) {
          ASSERT_EQ(ko, ko_ref);
        }
        const QuantKvRows k{kc.data(), ks.data(), asym ? ko.data() : nullptr, cb, groups, qc.q, zero_at};
        const QuantKvRows v{vc.data(), vs.data(), asym ? vo.data() : nullptr, cb, groups, qc.q, zero_at};
        std::vector<float> kd(l * c), vd(l * c);
        for (int64_t j = 0; j < l; ++j) {
          kv_dequantize_row(kc.data() + j * cb, ks.data() + j * groups, asym ? ko.data() + j * groups : nullptr, 0, c,
                            qc.q.group, kv_scheme_of(qc.q), kd.data() + j * c,
                            qc.q.int_zero_point ? kc.data() + j * cb + zero_at : nullptr);
          kv_dequantize_row(vc.data() + j * cb, vs.data() + j * groups, asym ? vo.data() + j * groups : nullptr, 0, c,
                            qc.q.group, kv_scheme_of(qc.q), vd.data() + j * c,
                            qc.q.int_zero_point ? vc.data() + j * cb + zero_at : nullptr);
        }
        const auto q = randn(static_cast<size_t>(t * 3 * c), 9 + static_cast<unsigned>(qc.d), 2.0f);
        std::vector<float> scratch(l), got(t * c), flt(t * c), want(t * c);
        kt->qkv_causal_attention(q.data(), 3 * c, k, v, t, l, c, qc.heads, scratch.data(), got.data());
        kt->causal_attention(q.data(), 3 * c, kd.data(), vd.data(), c, t, l, c, qc.heads, scratch.data(), flt.data());
        EXPECT_EQ(std::memcmp(got.data(), flt.data(), got.size() * 4), 0) << "not the float kernel on the dequantized cache";
        ref_kernel_table().qkv_causal_attention(q.data(), 3 * c, k, v, t, l, c, qc.heads, scratch.data(), want.data());
        const Bounds b = attention_bounds(q.data(), 3 * c, kd.data(), vd.data(), c, t, l, c, qc.heads);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_LE(std::fabs(double(got[i]) - want[i]), b.tol[i]) << "element " << i;
      }
}

// GELU: the reference is 0.5 x (1 + erff(x / sqrt 2)) in float with libm's erff (< 1 ulp). An
// implementation whose erf is within E of the true erf (absolute: erf is in [-1, 1]) and that
// rounds the rest as the reference does is within |dy| <= 0.5 |x| (E + 1 ulp(1) (erff) + u (x /
// sqrt 2's rounding, times erf' <= 1.13) + 3 u |y| of the reference. E = 4 ulp of 1 (8u) is the
// bound this test holds vectorized erfs to.
TEST(AttentionKernels, GeluWithinTheErfBoundOfTheReference) {
  std::vector<float> x = randn(997, 17, 3.0f);
  for (float s : {0.0f, -0.0f, 1e-30f, 1e-8f, 0.5f, 1.0f, 2.0f, 3.0f, 3.9f, 4.0f, 4.1f, 5.0f, 10.0f, 100.0f, 1e30f})
    x.insert(x.end(), {s, -s});
  for (int i = -6000; i <= 6000; ++i) x.push_back(static_cast<float>(i) * 1e-3f);  // a dense sweep of [-6, 6]
  for (const KernelTable* kt : available_kernel_tables())
    for (size_t n : {size_t{1}, size_t{7}, size_t{33}, x.size()}) {
      SCOPED_TRACE(std::string(kt->name) + " n " + std::to_string(n));
      std::vector<float> want(n), got(n);
      ref_kernel_table().gelu(x.data(), static_cast<int64_t>(n), want.data());
      kt->gelu(x.data(), static_cast<int64_t>(n), got.data());
      for (size_t i = 0; i < n; ++i) {
        const double tol = 0.5 * std::fabs(x[i]) * (8 * kU + 2 * kU + 1.13 * kU) + 3 * kU * std::fabs(want[i]);
        ASSERT_LE(std::fabs(double(got[i]) - want[i]), tol) << "x = " << x[i] << ": " << got[i] << " vs " << want[i];
      }
    }
}

// Layernorm: both compute mean and variance in double (errors ~ cols * 2^-53 relative) and round
// them once to float, so mu and rstd are the reference's or a neighbouring float (1 ulp: u
// relative); the float epilogue ((x - mu) * rstd * gamma + beta) is the reference's op for op.
// So |dy| <= (|mu| u + |x - mu| u) |rstd gamma| (the rounding of x - mu moves by at most the ulp
// change of mu) + |(x - mu) rstd gamma| u (rstd) + the roundings of the three following ops on
// the changed values (3 u |y| + 3 u |beta|), all doubled for slack of second order terms.
TEST(AttentionKernels, LayernormWithinOneUlpOfStatisticsOfTheReference) {
  for (const KernelTable* kt : available_kernel_tables())
    for (int64_t cols : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{100}})
      for (float mean : {0.0f, 100.0f}) {
        SCOPED_TRACE(std::string(kt->name) + " cols " + std::to_string(cols) + " mean " + std::to_string(mean));
        const int64_t rows = 3;
        const auto x = randn(static_cast<size_t>(rows * cols), 31 + static_cast<unsigned>(cols), 1.0f, mean);
        const auto g = randn(static_cast<size_t>(cols), 32, 0.5f, 1.0f), b = randn(static_cast<size_t>(cols), 33, 0.2f);
        std::vector<float> want(rows * cols), got(rows * cols);
        ref_kernel_table().layernorm(x.data(), rows, cols, g.data(), b.data(), 1e-5f, want.data());
        kt->layernorm(x.data(), rows, cols, g.data(), b.data(), 1e-5f, got.data());
        for (int64_t r = 0; r < rows; ++r) {
          double mu = 0, var = 0;
          for (int64_t i = 0; i < cols; ++i) mu += x[r * cols + i];
          mu /= cols;
          for (int64_t i = 0; i < cols; ++i) var += (x[r * cols + i] - mu) * (x[r * cols + i] - mu);
          const double rstd = 1.0 / std::sqrt(var / cols + 1e-5);
          for (int64_t i = 0; i < cols; ++i) {
            const size_t e = r * cols + i;
            const double xm = std::fabs(x[e] - mu), rg = std::fabs(rstd * g[i]);
            const double tol =
                2 * ((std::fabs(mu) + xm) * kU * rg + xm * rg * kU + 3 * kU * (std::fabs(want[e]) + std::fabs(b[i])));
            ASSERT_LE(std::fabs(double(got[e]) - want[e]), tol) << "row " << r << " col " << i;
          }
        }
      }
}

}  // namespace
}  // namespace qf::kernels
