// FP8 E4M3 fake quantization with tensor ops: y = e4m3(x / s) * s, bit for bit core's
// fake quantization (core/fp8_quantize.h: one float32 division, round to nearest even on the
// E4M3 grid with saturation to +-448, one float32 multiply).
//
// Gradient (STE with clipping, as the integer fake quantizer): dy/dx = 1 where |x / s| <= 448,
// 0 where the value saturated. Scales are never learned (FP8's scale only sets where the
// dynamic range sits: amax / 448, from the data or an observer).
#pragma once

#include <torch/torch.h>

namespace qf::qat {

// The E4M3 value nearest to each float32 element (ties to even, saturating at +-448), float32.
torch::Tensor e4m3_round(const torch::Tensor& v);

// x: any shape; scale broadcasts against x. Computed in float32, returned in x's dtype.
torch::Tensor e4m3_fake_quantize(const torch::Tensor& x, const torch::Tensor& scale);

// core's e4m3_scale on tensors: amax / 448, 1e-12 floor, 1 for an all-zero range.
torch::Tensor e4m3_scale(const torch::Tensor& absmax);

}  // namespace qf::qat
