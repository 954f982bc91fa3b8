// Threading and fallbacks of the x86 attention entries (baseline flags): a batch element's
// queries x head blocks go to the pool, each block to the ISA file's kernel with scratch of its
// own. One thread: one block of all heads per query, so each cache row is read once per pass.
#include <algorithm>
#include <vector>

#include "runtime/kernels/ref/kv_cache_ref.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_attention_kernels.h"

namespace qf::kernels::x86 {
namespace {

template <typename Block>
void run_blocks(int64_t t, int64_t l, int64_t c, int64_t heads, int lanes, const Block& block) {
  if (t <= 0 || heads <= 0) return;
  const int64_t d = c / heads;
  const int64_t hb = std::min<int64_t>(heads, num_threads());  // head blocks
  const double cost = 4.0 * static_cast<double>(l) * static_cast<double>(c) / static_cast<double>(hb);
  parallel_for(t * hb, cost, [&](int64_t a0, int64_t a1) {
    thread_local std::vector<float> sc, groups;
    for (int64_t a = a0; a < a1; ++a) {
      const int64_t i = a / hb, b = a % hb;
      const int64_t h0 = b * heads / hb, h1 = (b + 1) * heads / hb;
      if (sc.size() < static_cast<size_t>((h1 - h0) * l)) sc.resize(static_cast<size_t>((h1 - h0) * l));
      const size_t ng = static_cast<size_t>(2 * ((d + lanes - 1) / lanes) * lanes);
      if (groups.size() < ng) groups.resize(ng);
      block(i, h0, h1, sc.data(), groups.data());
    }
  });
}

using FloatBlockFn = void (*)(const AttentionBlock&, const float*, const float*, int64_t, float*);
using QuantBlockFn = void (*)(const AttentionBlock&, const QuantKvRows&, const QuantKvRows&, float*, float*);

void float_attention(FloatBlockFn fn, int lanes, const float* q, int64_t q_stride, const float* k, const float* v,
                     int64_t kv_stride, int64_t t, int64_t l, int64_t c, int64_t heads, float* y) {
  run_blocks(t, l, c, heads, lanes, [&](int64_t i, int64_t h0, int64_t h1, float* sc, float*) {
    fn(AttentionBlock{q, q_stride, t, l, c, heads, i, i + 1, h0, h1, y}, k, v, kv_stride, sc);
  });
}

// 4- and 8-bit codes (the format's); anything else runs the reference.
bool simd_takes(const QuantKvRows& r) { return r.q.bits == 4 || r.q.bits == 8; }

void quant_attention(QuantBlockFn fn, int lanes, const float* q, int64_t q_stride, const QuantKvRows& k,
                     const QuantKvRows& v, int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  if (!simd_takes(k) || !simd_takes(v))
    return f32_qkv_causal_attention_ref(q, q_stride, k, v, t, l, c, heads, scratch, y);
  run_blocks(t, l, c, heads, lanes, [&](int64_t i, int64_t h0, int64_t h1, float* sc, float* groups) {
    fn(AttentionBlock{q, q_stride, t, l, c, heads, i, i + 1, h0, h1, y}, k, v, sc, groups);
  });
}

}  // namespace

void f32_causal_attention__avx512(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                  int64_t t, int64_t l, int64_t c, int64_t heads, float*, float* y) {
  float_attention(f32_causal_attention_block__avx512, attention_lanes__avx512(), q, q_stride, k, v, kv_stride, t, l,
                  c, heads, y);
}
void f32_causal_attention__avx2(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                int64_t t, int64_t l, int64_t c, int64_t heads, float*, float* y) {
  float_attention(f32_causal_attention_block__avx2, attention_lanes__avx2(), q, q_stride, k, v, kv_stride, t, l, c,
                  heads, y);
}
void f32_qkv_causal_attention__avx512(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                      int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  quant_attention(f32_qkv_causal_attention_block__avx512, attention_lanes__avx512(), q, q_stride, k, v, t, l, c,
                  heads, scratch, y);
}
void f32_qkv_causal_attention__avx2(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                    int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  quant_attention(f32_qkv_causal_attention_block__avx2, attention_lanes__avx2(), q, q_stride, k, v, t, l, c, heads,
                  scratch, y);
}

void f32_quantize_kv_rows__avx512(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                                  uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                  int64_t scale_stride) {
  if (q.symmetric && (q.bits == 4 || q.bits == 8) && q.group > 0 && q.group % 16 == 0 && c % q.group == 0)
    return f32_quantize_kv_rows_sym__avx512(x, rows, x_stride, c, q, codes, code_stride, scales, scale_stride);
  f32_quantize_kv_rows_ref(x, rows, x_stride, c, q, codes, code_stride, scales, offsets, scale_stride);
}

}  // namespace qf::kernels::x86
