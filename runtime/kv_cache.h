// One attention op's key/value cache for a session, on the backend's device, grown by doubling
// (rows copied through the table's memory ops), so a decoding step appends T rows without
// reallocating in steady state. Two storages behind one interface:
//  * float: [B, capacity, C] float32 for K and for V (k(b), v(b));
//  * quantized (feature kv_cache_int4, set_quantization before the first append): per row the
//    packed codes (two int4 per byte, or int8) and C / group fp16 scales (+ fp16 offsets when
//    asymmetric), appended through the table's quantize_kv_rows with core/kv_quant.h's rule and
//    read by the qkv_* attention kernels (qk(b), qv(b)), which dequantize as they read.
#pragma once

#include <cstdint>

#include "runtime/buffer.h"
#include "runtime/kernels/kernels.h"

namespace qf {

class KvCache {
 public:
  // Makes this a quantized cache. Only before the first append (the ops call it at every step;
  // the same scheme again is a no-op).
  void set_quantization(const kernels::KvQuant& q);
  bool quantized() const { return quantized_; }

  // Appends T tokens of K and V for every batch element: k_src/v_src rows of C floats with row
  // stride `src_stride`, batch element b starting at b * batch_stride.
  void append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
              const float* v_src, int64_t src_stride, int64_t batch_stride);
  int64_t length() const { return len_; }
  // Float cache: rows [length, C] of batch element b (row stride C).
  const float* k(int64_t b) const { return k_.f32() + b * cap_ * c_; }
  const float* v(int64_t b) const { return v_.f32() + b * cap_ * c_; }
  int64_t channels() const { return c_; }

  // Generation (runtime/generation.h, runtime/prefix_cache.h). Neither touches the storage
  // layout: truncate only forgets rows, copy_rows_out reads them through the kernel table.
  // Keeps the first `len` tokens (len <= length()): speculative decoding's rollback of rejected
  // draft tokens. Later appends overwrite the forgotten rows.
  void truncate(int64_t len);
  // Rows [t0, t0 + t) of K and V of batch element b into device memory (k_dst, v_dst: [t, C]).
  // Float caches only (a quantized cache throws: the prefix cache does not take them yet).
  void copy_rows_out(const kernels::KernelTable& kt, int64_t b, int64_t t0, int64_t t, float* k_dst, float* v_dst) const;
  // Quantized cache: batch element b's rows.
  kernels::QuantKvRows qk(int64_t b) const { return rows(k_, ks_, ko_, b); }
  kernels::QuantKvRows qv(int64_t b) const { return rows(v_, vs_, vo_, b); }

  // Bytes K and V take per token and batch element (codes + scales, or floats); 0 before the
  // first append.
  int64_t bytes_per_token() const;
  int64_t bytes() const { return batch_ * len_ * bytes_per_token(); }

 private:
  void reserve(const kernels::KernelTable& kt, int64_t tokens);
  kernels::QuantKvRows rows(const Buffer& codes, const Buffer& scales, const Buffer& offsets, int64_t b) const;
  int64_t code_bytes() const;   // per row
  int64_t scale_count() const;  // fp16 values per row (scales; offsets the same)
  Buffer k_, v_;                // floats, or codes
  Buffer ks_, vs_, ko_, vo_;    // quantized: scales and offsets
  bool quantized_ = false;
  kernels::KvQuant q_;
  int64_t batch_ = 0, c_ = 0, len_ = 0, cap_ = 0;
};

}  // namespace qf
