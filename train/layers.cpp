#include "train/layers.h"

#include "train/distributed_batch_norm.h"

#include <cmath>

namespace qf::train {

const char* slot_name(HookSlot slot) {
  switch (slot) {
    case HookSlot::kWeightMask: return "weight_mask";
    case HookSlot::kWeightQuant: return "weight_quant";
    case HookSlot::kInputQuant: return "input_quant";
  }
  return "?";
}

void QuantizableLayer::set_hook(HookSlot slot, TensorHook hook) {
  const std::string name = slot_name(slot);
  auto& current = hooks_[static_cast<int>(slot)];
  if (current) {
    if (hook) replace_module(name, hook);
    else unregister_module(name);  // e.g. a temporary hook (calibration capture) taken out again
  } else if (hook) {
    register_module(name, hook);
  }
  current = std::move(hook);
}

TensorHook QuantizableLayer::hook(HookSlot slot) const { return hooks_[static_cast<int>(slot)]; }

torch::Tensor QuantizableLayer::deployed_weight() {
  torch::Tensor w = effective_weight();
  if (auto& mask = hooks_[static_cast<int>(HookSlot::kWeightMask)]) w = mask->forward(w);
  if (auto& quant = hooks_[static_cast<int>(HookSlot::kWeightQuant)]) w = quant->forward(w);
  return w;
}

torch::Tensor QuantizableLayer::apply_input_hook(const torch::Tensor& x) {
  auto& quant = hooks_[static_cast<int>(HookSlot::kInputQuant)];
  return quant ? quant->forward(x) : x;
}

// PyTorch's default initialisation for Linear/Conv (kaiming_uniform with a = sqrt(5)).
static void init_like_torch(torch::Tensor& w, torch::Tensor* b, int64_t fan_in) {
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  if (b && b->defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    b->uniform_(-bound, bound);
  }
}

LinearImpl::LinearImpl(std::string name, int64_t in, int64_t out, bool with_bias)
    : QuantizableLayer(std::move(name), "linear") {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  init_like_torch(weight, &bias, in);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(apply_input_hook(x), deployed_weight(), bias);
}

EmbeddingImpl::EmbeddingImpl(std::string name, int64_t vocab, int64_t dim)
    : QuantizableLayer(std::move(name), "embedding") {
  weight = register_parameter("weight", torch::randn({vocab, dim}) * 0.02);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(deployed_weight(), ids);
}

ConvBn2dImpl::ConvBn2dImpl(std::string name, int64_t in, int64_t out, int64_t kernel_, int64_t stride_,
                           int64_t padding_)
    : QuantizableLayer(std::move(name), "conv2d"), kernel(kernel_), stride(stride_), padding(padding_) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                       .stride(stride)
                                                       .padding(padding)
                                                       .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor ConvBn2dImpl::fold_factor() {
  return bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
}

torch::Tensor ConvBn2dImpl::effective_weight() {
  return conv->weight * fold_factor().reshape({-1, 1, 1, 1});
}

torch::Tensor ConvBn2dImpl::effective_bias() {
  return bn->bias - bn->running_mean * fold_factor();
}

torch::Tensor ConvBn2dImpl::forward(const torch::Tensor& input) {
  namespace F = torch::nn::functional;
  const torch::Tensor x = apply_input_hook(input);
  auto conv_opts = F::Conv2dFuncOptions().stride(stride).padding(padding);
  if (!is_training() || bn_frozen_)
    return F::conv2d(x, deployed_weight(), conv_opts.bias(effective_bias()));
  // BN live: convolve with the folded (and quantized) weight, undo the running-stat scaling, and
  // let BN normalise with the batch statistics (and update its running ones).
  const torch::Tensor factor = fold_factor();
  const torch::Tensor y = F::conv2d(x, deployed_weight(), conv_opts) / factor.reshape({1, -1, 1, 1});
  // Data parallelism: statistics of the global batch, so N workers train what one process would.
  if (ProcessGroup* g = current_group(); g != nullptr && g->size() > 1) return sync_batch_norm(y, *bn, *g);
  return bn->forward(y);
}

std::vector<std::shared_ptr<QuantizableLayer>> quantizable_layers(torch::nn::Module& module) {
  std::vector<std::shared_ptr<QuantizableLayer>> layers;
  for (const auto& m : module.modules(/*include_self=*/false))
    if (auto layer = std::dynamic_pointer_cast<QuantizableLayer>(m)) layers.push_back(layer);
  return layers;
}

}  // namespace qf::train
