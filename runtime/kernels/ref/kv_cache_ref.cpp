#include "runtime/kernels/ref/kv_cache_ref.h"

#include "core/kv_quant.h"
#include "runtime/kernels/ref/attention_impl.h"

namespace qf::kernels {

KvCacheScheme kv_scheme_of(const KvQuant& q) {
  KvCacheScheme s;
  s.bits = q.bits;
  s.group_size = q.group;
  s.symmetric = q.symmetric;
  s.clip = q.clip;
  s.int_zero_point = q.int_zero_point;
  return s;
}

namespace {

// A quantized cache: each row slice is dequantized into the caller's buffer as it is read.
struct QuantRows {
  const QuantKvRows &k, &v;
  KvCacheScheme ks, vs;
  static const float* read(const QuantKvRows& r, const KvCacheScheme& s, int64_t j, int64_t off, int64_t n,
                           float* buf) {
    const uint8_t* row = r.codes + j * r.code_stride;
    kv_dequantize_row(row, r.scales + j * r.scale_stride, r.offsets ? r.offsets + j * r.scale_stride : nullptr, off,
                      n, r.q.group, s, buf, s.int_zero_point ? row + r.zero_at : nullptr);
    return buf;
  }
  const float* key(int64_t j, int64_t off, int64_t n, float* buf) const { return read(k, ks, j, off, n, buf); }
  const float* value(int64_t j, int64_t off, int64_t n, float* buf) const { return read(v, vs, j, off, n, buf); }
};

}  // namespace

void f32_quantize_kv_rows_ref(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                              uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                              int64_t scale_stride) {
  const KvCacheScheme s = kv_scheme_of(q);
  for (int64_t r = 0; r < rows; ++r)
    kv_quantize_row(x + r * x_stride, c, q.group, s, codes + r * code_stride, scales + r * scale_stride,
                    offsets ? offsets + r * scale_stride : nullptr);
}

void f32_qkv_causal_attention_ref(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                  int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  ref_impl::causal_attention(q, q_stride, QuantRows{k, v, kv_scheme_of(k.q), kv_scheme_of(v.q)}, t, l, c, heads,
                             scratch, y);
}

void f32_qkv_gqa_attention_ref(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                               int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                               float scale, float* scratch, float* y) {
  (void)scratch;
  ref_impl::gqa_attention(q, q_stride, QuantRows{k, v, kv_scheme_of(k.q), kv_scheme_of(v.q)}, t, l, heads, kv_heads, d,
                          window, scale, y);
}

}  // namespace qf::kernels
