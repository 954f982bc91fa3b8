#include "calibrate/gptq.h"

#include <string>

#include "core/error.h"

namespace qf::calibrate {
namespace {

torch::Tensor quantize_column(const torch::Tensor& w, const torch::Tensor& s, QuantRange r) {
  return torch::clamp(torch::round(w / s), static_cast<double>(r.qmin), static_cast<double>(r.qmax)) * s;
}

// Scales [G0, G1, 1] as the exporter stores them: [1], [O] or [O, K/G].
torch::Tensor stored_scales(const torch::Tensor& s, const WeightScheme& scheme, int64_t rows) {
  switch (scheme.granularity) {
    case Granularity::kTensor: return s.reshape({1});
    case Granularity::kChannel: return s.reshape({rows});
    case Granularity::kGroup: return s.reshape({rows, -1});
  }
  return s;
}

}  // namespace

torch::Tensor as_scale_groups(const torch::Tensor& w2d, const WeightScheme& scheme) {
  const int64_t rows = w2d.size(0), k = w2d.size(1);
  switch (scheme.granularity) {
    case Granularity::kTensor: return w2d.reshape({1, 1, -1});
    case Granularity::kChannel: return w2d.reshape({rows, 1, k});
    case Granularity::kGroup:
      if (scheme.group_size <= 0 || k % scheme.group_size != 0)
        throw Error("group size " + std::to_string(scheme.group_size) + " does not divide the input dimension " +
                    std::to_string(k));
      return w2d.reshape({rows, k / scheme.group_size, scheme.group_size});
  }
  throw Error("unknown granularity");
}

HessianAccumulator::HessianAccumulator(int64_t k) : sum_(torch::zeros({k, k}, torch::kFloat64)) {}

void HessianAccumulator::add(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  // The sum lives where the calibration inputs are (CUDA when the model runs there): the first
  // batch moves it, so no batch crosses devices; hessian() hands it back on the CPU, where GPTQ runs.
  if (n_ == 0 && sum_.device() != x.device()) sum_ = sum_.to(x.device());
  const torch::Tensor rows = x.detach().reshape({-1, sum_.size(0)}).to(sum_.device(), torch::kFloat64);
  sum_.addmm_(rows.t(), rows);
  n_ += rows.size(0);
}

torch::Tensor HessianAccumulator::hessian() const {
  return (n_ ? sum_ * (2.0 / static_cast<double>(n_)) : sum_.clone()).to(torch::kCPU);
}

GptqResult rtn_quantize(const torch::Tensor& weight, const WeightScheme& scheme, const WeightObserverOptions& observer,
                        const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  const QuantRange r = weight_quant_range(scheme);
  torch::Tensor w = weight.detach().to(torch::kFloat32).reshape({weight.size(0), -1}).clone();
  if (mask.defined()) w *= mask.reshape(w.sizes()).to(w.dtype());
  const torch::Tensor groups = as_scale_groups(w, scheme);
  const torch::Tensor s = observe_weight_scales(groups, r, observer);
  GptqResult out;
  out.weight = quantize_column(groups, s, r).reshape(w.sizes());
  out.scales = stored_scales(s, scheme, w.size(0));
  return out;
}

GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const WeightScheme& scheme,
                         const WeightObserverOptions& observer, const GptqOptions& opt, const torch::Tensor& mask_in) {
  torch::NoGradGuard no_grad;
  const QuantRange r = weight_quant_range(scheme);
  torch::Tensor w = weight.detach().to(torch::kFloat32).reshape({weight.size(0), -1}).clone();
  const int64_t rows = w.size(0), k = w.size(1);
  if (hessian.size(0) != k || hessian.size(1) != k)
    throw Error("GPTQ: Hessian is " + std::to_string(hessian.size(0)) + "x" + std::to_string(hessian.size(1)) +
                " for a weight with " + std::to_string(k) + " inputs");
  torch::Tensor mask = mask_in.defined() ? mask_in.reshape({rows, k}).to(torch::kFloat32) : torch::Tensor();
  const bool select = opt.select_m > 0;
  if (select) {
    if (opt.act_order)
      throw Error("GPTQ: choosing an N:M mask during the sweep (one-shot pruning) needs the inputs in order: "
                  "set ptq.act_order: false");
    if (opt.select_n <= 0 || opt.select_n >= opt.select_m || k % opt.select_m != 0)
      throw Error("GPTQ: cannot choose a " + std::to_string(opt.select_n) + ":" + std::to_string(opt.select_m) +
                  " mask for a weight with " + std::to_string(k) + " inputs");
    if (!mask.defined()) mask = torch::ones({rows, k});
  }
  // The weights stay dense here: a pruned weight is quantized to 0 in the sweep and its whole
  // value is error fed forward (kept weights compensate). Scales come from the kept weights.
  torch::Tensor h = hessian.to(torch::kFloat64).clone();

  // Inputs that never fire carry no information: their weights are irrelevant to WX, so they are
  // set to 0 and their Hessian row made the identity (GPTQ's "dead" columns).
  const torch::Tensor dead = h.diagonal() == 0;
  if (dead.any().item<bool>()) {
    h.diagonal().masked_fill_(dead, 1.0);
    w.index_put_({torch::indexing::Slice(), dead}, 0.0f);
  }
  GptqResult out;
  out.damp = opt.percdamp * h.diagonal().mean().item<double>();
  h.diagonal().add_(out.damp);

  // Scales fixed before the sweep: per tensor / channel always; per group with act_order.
  const bool group = scheme.granularity == Granularity::kGroup;
  const int64_t gsize = group ? scheme.group_size : k;
  if (group && (gsize <= 0 || k % gsize != 0))
    throw Error("group size " + std::to_string(gsize) + " does not divide the input dimension " + std::to_string(k));
  const torch::Tensor kept = mask.defined() ? w * mask : w;
  torch::Tensor scales = (!group || opt.act_order) ? observe_weight_scales(as_scale_groups(kept, scheme), r, observer)
                                                   : torch::zeros({rows, k / gsize, 1});

  torch::Tensor perm, invperm;
  if (opt.act_order) {
    perm = torch::argsort(h.diagonal(), /*dim=*/0, /*descending=*/true);
    invperm = torch::argsort(perm);
    w = w.index_select(1, perm);
    h = h.index_select(0, perm).index_select(1, perm);
    if (mask.defined()) mask = mask.index_select(1, perm);
  }

  auto [chol, info] = torch::linalg_cholesky_ex(h);
  if (info.item<int64_t>() != 0)
    throw Error("GPTQ: the layer Hessian is not positive definite even after dampening (percdamp " +
                std::to_string(opt.percdamp) +
                "): raise ptq.percdamp (e.g. 0.1) or calibrate on more samples (ptq.samples)");
  const torch::Tensor hinv = torch::cholesky_inverse(chol);
  auto [u, info2] = torch::linalg_cholesky_ex(hinv, /*upper=*/true);
  if (info2.item<int64_t>() != 0)
    throw Error("GPTQ: the inverse Hessian lost positive definiteness in float64; raise ptq.percdamp");
  const torch::Tensor hinv_u = u.to(torch::kFloat32);

  torch::Tensor q_all = torch::zeros_like(w), updated = torch::zeros_like(w);
  // With N:M selection every block holds whole groups of M (k is a multiple of M).
  int64_t bs = std::max<int64_t>(1, opt.block_size);
  if (select) bs = (bs + opt.select_m - 1) / opt.select_m * opt.select_m;
  for (int64_t i1 = 0; i1 < k; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, k), count = i2 - i1;
    torch::Tensor w1 = w.slice(1, i1, i2).clone();
    torch::Tensor err1 = torch::zeros_like(w1);
    const torch::Tensor hb = hinv_u.slice(0, i1, i2).slice(1, i1, i2);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = i1 + i;
      const int64_t orig = opt.act_order ? perm[col].item<int64_t>() : col;
      if (group && !opt.act_order && orig % gsize == 0) {
        // The group's scale from its columns as they are now (after the earlier error updates).
        torch::Tensor cols = torch::cat({w1.slice(1, i, std::min(i + gsize, count)),
                                         w.slice(1, i2, std::min(col + gsize, k))}, 1);
        if (mask.defined()) cols = cols * mask.slice(1, col, col + cols.size(1));
        scales.select(1, orig / gsize).copy_(observe_weight_scales(cols.reshape({rows, 1, -1}), r, observer).reshape({rows, 1}));
      }
      const torch::Tensor s = scales.select(1, orig / gsize).reshape({-1}).expand({rows});  // [1] per tensor
      if (select && col % opt.select_m == 0) {
        // SparseGPT: prune the M - N weights of each row whose removal costs least now.
        const int64_t m = opt.select_m;
        const torch::Tensor d = hb.diagonal().slice(0, i, i + m);
        const torch::Tensor saliency = w1.slice(1, i, i + m).pow(2) / d.pow(2).unsqueeze(0);  // [rows, m]
        const auto top = std::get<1>(saliency.topk(opt.select_n, /*dim=*/1));
        mask.slice(1, col, col + m).zero_().scatter_(1, top, 1.0);
      }
      const torch::Tensor wc = w1.select(1, i);
      torch::Tensor qc = quantize_column(wc, s, r);
      if (mask.defined()) qc = qc * mask.select(1, col);
      q_all.select(1, col).copy_(qc);
      updated.select(1, col).copy_(mask.defined() ? wc * mask.select(1, col) : wc);
      const torch::Tensor e = (wc - qc) / hb[i][i];
      w1.slice(1, i).sub_(e.unsqueeze(1) * hb[i].slice(0, i).unsqueeze(0));
      err1.select(1, i).copy_(e);
    }
    if (i2 < k) w.slice(1, i2).sub_(err1.matmul(hinv_u.slice(0, i1, i2).slice(1, i2)));
  }
  if (opt.act_order) {
    q_all = q_all.index_select(1, invperm);
    updated = updated.index_select(1, invperm);
  }
  out.weight = q_all;
  out.updated = updated;
  out.scales = stored_scales(scales, scheme, rows);
  if (select) out.mask = mask;
  return out;
}

}  // namespace qf::calibrate
