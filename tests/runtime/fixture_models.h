// Small models with random weights shared by the runtime tests and the format sample writer:
// an MLP on the integer path, a CNN (convs with static inputs, a float head, groups, pools) and a
// GPT (dynamic per-token, 2:4, weight-only, float ops).
#pragma once

#include <map>
#include <string>

#include "export/checkpoint_writer.h"

namespace qf::test {

Op with_ints(Op o, std::map<std::string, std::vector<int64_t>> ints);
CheckpointContent mlp();
CheckpointContent cnn();
CheckpointContent cnn_pool_chain();  // conv + relu + 2x2 pool chains read in place (fused kernel)
CheckpointContent cnn_chain();  // integer end to end, fusable chains and conv -> conv hand-offs
CheckpointContent gpt();
// Four linears read one input: two more share the first one's input codes (same dynamic scheme), one
// has its own static scheme (runtime/ops/op.h, share_input_codes).
CheckpointContent shared_input_mlp();
// Block-sparse layers (feature block_sparse): a conv with 8x8 int4 blocks, linears with 32x32 int8
// blocks (partial edge blocks, an empty block row) and 16x16 int4 blocks per group; integer end to end.
CheckpointContent block_sparse_cnn();
std::map<std::string, Tensor> ids_input(int64_t b, int64_t t, unsigned seed);

}  // namespace qf::test
