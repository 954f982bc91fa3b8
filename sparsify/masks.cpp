#include "sparsify/masks.h"

#include <cmath>
#include <stdexcept>

namespace qf::sparsify {
namespace {

torch::Tensor as_matrix(const torch::Tensor& w) { return w.detach().reshape({w.size(0), -1}); }

// Mask keeping all but the `count` smallest entries of `scores` (a flat tensor).
torch::Tensor prune_smallest(const torch::Tensor& scores, int64_t count) {
  torch::Tensor mask = torch::ones_like(scores);
  if (count <= 0) return mask;
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  mask.index_fill_(0, order.narrow(0, 0, std::min<int64_t>(count, scores.numel())), 0.0);
  return mask;
}

}  // namespace

torch::Tensor magnitude_mask(const torch::Tensor& w, double sparsity) {
  const torch::Tensor a = w.detach().abs().flatten();
  const auto count = static_cast<int64_t>(std::llround(sparsity * static_cast<double>(a.numel())));
  return prune_smallest(a, count).reshape(w.sizes());
}

std::vector<torch::Tensor> global_magnitude_masks(const std::vector<torch::Tensor>& weights, double sparsity) {
  std::vector<torch::Tensor> flat;
  for (const auto& w : weights) flat.push_back(w.detach().abs().flatten());
  const torch::Tensor all = torch::cat(flat);
  const auto count = static_cast<int64_t>(std::llround(sparsity * static_cast<double>(all.numel())));
  const torch::Tensor mask = prune_smallest(all, count);
  std::vector<torch::Tensor> masks;
  int64_t offset = 0;
  for (const auto& w : weights) {
    masks.push_back(mask.narrow(0, offset, w.numel()).reshape(w.sizes()).clone());
    offset += w.numel();
  }
  return masks;
}

torch::Tensor nm_mask(const torch::Tensor& w, int64_t n, int64_t m, double fraction) {
  const torch::Tensor mat = as_matrix(w);
  const int64_t rows = mat.size(0), k = mat.size(1);
  if (k % m != 0)
    throw std::invalid_argument("input dimension " + std::to_string(k) + " is not a multiple of M = " +
                                std::to_string(m) + " for " + std::to_string(n) + ":" + std::to_string(m));
  const torch::Tensor groups = mat.abs().reshape({rows * (k / m), m});
  // Rank inside each group: keep the N largest (stable on ties: lower index wins).
  const auto order = std::get<1>(groups.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  torch::Tensor keep = torch::zeros_like(groups);
  keep.scatter_(1, order.narrow(1, 0, n), 1.0);
  if (fraction < 1.0) {
    // Enforce N:M only on the groups where it costs least; the others stay dense.
    const torch::Tensor cost = (groups * (1 - keep)).sum(1);
    const int64_t enforced = static_cast<int64_t>(std::llround(fraction * static_cast<double>(cost.numel())));
    const torch::Tensor dense_groups = prune_smallest(cost, enforced);  // 1 = not enforced
    keep = torch::max(keep, dense_groups.unsqueeze(1).expand_as(keep));
  }
  return keep.reshape(w.sizes());
}

torch::Tensor block_mask(const torch::Tensor& w, int64_t bh, int64_t bw, double sparsity) {
  const torch::Tensor mat = as_matrix(w);
  const int64_t rows = mat.size(0), k = mat.size(1);
  if (rows % bh != 0 || k % bw != 0)
    throw std::invalid_argument("weight [" + std::to_string(rows) + ", " + std::to_string(k) +
                                "] does not tile into " + std::to_string(bh) + "x" + std::to_string(bw) + " blocks");
  const torch::Tensor blocks = mat.reshape({rows / bh, bh, k / bw, bw}).permute({0, 2, 1, 3});
  const torch::Tensor norms = blocks.pow(2).sum({2, 3}).flatten();
  const auto count = static_cast<int64_t>(std::llround(sparsity * static_cast<double>(norms.numel())));
  const torch::Tensor keep = prune_smallest(norms, count).reshape({rows / bh, k / bw, 1, 1});
  return keep.expand({rows / bh, k / bw, bh, bw}).permute({0, 2, 1, 3}).reshape(w.sizes()).contiguous();
}

bool satisfies_nm(const torch::Tensor& w, int64_t n, int64_t m) {
  const torch::Tensor mat = as_matrix(w);
  if (mat.size(1) % m != 0) return false;
  return mat.ne(0).reshape({-1, m}).sum(1).le(n).all().item<bool>();
}

bool satisfies_blocks(const torch::Tensor& mask, int64_t bh, int64_t bw) {
  const torch::Tensor mat = mask.detach().reshape({mask.size(0), -1});
  const int64_t rows = mat.size(0), k = mat.size(1);
  if (bh < 1 || bw < 1 || rows % bh != 0 || k % bw != 0) return false;
  const torch::Tensor blocks = mat.reshape({rows / bh, bh, k / bw, bw}).permute({0, 2, 1, 3}).reshape({-1, bh * bw});
  return std::get<0>(blocks.min(1)).eq(std::get<0>(blocks.max(1))).all().item<bool>();
}

}  // namespace qf::sparsify
