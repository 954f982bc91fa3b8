// qforge's layer modules. Every quantizable layer (Linear, Conv2d with folded BatchNorm,
// Embedding) carries named slots where modifiers plug in without the model knowing about them:
//   weight_mask   a sparsity mask applied to the float weight      (sparsify/)
//   weight_quant  fake quantization of the (masked) weight         (qat/)
//   input_quant   fake quantization of the layer's input           (qat/)
// The order mask -> quantize is fixed here, once, because it is part of the export contract:
// scales are computed over the kept weights, and the runtime quantizes exactly the layer inputs.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

#include "core/quant_scheme.h"

namespace qf::train {

// A tensor-to-tensor transform living in a layer slot. A Module, so that its parameters (LSQ step
// sizes) and buffers (observed ranges, masks) are trained, saved and restored with the model.
struct TensorHookImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Whether the hook changes anything right now (a scheduled quantizer may still be off).
  virtual bool active() const { return true; }
};
using TensorHook = std::shared_ptr<TensorHookImpl>;

// What the exporter needs from the quantization slots, so that export/ reads a trained model
// without knowing how qat/ implements its fake quantization.
struct WeightQuantizerHook : TensorHookImpl {
  virtual WeightScheme weight_scheme() const = 0;
  // The exact scales the forward uses for `w`: [1], [O] or [O, K/G].
  virtual torch::Tensor weight_scales(const torch::Tensor& w) = 0;
};
struct WeightMaskHook : TensorHookImpl {
  // "N:M" (e.g. "2:4") when the mask is an exact N:M pattern the checkpoint stores compressed;
  // "dense" otherwise (the zeros are then stored as they are).
  virtual std::string storage_sparsity() const = 0;
  // One-shot pruning at calibration time (qforge calibrate with a pruning modifier): {N, M} when
  // post-training quantization may choose this layer's N:M mask itself (GPTQ's SparseGPT-style
  // selection, calibrate/gptq.h) and write it back with set_mask; {0, 0}: the mask is fixed.
  virtual std::pair<int64_t, int64_t> ptq_selects_nm() const { return {0, 0}; }
  virtual void set_mask(const torch::Tensor& mask) = 0;
};
struct InputQuantizerHook : TensorHookImpl {
  // How the runtime must quantize the layer's input (static scale / zero point included).
  virtual ActScheme act_scheme() const = 0;
};

enum class HookSlot { kWeightMask, kWeightQuant, kInputQuant };
const char* slot_name(HookSlot slot);

class QuantizableLayer : public torch::nn::Module {
 public:
  QuantizableLayer(std::string name, std::string kind) : name_(std::move(name)), kind_(std::move(kind)) {}

  const std::string& layer_name() const { return name_; }
  const std::string& kind() const { return kind_; }  // "linear", "conv2d", "embedding"

  // The raw trainable weight (what an optimizer updates and a pruner zeroes).
  virtual torch::Tensor& raw_weight() = 0;
  // The float weight the layer computes with before its slots run; for Conv+BN the folded one.
  virtual torch::Tensor effective_weight() = 0;
  // The float bias of the deployed layer (folded for Conv+BN); undefined when there is none.
  virtual torch::Tensor effective_bias() = 0;

  // The effective weight after the mask and quantization slots: what the forward uses.
  torch::Tensor deployed_weight();

  void set_hook(HookSlot slot, TensorHook hook);
  TensorHook hook(HookSlot slot) const;

 protected:
  torch::Tensor apply_input_hook(const torch::Tensor& x);

 private:
  std::string name_, kind_;
  TensorHook hooks_[3];
};

class LinearImpl : public QuantizableLayer {
 public:
  LinearImpl(std::string name, int64_t in, int64_t out, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor& raw_weight() override { return weight; }
  torch::Tensor effective_weight() override { return weight; }
  torch::Tensor effective_bias() override { return bias; }
  torch::Tensor weight, bias;
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public QuantizableLayer {
 public:
  EmbeddingImpl(std::string name, int64_t vocab, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor& raw_weight() override { return weight; }
  torch::Tensor effective_weight() override { return weight; }
  torch::Tensor effective_bias() override { return {}; }
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// Conv2d (no bias) followed by BatchNorm2d, trained with the BN folded into the conv weight
// (Jacob et al. 2018 / Krishnamoorthi 2018 "simulated folding", as in PyTorch's ConvBn2d QAT):
//   train, BN live:   y = BN_batchstats(conv(x, q(W * g/σ_run)) / (g/σ_run))
//   eval or frozen:   y = conv(x, q(W * g/σ_run)) + (β - μ_run * g/σ_run)      <- what is exported
// so the quantized weight always is the folded one, and the exported conv has no BN.
class ConvBn2dImpl : public QuantizableLayer {
 public:
  ConvBn2dImpl(std::string name, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor& raw_weight() override { return conv->weight; }
  torch::Tensor effective_weight() override;
  torch::Tensor effective_bias() override;
  // After this, BN statistics stop updating and training uses the folded (deployed) form.
  void freeze_bn(bool frozen) { bn_frozen_ = frozen; }
  bool bn_frozen() const { return bn_frozen_; }

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  int64_t kernel, stride, padding;

 private:
  torch::Tensor fold_factor();  // g / sqrt(running_var + eps), per output channel
  bool bn_frozen_ = false;
};
TORCH_MODULE(ConvBn2d);

// Every QuantizableLayer inside `module`, in registration order (stable: the model zoo's order).
std::vector<std::shared_ptr<QuantizableLayer>> quantizable_layers(torch::nn::Module& module);

}  // namespace qf::train
