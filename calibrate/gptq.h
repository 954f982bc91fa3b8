// GPTQ (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers"): quantizes a weight matrix W [O, K] column by column, feeding each
// column's rounding error forward into the columns not yet quantized, weighted by the inverse of
// the layer Hessian H = 2/n Σ xᵀx of its calibration inputs. That minimises ‖WX − ŴX‖² far
// better than rounding every weight to its nearest grid point (RTN).
//
// The output lies exactly on core's grid: every weight is q * s with q a code in the range and s
// the scale of its group, so the exporter writes the same codes and scales the fake-quant forward
// computes (weight_quant with these scales fixed).
//   * Scales: per tensor or channel from the whole W up front (by the observer); per group, from
//     the group's error-updated columns when the sweep reaches it — or, with act_order, up front
//     ("static groups"), so that a permuted sweep still gives each stored group one scale.
//   * act_order: columns in order of decreasing H diagonal (the most active inputs first).
//   * mask (2:4 or any): pruned weights are quantized to 0 and their error is fed forward too, so
//     the kept weights compensate for the pruning as well (SparseGPT with a fixed mask).
//   * select_n:select_m (one-shot N:M at calibration): the mask is chosen during the sweep, as
//     SparseGPT does (Frantar & Alistarh 2023): at the first column of each group of M inputs, each
//     row keeps the N weights of largest saliency w² / [U]²ⱼⱼ (U the Cholesky factor of H⁻¹ the
//     sweep uses; w as updated by the error fed into it so far), i.e. it prunes the M − N whose
//     removal raises ‖WX − ŴX‖² least, then quantizes. Needs sweep order (no act_order).
#pragma once

#include <torch/torch.h>

#include "calibrate/weight_observer.h"
#include "core/quant_scheme.h"

namespace qf::calibrate {

struct GptqOptions {
  double percdamp = 0.01;    // dampening: percdamp * mean(diag H) added to the diagonal
  int64_t block_size = 128;  // columns per lazy-update block (speed only: the result is the same)
  bool act_order = false;
  int64_t select_n = 0, select_m = 0;  // > 0: choose an N:M mask during the sweep (SparseGPT)
};

struct GptqResult {
  torch::Tensor weight;  // Ŵ [O, K] float32, on the grid
  // GPTQ only: each weight as the sweep rounded it, i.e. W after the error fed into its column and
  // before rounding (pruned weights 0). Quantized with `scales` it gives `weight` exactly, so it is
  // the same model; as QAT's latent weights it keeps the sub-grid position that `weight` drops.
  torch::Tensor updated;
  torch::Tensor scales;  // [1] (tensor), [O] (channel) or [O, K/G] (group)
  double damp = 0;       // what was added to the diagonal
  torch::Tensor mask;    // [O, K] with select_m > 0: the N:M mask chosen (1 kept, 0 pruned)
};

// Accumulates H = 2/n Σ xᵀx over calibration rows x [n, K] (double, so a long calibration does
// not lose the small eigenvalues to rounding).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t k);
  void add(const torch::Tensor& x);  // [.., K]: every leading index is one row
  torch::Tensor hessian() const;     // [K, K] double on the CPU; zeros when nothing was added
  int64_t rows() const { return n_; }

 private:
  torch::Tensor sum_;  // Σ xᵀx
  int64_t n_ = 0;
};

// Throws qf::Error when H (dampened) is not positive definite: the message says what to change.
GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const WeightScheme& scheme,
                         const WeightObserverOptions& observer, const GptqOptions& options,
                         const torch::Tensor& mask = {});

// Round to nearest with the observer's scales (the baseline GPTQ is measured against).
GptqResult rtn_quantize(const torch::Tensor& weight, const WeightScheme& scheme, const WeightObserverOptions& observer,
                        const torch::Tensor& mask = {});

// [O, K] viewed as the [G0, G1, n] groups that share a scale under `scheme`.
torch::Tensor as_scale_groups(const torch::Tensor& w2d, const WeightScheme& scheme);

}  // namespace qf::calibrate
