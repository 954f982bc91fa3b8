#include "runtime/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

#include "core/error.h"
#include "core/kv_quant.h"

namespace qf {

void KvCache::set_quantization(const kernels::KvQuant& q) {
  if (quantized_ && q.bits == q_.bits && q.group == q_.group && q.symmetric == q_.symmetric && q.clip == q_.clip)
    return;
  if (cap_ > 0) throw Error("KV cache: the quantization is set before the first token");
  quantized_ = true;
  q_ = q;
}

int64_t KvCache::code_bytes() const { return kv_code_bytes(c_, q_.bits); }
int64_t KvCache::scale_count() const { return q_.group > 0 ? c_ / q_.group : 0; }

int64_t KvCache::bytes_per_token() const {
  if (!quantized_) return 2 * c_ * static_cast<int64_t>(sizeof(float));
  return 2 * (code_bytes() + scale_count() * 2 * (q_.symmetric ? 1 : 2));
}

kernels::QuantKvRows KvCache::rows(const Buffer& codes, const Buffer& scales, const Buffer& offsets, int64_t b) const {
  kernels::QuantKvRows r;
  r.codes = static_cast<const uint8_t*>(codes.data()) + b * cap_ * code_bytes();
  r.scales = static_cast<const uint16_t*>(scales.data()) + b * cap_ * scale_count();
  r.offsets = q_.symmetric ? nullptr : static_cast<const uint16_t*>(offsets.data()) + b * cap_ * scale_count();
  r.code_stride = code_bytes();
  r.scale_stride = scale_count();
  r.q = q_;
  return r;
}

void KvCache::reserve(const kernels::KernelTable& kt, int64_t tokens) {
  if (tokens <= cap_) return;
  const int64_t cap = std::max<int64_t>({tokens, 2 * cap_, 16});
  // Per row: the bytes of each buffer (floats; or codes, scales, offsets).
  std::vector<std::pair<Buffer*, int64_t>> parts;
  if (!quantized_) {
    parts = {{&k_, c_ * 4}, {&v_, c_ * 4}};
  } else {
    parts = {{&k_, code_bytes()}, {&v_, code_bytes()}, {&ks_, scale_count() * 2}, {&vs_, scale_count() * 2}};
    if (!q_.symmetric) parts.insert(parts.end(), {{&ko_, scale_count() * 2}, {&vo_, scale_count() * 2}});
  }
  for (auto [buf, row] : parts) {
    Buffer grown(*kt.memory);
    grown.reserve(static_cast<size_t>(batch_ * cap * row));
    for (int64_t b = 0; b < batch_ && len_ > 0; ++b)
      kt.memory->copy(static_cast<char*>(grown.data()) + b * cap * row,
                      static_cast<const char*>(buf->data()) + b * cap_ * row, static_cast<size_t>(len_ * row));
    *buf = std::move(grown);
  }
  cap_ = cap;
}

void KvCache::append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
                     const float* v_src, int64_t src_stride, int64_t batch_stride) {
  if (cap_ == 0) {
    batch_ = batch;
    c_ = c;
    if (quantized_ && (q_.group <= 0 || c_ % q_.group != 0))
      throw Error("KV cache: group " + std::to_string(q_.group) + " does not divide the row of " + std::to_string(c_));
  }
  reserve(kt, len_ + t);
  for (int64_t b = 0; b < batch_; ++b) {
    if (!quantized_) {
      kt.copy_rows(k_src + b * batch_stride, src_stride, t, c_, k_.f32() + (b * cap_ + len_) * c_, c_);
      kt.copy_rows(v_src + b * batch_stride, src_stride, t, c_, v_.f32() + (b * cap_ + len_) * c_, c_);
      continue;
    }
    const int64_t row0 = b * cap_ + len_, cb = code_bytes(), sc = scale_count();
    auto* off_k = q_.symmetric ? nullptr : static_cast<uint16_t*>(ko_.data()) + row0 * sc;
    auto* off_v = q_.symmetric ? nullptr : static_cast<uint16_t*>(vo_.data()) + row0 * sc;
    kt.quantize_kv_rows(k_src + b * batch_stride, t, src_stride, c_, q_, static_cast<uint8_t*>(k_.data()) + row0 * cb,
                        cb, static_cast<uint16_t*>(ks_.data()) + row0 * sc, off_k, sc);
    kt.quantize_kv_rows(v_src + b * batch_stride, t, src_stride, c_, q_, static_cast<uint8_t*>(v_.data()) + row0 * cb,
                        cb, static_cast<uint16_t*>(vs_.data()) + row0 * sc, off_v, sc);
  }
  len_ += t;
}

void KvCache::truncate(int64_t len) {
  if (len < 0 || len > len_)
    throw Error("KvCache::truncate: length " + std::to_string(len) + " outside [0, " + std::to_string(len_) + "]");
  len_ = len;
}

void KvCache::copy_rows_out(const kernels::KernelTable& kt, int64_t b, int64_t t0, int64_t t, float* k_dst,
                            float* v_dst) const {
  if (b < 0 || b >= batch_ || t0 < 0 || t < 0 || t0 + t > len_)
    throw Error("KvCache::copy_rows_out: rows [" + std::to_string(t0) + ", " + std::to_string(t0 + t) +
                ") of batch element " + std::to_string(b) + " outside the cache (" + std::to_string(len_) + " tokens)");
  if (quantized_)
    throw Error("KvCache::copy_rows_out: the cache is quantized (kv_cache_int4); the prefix cache keeps float rows "
                "only, so it cannot take this model yet");
  if (t == 0) return;
  kt.copy_rows(k_.f32() + (b * cap_ + t0) * c_, c_, t, c_, k_dst, c_);
  kt.copy_rows(v_.f32() + (b * cap_ + t0) * c_, c_, t, c_, v_dst, c_);
}

}  // namespace qf
