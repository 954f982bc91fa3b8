// Fake quantization of K and V as the runtime writes them to its cache (quantization modifier's
// `kv_cache:` scheme): core/kv_quant.h's rule in LibTorch ops, op for op, so the forward values
// are bit-identical to kv_fake_quantize_row (tests/train/kv_fake_quant_test.cpp checks it). The
// gradient goes straight through the rounding (STE) to every element; none flows into the
// scales (they follow the data, per token and group).
#pragma once

#include <torch/torch.h>

#include "core/kv_quant.h"

namespace qf::train {

// x [..., C] with C = heads * head_dim, heads contiguous along C (the rows the cache stores).
torch::Tensor kv_fake_quantize(const torch::Tensor& x, const KvCacheScheme& s, int64_t head_dim);

}  // namespace qf::train
