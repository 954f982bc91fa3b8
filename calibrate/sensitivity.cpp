#include "calibrate/sensitivity.h"

#include <cstdio>

#include "calibrate/gptq.h"
#include "core/fp8_quantize.h"

namespace qf::calibrate {
namespace {

// Replaces the weight by a fixed (already quantized) one while a format is measured.
struct FixedWeightImpl : train::TensorHookImpl {
  explicit FixedWeightImpl(torch::Tensor w) : weight(std::move(w)) {}
  torch::Tensor forward(const torch::Tensor&) override { return weight; }
  torch::Tensor weight;
};

// FP8 E4M3 with scales amax / 448 (core/fp8_quantize.h, as training and export compute them),
// dequantized: the observer plays no part (FP8 has no clipping search).
torch::Tensor e4m3_weight(const torch::Tensor& w2d, Granularity g) {
  const torch::Tensor w = w2d.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const QuantLayout layout = QuantLayout::make(w.size(0), w.size(1), g, 0);
  std::vector<float> scales(static_cast<size_t>(layout.num_params()));
  std::vector<uint8_t> codes(static_cast<size_t>(w.numel()));
  quantize_e4m3_matrix(w.data_ptr<float>(), layout, nullptr, scales.data(), codes.data());
  torch::Tensor out = torch::empty_like(w);
  dequantize_e4m3_matrix(codes.data(), layout, scales.data(), out.data_ptr<float>());
  return out;
}

}  // namespace

SensitivityFormat format_for_layer(const SensitivityFormat& f, int64_t cols) {
  if (!f.scheme || f.scheme->granularity != Granularity::kGroup || cols % f.scheme->group_size == 0) return f;
  SensitivityFormat c = f;
  c.scheme->granularity = Granularity::kChannel;
  c.scheme->group_size = 0;
  c.name = "w" + std::to_string(f.scheme->bits) + "c";
  return c;
}

int64_t weight_storage_bits(const SensitivityFormat& f, int64_t rows, int64_t cols) {
  if (!f.scheme) return 32 * rows * cols;
  int64_t scales = 1;
  if (f.scheme->granularity == Granularity::kChannel) scales = rows;
  if (f.scheme->granularity == Granularity::kGroup) scales = rows * (cols / f.scheme->group_size);
  return static_cast<int64_t>(f.scheme->bits) * rows * cols + 32 * scales;
}

SensitivityResult measure_sensitivity(train::ZooModel& model, train::Task& task,
                                      const std::vector<std::shared_ptr<train::QuantizableLayer>>& layers,
                                      const std::vector<SensitivityFormat>& formats,
                                      const WeightObserverOptions& observer, int64_t batches, torch::Device device,
                                      bool progress) {
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t n = std::max<int64_t>(1, std::min(batches, task.steps_per_epoch()));
  std::vector<train::Batch> data;
  std::vector<torch::Tensor> ref_logp;
  SensitivityResult result;
  for (int64_t b = 0; b < n; ++b) {
    train::Batch batch = task.train_batch(/*epoch=*/0, b);
    batch.input = batch.input.to(device);
    batch.target = batch.target.to(device);
    const torch::Tensor out = model.forward(batch.input);
    result.float_loss += task.loss(out, batch).item<double>() / static_cast<double>(n);
    ref_logp.push_back(torch::log_softmax(out.reshape({-1, out.size(-1)}), -1));
    data.push_back(std::move(batch));
  }
  // Loss and KL to the float output of the model as it is now.
  auto score = [&](double& loss, double& kl) {
    loss = kl = 0;
    for (int64_t b = 0; b < n; ++b) {
      const torch::Tensor out = model.forward(data[static_cast<size_t>(b)].input);
      loss += task.loss(out, data[static_cast<size_t>(b)]).item<double>() / static_cast<double>(n);
      const torch::Tensor logq = torch::log_softmax(out.reshape({-1, out.size(-1)}), -1);
      const torch::Tensor& logp = ref_logp[static_cast<size_t>(b)];
      kl += (logp.exp() * (logp - logq)).sum(-1).mean().item<double>() / static_cast<double>(n);
    }
  };
  for (size_t li = 0; li < layers.size(); ++li) {
    auto& layer = layers[li];
    if (layer->hook(train::HookSlot::kWeightQuant))
      throw std::invalid_argument("sensitivity: layer '" + layer->layer_name() + "' already has a weight quantizer");
    torch::Tensor w = layer->effective_weight().detach();
    if (auto m = layer->hook(train::HookSlot::kWeightMask)) w = m->forward(w);
    LayerSensitivity s;
    s.name = layer->layer_name();
    s.kind = layer->kind();
    s.rows = w.size(0);
    s.cols = w.numel() / s.rows;
    for (const SensitivityFormat& f0 : formats) {
      const SensitivityFormat f = format_for_layer(f0, s.cols);
      double loss = result.float_loss, kl = 0;
      if (f.scheme) {
        const torch::Tensor wq = f.scheme->e4m3 ? e4m3_weight(w.reshape({s.rows, s.cols}), f.scheme->granularity)
                                                : rtn_quantize(w.reshape({s.rows, s.cols}).cpu(), *f.scheme, observer).weight;
        layer->set_hook(train::HookSlot::kWeightQuant,
                        std::make_shared<FixedWeightImpl>(wq.reshape(w.sizes()).to(w.device())));
        score(loss, kl);
        layer->set_hook(train::HookSlot::kWeightQuant, nullptr);
      }
      s.format.push_back(f.name);
      s.bits.push_back(weight_storage_bits(f, s.rows, s.cols));
      s.delta_loss.push_back(loss - result.float_loss);
      s.kl.push_back(kl);
    }
    if (progress) std::fprintf(stderr, "sensitivity  layer %zu/%zu  %s\n", li + 1, layers.size(), s.name.c_str());
    result.layers.push_back(std::move(s));
  }
  return result;
}

}  // namespace qf::calibrate
