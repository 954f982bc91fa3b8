// The decoder kernels (rms_norm, rope, gqa_attention, gated_act, scale): the reference entries
// against direct double-precision formulas (sliding window and GQA head mapping included), the
// incremental (KV-cache) form against the full one, and every table this CPU runs against the
// reference entries bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/kernels/kernels.h"
#include "runtime/kernels/threads.h"

namespace qf::kernels {
namespace {

std::vector<float> randn(size_t n, unsigned seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(DecoderKernels, RmsNormBothVariantsPerRun) {
  const KernelTable& kt = ref_kernel_table();
  const int64_t n = 6, d = 5;
  const auto x = randn(n * d, 1), w = randn(d, 2);
  for (int plus_one : {0, 1}) {
    std::vector<float> y(x.size());
    kt.rms_norm(x.data(), n, d, w.data(), 1e-6f, plus_one, y.data());
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < n; ++r) {
      double ss = 0;
      for (int64_t c = 0; c < d; ++c) ss += double(x[r * d + c]) * x[r * d + c];
      const double inv = 1 / std::sqrt(ss / d + 1e-6);
      for (int64_t c = 0; c < d; ++c) want[r * d + c] = x[r * d + c] * inv * (plus_one ? 1 + w[c] : w[c]);
    }
    EXPECT_LE(max_abs_diff(y, want), 1e-5) << plus_one;
  }
}

TEST(DecoderKernels, RopeRotatesHalvesAtTheirPositions) {
  const KernelTable& kt = ref_kernel_table();
  const int64_t rows = 6, period = 3, p0 = 5, heads = 2, h2 = 3;
  const auto x = randn(rows * heads * 2 * h2, 3);
  const std::vector<float> f = {1.0f, 0.1f, 0.01f};
  std::vector<float> y(x.size());
  kt.rope(x.data(), rows, period, p0, heads, h2, f.data(), y.data());
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < h2; ++i) {
        const double a = double(float(p0 + r % period) * f[i]);
        const size_t lo = r * heads * 2 * h2 + h * 2 * h2 + i, hi = lo + h2;
        want[lo] = x[lo] * std::cos(a) - x[hi] * std::sin(a);
        want[hi] = x[hi] * std::cos(a) + x[lo] * std::sin(a);
      }
  EXPECT_LE(max_abs_diff(y, want), 1e-5);
  // In place gives the same bits (the op may run on its own buffer).
  std::vector<float> z = x;
  kt.rope(z.data(), rows, period, p0, heads, h2, f.data(), z.data());
  EXPECT_EQ(std::memcmp(z.data(), y.data(), y.size() * 4), 0);
}

// softmax(scale q.k) v over the visible keys, in double, query head h -> kv head h / group.
std::vector<double> attention_direct(const std::vector<float>& q, const std::vector<float>& k,
                                     const std::vector<float>& v, int64_t t, int64_t l, int64_t heads,
                                     int64_t kvh, int64_t d, int64_t window, double scale) {
  std::vector<double> y(t * heads * d, 0.0);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < t; ++i) {
      const int64_t pos = l - t + i, g = h / (heads / kvh);
      std::vector<double> s;
      std::vector<int64_t> js;
      for (int64_t j = 0; j <= pos; ++j) {
        if (window > 0 && j <= pos - window) continue;
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += double(q[i * heads * d + h * d + e]) * k[j * kvh * d + g * d + e];
        s.push_back(dot * scale);
        js.push_back(j);
      }
      double mx = -1e300, sum = 0;
      for (double a : s) mx = std::fmax(mx, a);
      for (double& a : s) sum += (a = std::exp(a - mx));
      for (size_t n = 0; n < s.size(); ++n)
        for (int64_t e = 0; e < d; ++e) y[i * heads * d + h * d + e] += s[n] / sum * v[js[n] * kvh * d + g * d + e];
    }
  return y;
}

TEST(DecoderKernels, GqaAttentionWindowAndHeadGroups) {
  const KernelTable& kt = ref_kernel_table();
  const int64_t heads = 4, kvh = 2, d = 3, l = 11;
  const auto k = randn(l * kvh * d, 4), v = randn(l * kvh * d, 5);
  for (int64_t window : {0, 1, 4}) {
    for (int64_t t : {int64_t{1}, int64_t{5}, l}) {
      const auto q = randn(t * heads * d, 6 + t);
      std::vector<float> y(t * heads * d), scratch(l);
      kt.gqa_attention(q.data(), heads * d, k.data(), v.data(), kvh * d, t, l, heads, kvh, d, window, 0.4f,
                       scratch.data(), y.data());
      EXPECT_LE(max_abs_diff(y, attention_direct(q, k, v, t, l, heads, kvh, d, window, 0.4)), 1e-5)
          << "window " << window << " t " << t;
    }
  }
}

TEST(DecoderKernels, GatedActivations) {
  const KernelTable& kt = ref_kernel_table();
  const auto g = randn(37, 7, 3.0f), u = randn(37, 8);
  for (int act : {0, 1}) {
    std::vector<float> y(g.size());
    kt.gated_act(g.data(), u.data(), 37, act, y.data());
    std::vector<double> want(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      const double x = g[i];
      const double a = act == 0 ? x / (1 + std::exp(-x))
                                : 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
      want[i] = a * u[i];
    }
    EXPECT_LE(max_abs_diff(y, want), 1e-5) << act;
  }
}

TEST(DecoderKernels, EveryTableMatchesTheReference) {
  const KernelTable& ref = ref_kernel_table();
  const auto x = randn(8 * 16, 9), w = randn(16, 10), k = randn(8 * 8, 11), v = randn(8 * 8, 12);
  const std::vector<float> f = {1.0f, 0.3f, 0.1f, 0.03f};
  for (const KernelTable* kt : available_kernel_tables()) {
    ASSERT_TRUE(kt->rms_norm && kt->rope && kt->gqa_attention && kt->gated_act && kt->scale) << kt->name;
    std::vector<float> a(x.size()), b(x.size()), s(8);
    ref.rms_norm(x.data(), 8, 16, w.data(), 1e-6f, 1, a.data());
    kt->rms_norm(x.data(), 8, 16, w.data(), 1e-6f, 1, b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << kt->name << " rms_norm";
    ref.rope(x.data(), 8, 4, 3, 2, 4, f.data(), a.data());
    kt->rope(x.data(), 8, 4, 3, 2, 4, f.data(), b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << kt->name << " rope";
    ref.gqa_attention(x.data(), 16, k.data(), v.data(), 8, 8, 8, 4, 2, 4, 3, 0.5f, s.data(), a.data());
    kt->gqa_attention(x.data(), 16, k.data(), v.data(), 8, 8, 8, 4, 2, 4, 3, 0.5f, s.data(), b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << kt->name << " gqa_attention";
    ref.gated_act(x.data(), w.data(), 16, 1, a.data());
    kt->gated_act(x.data(), w.data(), 16, 1, b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), 16 * 4), 0) << kt->name << " gated_act";
  }
}

// The x86 gqa_attention (threaded over query blocks x kv heads, four keys' dot products
// interleaved) is the reference's arithmetic: memcmp, on shapes with prompt steps longer than a
// query block (16), tails of the 4-key blocks, windows, head groups of 1 / 4 / 8, odd and Llama
// head dimensions, 1 and 2 threads.
TEST(DecoderKernels, GqaAttentionOfEveryTableIsTheReferenceBitForBit) {
  const KernelTable& ref = ref_kernel_table();
  struct Case { int64_t heads, kvh, d, t, l, window; };
  const Case cases[] = {{8, 2, 64, 1, 70, 0},  {8, 2, 64, 37, 37, 0}, {8, 2, 64, 37, 53, 0}, {4, 4, 3, 19, 23, 0},
                        {8, 1, 5, 33, 33, 7},  {32, 8, 64, 1, 9, 0},  {6, 3, 16, 5, 6, 4},   {2, 2, 64, 2, 2, 0}};
  for (const KernelTable* kt : available_kernel_tables())
    for (int threads : {1, 2})
      for (const Case& c : cases) {
        set_num_threads(threads);
        const int64_t qc = c.heads * c.d, kc = c.kvh * c.d;
        const auto q = randn(static_cast<size_t>(c.t * qc), 21, 2.0f), k = randn(static_cast<size_t>(c.l * kc), 22, 2.0f),
                   v = randn(static_cast<size_t>(c.l * kc), 23);
        std::vector<float> a(static_cast<size_t>(c.t * qc), 1.0f), b(a.size(), 2.0f), s(static_cast<size_t>(c.l));
        ref.gqa_attention(q.data(), qc, k.data(), v.data(), kc, c.t, c.l, c.heads, c.kvh, c.d, c.window, 0.125f, s.data(),
                          a.data());
        kt->gqa_attention(q.data(), qc, k.data(), v.data(), kc, c.t, c.l, c.heads, c.kvh, c.d, c.window, 0.125f, s.data(),
                          b.data());
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
            << kt->name << " threads " << threads << " heads " << c.heads << "/" << c.kvh << " d " << c.d << " t " << c.t
            << " l " << c.l << " window " << c.window;
      }
  set_num_threads(0);
}

// The x86 gated_act (the reference on chunks, over the pool): memcmp, lengths around the chunk.
TEST(DecoderKernels, GatedActOfEveryTableIsTheReferenceBitForBit) {
  const KernelTable& ref = ref_kernel_table();
  for (const KernelTable* kt : available_kernel_tables())
    for (int threads : {1, 2})
      for (int64_t n : {int64_t{1}, int64_t{1023}, int64_t{1025}, int64_t{8192}, int64_t{20000}})
        for (int act : {0, 1}) {
          set_num_threads(threads);
          const auto g = randn(static_cast<size_t>(n), 31, 4.0f), u = randn(static_cast<size_t>(n), 32);
          std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n), 7.0f);
          ref.gated_act(g.data(), u.data(), n, act, a.data());
          kt->gated_act(g.data(), u.data(), n, act, b.data());
          EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << kt->name << " n " << n << " act " << act;
        }
  set_num_threads(0);
}

}  // namespace
}  // namespace qf::kernels
