// The Hugging Face decoders in LibTorch against transformers' own outputs (tests/hf/fixtures):
// logits and every hidden state within max relative error 1e-4 (float32), greedy continuation
// exactly; and the layers carry the Hugging Face names recipes select by.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "hf/npy.h"
#include "train/hf_model.h"
#include "train/layer_pattern.h"

namespace qf::train {
namespace {

const std::string kFix = QF_HF_FIXTURES;  // tests/hf/fixtures (set on this file by CMake)

torch::Tensor load(const std::string& path) {
  hf::NpyArray a = hf::read_npy(path);
  if (!a.f32.empty()) return torch::tensor(a.f32).reshape(a.shape);
  return torch::tensor(a.i64).reshape(a.shape);
}

// max |a - b| / max |b|: the error relative to the reference's scale.
double max_rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

class HfFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(HfFixture, ReproducesTransformersLogitsAndHiddenStates) {
  torch::NoGradGuard ng;
  const std::string dir = kFix + "/" + GetParam();
  auto model = std::dynamic_pointer_cast<HfModel>(make_hf_model(dir, true));
  ASSERT_TRUE(model);
  model->eval();
  const torch::Tensor ids = load(dir + "/reference/input_ids.npy").unsqueeze(0);
  std::vector<torch::Tensor> hidden;
  const torch::Tensor logits = model->forward_hidden(ids, &hidden)[0];
  const torch::Tensor ref = load(dir + "/reference/logits.npy");
  ASSERT_EQ(logits.sizes(), ref.sizes());
  EXPECT_LE(max_rel_err(logits, ref), 1e-4) << GetParam();
  const torch::Tensor ref_h = load(dir + "/reference/hidden_states.npy");
  ASSERT_EQ(static_cast<int64_t>(hidden.size()), ref_h.size(0));
  for (size_t i = 0; i < hidden.size(); ++i)
    EXPECT_LE(max_rel_err(hidden[i][0], ref_h[i]), 1e-4) << GetParam() << " hidden state " << i;
}

TEST_P(HfFixture, GreedyContinuationMatchesExactly) {
  torch::NoGradGuard ng;
  const std::string dir = kFix + "/" + GetParam();
  auto model = make_hf_model(dir, true);
  model->eval();
  const torch::Tensor ref = load(dir + "/reference/greedy_ids.npy");
  torch::Tensor ids = ref.narrow(0, 0, 16).unsqueeze(0);
  for (int i = 0; i < 16; ++i) {
    const torch::Tensor next = model->forward(ids)[0][-1].argmax().reshape({1, 1});
    ids = torch::cat({ids, next}, 1);
  }
  EXPECT_TRUE(torch::equal(ids[0], ref)) << ids << "\nvs\n" << ref;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfFixture, ::testing::Values("llama", "qwen2", "qwen3", "gemma3", "mixtral"));

TEST(HfModel, MixtralExpertsCarryHuggingFaceNames) {
  auto model = make_hf_model(kFix + "/mixtral", true);
  std::vector<std::string> experts, other;
  for (auto& l : model->layers()) {
    if (glob_match("*.experts.*", l->layer_name())) experts.push_back(l->layer_name());
    else if (glob_match("model.layers.0.block_sparse_moe.*", l->layer_name())) other.push_back(l->layer_name());
  }
  EXPECT_EQ(experts.size(), 2u * 8u * 3u);  // 2 layers x 8 experts x (w1, w3, w2)
  EXPECT_EQ(experts.front(), "model.layers.0.block_sparse_moe.experts.0.w1");
  EXPECT_EQ(other, (std::vector<std::string>{"model.layers.0.block_sparse_moe.gate"}));  // the router
}

TEST(HfModel, LayersCarryHuggingFaceNames) {
  auto model = make_hf_model(kFix + "/gemma3", true);
  std::vector<std::string> mlp;
  for (auto& l : model->layers())
    if (glob_match("model.layers.*.mlp.*", l->layer_name())) mlp.push_back(l->layer_name());
  EXPECT_EQ(mlp, (std::vector<std::string>{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                                           "model.layers.0.mlp.down_proj", "model.layers.1.mlp.gate_proj",
                                           "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"}));
  // Tied: lm_head is a layer of its own (own quantization slots) over the embedding's parameter,
  // which the optimizer sees once.
  auto layers = model->layers();
  EXPECT_EQ(layers.front()->layer_name(), "model.embed_tokens");
  EXPECT_EQ(layers.back()->layer_name(), "lm_head");
  EXPECT_TRUE(layers.back()->raw_weight().is_same(layers.front()->raw_weight()));
  size_t n = 0;
  for (auto& p : model->parameters())
    if (p.is_same(layers.front()->raw_weight())) ++n;
  EXPECT_EQ(n, 1u);
}

TEST(HfModel, MissingOrForeignTensorsAreErrors) {
  EXPECT_THROW(make_hf_model(kFix + "/nonexistent", true), std::exception);
}

// init: random reads only config.json and draws weights as transformers' _init_weights does:
// projections, head and embedding ~ normal(0, initializer_range), identity norms.
TEST(HfModel, FromScratchInitialisesLikeTransformers) {
  torch::manual_seed(0);
  auto model = std::dynamic_pointer_cast<HfModel>(make_hf_model_from_scratch(kFix + "/llama"));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->folder(), kFix + "/llama");  // export --format hf takes config.json from it
  const double range = model->config().initializer_range;
  EXPECT_DOUBLE_EQ(range, 0.02);
  for (auto& [name, t] : model->hf_tensors(false)) {
    if (name.find("norm") != std::string::npos) {
      EXPECT_TRUE(torch::equal(t, torch::ones_like(t))) << name;
      continue;
    }
    EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.004) << name;
    EXPECT_NEAR(t.std().item<double>(), range, 0.15 * range) << name;  // >= 2k samples per tensor
  }
  // The same seed gives the same weights; a different seed other ones.
  torch::manual_seed(0);
  auto again = std::dynamic_pointer_cast<HfModel>(make_hf_model_from_scratch(kFix + "/llama"));
  torch::manual_seed(1);
  auto other = std::dynamic_pointer_cast<HfModel>(make_hf_model_from_scratch(kFix + "/llama"));
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  EXPECT_TRUE(torch::equal(model->hf_tensors(false).at(q), again->hf_tensors(false).at(q)));
  EXPECT_FALSE(torch::equal(model->hf_tensors(false).at(q), other->hf_tensors(false).at(q)));
}

}  // namespace
}  // namespace qf::train
