#include "qat/weight_ptq.h"

#include <chrono>
#include <cstdio>
#include <tuple>

#include "qat/fake_quantize.h"
#include "train/layers.h"

namespace qf::qat {
namespace {

using Clock = std::chrono::steady_clock;

// Sits in a layer's input slot while its Hessian is collected: runs the slot's own quantizer (the
// layer sees quantized inputs at deployment) and accumulates what comes out, as the rows the
// weight multiplies (im2col patches for a conv).
struct HessianCaptureImpl : train::TensorHookImpl {
  HessianCaptureImpl(train::TensorHook inner, std::shared_ptr<train::ConvBn2dImpl> conv, int64_t k)
      : inner(std::move(inner)), conv(std::move(conv)), acc(k) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor y = inner ? inner->forward(x) : x;
    if (conv) {
      namespace F = torch::nn::functional;
      const torch::Tensor cols = F::unfold(y, F::UnfoldFuncOptions({conv->kernel, conv->kernel})
                                                  .padding(conv->padding)
                                                  .stride(conv->stride));  // [N, C*k*k, L]
      acc.add(cols.transpose(1, 2));
    } else {
      acc.add(y);
    }
    return y;
  }
  train::TensorHook inner;
  std::shared_ptr<train::ConvBn2dImpl> conv;
  calibrate::HessianAccumulator acc;
};

// The layer's weight before its mask, [O, K], and the mask (or undefined). GPTQ gets the weight
// unmasked: a weight pruned at calibration time (one-shot) still holds its value, and its whole
// value is error that the kept weights compensate; after pruned training it is 0 anyway.
std::pair<torch::Tensor, torch::Tensor> weight_and_mask(train::QuantizableLayer& layer) {
  torch::Tensor w = layer.effective_weight().detach();
  torch::Tensor mask;
  if (auto m = layer.hook(train::HookSlot::kWeightMask)) mask = m->forward(torch::ones_like(w)) != 0;
  const int64_t rows = w.size(0);
  return {w.reshape({rows, -1}), mask.defined() ? mask.reshape({rows, -1}) : mask};
}

// Writes Ŵ (the effective weight GPTQ chose) back into the layer's trainable weight. For
// Conv+BN the trainable weight is the unfolded one: Ŵ / (γ / σ), so that folding gives Ŵ back
// (to the last bit or so, which the fixed scale's rounding absorbs).
void write_effective_weight(train::QuantizableLayer& layer, const torch::Tensor& w_hat) {
  torch::NoGradGuard no_grad;
  torch::Tensor& raw = layer.raw_weight();
  if (auto conv = dynamic_cast<train::ConvBn2dImpl*>(&layer)) {
    const torch::Tensor factor =
        (conv->bn->weight / torch::sqrt(conv->bn->running_var + conv->bn->options.eps())).reshape({-1, 1, 1, 1});
    const torch::Tensor w = w_hat.reshape(raw.sizes()).to(raw.device());
    raw.copy_(torch::where(factor != 0, w / factor, raw));
  } else {
    raw.copy_(w_hat.reshape(raw.sizes()).to(raw.device()));
  }
}

double relative_output_error(const torch::Tensor& w, const torch::Tensor& w_hat, const torch::Tensor& h) {
  const torch::Tensor d = (w - w_hat).to(torch::kFloat64), w64 = w.to(torch::kFloat64);
  const double num = (d.matmul(h) * d).sum().item<double>();
  const double den = (w64.matmul(h) * w64).sum().item<double>();
  return den > 0 ? num / den : 0.0;
}

}  // namespace

const char* ptq_method_name(const WeightPtqConfig& c) {
  return c.method == WeightPtqConfig::Method::kGptq ? "gptq" : calibrate::weight_observer_name(c.observer.kind);
}

std::vector<LayerPtqReport> quantize_weights_post_training(train::ZooModel& model, train::Task& task,
                                                           const WeightPtqConfig& config, torch::Device device,
                                                           bool progress) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<std::shared_ptr<train::QuantizableLayer>> todo;
  for (auto& layer : model.layers())
    if (auto q = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant)))
      if (q->has_stored_scales()) todo.push_back(layer);

  std::vector<LayerPtqReport> reports;
  const auto start = Clock::now();
  for (size_t li = 0; li < todo.size(); ++li) {
    auto& layer = *todo[li];
    auto quant = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer.hook(train::HookSlot::kWeightQuant));
    const WeightScheme& scheme = quant->config().scheme;
    auto [w, mask] = weight_and_mask(layer);
    LayerPtqReport rep;
    rep.name = layer.layer_name();
    rep.rows = w.size(0);
    rep.cols = w.size(1);
    const torch::Tensor wc = w.to(torch::kCPU), mc = mask.defined() ? mask.to(torch::kCPU) : mask;
    if (config.method == WeightPtqConfig::Method::kObserver) {
      quant->set_scales(calibrate::rtn_quantize(wc, scheme, config.observer, mc).scales);
    } else {
      // The layer's Hessian, from the calibration batches through the model as quantized so far.
      auto conv = std::dynamic_pointer_cast<train::ConvBn2dImpl>(todo[li]);
      auto capture = std::make_shared<HessianCaptureImpl>(layer.hook(train::HookSlot::kInputQuant), conv, rep.cols);
      layer.set_hook(train::HookSlot::kInputQuant, capture);
      try {
        for (int64_t b = 0; b < std::min(config.batches, task.steps_per_epoch()); ++b)
          model.forward(task.train_batch(/*epoch=*/0, b).input.to(device));
      } catch (...) {
        layer.set_hook(train::HookSlot::kInputQuant, capture->inner);
        throw;
      }
      layer.set_hook(train::HookSlot::kInputQuant, capture->inner);
      const torch::Tensor h = capture->acc.hessian();
      calibrate::GptqResult g;
      // One-shot N:M (qforge calibrate with a pruning modifier): GPTQ chooses the mask itself.
      auto mask_hook = std::dynamic_pointer_cast<train::WeightMaskHook>(layer.hook(train::HookSlot::kWeightMask));
      calibrate::GptqOptions gopt = config.gptq;
      if (mask_hook) std::tie(gopt.select_n, gopt.select_m) = mask_hook->ptq_selects_nm();
      try {
        g = calibrate::gptq_quantize(wc, h, scheme, config.observer, gopt, mc);
      } catch (const std::exception& e) {
        throw std::runtime_error("layer '" + rep.name + "': " + e.what());
      }
      rep.rtn_error = relative_output_error(wc, calibrate::rtn_quantize(wc, scheme, config.observer, mc).weight, h);
      rep.gptq_error = relative_output_error(wc, g.weight, h);
      if (g.mask.defined()) {
        mask_hook->set_mask(g.mask.reshape(layer.effective_weight().sizes()).to(layer.raw_weight().device()));
        rep.selected_mask = true;
      }
      write_effective_weight(layer, config.latent_updated ? g.updated : g.weight);
      quant->set_scales(g.scales);
    }
    if (progress) {
      const double t = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, "ptq %s  layer %zu/%zu  %-24s [%lld x %lld]", ptq_method_name(config), li + 1, todo.size(),
                   rep.name.c_str(), static_cast<long long>(rep.rows), static_cast<long long>(rep.cols));
      if (rep.gptq_error >= 0)
        std::fprintf(stderr, "  rel. output error RTN %.3e -> GPTQ %.3e%s", rep.rtn_error, rep.gptq_error,
                     rep.selected_mask ? " (N:M mask chosen by GPTQ; RTN: magnitude mask)" : "");
      std::fprintf(stderr, "  %.1f s\n", t);
    }
    reports.push_back(rep);
  }
  model.train(was_training);
  return reports;
}

}  // namespace qf::qat
