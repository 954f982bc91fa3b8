// Weight preparation at load time: a linear / conv2d / embedding layer's checkpoint weight
// turned into what the backend's GEMM kernels read. Quantized weights with a quantized input
// become QWeights views of the checkpoint's arrays, handed once to the table's
// prepare_qweights (packed / interleaved per backend; conv groups slice by slice); float and
// weight-only-quantized layers become a float32 [O, K] matrix on the backend's device.
#pragma once

#include <memory>
#include <vector>

#include "runtime/buffer.h"
#include "runtime/checkpoint.h"
#include "runtime/kernels/kernels.h"

namespace qf {

// The exact dequantized weight code * scale, [rows, cols] (float32 weights: the weight itself).
std::vector<float> dequantized_weight(const LayerWeights& L);

// A conv weight [O, C, kh, kw] whose K axis is reordered from (c, i, j) to (i, j, c), as dense
// int8 codes (int4 and N:M codes decoded: the same integers), for GEMMs on channels-last
// im2col columns, followed by zero columns up to kpad (>= K: rows padded to the GEMM's k-block).
// Same scales, bias and input scheme. Null where that is not exact: float weights, and per-group
// scales (groups run along the original K).
std::unique_ptr<LayerWeights> channels_last_int8(const LayerWeights& L, int64_t c, int64_t kh, int64_t kw, int64_t kpad);

class GemmWeight {
 public:
  // `slices`: how many equal row blocks the kernels are called on (conv groups), each prepared
  // on its own.
  GemmWeight(const LayerWeights& L, const kernels::KernelTable& kt, int64_t slices = 1);

  int64_t rows() const { return o_; }
  int64_t cols() const { return k_; }
  bool integer_path() const { return integer_; }  // quantized weight and quantized input
  // fp8_e4m3 weight and E4M3 input (integer_path() too): the table's qf8_gemm, not qgemm.
  bool fp8_path() const { return integer_ && act_.e4m3; }
  const ActScheme& input_scheme() const { return act_; }
  const float* bias() const { return bias_.f32(); }  // null when the layer has none
  // Integer path: the weight of slice s, `prepared` filled in.
  const kernels::QWeights& q(int64_t slice = 0) const { return slices_[static_cast<size_t>(slice)]; }
  // Float path: the [O, K] float32 weight.
  const float* f32() const { return f32_.f32(); }

 private:
  int64_t o_ = 0, k_ = 0;
  bool integer_ = false;
  ActScheme act_;
  Buffer bias_, f32_;
  std::vector<float> f32_host_, expanded_scales_;
  std::vector<kernels::QWeights> slices_;
  std::vector<std::unique_ptr<kernels::PreparedQWeights>> prepared_;
};

// A layer input quantized per its scheme into 8-bit codes (+ per-row scales when dynamic), in
// reusable buffers on the backend's device.
class ActQuantizer {
 public:
  explicit ActQuantizer(const kernels::KernelTable& kt) : kt_(kt), codes_(*kt.memory), scales_(*kt.memory) {}
  // Returns the GEMM operand for x [rows, cols]; its codes stay valid until the next call.
  kernels::QActs quantize(const ActScheme& a, const float* x, int64_t rows, int64_t cols);
  bool is_unsigned() const { return unsigned_; }
  void* codes() { return codes_.data(); }

 private:
  void upload_static_scale(float scale);
  const kernels::KernelTable& kt_;
  Buffer codes_, scales_;
  bool unsigned_ = false;
  bool static_scale_on_device_ = false;  // scales_ holds static_scale_ (per-row scales overwrite it)
  float static_scale_ = 0.0f;
};

}  // namespace qf
