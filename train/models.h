// The model zoo: mlp, cnn, gpt. Built from a recipe's `model:` section; every layer has a stable
// name (the key of its parameters in checkpoints and of its op in the exported graph).
#pragma once

#include <torch/torch.h>

#include <optional>

#include "core/graph.h"
#include "core/kv_quant.h"
#include "train/layers.h"
#include "train/recipe.h"

namespace qf::train {

// What a model's input looks like, so the zoo and the data side agree.
struct InputShape {
  int64_t channels = 1, height = 28, width = 28;  // images
  int64_t classes = 10;
};

class ZooModel : public torch::nn::Module {
 public:
  // Images [N,C,H,W] -> logits [N,classes]; token ids [B,T] (int64) -> logits [B,T,256].
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // The model as the runtime will run it: ops in topological order over named tensors, with
  // Conv+BN as one folded conv2d. Parameters of op `name` are the layer of the same name.
  virtual qf::Graph describe() const = 0;
  // Non-quantizable parameters the graph refers to (LayerNorm, positional table), by op name.
  virtual std::map<std::string, std::map<std::string, torch::Tensor>> float_params() { return {}; }
  // Layers with weight/input slots (Linear, Conv+BN, Embedding), in graph order.
  std::vector<std::shared_ptr<QuantizableLayer>> layers() { return quantizable_layers(*this); }
  virtual bool is_language_model() const { return false; }
  // A loss term the model adds to the task's loss during training (the mixture-of-experts load
  // balancing loss of the last forward, already weighted); undefined when there is none.
  virtual torch::Tensor auxiliary_loss() { return {}; }

  // Fake quantization of K and V as written to the KV cache (quantization modifier's kv_cache;
  // train/kv_fake_quant.h), in every attention of the model; none = float cache. Only models
  // with attention accept one.
  virtual bool has_kv_cache() const { return false; }
  void set_kv_cache_scheme(std::optional<KvCacheScheme> s) { *kv_scheme_ = s; }
  const std::optional<KvCacheScheme>& kv_cache_scheme() const { return *kv_scheme_; }
  // The head dimension the KV groups run along (0 for models without attention).
  virtual int64_t kv_head_dim() const { return 0; }
  // Folds an orthogonal rotation r [d, d] (d = kv_head_dim()) into every attention's weights:
  // each head's q, k and v become r q, r k, r v and the output projection's columns of that head
  // take r^T, so the model computes the same function (up to float rounding) while the KV cache
  // holds rotated K and V (the quantization modifier's `kv_cache: {rotate: hadamard}`). Throws
  // for models where attention does not commute with it (rotary position embeddings).
  virtual void rotate_attention_heads(const torch::Tensor& r);
  // Subtracts the per-channel means of K and V over `inputs` (run in eval mode), folded into the
  // attention's biases: keys shifted by one constant vector leave every softmax unchanged, and
  // values shifted by one shift each output row by it, which the output projection's bias takes
  // back. Same function (up to float rounding); the cache holds centered K and V (the quantization
  // modifier's `kv_cache: {center: true}`). Throws for models without that bias structure.
  virtual void center_attention_kv(const std::vector<torch::Tensor>& inputs);

 protected:
  // Shared with the attention blocks, which read it on every forward.
  std::shared_ptr<std::optional<KvCacheScheme>> kv_scheme_ = std::make_shared<std::optional<KvCacheScheme>>();
};

std::shared_ptr<ZooModel> make_model(const ModelSpec& spec, const InputShape& input);

}  // namespace qf::train
