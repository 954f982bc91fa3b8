// Hugging Face decoders (Llama, Qwen2, Gemma 3 text) as a zoo family: built from config.json,
// weights loaded once from the folder's safetensors. Every projection is a qforge Linear named
// exactly as its Hugging Face tensor ("model.layers.3.mlp.gate_proj"), so recipes select layers
// with the names users know (`model.layers.*.mlp.*`) and every modifier (QAT, pruning,
// distillation) applies unchanged. Computes in float32 (or the tensors' dtype/device).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "hf/hf_config.h"
#include "train/models.h"

namespace qf::train {

class HfModel : public ZooModel {
 public:
  // Builds the architecture of `config` (read from `folder`); weights are those of `folder` when
  // `load_weights`, else LibTorch's defaults (a run's checkpoint is loaded next, or
  // init_like_transformers() follows). `folder` stays the source of config.json for export.
  HfModel(const hf::HfConfig& config, const std::string& folder, bool load_weights = true);

  // ids [B, T] int64 -> logits [B, T, V].
  torch::Tensor forward(const torch::Tensor& ids) override;
  // Also returns transformers' `output_hidden_states`: the embedding output, then each layer's
  // output, the last one after the final norm ([L + 1] tensors of [B, T, H]).
  torch::Tensor forward_hidden(const torch::Tensor& ids, std::vector<torch::Tensor>* hidden);

  Graph describe() const override;
  std::map<std::string, std::map<std::string, torch::Tensor>> float_params() override;
  bool is_language_model() const override { return true; }
  bool has_kv_cache() const override { return true; }
  int64_t kv_head_dim() const override { return cfg_.head_dim; }

  // Every tensor under its Hugging Face name, as the forward uses it: projections through their
  // mask and quantization slots (fake-quant folded: float values on the quantization grid),
  // norms as they are. A tied head appears as "lm_head.weight" only when `with_tied_head`.
  std::map<std::string, torch::Tensor> hf_tensors(bool with_tied_head);

  // Draws fresh weights as transformers does for a new model (training from scratch).
  void init_like_transformers();

  const hf::HfConfig& config() const { return cfg_; }
  const std::string& folder() const { return folder_; }

  struct Block;
  struct Norm;

 private:
  hf::HfConfig cfg_;
  std::string folder_;
  Embedding embed_{nullptr};
  std::vector<std::shared_ptr<Block>> blocks_;
  std::shared_ptr<Norm> norm_;
  std::shared_ptr<QuantizableLayer> head_;  // Linear, or the tied view of the embedding
  std::vector<torch::Tensor> inv_freq_;     // per layer [head_dim / 2], float32
};

// The zoo's entry for `model: {family: hf, path: ...}`.
std::shared_ptr<ZooModel> make_hf_model(const std::string& folder, bool load_weights);
// `init: random`: the architecture of folder/config.json with transformers-style random weights
// (from LibTorch's global generator: the recipe's seed).
std::shared_ptr<ZooModel> make_hf_model_from_scratch(const std::string& folder);

}  // namespace qf::train
