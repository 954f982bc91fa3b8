// Pruning masks (1 = keep, 0 = pruned) computed from weight magnitudes. A weight is viewed as the
// [O, K] matrix of the export format (K = in_channels * kh * kw for conv, PyTorch order), and
// every pattern runs along K, the input dimension, where the deployment kernels exploit it.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace qf::sparsify {

// Unstructured: the `sparsity` fraction of smallest |w| is pruned (ties broken by position).
torch::Tensor magnitude_mask(const torch::Tensor& w, double sparsity);

// Unstructured with one threshold over all `weights` together (global magnitude pruning).
std::vector<torch::Tensor> global_magnitude_masks(const std::vector<torch::Tensor>& weights, double sparsity);

// N:M along K: in every group of M consecutive inputs of a row, the N largest |w| are kept.
// `fraction` in [0, 1] enforces the pattern only on that fraction of the groups, those whose
// pruned magnitude (sum of the M - N smallest |w|) is smallest: the gradual path to exact N:M.
// K must be a multiple of M (std::invalid_argument otherwise).
torch::Tensor nm_mask(const torch::Tensor& w, int64_t n, int64_t m, double fraction = 1.0);

// Blocks of bh x bw over the [O, K] matrix; the `sparsity` fraction of blocks with the smallest
// L2 norm is pruned. O % bh == 0 and K % bw == 0 are required.
torch::Tensor block_mask(const torch::Tensor& w, int64_t bh, int64_t bw, double sparsity);

// True when `mask` (viewed as [O, K]) is uniform on every bh x bw block (O % bh == 0, K % bw == 0):
// each block entirely kept or entirely pruned, as block_mask makes it.
bool satisfies_blocks(const torch::Tensor& mask, int64_t bh, int64_t bw);

// True when every group of M consecutive inputs of every row of `w` has at most N nonzeros.
bool satisfies_nm(const torch::Tensor& w, int64_t n, int64_t m);

}  // namespace qf::sparsify
