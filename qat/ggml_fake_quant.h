// Fake quantization to llama.cpp's Q4_0 / Q8_0 blocks (core/ggml_blocks.h) with tensor ops,
// bit for bit equal to core's fake_quantize_ggml (each step one IEEE float32 op in ggml's order:
// d = m / -8 or absmax / 127, 1/d, x * (1/d), + 8.5 and trunc (Q4_0) or roundf (Q8_0), then the
// code times fp16(d)). Backward: straight-through (identity), as the block scale follows the data
// and Q4_0's only clipping is the opposite-sign extreme's +8 -> +7.
#pragma once

#include <torch/torch.h>

#include "core/quant_scheme.h"

namespace qf::qat {

// w: [..., K] with K a multiple of 32 (blocks along the last dimension, i.e. along K of a
// [O, K] weight). Computed in float32 and returned in w's dtype.
torch::Tensor ggml_fake_quantize(const torch::Tensor& w, GgmlFormat format);

// The fp16-rounded block scales d as float32, [rows, K / 32] for w viewed as [rows, K].
torch::Tensor ggml_block_scales(const torch::Tensor& w, GgmlFormat format);

}  // namespace qf::qat
