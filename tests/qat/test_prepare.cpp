#include <gtest/gtest.h>

#include "../train/test_support.h"
#include "quantization_recipe_error.h"
#include "qat/quantization_modifier.h"
#include "train/trainer.h"

namespace qf::qat {
namespace {

QuantizationModifierConfig parse(const std::string& yaml) {
  return parse_quantization_modifier(RecipeNode::parse(yaml, "mod.yaml"));
}

// Mixed precision by pattern: int4 per-group by default, int8 per-channel on the last layer; the
// embedding (weights only: its inputs are ids) by a second config, as a second modifier would.
TEST(PrepareQat, PutsTheConfiguredSchemeOnEachLayerByPattern) {
  const auto cfg = parse(
      "weights: {bits: 4, granularity: group, group_size: 16}\n"
      "inputs: {mode: dynamic_per_token}\n"
      "overrides:\n"
      "  - {pattern: lm_head, weights: {bits: 8, granularity: channel}, inputs: {mode: none}}\n"
      "  - {pattern: 'blocks.*.mlp.fc2', inputs: {mode: none}, weights: {bits: 6}}\n"
      "kinds: [linear]\n");
  const auto emb = parse("weights: {bits: 8, granularity: channel}\nkinds: [embedding]\n");
  ModelSpec s;
  s.family = "gpt";
  s.layers = 2;
  s.heads = 2;
  s.dim = 32;
  s.context = 8;
  auto model = train::make_model(s, train::InputShape{});
  auto prepared = prepare_qat(*model, cfg.qat);
  const auto prepared_emb = prepare_qat(*model, emb.qat);
  ASSERT_EQ(prepared_emb.size(), 1u);
  prepared.insert(prepared.end(), prepared_emb.begin(), prepared_emb.end());
  std::map<std::string, PreparedLayer> by_name;
  for (auto& p : prepared) by_name[p.name] = p;
  ASSERT_EQ(prepared.size(), model->layers().size());
  EXPECT_EQ(by_name["tok_emb"].scheme.weights->scheme.bits, 8);
  EXPECT_FALSE(by_name["tok_emb"].scheme.inputs.has_value());
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.weights->scheme.bits, 4);
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.weights->scheme.granularity, Granularity::kGroup);
  EXPECT_EQ(by_name["blocks.1.attn.qkv"].scheme.inputs->mode, ActMode::kDynamicPerToken);
  EXPECT_EQ(by_name["blocks.0.mlp.fc2"].scheme.weights->scheme.bits, 6);
  EXPECT_FALSE(by_name["blocks.0.mlp.fc2"].scheme.inputs.has_value());
  EXPECT_EQ(by_name["lm_head"].scheme.weights->scheme.bits, 8);
  EXPECT_FALSE(by_name["lm_head"].scheme.inputs.has_value());
  // The slots really hold the modules.
  for (auto& layer : model->layers()) {
    EXPECT_EQ(layer->hook(train::HookSlot::kWeightQuant) != nullptr,
              by_name[layer->layer_name()].scheme.weights.has_value()) << layer->layer_name();
  }
}

// prepare_qat applies the schema per layer too, for configs built in code rather than parsed.
TEST(PrepareQat, UnexportableSchemeNamesTheLayer) {
  QatConfig cfg;
  cfg.kinds = {"conv2d"};
  ActQuantConfig dyn;
  dyn.mode = ActMode::kDynamicPerToken;
  dyn.symmetric = true;
  cfg.defaults.weights = WeightQuantConfig{};
  cfg.defaults.inputs = dyn;
  ModelSpec s;
  s.family = "cnn";
  s.channels = {4};
  s.cnn_hidden = 8;
  auto model = train::make_model(s, train::InputShape{});
  try {
    prepare_qat(*model, cfg);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'features.0' (conv2d): dynamic per-token"), std::string::npos) << e.what();
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

// With BN frozen, the QAT conv is the deployed folded conv. The reference is computed without
// ConvBn2d's own folding: an eval-mode torch::nn::Conv2d followed by an eval-mode BatchNorm2d
// holding the same parameters and statistics, and (quantized) the folded weight rebuilt here.
TEST(PrepareQat, FrozenConvBnEqualsConvThenBatchNormInEvalMode) {
  torch::manual_seed(5);
  train::ConvBn2d layer("c", 2, 4, 3, 1, 1);
  layer->train();
  for (int i = 0; i < 3; ++i) layer->forward(torch::randn({4, 2, 5, 5}) * 2 + 1);
  torch::NoGradGuard no_grad;
  layer->bn->weight.uniform_(0.5, 1.5);
  layer->bn->bias.uniform_(-0.5, 0.5);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3).padding(1).bias(false));
  torch::nn::BatchNorm2d bn(4);
  conv->weight.copy_(layer->conv->weight);
  bn->weight.copy_(layer->bn->weight);
  bn->bias.copy_(layer->bn->bias);
  bn->running_mean.copy_(layer->bn->running_mean);
  bn->running_var.copy_(layer->bn->running_var);
  conv->eval();
  bn->eval();
  const torch::Tensor x = torch::randn({2, 2, 5, 5});

  // Float: training with BN frozen computes conv then BN with its running statistics...
  layer->freeze_bn(true);
  const torch::Tensor mean_before = layer->bn->running_mean.clone();
  const torch::Tensor y = layer->forward(x);
  EXPECT_TRUE(torch::allclose(y, bn->forward(conv->forward(x)), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(layer->bn->running_mean, mean_before));  // ... and leaves them alone

  // Quantized: the conv of the int8 per-channel quantized folded weight, plus the folded bias.
  WeightQuantConfig wc;
  wc.scheme.bits = 8;
  layer->set_hook(train::HookSlot::kWeightQuant, WeightFakeQuant(wc, layer->effective_weight().detach()).ptr());
  const torch::Tensor g = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
  const torch::Tensor w_folded = conv->weight * g.reshape({-1, 1, 1, 1});
  const torch::Tensor s = w_folded.abs().amax({1, 2, 3}, true) / 127;
  const torch::Tensor w_q = torch::round(w_folded / s).clamp(-127, 127) * s;
  const torch::Tensor b_folded = bn->bias - bn->running_mean * g;
  const torch::Tensor expected = torch::nn::functional::conv2d(
      x, w_q, torch::nn::functional::Conv2dFuncOptions().padding(1).bias(b_folded));
  EXPECT_TRUE(torch::allclose(layer->forward(x), expected, 1e-5, 1e-5));
  // Quantization did something: the float and quantized outputs differ.
  EXPECT_FALSE(torch::allclose(y, expected, 1e-7, 1e-7));
}

using test::recipe_error;

// Every scheme the checkpoint format cannot hold is rejected when the recipe is read, with the
// file, the line and the key of the section at fault (core/op_schema.h's rule).
TEST(QuantizationRecipe, UnexportableSchemesFailAtLoadNamingFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* where;  // "bad.yaml:<line>: key '<key>'"
    const char* why;
  };
  const Case cases[] = {
      {"      weights: {enabled: false}\n      inputs: {mode: static}\n", "bad.yaml:8: key 'inputs'",
       "need a quantized weight"},
      {"      inputs: {mode: static, bits: 8}\n", "bad.yaml:7: key 'inputs'", "need a quantized weight"},
      {"      weights: {bits: 4}\n      inputs: {mode: dynamic_per_token, bits: 4}\n", "bad.yaml:8: key 'inputs'",
       "symmetric int8"},
      {"      weights: {bits: 4}\n      inputs: {mode: dynamic_per_token, symmetric: false}\n",
       "bad.yaml:8: key 'inputs'", "symmetric int8"},
      {"      kinds: [conv2d]\n      weights: {bits: 8}\n      inputs: {mode: dynamic_per_token}\n",
       "bad.yaml:9: key 'inputs'", "for conv2d layers"},
      {"      kinds: [embedding]\n      weights: {bits: 8}\n      inputs: {mode: static}\n", "bad.yaml:9: key 'inputs'",
       "for embedding layers"},
      {"      kinds: [linear, embedding]\n      weights: {bits: 4}\n      inputs: {mode: dynamic_per_token}\n",
       "bad.yaml:9: key 'inputs'", "for embedding layers"},
      {"      weights: {bits: 4, symmetric: false}\n", "bad.yaml:7: key 'weights'", "symmetric weights only"},
      {"      weights: {bits: 9}\n", "bad.yaml:7: key 'weights'", "[2, 8]"},
      {"      weights: {bits: 1}\n", "bad.yaml:7: key 'weights'", "[2, 8]"},
      {"      weights: {bits: 8}\n      inputs: {mode: static, bits: 12}\n", "bad.yaml:8: key 'inputs'", "[2, 8]"},
      {"      weights: {granularity: group}\n", "bad.yaml:7: key 'weights'", "group_size"},
      // Overrides are checked too, at their own line.
      {"      weights: {bits: 4}\n      overrides:\n        - pattern: head\n          weights: {enabled: false}\n"
       "          inputs: {mode: static}\n",
       "bad.yaml:11: key 'inputs' in 'modifiers[0].quantization.overrides[0]'", "need a quantized weight"},
      {"      weights: {bits: 4}\n      inputs: {mode: static}\n      overrides:\n        - pattern: head\n"
       "          inputs: {mode: dynamic_per_token, bits: 6}\n",
       "bad.yaml:11: key 'inputs' in 'modifiers[0].quantization.overrides[0]'", "symmetric int8"},
      {"      kinds: [linear, layernorm]\n      weights: {bits: 4}\n", "bad.yaml:7: key 'kinds'", "linear, conv2d, embedding"},
      {"      weights: {bits: 4}\n      end_epoch: 2\n", "bad.yaml:8: key 'end_epoch'", "stays on"},
      {"      weights: {bits: 4}\n      freeze_bn_epoch: -1\n", "bad.yaml:8: key 'freeze_bn_epoch'", "omit the key"},
  };
  for (const Case& c : cases) {
    const std::string e = recipe_error(c.yaml);
    EXPECT_NE(e.find(c.where), std::string::npos) << c.yaml << "\n-> " << e;
    EXPECT_NE(e.find(c.why), std::string::npos) << c.yaml << "\n-> " << e;
  }
}

// The issue-18 levers (freeze_oscillations, quant_noise, weights.scale_gradient): bad values and
// combinations fail when the recipe is read, with the file, the line and the key.
TEST(QuantizationRecipe, OscillationFreezingQuantNoiseAndScaleGradientErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* where;
    const char* why;
  };
  const Case cases[] = {
      {"      weights: {bits: 4}\n      freeze_oscillations: {threshold: 0}\n", "bad.yaml:8: key 'threshold'",
       "in (0, 1)"},
      {"      weights: {bits: 4}\n      freeze_oscillations: {threshold: 1.5}\n", "bad.yaml:8: key 'threshold'",
       "in (0, 1)"},
      {"      weights: {bits: 4}\n      freeze_oscillations: {momentum: 1}\n", "bad.yaml:8: key 'momentum'",
       "in (0, 1)"},
      {"      weights: {bits: 4}\n      freeze_oscillations: {threshhold: 0.02}\n",
       "bad.yaml:8: unknown key 'threshhold'", "did you mean 'threshold'"},
      {"      weights: {bits: 4}\n      quant_noise: {full_epoch: 1}\n", "bad.yaml:8: missing required key 'fraction'",
       "quant_noise"},
      {"      weights: {bits: 4}\n      quant_noise: {fraction: 1, full_epoch: 1}\n", "bad.yaml:8: key 'fraction'",
       "in (0, 1)"},
      {"      weights: {bits: 4}\n      start_epoch: 2\n      quant_noise: {fraction: 0.5, full_epoch: 2}\n",
       "bad.yaml:9: key 'full_epoch'", "after the modifier's start_epoch"},
      {"      weights: {bits: 4, method: lsq, scale_gradient: true}\n", "bad.yaml:7: key 'scale_gradient'",
       "method: minmax"},
      {"      weights: {format: q4_0, scale_gradient: true}\n", "bad.yaml:7: key 'scale_gradient'", "format q4_0"},
      {"      weights: {bits: 4, scale_gradient: true}\n      ptq: {method: mse}\n", "bad.yaml:7: key 'weights'",
       "ptq fixes them"},
  };
  for (const Case& c : cases) {
    const std::string e = recipe_error(c.yaml);
    EXPECT_NE(e.find(c.where), std::string::npos) << c.yaml << "\n-> " << e;
    EXPECT_NE(e.find(c.why), std::string::npos) << c.yaml << "\n-> " << e;
  }
  // What parses: the values reach the config; an LSQ override does not inherit scale_gradient.
  const std::string ok =
      "name: t\nmodel: {family: mlp}\ndata: {dataset: fashion_mnist}\ntrain: {epochs: 4}\nmodifiers:\n"
      "  - quantization:\n      weights: {bits: 4, scale_gradient: true}\n      start_epoch: 1\n"
      "      freeze_oscillations: {threshold: 0.03}\n      quant_noise: {fraction: 0.25, full_epoch: 3}\n"
      "      overrides:\n        - {pattern: head, weights: {method: lsq}}\n";
  const auto c = qat::parse_quantization_modifier(load_recipe_from_string(ok, "ok.yaml").modifiers.at(0).node);
  ASSERT_TRUE(c.freeze_oscillations && c.quant_noise && c.qat.defaults.weights);
  EXPECT_DOUBLE_EQ(c.freeze_oscillations->threshold, 0.03);
  EXPECT_DOUBLE_EQ(c.freeze_oscillations->momentum, 0.01);
  EXPECT_DOUBLE_EQ(c.quant_noise->fraction, 0.25);
  EXPECT_DOUBLE_EQ(c.quant_noise->full_epoch, 3.0);
  EXPECT_TRUE(c.qat.defaults.weights->scale_gradient);
  ASSERT_EQ(c.qat.overrides.size(), 1u);
  EXPECT_FALSE(c.qat.overrides[0].scheme.weights->scale_gradient);
}

TEST(QuantizationRecipe, ExportableSchemesParse) {
  for (const char* yaml : {
           "      weights: {bits: 2, granularity: tensor}\n      inputs: {mode: static, symmetric: true, bits: 3}\n",
           "      kinds: [linear]\n      weights: {bits: 7, granularity: group, group_size: 8}\n"
           "      inputs: {mode: dynamic_per_token}\n",
           "      kinds: [embedding]\n      weights: {bits: 5}\n",
           "      kinds: [linear, conv2d, embedding]\n      weights: {bits: 8, symmetric: true}\n",
           "      weights: {bits: 4}\n      overrides:\n        - {pattern: head, weights: {enabled: false}}\n",
           "      start_epoch: 0.5\n      freeze_bn_epoch: 1.25\n      weights: {bits: 4}\n"}) {
    EXPECT_EQ(recipe_error(yaml), "(no error)") << yaml;
  }
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

namespace qf::qat {
namespace {

// The kv_cache section: its errors name the file, the line and the key.
TEST(QuantizationRecipe, KvCacheErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* where;
    const char* why;
  };
  const Case cases[] = {
      {"      kv_cache: {bits: 3}\n", "bad.yaml:7: key 'bits' in 'modifiers[0].quantization.kv_cache'", "4 or 8"},
      {"      kv_cache:\n        group_size: 48\n", "bad.yaml:8: key 'group_size'", "32, 64 or head"},
      {"      kv_cache: {symmetric: false, clip: 0.9}\n", "bad.yaml:7: key 'clip'", "symmetric: true only"},
      {"      kv_cache: {clip: 1.5}\n", "bad.yaml:7: key 'clip'", "(0, 1]"},
      {"      kv_cache: {bits: 4, group: 32}\n", "bad.yaml:7", "group"},
      {"      kv_cache: {bits: four}\n", "bad.yaml:7: key 'bits'", ""},
      {"      kv_cache: {rotate: random}\n", "bad.yaml:7: key 'rotate'", "hadamard"},
      {"      kv_cache: {center: maybe}\n", "bad.yaml:7: key 'center'", ""},
      {"      kv_cache: {symmetric: true, zero_point: int4}\n", "bad.yaml:7: key 'zero_point'", "symmetric: false only"},
      {"      kv_cache: {bits: 8, zero_point: int4}\n", "bad.yaml:7: key 'zero_point'", "int8 for bits: 8"},
      {"      kv_cache: {zero_point: int3}\n", "bad.yaml:7: key 'zero_point'", "int4"},
  };
  for (const Case& c : cases) {
    const std::string e = recipe_error(c.yaml);
    EXPECT_NE(e.find(c.where), std::string::npos) << c.yaml << "\n-> " << e;
    EXPECT_NE(e.find(c.why), std::string::npos) << c.yaml << "\n-> " << e;
  }
  for (const char* ok : {"      kv_cache: {bits: 4, group_size: 32}\n", "      kv_cache: {bits: 8, group_size: head}\n",
                         "      kv_cache: {group_size: 64, symmetric: false}\n", "      kv_cache: {clip: 0.9}\n",
                         "      kv_cache: {bits: 4, rotate: hadamard}\n", "      kv_cache: {rotate: none, center: true}\n",
                         "      kv_cache: {zero_point: int4}\n", "      kv_cache: {bits: 8, symmetric: false, zero_point: int8}\n",
                         "      kv_cache: {symmetric: false, zero_point: fp16}\n"})
    EXPECT_EQ(recipe_error(ok), "(no error)") << ok;
}

// Errors only the model can reveal (no attention; a group that does not divide the head) still
// point at the recipe's kv_cache key.
TEST(QuantizationRecipe, KvCacheModelErrorsPointAtTheKey) {
  auto prepare_error = [](const std::string& model, const std::string& kv) -> std::string {
    const std::string data = model.find("gpt") != std::string::npos ? "brown" : "fashion_mnist";
    const std::string text = "name: t\nmodel: " + model + "\ndata: {dataset: " + data + "}\ntrain: {epochs: 1}\n"
                             "modifiers:\n  - quantization:\n      calibration_batches: 0\n      kv_cache: " + kv + "\n";
    const Recipe r = load_recipe_from_string(text, "kv.yaml");
    QuantizationModifier mod(parse_quantization_modifier(r.modifiers.at(0).node));
    auto m = train::make_model(r.model, train::InputShape{});
    try {
      std::unique_ptr<train::Task> task;
      try {
        task = train::make_task(r);  // prepare checks the model before it touches the task
      } catch (const std::exception& e) {
        return std::string("(no data) ") + e.what();
      }
      train::TrainState st(r, *m, *task, torch::kCPU);
      mod.prepare(st);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string mlp = prepare_error("{family: mlp}", "{bits: 4}");
  if (mlp.rfind("(no data)", 0) == 0) GTEST_SKIP() << mlp;
  EXPECT_NE(mlp.find("kv.yaml:8: key 'kv_cache'"), std::string::npos) << mlp;
  EXPECT_NE(mlp.find("needs a model with attention"), std::string::npos) << mlp;
  const std::string gpt = prepare_error("{family: gpt, layers: 1, heads: 4, dim: 64, context: 8}", "{group_size: 32}");
  if (gpt.rfind("(no data)", 0) == 0) GTEST_SKIP() << gpt;
  EXPECT_NE(gpt.find("kv.yaml:8: key 'kv_cache'"), std::string::npos) << gpt;
  EXPECT_NE(gpt.find("does not divide the head dimension 16"), std::string::npos) << gpt;
  // A head dimension a Hadamard rotation cannot have (24 = 96 / 4).
  const std::string rot =
      prepare_error("{family: gpt, layers: 1, heads: 4, dim: 96, context: 8}", "{group_size: head, rotate: hadamard}");
  EXPECT_NE(rot.find("kv.yaml:8: key 'kv_cache'"), std::string::npos) << rot;
  EXPECT_NE(rot.find("power-of-two dimension, got 24"), std::string::npos) << rot;
}

}  // namespace
}  // namespace qf::qat
