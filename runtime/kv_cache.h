// One attention op's key/value cache for a session: [B, capacity, C] for K and for V on the
// backend's device, grown by doubling (rows copied through the kernel table), so a decoding step
// appends T rows without reallocating in steady state.
#pragma once

#include <cstdint>

#include "runtime/buffer.h"
#include "runtime/kernels/kernels.h"

namespace qf {

class KvCache {
 public:
  // Appends T tokens of K and V for every batch element: k_src/v_src rows of C floats with row
  // stride `src_stride`, batch element b starting at b * batch_stride.
  void append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
              const float* v_src, int64_t src_stride, int64_t batch_stride);
  int64_t length() const { return len_; }
  const float* k(int64_t b) const { return k_.f32() + b * cap_ * c_; }
  const float* v(int64_t b) const { return v_.f32() + b * cap_ * c_; }
  int64_t bytes() const { return 2 * batch_ * len_ * c_ * static_cast<int64_t>(sizeof(float)); }
  int64_t channels() const { return c_; }

  // Generation (runtime/speculative.h, runtime/prefix_cache.h). Neither touches the storage
  // layout: truncate only forgets rows, copy_rows_out reads them through the kernel table.
  // Keeps the first `len` tokens (len <= length()): speculative decoding's rollback of rejected
  // draft tokens. Later appends overwrite the forgotten rows.
  void truncate(int64_t len);
  // Rows [t0, t0 + t) of K and V of batch element b into device memory (k_dst, v_dst: [t, C]).
  void copy_rows_out(const kernels::KernelTable& kt, int64_t b, int64_t t0, int64_t t, float* k_dst, float* v_dst) const;

 private:
  void reserve(const kernels::KernelTable& kt, int64_t tokens);
  Buffer k_, v_;
  int64_t batch_ = 0, c_ = 0, len_ = 0, cap_ = 0;
};

}  // namespace qf
