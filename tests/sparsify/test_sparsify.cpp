#include <gtest/gtest.h>

#include "../train/train_with_modifiers.h"
#include "export/from_torch.h"
#include "runtime/checkpoint_reader.h"
#include "runtime/engine.h"
#include "runtime/inspect.h"
#include "runtime/validate.h"
#include "sparsify/masks.h"
#include "sparsify/pruning_modifier.h"
#include "train/trainer.h"

namespace qf::sparsify {
namespace {

TEST(Masks, NmMaskSatisfiesThePatternExactly) {
  torch::manual_seed(0);
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{2, 4}, {1, 4}, {4, 8}}) {
    const torch::Tensor w = torch::randn({6, 5, 3, 8});  // conv-like, K = 120
    const torch::Tensor mask = nm_mask(w, n, m);
    EXPECT_TRUE(satisfies_nm(w * mask, n, m));
    EXPECT_FALSE(satisfies_nm(w, n, m));
    // Exactly N kept per group, and they are the N largest magnitudes of the group.
    const torch::Tensor groups = (w * mask).reshape({-1, m});
    EXPECT_TRUE(mask.reshape({-1, m}).sum(1).eq(n).all().item<bool>());
    const torch::Tensor kept_min = std::get<0>(torch::where(groups.ne(0), groups.abs(), torch::full_like(groups, 1e9)).min(1));
    const torch::Tensor dropped_max = std::get<0>((w.reshape({-1, m}).abs() * (1 - mask.reshape({-1, m}))).max(1));
    EXPECT_TRUE(kept_min.ge(dropped_max).all().item<bool>());
  }
  EXPECT_THROW(nm_mask(torch::randn({4, 9}), 2, 4), std::invalid_argument);
}

TEST(Masks, PartialNmEnforcesTheCheapestFractionOfGroups) {
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({8, 64});
  const torch::Tensor mask = nm_mask(w, 2, 4, 0.25);
  const torch::Tensor per_group = mask.reshape({-1, 4}).sum(1);
  EXPECT_EQ(per_group.eq(2).sum().item<int64_t>(), 32);   // 25% of 128 groups are 2:4
  EXPECT_EQ(per_group.eq(4).sum().item<int64_t>(), 96);   // the rest dense
  // The enforced groups are those with the least pruned magnitude.
  const torch::Tensor g = w.abs().reshape({-1, 4});
  const torch::Tensor cost = std::get<0>(g.sort(1)).narrow(1, 0, 2).sum(1);
  const double enforced_max = cost.masked_select(per_group.eq(2)).max().item<double>();
  const double dense_min = cost.masked_select(per_group.eq(4)).min().item<double>();
  EXPECT_LE(enforced_max, dense_min);
}

TEST(Masks, UnstructuredGlobalAndBlock) {
  torch::manual_seed(2);
  const torch::Tensor w = torch::randn({16, 32});
  EXPECT_EQ(magnitude_mask(w, 0.8).eq(0).sum().item<int64_t>(), 410);  // round(0.8 * 512)
  // Global: one threshold, so every kept weight of either layer outweighs every pruned one.
  const torch::Tensor big = w * 10;
  const auto masks = global_magnitude_masks({w, big}, 0.5);
  const torch::Tensor all = torch::cat({w.flatten(), big.flatten()}).abs();
  const torch::Tensor keep = torch::cat({masks[0].flatten(), masks[1].flatten()}).to(torch::kBool);
  EXPECT_EQ(keep.logical_not().sum().item<int64_t>(), 512);
  EXPECT_GE(all.masked_select(keep).min().item<double>(), all.masked_select(keep.logical_not()).max().item<double>());
  EXPECT_GT(1 - masks[0].mean().item<double>(), 1 - masks[1].mean().item<double>());  // small layer loses more
  const torch::Tensor b = block_mask(w, 4, 8, 0.5);
  EXPECT_NEAR(1 - b.mean().item<double>(), 0.5, 1e-9);
  const torch::Tensor blocks = b.reshape({4, 4, 4, 8}).permute({0, 2, 1, 3}).reshape({16, 32});
  const torch::Tensor block_sums = blocks.sum(1);
  EXPECT_TRUE((block_sums.eq(0) | block_sums.eq(32)).all().item<bool>());  // whole blocks only
  EXPECT_THROW(block_mask(w, 5, 8, 0.5), std::invalid_argument);
}

TEST(Schedule, CubicValuesAtKnownSteps) {
  SparsitySchedule s;
  s.initial = 0.0;
  s.final = 0.5;
  s.start_step = 100;
  s.end_step = 200;
  s.update_every = 10;
  EXPECT_LT(s.at(99), 0);                            // not started
  EXPECT_DOUBLE_EQ(s.at(100), 0.0);
  EXPECT_DOUBLE_EQ(s.at(150), 0.5 - 0.5 * 0.125);   // 0.5 + (0 - 0.5)(1 - 0.5)^3
  EXPECT_DOUBLE_EQ(s.at(155), s.at(150));           // held between updates
  EXPECT_DOUBLE_EQ(s.at(190), 0.5 - 0.5 * 0.001);
  EXPECT_DOUBLE_EQ(s.at(200), 0.5);
  EXPECT_DOUBLE_EQ(s.at(1000), 0.5);
  EXPECT_TRUE(s.updates_at(110));
  EXPECT_FALSE(s.updates_at(111));
  EXPECT_FALSE(s.updates_at(210));
  s.type = "one_shot";
  EXPECT_TRUE(s.updates_at(100));
  EXPECT_FALSE(s.updates_at(110));
  EXPECT_DOUBLE_EQ(s.at(100), 0.5);
}

std::unique_ptr<train::Trainer> run(const Recipe& r, const std::string& tag) {
  return test::train_with_modifiers(r, tag);
}

TEST(Pruning, MaskedWeightsStayZeroThroughSgdAndAdamW) {
  for (const char* opt : {"sgd", "adamw"}) {
    Recipe r = test::small_fashion_recipe(
        "{family: mlp, hidden: [64, 32]}", 2, 512,
        "modifiers:\n  - pruning:\n      pattern: unstructured\n      final_sparsity: 0.7\n"
        "      leave_dense: []\n      start_epoch: 0\n      end_epoch: 1\n      schedule: {type: cubic, update_every: 2}\n");
    r.train.optimizer.type = opt;
    auto t = run(r, std::string("prune_") + opt);
    for (auto& layer : t->model().layers()) {
      auto mask = std::dynamic_pointer_cast<WeightMaskImpl>(layer->hook(train::HookSlot::kWeightMask));
      ASSERT_TRUE(mask) << layer->layer_name();
      EXPECT_NEAR(mask->sparsity(), 0.7, 0.01);
      EXPECT_TRUE(layer->raw_weight().masked_select(mask->mask().eq(0)).eq(0).all().item<bool>()) << opt;
    }
  }
}

// The pruned, quantized CNN exports its 2:4 layers compressed, and the runtime reproduces it.
TEST(Pruning, SparseQuantizedModelExportsAndValidates) {
  const Recipe r = test::small_fashion_recipe(
      "{family: cnn, channels: [8, 16], hidden: 32}", 2, 512,
      "modifiers:\n  - quantization:\n      freeze_bn_epoch: 1\n      weights: {bits: 4, method: lsq}\n"
      "      inputs: {mode: static, bits: 8}\n"
      "  - pruning:\n      pattern: '2:4'\n      start_epoch: 0\n      end_epoch: 1\n      schedule: {type: cubic, update_every: 2}\n");
  auto t = run(r, "sp24");
  const std::string path = test::temp_dir("sp24_export") + "/m.qf.h5";
  write_checkpoint(path, exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {}));
  Engine engine = Engine::load(path);
  const InspectSummary s = inspect(engine.checkpoint());
  std::map<std::string, std::string> sparsity;
  for (const auto& l : s.layers) sparsity[l.name] = l.sparsity;
  EXPECT_EQ(sparsity["features.0"], "dense");  // first and last layers stay dense by default
  EXPECT_EQ(sparsity["features.1"], "2:4");
  EXPECT_EQ(sparsity["fc"], "2:4");
  EXPECT_EQ(sparsity["head"], "dense");
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary();
}

// Straight-through N:M training: the gradient reaches the pruned weights (so they can come back),
// while the value stays the masked weight.
TEST(Pruning, StraightThroughGradientReachesPrunedWeights) {
  torch::manual_seed(3);
  const torch::Tensor w0 = torch::randn({4, 8});
  for (const char* method : {"ste", "sr_ste"}) {
    torch::Tensor w = w0.clone().requires_grad_(true);
    WeightMask mask(w, std::make_pair<int64_t, int64_t>(2, 4));
    mask->set_mask(nm_mask(w.detach(), 2, 4));
    mask->set_straight_through(true);
    const torch::Tensor y = mask->forward(w);
    EXPECT_TRUE(torch::equal(y.detach(), w0 * mask->mask())) << "the value is the masked weight";
    y.sum().backward();
    EXPECT_TRUE(torch::equal(w.grad(), torch::ones_like(w0))) << method << ": every weight gets the gradient";
  }
  // Without straight-through (method magnitude) the pruned weights get none.
  torch::Tensor w = w0.clone().requires_grad_(true);
  WeightMask plain(w, std::make_pair<int64_t, int64_t>(2, 4));
  plain->set_mask(nm_mask(w.detach(), 2, 4));
  plain->forward(w).sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), plain->mask()));
}

TEST(Pruning, SrSteTrainsToExactNmAndExportsCompressed) {
  for (const char* method : {"ste", "sr_ste"}) {
    const Recipe r = test::small_fashion_recipe(
        "{family: cnn, channels: [8, 16], hidden: 32}", 2, 512,
        std::string("modifiers:\n  - quantization:\n      freeze_bn_epoch: 1\n      weights: {bits: 4, method: lsq}\n"
                    "      inputs: {mode: static, bits: 8}\n"
                    "  - pruning:\n      pattern: '2:4'\n      method: ") + method +
            "\n      start_epoch: 0\n      end_epoch: 1\n");
    auto t = run(r, std::string("prune_") + method);
    int pruned = 0;
    for (auto& layer : t->model().layers()) {
      auto mask = std::dynamic_pointer_cast<WeightMaskImpl>(layer->hook(train::HookSlot::kWeightMask));
      if (!mask || mask->sparsity() == 0) continue;
      ++pruned;
      // Frozen after end_epoch: exact 2:4, pruned raw weights exactly zero.
      EXPECT_EQ(mask->storage_sparsity(), "2:4") << layer->layer_name();
      EXPECT_TRUE(layer->raw_weight().masked_select(mask->mask().eq(0)).eq(0).all().item<bool>()) << method;
    }
    EXPECT_EQ(pruned, 2) << method;  // features.1 and fc (first and last stay dense)
    const std::string path = test::temp_dir(std::string("ste_export_") + method) + "/m.qf.h5";
    write_checkpoint(path, exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {}));
    Engine engine = Engine::load(path);
    const ValidationReport report = validate(engine);
    EXPECT_TRUE(report.passed) << report.summary();
  }
}

// Block pruning declares block-sparse storage: the pruned layers export as bs_int8 / bs_int4
// (feature block_sparse) and the runtime reproduces the contract bit for bit on every table.
TEST(Pruning, BlockSparseQuantizedModelExportsAndValidates) {
  for (int bits : {8, 4}) {
    const Recipe r = test::small_fashion_recipe(
        "{family: cnn, channels: [8, 16], hidden: 32}", 2, 512,
        "modifiers:\n  - quantization:\n      freeze_bn_epoch: 1\n      weights: {bits: " + std::to_string(bits) +
            ", method: lsq}\n      inputs: {mode: static, bits: 8}\n"
            "  - pruning:\n      pattern: block\n      block: [8, 8]\n      final_sparsity: 0.6\n"
            "      start_epoch: 0\n      end_epoch: 1\n      schedule: {type: cubic, update_every: 2}\n");
    auto t = run(r, "bs" + std::to_string(bits));
    for (auto& layer : t->model().layers()) {
      auto mask = std::dynamic_pointer_cast<WeightMaskImpl>(layer->hook(train::HookSlot::kWeightMask));
      if (!mask) continue;
      EXPECT_NEAR(mask->sparsity(), 0.6, 0.05) << layer->layer_name();
      EXPECT_TRUE(satisfies_blocks(mask->mask(), 8, 8)) << layer->layer_name();
    }
    const std::string path = test::temp_dir("bs_export") + "/m" + std::to_string(bits) + ".qf.h5";
    write_checkpoint(path, exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {}));
    const Checkpoint ck = read_checkpoint(path);
    EXPECT_EQ(ck.required_features, std::vector<std::string>{"block_sparse"});
    const WeightFormat want = bits == 8 ? WeightFormat::kBSInt8 : WeightFormat::kBSInt4;
    EXPECT_EQ(ck.layers.at("features.0").format, bits == 8 ? WeightFormat::kInt8 : WeightFormat::kInt4);
    EXPECT_EQ(ck.layers.at("features.1").format, want);
    EXPECT_EQ(ck.layers.at("fc").format, want);
    EXPECT_EQ(ck.layers.at("fc").block.str(), "block:8x8");
    // About 60% of fc's 4 x 98 blocks are not stored.
    EXPECT_LT(ck.layers.at("fc").block_col.size(), 4u * 98u / 2u);
    for (const kernels::KernelTable* table : kernels::available_kernel_tables()) {
      Engine engine(read_checkpoint(path), table);
      const ValidationReport report = validate(engine);
      EXPECT_TRUE(report.passed) << table->name << " w" << bits << "\n" << report.summary();
    }
  }
}

TEST(Pruning, PatternThatDoesNotFitNamesTheLayer) {
  const Recipe r = test::small_fashion_recipe(
      "{family: cnn, channels: [8, 16], hidden: 32}", 1, 128,
      "modifiers:\n  - pruning: {pattern: '2:4', leave_dense: [], schedule: {type: one_shot}}\n");
  try {
    run(r, "sp_bad");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("features.0"), std::string::npos) << e.what();  // K = 9
  }
}

std::string pruning_error(const std::string& yaml) {
  try {
    parse_pruning_modifier(RecipeNode::parse(yaml, "prune.yaml"));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// N:M patterns are read by core's NMPattern::parse, the checkpoint's own parser.
TEST(PruningRecipe, PatternsAreCoresNM) {
  const PruningConfig c = parse_pruning_modifier(RecipeNode::parse("pattern: '4:8'\n", "prune.yaml"));
  EXPECT_EQ(c.n, 4);
  EXPECT_EQ(c.m, 8);
  EXPECT_DOUBLE_EQ(c.final_sparsity, 0.5);
  for (const char* bad : {"'2:4x'", "'2:'", "'x:4'", "'2:32'", "'4:4'", "'0:4'"}) {
    const std::string e = pruning_error(std::string("final_sparsity: 0.5\npattern: ") + bad + "\n");
    EXPECT_NE(e.find("prune.yaml:2: key 'pattern'"), std::string::npos) << bad << ": " << e;
  }
}

TEST(PruningRecipe, KindsComeFromTheOpSchema) {
  const std::string e = pruning_error("kinds: [linear, embedding]\n");
  EXPECT_NE(e.find("prune.yaml:1: key 'kinds'"), std::string::npos) << e;
  EXPECT_NE(e.find("linear, conv2d"), std::string::npos) << e;
}

TEST(PruningRecipe, StraightThroughMethodsAreNMOnlyAndOwnTheirKeys) {
  const PruningConfig c = parse_pruning_modifier(RecipeNode::parse("method: sr_ste\ndecay: 0.001\n", "prune.yaml"));
  EXPECT_EQ(c.method, "sr_ste");
  EXPECT_DOUBLE_EQ(c.decay, 0.001);
  EXPECT_EQ(c.update_every, 1);
  EXPECT_NE(pruning_error("pattern: unstructured\nmethod: ste\n").find("prune.yaml:2: key 'method'"), std::string::npos);
  EXPECT_NE(pruning_error("method: magnitude\ndecay: 0.1\n").find("prune.yaml:2: key 'decay'"), std::string::npos);
  EXPECT_NE(pruning_error("method: ste\nschedule: {type: cubic}\n").find("key 'type' in 'schedule'"), std::string::npos)
      << pruning_error("method: ste\nschedule: {type: cubic}\n");
  EXPECT_NE(pruning_error("method: sr_ste\ndecay: -1\n").find("key 'decay'"), std::string::npos);
  EXPECT_NE(pruning_error("method: lottery\n").find("key 'method'"), std::string::npos);
}

// The window moved from `schedule` to the modifier itself (one vocabulary for every modifier).
TEST(PruningRecipe, OldScheduleWindowKeysNameTheNewOnes) {
  const std::string e = pruning_error("pattern: '2:4'\nschedule:\n  type: cubic\n  end_epoch: 2\n");
  EXPECT_NE(e.find("prune.yaml:4: key 'end_epoch' in 'schedule' has moved"), std::string::npos) << e;
  const PruningConfig c = parse_pruning_modifier(
      RecipeNode::parse("start_epoch: 0.5\nend_epoch: 1.5\nschedule: {update_every: 3}\n", "prune.yaml"));
  EXPECT_DOUBLE_EQ(c.window.start, 0.5);
  EXPECT_DOUBLE_EQ(*c.window.end, 1.5);
  EXPECT_EQ(c.window.start_step(10), 5);
  EXPECT_EQ(c.window.end_step(10), 15);
}

}  // namespace
}  // namespace qf::sparsify
