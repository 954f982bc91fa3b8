#include <gtest/gtest.h>

#include "../train/test_support.h"
#include "qat/quantization_modifier.h"
#include "train/trainer.h"

namespace qf::qat {
namespace {

QuantizationModifierConfig parse(const std::string& yaml) {
  return parse_quantization_modifier(RecipeNode::parse(yaml, "mod.yaml"));
}

// Mixed precision by pattern: int4 per-group by default, int8 per-channel on the first and last.
TEST(PrepareQat, PutsTheConfiguredSchemeOnEachLayerByPattern) {
  const auto cfg = parse(
      "weights: {bits: 4, granularity: group, group_size: 16}\n"
      "inputs: {mode: dynamic_per_token}\n"
      "overrides:\n"
      "  - {pattern: tok_emb, weights: {bits: 8, granularity: channel}}\n"
      "  - {pattern: lm_head, weights: {bits: 8, granularity: channel}, inputs: {mode: none}}\n"
      "  - {pattern: 'blocks.*.mlp.fc2', weights: {enabled: false}}\n"
      "kinds: [linear, embedding]\n");
  ModelSpec s;
  s.family = "gpt";
  s.layers = 2;
  s.heads = 2;
  s.dim = 32;
  s.context = 8;
  auto model = train::make_model(s, train::InputShape{});
  const auto prepared = prepare_qat(*model, cfg.qat);
  std::map<std::string, PreparedLayer> by_name;
  for (auto& p : prepared) by_name[p.name] = p;
  ASSERT_EQ(prepared.size(), model->layers().size());
  EXPECT_EQ(by_name["tok_emb"].scheme.weights->scheme.bits, 8);
  EXPECT_FALSE(by_name["tok_emb"].scheme.inputs.has_value());  // ids are never quantized
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.weights->scheme.bits, 4);
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.weights->scheme.granularity, Granularity::kGroup);
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.inputs->mode, ActMode::kDynamicPerToken);
  EXPECT_FALSE(by_name["blocks.0.mlp.fc2"].scheme.weights.has_value());
  EXPECT_TRUE(by_name["blocks.0.mlp.fc2"].scheme.inputs.has_value());
  EXPECT_EQ(by_name["lm_head"].scheme.weights->scheme.bits, 8);
  EXPECT_FALSE(by_name["lm_head"].scheme.inputs.has_value());
  // The slots really hold the modules.
  for (auto& layer : model->layers()) {
    EXPECT_EQ(layer->hook(train::HookSlot::kWeightQuant) != nullptr,
              by_name[layer->layer_name()].scheme.weights.has_value()) << layer->layer_name();
  }
}

TEST(PrepareQat, GroupSizeNotDividingALayerNamesTheLayer) {
  const auto cfg = parse("weights: {bits: 4, granularity: group, group_size: 64}\n");
  ModelSpec s;
  s.family = "mlp";
  s.mlp_hidden = {100};
  auto model = train::make_model(s, train::InputShape{});
  try {
    prepare_qat(*model, cfg.qat);  // fc0 has K = 784 = 12.25 * 64
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fc0"), std::string::npos) << e.what();
  }
}

TEST(PrepareQat, RecipeErrorsNameTheLine) {
  try {
    parse("weights:\n  bits: 4\n  granularty: channel\n");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("mod.yaml:3"), std::string::npos) << e.what();
  }
}

// With BN frozen, the QAT conv computes exactly conv(x, fq(W_folded)) + b_folded: the deployed form.
TEST(PrepareQat, FrozenConvBnComputesTheExportedFoldedConv) {
  torch::manual_seed(5);
  train::ConvBn2d layer("c", 2, 4, 3, 1, 1);
  layer->train();
  for (int i = 0; i < 3; ++i) layer->forward(torch::randn({4, 2, 5, 5}));
  WeightQuantConfig wc;
  wc.scheme.bits = 4;
  layer->set_hook(train::HookSlot::kWeightQuant, WeightFakeQuant(wc, layer->effective_weight().detach()).ptr());
  layer->freeze_bn(true);
  const torch::Tensor x = torch::randn({2, 2, 5, 5});
  const torch::Tensor y = layer->forward(x);
  const torch::Tensor expected = torch::nn::functional::conv2d(
      x, layer->deployed_weight(), torch::nn::functional::Conv2dFuncOptions().padding(1).bias(layer->effective_bias()));
  EXPECT_TRUE(torch::equal(y, expected));
}

TEST(QatSmoke, QuantizedTrainingLearns) {
  const Recipe r = test::small_fashion_recipe(
      "{family: cnn, channels: [8, 16], hidden: 32}", 2, 2000,
      "modifiers:\n  - quantization:\n      freeze_bn_epoch: 1\n      weights: {bits: 4, method: lsq}\n"
      "      inputs: {mode: static, bits: 8}\n");
  train::RunOptions o;
  o.run_dir = test::temp_dir("qat_smoke");
  o.threads = 1;
  o.progress = false;
  train::Trainer t(r, o);
  auto mod = std::make_shared<QuantizationModifier>(parse_quantization_modifier(r.modifiers.at(0).node));
  t.add_modifier(mod);
  const auto res = t.run();
  EXPECT_GT(res.metrics.values.at("accuracy"), 60.0);
  EXPECT_EQ(mod->layers().size(), 4u);
  // LSQ scales are parameters and moved away from their min-max start.
  int lsq = 0;
  for (auto& p : t.model().named_parameters())
    if (p.key().find("weight_quant.scale") != std::string::npos) ++lsq;
  EXPECT_EQ(lsq, 4);
}

}  // namespace
}  // namespace qf::qat
