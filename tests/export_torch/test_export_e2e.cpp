// End to end: a small QAT model trained by LibTorch, exported, read back by the standalone runtime,
// and run on fresh random inputs it has never seen; the runtime must agree with the fake-quant
// LibTorch model within validate's documented tolerance.
#include <gtest/gtest.h>

#include "../train/train_with_modifiers.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/validate.h"
#include "train/trainer.h"

namespace qf {
namespace {


std::unique_ptr<train::Trainer> train_recipe(const Recipe& r, const std::string& tag) {
  return test::train_with_modifiers(r, tag);
}

// Exports the trainer's model, loads it in the runtime, and compares both on `inputs`.
void expect_runtime_matches(train::Trainer& t, const torch::Tensor& inputs, const std::string& tag) {
  const std::string path = test::temp_dir(tag) + "/model.qf.h5";
  write_checkpoint(path, exporter::checkpoint_from_model(t.model(), t.task(), t.recipe(), {}));
  Engine engine = Engine::load(path);
  const Graph& g = engine.checkpoint().graph;

  // The stored golden outputs already pass validate ...
  const ValidationReport golden = validate(engine);
  EXPECT_TRUE(golden.passed) << golden.summary();

  // ... and so do inputs the export never saw.
  torch::NoGradGuard no_grad;
  t.model().eval();
  const torch::Tensor expected = t.model().forward(inputs);
  const auto got = engine.run({{g.inputs.at(0).name, exporter::to_qf(inputs)}});
  const OutputCheck check = compare_outputs(got.at(g.outputs.at(0)), exporter::to_qf(expected));
  EXPECT_GE(check.top1_agreement, 0.99) << tag;
  EXPECT_LE(check.max_diff_units, 2.0) << tag;
  // Outputs are not trivially equal because both are zero or constant.
  EXPECT_GT(expected.std().item<double>(), 0.1);
}

TEST(ExportE2E, CnnW4A8PerChannelLsq) {
  const Recipe r = test::small_fashion_recipe(
      "{family: cnn, channels: [6, 12], hidden: 24}", 1, 512,
      "modifiers:\n  - quantization:\n      freeze_bn_epoch: 0\n      weights: {bits: 4, method: lsq}\n"
      "      inputs: {mode: static, bits: 8}\n");
  auto t = train_recipe(r, "e2e_cnn");
  torch::manual_seed(11);
  expect_runtime_matches(*t, torch::randn({32, 1, 28, 28}), "e2e_cnn_out");
}

TEST(ExportE2E, MlpMixedPrecisionPerGroupAndPerTensor) {
  const Recipe r = test::small_fashion_recipe(
      "{family: mlp, hidden: [48]}", 1, 512,
      "modifiers:\n  - quantization:\n      weights: {bits: 4, granularity: group, group_size: 16}\n"
      "      inputs: {mode: static, bits: 8, symmetric: true, method: lsq}\n"
      "      overrides:\n        - {pattern: head, weights: {bits: 8, granularity: tensor}, inputs: {mode: none}}\n");
  auto t = train_recipe(r, "e2e_mlp");
  torch::manual_seed(12);
  expect_runtime_matches(*t, torch::randn({32, 1, 28, 28}), "e2e_mlp_out");
}

TEST(ExportE2E, GptW4PerGroupDynamicPerToken) {
  const Recipe r = load_recipe_from_string(
      "name: t\nmodel: {family: gpt, layers: 2, heads: 2, dim: 32, context: 16}\n"
      "data: {dataset: brown, batch_size: 8, eval_batches: 1}\n"
      "train: {steps: 6, steps_per_epoch: 3, optimizer: {type: adamw, lr: 0.003}}\n"
      "modifiers:\n  - quantization:\n      kinds: [linear]\n"
      "      weights: {bits: 4, granularity: group, group_size: 16, method: lsq}\n"
      "      inputs: {mode: dynamic_per_token}\n"
      // An embedding's inputs are ids: its weight-only scheme is a modifier of its own.
      "  - quantization:\n      kinds: [embedding]\n"
      "      weights: {bits: 4, granularity: group, group_size: 16, method: lsq}\n",
      "gpt.yaml");
  std::unique_ptr<train::Trainer> t;
  try {
    t = train_recipe(r, "e2e_gpt");
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos)
      GTEST_SKIP() << e.what();
    throw;
  }
  torch::manual_seed(13);
  expect_runtime_matches(*t, torch::randint(0, 256, {4, 16}), "e2e_gpt_out");
}

}  // namespace
}  // namespace qf
