#include "runtime/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace qf {

void KvCache::reserve(const kernels::KernelTable& kt, int64_t tokens) {
  if (tokens <= cap_) return;
  const int64_t cap = std::max<int64_t>({tokens, 2 * cap_, 16});
  const size_t bytes = static_cast<size_t>(batch_ * cap * c_) * sizeof(float);
  for (Buffer* buf : {&k_, &v_}) {
    Buffer grown(*kt.memory);
    grown.reserve(bytes);
    for (int64_t b = 0; b < batch_ && len_ > 0; ++b)
      kt.copy_rows(buf->f32() + b * cap_ * c_, c_, len_, c_, grown.f32() + b * cap * c_, c_);
    *buf = std::move(grown);
  }
  cap_ = cap;
}

void KvCache::append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
                     const float* v_src, int64_t src_stride, int64_t batch_stride) {
  if (cap_ == 0) {
    batch_ = batch;
    c_ = c;
  }
  reserve(kt, len_ + t);
  for (int64_t b = 0; b < batch_; ++b) {
    kt.copy_rows(k_src + b * batch_stride, src_stride, t, c_, k_.f32() + (b * cap_ + len_) * c_, c_);
    kt.copy_rows(v_src + b * batch_stride, src_stride, t, c_, v_.f32() + (b * cap_ + len_) * c_, c_);
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
  if (t == 0) return;
  kt.copy_rows(k_.f32() + (b * cap_ + t0) * c_, c_, t, c_, k_dst, c_);
  kt.copy_rows(v_.f32() + (b * cap_ + t0) * c_, c_, t, c_, v_dst, c_);
}

}  // namespace qf
