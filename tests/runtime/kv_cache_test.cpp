// The quantized KV cache (feature kv_cache_int4): appends in uneven steps (growth by doubling
// included) against the float cache and core/kv_quant.h's rule on random data, and the qkv_*
// attention kernels against the float kernels run on the dequantized cache, bit for bit, for
// every scheme and every kernel table this CPU runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/kv_quant.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/kv_cache_ref.h"
#include "runtime/kv_cache.h"

namespace qf {
namespace {

std::vector<float> randn(size_t n, unsigned seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

struct KvCase {
  const char* name;
  kernels::KvQuant q;
};

const std::vector<KvCase>& cases() {
  static const std::vector<KvCase> c = {
      {"int4 g32 symmetric", {4, 32, true, 1.0f}},
      {"int4 g16 symmetric clip 0.8", {4, 16, true, 0.8f}},
      {"int4 g32 asymmetric", {4, 32, false, 1.0f}},
      {"int8 g32 symmetric", {8, 32, true, 1.0f}},
      {"int8 g16 asymmetric", {8, 16, false, 1.0f}},
      {"int4 g32 integer zero point", {4, 32, false, 1.0f, true}},
      {"int4 g8 integer zero point", {4, 8, false, 1.0f, true}},
      {"int8 g16 integer zero point", {8, 16, false, 1.0f, true}},
  };
  return c;
}

// Row j of a quantized cache, dequantized.
std::vector<float> row_of(const kernels::QuantKvRows& r, int64_t j, int64_t c) {
  std::vector<float> y(static_cast<size_t>(c));
  kv_dequantize_row(r.codes + j * r.code_stride, r.scales + j * r.scale_stride,
                    r.offsets ? r.offsets + j * r.scale_stride : nullptr, 0, c, r.q.group, kernels::kv_scheme_of(r.q),
                    y.data(), r.q.int_zero_point ? r.codes + j * r.code_stride + r.zero_at : nullptr);
  return y;
}

// Batch 2, C = 64 (two heads of 32 for causal_attention; kv_heads 2 x 32 for GQA), tokens appended
// 5 + 1 + 13 + 1 + 3 at a time (the cache grows past 16 and 32 rows), each source row strided
// like the qkv tensor of causal_attention.
constexpr int64_t kBatch = 2, kC = 64;
const std::vector<int64_t> kSteps = {5, 1, 13, 1, 3};

TEST(KvCache, QuantizedAppendMatchesTheRuleAndTheFloatCache) {
  for (const kernels::KernelTable* kt : kernels::available_kernel_tables())
    for (const KvCase& kc : cases()) {
      SCOPED_TRACE(std::string(kt->name) + " " + kc.name);
      KvCache quant, flt;
      quant.set_quantization(kc.q);
      int64_t total = 0;
      std::vector<std::vector<float>> k_rows(kBatch), v_rows(kBatch);  // what was appended
      for (size_t s = 0; s < kSteps.size(); ++s) {
        const int64_t t = kSteps[s];
        const auto x = randn(static_cast<size_t>(kBatch * t * 3 * kC), 100 + static_cast<unsigned>(s), 2.0f);
        quant.append(*kt, kBatch, t, kC, x.data() + kC, x.data() + 2 * kC, 3 * kC, t * 3 * kC);
        flt.append(*kt, kBatch, t, kC, x.data() + kC, x.data() + 2 * kC, 3 * kC, t * 3 * kC);
        for (int64_t b = 0; b < kBatch; ++b)
          for (int64_t i = 0; i < t; ++i) {
            const float* row = x.data() + b * t * 3 * kC + i * 3 * kC;
            k_rows[b].insert(k_rows[b].end(), row + kC, row + 2 * kC);
            v_rows[b].insert(v_rows[b].end(), row + 2 * kC, row + 3 * kC);
          }
        total += t;
      }
      ASSERT_EQ(quant.length(), total);
      const KvCacheScheme s = kernels::kv_scheme_of(kc.q);
      for (int64_t b = 0; b < kBatch; ++b)
        for (int64_t j = 0; j < total; ++j) {
          // The float cache holds the rows unchanged.
          ASSERT_EQ(std::memcmp(flt.k(b) + j * kC, k_rows[b].data() + j * kC, kC * 4), 0);
          ASSERT_EQ(std::memcmp(flt.v(b) + j * kC, v_rows[b].data() + j * kC, kC * 4), 0);
          // The quantized cache reads back exactly core's fake quantization of each row, which is
          // within a step of the float row.
          for (auto [rows, src] : {std::pair{quant.qk(b), &k_rows[b]}, std::pair{quant.qv(b), &v_rows[b]}}) {
            const std::vector<float> got = row_of(rows, j, kC);
            std::vector<float> want(kC);
            kv_fake_quantize_row(src->data() + j * kC, kC, kc.q.group, s, want.data());
            ASSERT_EQ(got, want) << "batch " << b << " token " << j;
            for (int64_t e = 0; e < kC; ++e) {
              const float step = fp16_to_fp32(rows.scales[j * rows.scale_stride + e / kc.q.group]);
              const float err = std::fabs(got[e] - (*src)[j * kC + e]);
              // A clipped value may be off by more than a step: bound it by its clipped part.
              const float qmax = kc.q.bits == 4 ? 7.0f : 127.0f;
              const float clipped = kc.q.symmetric ? std::fabs((*src)[j * kC + e]) - qmax * step : 0.0f;
              EXPECT_LE(err, std::fmax(1.01f * step, clipped + step)) << "batch " << b << " token " << j;
            }
          }
        }
      // Bytes per token: codes (+ integer zero points) + fp16 scales (+ fp16 offsets), K and V.
      const int64_t codes = kc.q.bits == 4 ? kC / 2 : kC, groups = kC / kc.q.group;
      const int64_t zeros = kc.q.int_zero_point ? (kc.q.bits == 4 ? (groups + 1) / 2 : groups) : 0;
      const bool fp16_offsets = !kc.q.symmetric && !kc.q.int_zero_point;
      EXPECT_EQ(quant.bytes_per_token(), 2 * (codes + zeros + groups * 2 * (fp16_offsets ? 2 : 1)));
      EXPECT_EQ(flt.bytes_per_token(), 2 * kC * 4);
      EXPECT_EQ(quant.bytes(), kBatch * total * quant.bytes_per_token());
    }
}

TEST(KvCache, QuantizationIsSetBeforeTheFirstToken) {
  const kernels::KernelTable& kt = kernels::ref_kernel_table();
  KvCache cache;
  const auto x = randn(3 * kC, 1);
  cache.append(kt, 1, 1, kC, x.data(), x.data() + kC, kC, kC);
  EXPECT_THROW(cache.set_quantization({4, 32, true, 1.0f}), Error);
  KvCache odd;
  odd.set_quantization({4, 48, true, 1.0f});
  EXPECT_THROW(odd.append(kt, 1, 1, kC, x.data(), x.data() + kC, kC, kC), Error);
}

// The attention kernels over a quantized cache equal the float kernels over its dequantized
// copy, bit for bit, decoding step by step (T = 1) and in a prefill (T = 6).
TEST(KvCache, QuantizedAttentionEqualsFloatAttentionOnTheDequantizedCache) {
  const int64_t heads = 2, d = kC / heads, l = 23, gqa_heads = 4;
  for (const kernels::KernelTable* kt : kernels::available_kernel_tables()) {
    ASSERT_TRUE(kt->quantize_kv_rows && kt->qkv_causal_attention && kt->qkv_gqa_attention) << kt->name;
    for (const KvCase& kc : cases()) {
      SCOPED_TRACE(std::string(kt->name) + " " + kc.name);
      const auto kv = randn(static_cast<size_t>(l * 2 * kC), 7, 1.5f);
      KvCache cache;
      cache.set_quantization(kc.q);
      cache.append(*kt, 1, l, kC, kv.data(), kv.data() + kC, 2 * kC, l * 2 * kC);
      std::vector<float> kd, vd;  // the dequantized cache
      for (int64_t j = 0; j < l; ++j) {
        const auto kr = row_of(cache.qk(0), j, kC), vr = row_of(cache.qv(0), j, kC);
        kd.insert(kd.end(), kr.begin(), kr.end());
        vd.insert(vd.end(), vr.begin(), vr.end());
      }
      std::vector<float> scratch(l);
      for (int64_t t : {int64_t{1}, int64_t{6}}) {
        const auto q = randn(static_cast<size_t>(t * 3 * kC), 11 + static_cast<unsigned>(t));
        std::vector<float> a(t * kC), b(t * kC);
        kt->causal_attention(q.data(), 3 * kC, kd.data(), vd.data(), kC, t, l, kC, heads, scratch.data(), a.data());
        kt->qkv_causal_attention(q.data(), 3 * kC, cache.qk(0), cache.qv(0), t, l, kC, heads, scratch.data(),
                                 b.data());
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "causal_attention T=" << t;
        // GQA: 4 query heads over the 2 kv heads of the cache, with and without a window.
        const auto qg = randn(static_cast<size_t>(t * gqa_heads * d), 21 + static_cast<unsigned>(t));
        for (int64_t window : {int64_t{0}, int64_t{7}}) {
          std::vector<float> ga(t * gqa_heads * d), gb(t * gqa_heads * d);
          kt->gqa_attention(qg.data(), gqa_heads * d, kd.data(), vd.data(), kC, t, l, gqa_heads, heads, d, window,
                            0.17f, scratch.data(), ga.data());
          kt->qkv_gqa_attention(qg.data(), gqa_heads * d, cache.qk(0), cache.qv(0), t, l, gqa_heads, heads, d, window,
                                0.17f, scratch.data(), gb.data());
          EXPECT_EQ(std::memcmp(ga.data(), gb.data(), ga.size() * 4), 0) << "gqa_attention T=" << t << " w=" << window;
        }
        // And the quantized result stays near the float cache's (a sanity bound, not a tuned one:
        // int4 codes move each value by up to half a step of max|x| / 7).
        std::vector<float> f(t * kC);
        kt->causal_attention(q.data(), 3 * kC, kv.data(), kv.data() + kC, 2 * kC, t, l, kC, heads, scratch.data(),
                             f.data());
        double worst = 0;
        for (size_t i = 0; i < f.size(); ++i) worst = std::fmax(worst, std::fabs(f[i] - b[i]));
        EXPECT_LT(worst, kc.q.bits == 4 ? 1.0 : 0.1);
      }
    }
  }
}

}  // namespace
}  // namespace qf
