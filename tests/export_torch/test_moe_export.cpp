// Mixture-of-experts GPTs through export and the standalone runtime: the runtime's moe_experts op
// equals the training side's contract (validate: end to end, and op by op on the trace: bit for
// bit when every expert is on the integer path), also with int4 experts + an int8 router, N:M
// pruned experts and the confidence-fallback MLP router; the runtime agrees with the trained
// model on random tokens; inspect's expert load adds up.
#include <gtest/gtest.h>

#include "../train/train_with_modifiers.h"
#include "core/checkpoint_format.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/expert_load.h"
#include "runtime/validate.h"

namespace qf {
namespace {

std::string recipe_text(const std::string& name, const std::string& moe, const std::string& modifiers) {
  return "name: " + name + "\nseed: 0\nmodel: {family: gpt, layers: 2, heads: 2, dim: 32, context: 16, mlp_ratio: 4,\n"
         "        moe: " + moe + "}\n"
         "data: {dataset: brown, batch_size: 8, eval_batches: 1}\n"
         "train: {steps: 6, steps_per_epoch: 3, optimizer: {type: adamw, lr: 0.003}}\n" + modifiers;
}

struct Exported {
  std::unique_ptr<train::Trainer> trainer;
  std::string path;
};

Exported train_and_export(const std::string& tag, const std::string& text) {
  Exported e;
  const Recipe r = load_recipe_from_string(text, tag + ".yaml");
  try {
    e.trainer = test::train_with_modifiers(r, "moe_" + tag);
  } catch (const std::exception& ex) {
    if (std::string(ex.what()).find("Brown corpus not found") != std::string::npos) return e;
    throw;
  }
  e.path = test::temp_dir("moe_out_" + tag) + "/model.qf.h5";
  exporter::ExportOptions o;
  o.golden_examples = 4;
  o.trace_examples = 2;
  write_checkpoint(e.path, exporter::checkpoint_from_model(e.trainer->model(), e.trainer->task(), e.trainer->recipe(), o));
  return e;
}

// validate passes; every moe_experts op was checked on the trace, exactly when `exact`.
void expect_valid(Engine& engine, bool exact) {
  const auto& feats = engine.checkpoint().required_features;
  EXPECT_NE(std::find(feats.begin(), feats.end(), fmt::kFeatureMoeExperts), feats.end());
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary(true);
  int moe_checks = 0;
  for (const OpCheck& c : report.op_checks)
    if (c.kind == "moe_experts") {
      ++moe_checks;
      EXPECT_EQ(c.exact_required, exact) << c.name;
      if (exact) {
        EXPECT_EQ(c.max_abs_diff, 0.0) << c.name;
      }
    }
  EXPECT_GT(moe_checks, 0);
}

// The runtime against the trained (fake-quant) model on random tokens.
void expect_runtime_matches_model(Engine& engine, train::ZooModel& model, double min_top1) {
  torch::NoGradGuard ng;
  model.eval();
  torch::manual_seed(11);
  const torch::Tensor ids = torch::randint(256, {4, 16}, torch::kLong);
  const Tensor got = engine.run({{"ids", exporter::to_qf(ids)}}).at(engine.checkpoint().graph.outputs[0]);
  const OutputCheck c = compare_outputs(got, exporter::to_qf(model.forward(ids)));
  EXPECT_GE(c.top1_agreement, min_top1);
  EXPECT_LE(c.max_diff_units, 2.0);
}

TEST(MoeExport, FloatExpertsValidateAndMatchTraining) {
  Exported e = train_and_export("float", recipe_text("moe_float", "{experts: 4, top_k: 2, aux_loss_weight: 0.01}", ""));
  if (!e.trainer) GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
  Engine engine = Engine::load(e.path);
  expect_valid(engine, false);
  expect_runtime_matches_model(engine, e.trainer->model(), 0.99);
  // Expert load on the golden inputs: every token assigned twice (top-2), no fallback router.
  const std::vector<ExpertLoad> loads = expert_load_on_golden(engine);
  ASSERT_EQ(loads.size(), 2u);
  for (const ExpertLoad& l : loads) {
    EXPECT_EQ(l.tokens, 4 * 16);
    EXPECT_EQ(l.fallbacks, 0);
    ASSERT_EQ(l.per_expert.size(), 4u);
    int64_t sum = 0;
    for (int64_t n : l.per_expert) sum += n;
    EXPECT_EQ(sum, 2 * l.tokens);
  }
  EXPECT_NE(expert_load_text(loads).find("blocks.0.mlp.experts"), std::string::npos);
}

// Experts int4 (per group of 16) with int8 per-token inputs; the router int8 weights and inputs;
// expert 0 of every layer 2:4-pruned (per-expert pruning by name); distilled from a float teacher.
// The moe op is then
// integer-deterministic: bit for bit on the trace.
TEST(MoeExport, Int4ExpertsInt8RouterAreBitExact) {
  const std::string mods =
      "modifiers:\n"
      "  - pruning: {pattern: '2:4', layers: ['*.experts.0.*'], leave_dense: [], schedule: {type: constant}}\n"
      "  - quantization:\n"
      "      kinds: [linear]\n"
      "      weights: {bits: 8, granularity: channel, method: minmax}\n"
      "      inputs: {mode: dynamic_per_token, bits: 8}\n"
      "      overrides:\n"
      "        - {pattern: '*.experts.*', weights: {bits: 4, granularity: group, group_size: 16, method: lsq}}\n"
      "  - distillation: {teacher: TEACHER, temperature: 1.0, alpha: 0.5}\n";
  // The float teacher: the same routed model trained without modifiers (its run directory).
  Exported teacher = train_and_export("int_teacher", recipe_text("moe_int_teacher", "{experts: 4, top_k: 2}", ""));
  if (!teacher.trainer) GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
  const std::string teacher_dir =
      (std::filesystem::temp_directory_path() / ("qforge_test_moe_int_teacher_" + std::to_string(::getpid()))).string();
  std::string with_teacher = mods;
  with_teacher.replace(with_teacher.find("TEACHER"), 7, teacher_dir);
  Exported e = train_and_export("int", recipe_text("moe_int", "{experts: 4, top_k: 2}", with_teacher));
  if (!e.trainer) GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
  Engine engine = Engine::load(e.path);
  int experts = 0, pruned = 0;
  for (const auto& [name, L] : engine.checkpoint().layers) {
    if (name.find(".experts.") != std::string::npos) {
      ++experts;
      EXPECT_EQ(L.bits, 4) << name;
      EXPECT_EQ(L.input_act.mode, ActMode::kDynamicPerToken) << name;
      if (name.find(".experts.0.") != std::string::npos) {
        EXPECT_TRUE(L.sparse) << name;
        ++pruned;
      }
    } else if (name.find(".router") != std::string::npos) {
      EXPECT_EQ(L.bits, 8) << name;
    }
  }
  EXPECT_EQ(experts, 2 * 4 * 2);
  EXPECT_EQ(pruned, 2 * 2);
  expect_valid(engine, true);
  expect_runtime_matches_model(engine, e.trainer->model(), 0.97);
}

// qforge's router: a 2-layer MLP with the confidence fallback (0.7): a fresh router is unsure,
// so tokens fall back to every expert; the runtime routes them the same way.
TEST(MoeExport, FallbackRouterValidates) {
  Exported e = train_and_export("mlp", recipe_text("moe_mlp", "{experts: 4, top_k: 2, router: mlp}", ""));
  if (!e.trainer) GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
  Engine engine = Engine::load(e.path);
  expect_valid(engine, false);
  expect_runtime_matches_model(engine, e.trainer->model(), 0.99);
  for (const Op& op : engine.checkpoint().graph.ops)
    if (op.kind == "moe_experts") {
      EXPECT_DOUBLE_EQ(op.float_attr("fallback_threshold", 0), 0.7);
    }
  const std::vector<ExpertLoad> loads = expert_load_on_golden(engine);
  ASSERT_EQ(loads.size(), 2u);
  for (const ExpertLoad& l : loads) {
    int64_t sum = 0;
    for (int64_t n : l.per_expert) sum += n;
    // Top-2 tokens count twice, fallback tokens once per expert.
    EXPECT_EQ(sum, 2 * (l.tokens - l.fallbacks) + 4 * l.fallbacks);
  }
}

// An expert linear missing from what is written is refused, by name.
TEST(MoeExport, WriterRefusesAMissingExpertLinear) {
  Exported e = train_and_export("feat", recipe_text("moe_feat", "{experts: 2, top_k: 1}", ""));
  if (!e.trainer) GTEST_SKIP() << "Brown corpus missing (scripts/fetch_brown.sh)";
  exporter::ExportOptions o;
  o.golden_examples = 1;
  CheckpointContent c = exporter::checkpoint_from_model(e.trainer->model(), e.trainer->task(), e.trainer->recipe(), o);
  // An expert linear missing from the content is a writer error naming it.
  std::vector<LayerContent> layers;
  for (const LayerContent& L : c.layers)
    if (L.name != "blocks.1.mlp.experts.1.fc2") layers.push_back(L);
  std::swap(c.layers, layers);
  try {
    write_checkpoint(test::temp_dir("moe_bad") + "/x.qf.h5", c);
    FAIL() << "a missing expert linear must be refused";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("blocks.1.mlp.experts.1.fc2"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace qf
