// Hugging Face decoders through export and the standalone runtime, against transformers' own
// outputs (tests/hf/fixtures): the float export reproduces the reference logits, validate passes,
// greedy decoding through the KV cache reproduces transformers' greedy continuation; a QAT +
// self-distillation run (int4 per-group weights, int8 per-token activations) exports and validates.
#include <gtest/gtest.h>

#include <cmath>

#include "../train/train_with_modifiers.h"
#include "core/checkpoint_format.h"
#include "export/from_hf.h"
#include "export/from_torch.h"
#include "hf/hf_config.h"
#include "hf/npy.h"
#include "runtime/engine.h"
#include "runtime/validate.h"
#include "train/hf_model.h"

namespace qf {
namespace {

const std::string kFix = QF_HF_FIXTURES;  // tests/hf/fixtures (set on this file by CMake)

std::vector<int64_t> ids_of(const std::string& path) { return hf::read_npy(path).i64; }

std::string export_float(const std::string& name) {
  const std::string dir = kFix + "/" + name;
  auto model = train::make_hf_model(dir, true);
  const std::string path = test::temp_dir("hf_float_" + name) + "/model.qf.h5";
  write_checkpoint(path, exporter::checkpoint_from_hf_model(*model, hf::load_hf_config(dir).vocab, 4, 24, dir));
  return path;
}

class HfRuntime : public ::testing::TestWithParam<std::string> {};

TEST_P(HfRuntime, FloatExportReproducesTransformersLogits) {
  const std::string dir = kFix + "/" + GetParam();
  Engine engine = Engine::load(export_float(GetParam()));
  const auto& feats = engine.checkpoint().required_features;
  EXPECT_NE(std::find(feats.begin(), feats.end(), fmt::kFeatureDecoderOps), feats.end());
  const std::vector<int64_t> ids = ids_of(dir + "/reference/input_ids.npy");
  const Graph& g = engine.checkpoint().graph;
  const Tensor got = engine.run({{"ids", Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at(g.outputs[0]);
  const hf::NpyArray ref = hf::read_npy(dir + "/reference/logits.npy");
  ASSERT_EQ(got.f32.size(), ref.f32.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < ref.f32.size(); ++i) {
    diff = std::fmax(diff, std::fabs(got.f32[i] - ref.f32[i]));
    scale = std::fmax(scale, std::fabs(ref.f32[i]));
  }
  EXPECT_LE(diff / scale, 1e-4) << GetParam() << ": max abs diff " << diff;
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary(true);
}

TEST_P(HfRuntime, GreedyDecodingWithTheKvCacheMatchesTransformers) {
  const std::string dir = kFix + "/" + GetParam();
  Engine engine = Engine::load(export_float(GetParam()));
  const std::vector<int64_t> ref = ids_of(dir + "/reference/greedy_ids.npy");
  const std::string out = engine.checkpoint().graph.outputs[0];
  Session s = engine.start_session();
  std::vector<int64_t> ids(ref.begin(), ref.begin() + 16), step = ids;
  while (ids.size() < ref.size()) {
    const Tensor logits = s.step({{"ids", Tensor::ids({1, static_cast<int64_t>(step.size())}, step)}}).at(out);
    const int64_t v = logits.shape.back();
    const float* last = logits.f32.data() + logits.numel() - v;
    const int64_t next = std::max_element(last, last + v) - last;
    ids.push_back(next);
    step = {next};
  }
  EXPECT_EQ(ids, ref) << GetParam();
  EXPECT_EQ(s.position(), static_cast<int64_t>(ref.size()) - 1);
}

// QAT int4 per-group (g32) + int8 per-token with self-distillation (KL to the float folder), a few
// steps on the Brown corpus through byte-fallback ids, then export: validate must pass and the
// runtime must agree with the fake-quant model on fresh ids.
TEST_P(HfRuntime, QatSelfDistillationExportsAndValidates) {
  const std::string dir = kFix + "/" + GetParam();
  const Recipe r = load_recipe_from_string(
      "name: hfqat\nmodel: {family: hf, path: " + dir + ", context: 24}\n"
      "data: {dataset: brown, batch_size: 4, eval_batches: 1}\n"
      "train: {steps: 4, steps_per_epoch: 2, optimizer: {type: adamw, lr: 0.0001}}\n"
      "modifiers:\n  - quantization:\n      kinds: [linear]\n"
      "      weights: {bits: 4, granularity: group, group_size: 32, method: lsq}\n"
      "      inputs: {mode: dynamic_per_token, bits: 8}\n"
      "  - distillation: {teacher: self, temperature: 1.0, alpha: 0.0}\n",
      "hfqat.yaml");
  std::unique_ptr<train::Trainer> t;
  try {
    t = test::train_with_modifiers(r, "hf_qat_" + GetParam());
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos)
      GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
    throw;
  }
  const std::string path = test::temp_dir("hf_qat_out_" + GetParam()) + "/model.qf.h5";
  write_checkpoint(path, exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {}));
  Engine engine = Engine::load(path);
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary(true);
  for (const auto& [name, L] : engine.checkpoint().layers)
    if (L.kind == "linear") {
      EXPECT_EQ(L.bits, 4) << name;
      EXPECT_EQ(L.input_act.mode, ActMode::kDynamicPerToken) << name;
    }
  torch::NoGradGuard ng;
  t->model().eval();
  torch::manual_seed(5);
  const torch::Tensor ids = torch::randint(256, {2, 20}, torch::kLong);
  const Tensor got = engine.run({{"ids", exporter::to_qf(ids)}}).at(engine.checkpoint().graph.outputs[0]);
  const OutputCheck c = compare_outputs(got, exporter::to_qf(t->model().forward(ids)));
  EXPECT_GE(c.top1_agreement, 0.95) << GetParam();
}

// The int4 KV cache (feature kv_cache_int4) on the decoders' gqa_attention: K (after rotary
// embedding) and V fake-quantized per token and head during a few training steps, exported; the
// runtime's packed cache reproduces the contract (validate) and the fake-quant model's logits.
TEST_P(HfRuntime, QuantizedKvCacheExportsAndValidates) {
  const std::string dir = kFix + "/" + GetParam();
  const Recipe r = load_recipe_from_string(
      "name: hfkv\nmodel: {family: hf, path: " + dir + ", context: 24}\n"
      "data: {dataset: brown, batch_size: 4, eval_batches: 1}\n"
      "train: {steps: 2, steps_per_epoch: 2, optimizer: {type: adamw, lr: 0.0001}}\n"
      "modifiers:\n  - quantization:\n      kinds: [linear]\n      calibration_batches: 0\n"
      "      kv_cache: {bits: 4, group_size: head}\n",
      "hfkv.yaml");
  std::unique_ptr<train::Trainer> t;
  try {
    t = test::train_with_modifiers(r, "hf_kv_" + GetParam());
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos)
      GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
    throw;
  }
  const std::string path = test::temp_dir("hf_kv_out_" + GetParam()) + "/model.qf.h5";
  write_checkpoint(path, exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {}));
  Engine engine = Engine::load(path);
  const auto& feats = engine.checkpoint().required_features;
  EXPECT_NE(std::find(feats.begin(), feats.end(), fmt::kFeatureKvCacheInt4), feats.end());
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary(true);
  torch::NoGradGuard ng;
  t->model().eval();
  torch::manual_seed(5);
  const torch::Tensor ids = torch::randint(256, {2, 20}, torch::kLong);
  const Tensor got = engine.run({{"ids", exporter::to_qf(ids)}}).at(engine.checkpoint().graph.outputs[0]);
  const OutputCheck c = compare_outputs(got, exporter::to_qf(t->model().forward(ids)));
  EXPECT_GE(c.top1_agreement, 0.95) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfRuntime, ::testing::Values("llama", "qwen2", "qwen3", "gemma3", "mixtral"));

}  // namespace
}  // namespace qf
