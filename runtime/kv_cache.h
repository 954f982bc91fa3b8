// One attention op's key/value cache for a session, on the backend's device, grown by doubling
// (rows copied through the table's memory ops), so a decoding step appends T rows without
// reallocating in steady state. Every batch row has its own length (continuous batching: rows
// join with a prefilled prompt and leave when done, each at its own position); a step appends
// T tokens to every row after that row's last. Two storages behind one interface:
//  * float: [B, capacity, C] float32 for K and for V (k(b), v(b));
//  * quantized (feature kv_cache_int4, set_quantization before the first append): per row the
//    packed codes (two int4 per byte, or int8; then the integer zero points when the scheme has
//    them) and C / group fp16 scales (+ fp16 offsets when asymmetric with fp16 offsets), appended through the table's quantize_kv_rows with core/kv_quant.h's rule and
//    read by the qkv_* attention kernels (qk(b), qv(b)), which dequantize as they read.
#pragma once

#include <cstdint>

#include <utility>
#include <vector>

#include "core/kv_quant.h"
#include "runtime/buffer.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kv_rows.h"

namespace qf {

class KvCache {
 public:
  // Makes this a quantized cache. Only before the first append (the ops call it at every step;
  // the same scheme again is a no-op).
  void set_quantization(const kernels::KvQuant& q);
  bool quantized() const { return quantized_; }

  // Appends T tokens of K and V to every batch row (after each row's own last token): k_src/v_src
  // rows of C floats with row stride `src_stride`, batch element b starting at b * batch_stride.
  // The first append fixes C and, on an empty cache, the number of rows.
  void append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
              const float* v_src, int64_t src_stride, int64_t batch_stride);
  int64_t length(int64_t b = 0) const { return b < batch_ ? len_[static_cast<size_t>(b)] : 0; }  // row b's tokens
  int64_t rows() const { return batch_; }
  int64_t longest() const;  // the longest row's tokens
  // Float cache: rows [length(b), C] of batch element b (row stride C).
  const float* k(int64_t b) const { return k_.f32() + slot(b) * cap_ * c_; }
  const float* v(int64_t b) const { return v_.f32() + slot(b) * cap_ * c_; }
  int64_t channels() const { return c_; }

  // Generation (runtime/generation.h, runtime/prefix_cache.h, runtime/batch_generation.h). None
  // of these changes the storage's format: rows move as stored bytes (floats, or codes + scales).
  // Keeps the first `len` tokens of every row (len <= each row's length): speculative decoding's
  // rollback of rejected draft tokens. Later appends overwrite the forgotten rows.
  void truncate(int64_t len);
  // Tokens [t0, t0 + t) of batch row b as stored, tagged with `op` (the attention op's index).
  KvRows::Layer rows_out(const kernels::KernelTable& kt, size_t op, int64_t b, int64_t t0, int64_t t) const;
  // Appends `tokens` stored tokens (rows_out's form, same channels and scheme) after row b's
  // last; b == rows() adds a new row (continuous batching's join). An empty cache takes the
  // rows' channels and quantization.
  void append_rows(const kernels::KernelTable& kt, int64_t b, const KvRows::Layer& rows, int64_t tokens);
  // Removes batch row b; the rows after it move down one (continuous batching's leave). Only the
  // row -> storage slot map moves: no cache bytes are copied (the slot is reused by the next row
  // that joins).
  void remove_row(const kernels::KernelTable& kt, int64_t b);
  // Quantized cache: batch element b's rows.
  kernels::QuantKvRows qk(int64_t b) const { return rows(k_, ks_, ko_, b); }
  kernels::QuantKvRows qv(int64_t b) const { return rows(v_, vs_, vo_, b); }

  // Bytes K and V take per token and batch element (codes + scales, or floats); 0 before the
  // first append.
  int64_t bytes_per_token() const;
  int64_t bytes() const;

 private:
  // Grows to at least `rows` batch rows of `tokens` tokens, keeping every row's tokens.
  void reserve(const kernels::KernelTable& kt, int64_t rows, int64_t tokens);
  void init(int64_t c);  // the first append: channels, and the group check of a quantized cache
  kernels::QuantKvRows rows(const Buffer& codes, const Buffer& scales, const Buffer& offsets, int64_t b) const;
  // The buffers and their bytes per token, in KvRows::Layer::parts order.
  std::vector<std::pair<Buffer*, int64_t>> parts();
  std::vector<std::pair<const Buffer*, int64_t>> parts() const;
  int64_t code_bytes() const;   // per row (codes, then integer zero points when the scheme has them)
  bool fp16_offsets() const;    // the scheme stores fp16 offsets (ko_, vo_)
  KvCacheScheme kv_scheme() const;
  int64_t scale_count() const;  // fp16 values per row (scales; offsets the same)
  Buffer k_, v_;                // floats, or codes
  Buffer ks_, vs_, ko_, vo_;    // quantized: scales and offsets
  bool quantized_ = false;
  kernels::KvQuant q_;
  int64_t batch_ = 0, c_ = 0, cap_ = 0, batch_cap_ = 0;  // cap_: tokens per row of storage
  // Batch row b lives in storage slot slot_[b] (slots [0, batch_cap_)): a row that leaves frees
  // its slot instead of moving every later row's cache down (with 16 sequences in flight that
  // moved megabytes per finished sequence).
  std::vector<int64_t> slot_;
  int64_t slot(int64_t b) const { return slot_[static_cast<size_t>(b)]; }
  int64_t free_slot() const;  // the lowest slot no row uses (< batch_cap_ after reserve)
  std::vector<int64_t> len_;                             // tokens held, per batch row
};

}  // namespace qf
