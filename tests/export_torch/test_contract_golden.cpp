// Golden outputs are the quantization contract (FORMAT.md) computed by export/contract_exec.h from
// the exported parameters. On small trained zoo models the runtime (reference kernels) must
// reproduce them:
//  * CNN and MLP with static activations (int8 / int4 weights, per channel / tensor / group,
//    dense and 2:4): every op is exact, so every output and every intermediate tensor is equal
//    bit for bit (tolerance 0);
//  * GPT with dynamic per-token activations: layernorm, gelu and attention reduce in float, so
//    the end-to-end outputs agree within validate's tolerance only, but every op fed the traced
//    input computes the traced output, bit for bit for the quantized linears, the embeddings and
//    the residual adds;
//  * the contract describes the trained model (top-1 agreement with its forward >= 99%);
//  * a contract computed with the wrong rounding (half up) fails the exact comparison.
#include <gtest/gtest.h>

#include <cmath>

#include "../train/train_with_modifiers.h"
#include "contract_checks.h"
#include "export/contract_exec.h"
#include "runtime/validate.h"

namespace qf {
namespace {

using test::bit_mismatches;

Recipe fashion(const std::string& model, const std::string& modifiers) {
  return test::small_fashion_recipe(model, 1, 512, "modifiers:\n" + modifiers);
}

void check_exact_model(const Recipe& r, const std::string& tag, const std::map<std::string, std::string>& sparsity) {
  auto t = test::train_with_modifiers(r, tag);
  test::Exported e = test::export_and_load(*t, tag + "_export");
  for (const auto& [layer, s] : sparsity)  // the path under test really is the stored one
    EXPECT_EQ(e.engine.checkpoint().layers.at(layer).sparse ? e.engine.checkpoint().layers.at(layer).nm.str() : "dense", s)
        << layer;
  test::expect_runtime_reproduces_contract_exactly(e);
  test::expect_contract_describes_model(e.content);
}

TEST(ContractGolden, CnnW4A8PerChannelLsq24IsBitExact) {
  // The shipped fashion_cnn_w4a8_sp24 scheme: int4 per channel (LSQ), static asymmetric uint8
  // inputs, 2:4 on every layer but the first (K = 9) and the head.
  check_exact_model(fashion("{family: cnn, channels: [8, 16], hidden: 32}",
                            "  - quantization:\n      freeze_bn_epoch: 0\n"
                            "      weights: {bits: 4, granularity: channel, method: lsq}\n"
                            "      inputs: {mode: static, bits: 8, symmetric: false}\n"
                            "  - pruning: {pattern: '2:4', schedule: {type: one_shot}}\n"),
                    "cg_cnn_w4", {{"features.0", "dense"}, {"features.1", "2:4"}, {"fc", "2:4"}, {"head", "dense"}});
}

TEST(ContractGolden, CnnW8A8PerChannelMinmaxIsBitExact) {
  check_exact_model(fashion("{family: cnn, channels: [8, 16], hidden: 32}",
                            "  - quantization:\n      freeze_bn_epoch: 0\n"
                            "      weights: {bits: 8, granularity: channel, method: minmax}\n"
                            "      inputs: {mode: static, bits: 8, symmetric: false}\n"),
                    "cg_cnn_w8", {{"features.1", "dense"}});
}

TEST(ContractGolden, MlpW4PerGroup24AndW8PerTensorIsBitExact) {
  // int4 groups of 16 with 2:4 on the hidden layers, symmetric int8 inputs (LSQ); the head int8
  // per tensor with asymmetric inputs.
  check_exact_model(fashion("{family: mlp, hidden: [48, 32]}",
                            "  - quantization:\n"
                            "      weights: {bits: 4, granularity: group, group_size: 16}\n"
                            "      inputs: {mode: static, bits: 8, symmetric: true, method: lsq}\n"
                            "      overrides:\n        - {pattern: head, weights: {bits: 8, granularity: tensor},"
                            " inputs: {mode: static, bits: 8, symmetric: false}}\n"
                            "  - pruning: {pattern: '2:4', leave_dense: [fc0, head], schedule: {type: one_shot}}\n"),
                    "cg_mlp", {{"fc0", "dense"}, {"fc1", "2:4"}, {"head", "dense"}});
}

TEST(ContractGolden, GptDynamicPerTokenIsExactPerOp) {
  const Recipe r = load_recipe_from_string(
      "name: t\nmodel: {family: gpt, layers: 2, heads: 2, dim: 32, context: 16}\n"
      "data: {dataset: brown, batch_size: 8, eval_batches: 1}\n"
      "train: {steps: 6, steps_per_epoch: 3, optimizer: {type: adamw, lr: 0.003}}\n"
      "modifiers:\n  - quantization:\n      kinds: [linear]\n"
      "      weights: {bits: 4, granularity: group, group_size: 16, method: lsq}\n"
      "      inputs: {mode: dynamic_per_token}\n"
      "  - quantization:\n      kinds: [embedding]\n"  // token ids have no input quantization
      "      weights: {bits: 4, granularity: group, group_size: 16, method: lsq}\n"
      "  - pruning: {pattern: '2:4', leave_dense: [lm_head], schedule: {type: one_shot}}\n",
      "gpt.yaml");
  std::unique_ptr<train::Trainer> t;
  try {
    t = test::train_with_modifiers(r, "cg_gpt");
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  test::Exported e = test::export_and_load(*t, "cg_gpt_export");
  test::expect_contract_describes_model(e.content);
  EXPECT_TRUE(e.engine.checkpoint().layers.at("blocks.0.mlp.fc1").sparse);

  // End to end: float reductions (layernorm, softmax, attention, gelu) differ in summation
  // order, and a one-ulp difference may move a per-token code, so only validate's tolerance.
  for (const Golden& gc : e.content.golden) {
    const auto got = e.engine.run(gc.inputs);
    for (const auto& [name, want] : gc.outputs) {
      const OutputCheck c = compare_outputs(got.at(name), want);
      EXPECT_GE(c.top1_agreement, 0.99) << name;
      EXPECT_LE(c.max_diff_units, 2.0) << name;
    }
  }

  // Op by op, each fed the traced inputs.
  const Golden& traced = test::traced_case(e.content);
  int exact_ops = 0;
  for (const Op& op : e.content.graph.ops) {
    std::map<std::string, Tensor> in;
    for (const std::string& name : op.inputs)
      in[name] = traced.trace.count(name) ? traced.trace.at(name) : traced.inputs.at(name);
    Engine one = test::one_op_engine(e.engine.checkpoint(), op, in);
    const Tensor got = one.run(in).at(op.outputs.at(0));
    const Tensor& want = traced.trace.at(op.outputs.at(0));
    const bool exact_kind = op.kind == "linear" || op.kind == "embedding" || op.kind == "positional_embedding" ||
                            op.kind == "add";
    if (exact_kind) {
      EXPECT_EQ(bit_mismatches(got, want), 0) << op.name << " (" << op.kind << ")";
      exact_ops += bit_mismatches(got, want) == 0;
    } else {
      // Float reductions in another order: a few float32 ulps of the tensor's magnitude.
      const OutputCheck c = compare_outputs(got, want);
      EXPECT_LE(c.max_abs_diff, 1e-5 * c.unit * 127.0) << op.name << " (" << op.kind << ")";
      std::printf("%-20s %-16s not exact by design: max |diff| %.3g (%zd of %zu elements differ)\n", op.name.c_str(),
                  op.kind.c_str(), c.max_abs_diff, static_cast<ssize_t>(bit_mismatches(got, want)), want.f32.size());
    }
  }
  EXPECT_EQ(exact_ops, 2 + 2 * 6 + 1);  // tok_emb, pos_emb; per block 4 linears + 2 adds; lm_head
}

// Inputs on exact rounding ties of the first layer's input scale: x / sx == k + 1/2 in float32.
torch::Tensor ties_input(float sx, int64_t n, int64_t features) {
  std::vector<float> v;
  for (int64_t k = -40; static_cast<int64_t>(v.size()) < n * features; k = k >= 40 ? -40 : k + 1) {
    const float want = static_cast<float>(k) + 0.5f, x = want * sx;
    if (x / sx == want) v.push_back(x);
  }
  return torch::tensor(v, torch::kFloat).reshape({n, features});
}

TEST(ContractGolden, WrongRoundingFailsTheExactComparison) {
  auto t = test::train_with_modifiers(
      fashion("{family: mlp, hidden: [32]}",
              "  - quantization:\n      weights: {bits: 4, granularity: channel}\n"
              "      inputs: {mode: static, bits: 8, symmetric: true}\n"),
      "cg_teeth");
  test::Exported e = test::export_and_load(*t, "cg_teeth_export");
  const float sx = e.engine.checkpoint().layers.at("fc0").input_act.scale;
  const std::map<std::string, Tensor> in{{"image", exporter::to_qf(ties_input(sx, 16, 28 * 28).reshape({16, 1, 28, 28}))}};

  Engine all = test::engine_with_every_output(e.engine.checkpoint());
  const auto runtime = all.run(in);
  const exporter::ContractResult even = exporter::run_contract(e.content, in);
  exporter::ContractOptions up_opts;
  up_opts.rounding = exporter::ContractRounding::kHalfUp;
  const exporter::ContractResult up = exporter::run_contract(e.content, in, up_opts);

  // The contract (half to even) is reproduced exactly, ties included ...
  for (const auto& [name, want] : even.trace) EXPECT_EQ(bit_mismatches(runtime.at(name), want), 0) << name;
  // ... and half-up rounding of the same ties is caught, already at the first layer.
  EXPECT_GT(bit_mismatches(runtime.at("fc0"), up.trace.at("fc0")), 0);
  EXPECT_GT(bit_mismatches(runtime.at("head"), up.outputs.at("head")), 0);
  const OutputCheck loose = compare_outputs(runtime.at("head"), up.outputs.at("head"));
  std::printf("half-up contract vs runtime: %lld of %zu logits differ; validate's tolerance sees %.3f units, top-1 %.2f\n",
              static_cast<long long>(bit_mismatches(runtime.at("head"), up.outputs.at("head"))),
              up.outputs.at("head").f32.size(), loose.max_diff_units, loose.top1_agreement);
}

}  // namespace
}  // namespace qf
