// The fake-quantization autograd op: y = (clamp(round_half_even(x / s) + z, qmin, qmax) - z) * s,
// the function of core/quant.h evaluated with tensor ops (each a single IEEE float32 operation in
// the same order, so the result equals core's scalar fake_quantize bit for bit).
//
// Gradients:
//  * x: straight-through inside the clamp range, zero outside (STE with clipping).
//  * s (when it requires grad): LSQ (Esser et al. 2020): dy/ds = round(x/s) - x/s inside the
//    range, qmin - z or qmax - z outside, multiplied by `grad_factor` (LSQ's 1/sqrt(N * qmax)).
//  * z (when it requires grad; LSQ+ learned zero point): 0 inside, -s outside, times grad_factor.
// `scale` and `zero_point` broadcast against x (per-tensor [], per-channel [O,1,..], per-group
// [O,K/G,1] against x viewed as [O,K/G,G]); their gradients are summed back to their shapes.
#pragma once

#include <torch/torch.h>

namespace qf::qat {

torch::Tensor fake_quantize(const torch::Tensor& x, const torch::Tensor& scale, const torch::Tensor& zero_point,
                            int64_t qmin, int64_t qmax, double grad_factor = 1.0);

}  // namespace qf::qat
