// The training side of the checkpoint contract: every quantization (and pruning) scheme a recipe
// may ask for trains, exports, and is read back and reproduced by the standalone runtime; and
// what the format cannot hold fails before anything runs.
//
// The combinations: weight bits 2..8 x granularity tensor / channel / group (21 weight schemes,
// plus the 9 of 2..4 bits on the full code range, `range: full`),
// for each kind (linear, conv2d, embedding) with each input-activation scheme its op takes (none,
// static symmetric, static asymmetric, dynamic per token) and, for the prunable kinds, with and
// without 2:4 pruning. A model has several layers of a kind, so one run carries several weight
// schemes at once (one per layer, by override); each run trains 2 steps on a tiny data set made
// here, exports, and must pass `validate` in the runtime.
#include <gtest/gtest.h>

#include <filesystem>

#include "../train/test_support.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/inspect.h"
#include "runtime/validate.h"
#include "train/idx.h"
#include "train/trainer.h"

namespace qf {
namespace {

struct WeightCase {
  int bits;
  const char* granularity;
  bool full_range = false;  // `range: full` (2..4 bits): codes [-2^(b-1), 2^(b-1)-1]
};

std::vector<WeightCase> all_weight_schemes() {
  std::vector<WeightCase> out;
  for (int bits = 2; bits <= 8; ++bits)
    for (const char* g : {"tensor", "channel", "group"}) out.push_back({bits, g});
  for (int bits = 2; bits <= 4; ++bits)
    for (const char* g : {"tensor", "channel", "group"}) out.push_back({bits, g, true});
  return out;
}

std::string weights_yaml(const WeightCase& w, int group_size) {
  return std::string("{bits: ") + std::to_string(w.bits) + ", granularity: " + w.granularity +
         ", group_size: " + std::to_string(group_size) + (w.full_range ? ", range: full" : ", range: restricted") + "}";
}

// A data set and the recipe head (model, data, train) one test reuses for all its runs.
struct RunSetup {
  std::string head;  // recipe text without modifiers
  std::unique_ptr<train::Task> task;
};

// 64 random 16x16 images of 4 classes as IDX files in `dir`.
RunSetup image_setup(const test::TempDir& dir, const std::string& model_yaml) {
  torch::manual_seed(0);
  const torch::Tensor px = torch::randint(0, 256, {64 * 16 * 16}, torch::kInt);
  std::vector<uint8_t> pixels(static_cast<size_t>(px.numel()));
  for (int64_t i = 0; i < px.numel(); ++i) pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(px[i].item<int>());
  std::vector<uint8_t> labels(64);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 4);
  write_idx(dir.file("img"), {64, 16, 16}, pixels);
  write_idx(dir.file("lab"), {64}, labels);
  RunSetup s;
  s.head = "name: contract\nseed: 1\nmodel: " + model_yaml + "\ndata: {dataset: idx, path: " + dir.path() +
           ", train_images: img, train_labels: lab, test_images: img, test_labels: lab, batch_size: 16}\n"
           "train: {steps: 2, optimizer: {type: sgd, lr: 0.01}}\n";
  s.task = train::make_task(load_recipe_from_string(s.head, "contract.yaml"));
  return s;
}

// Parses the recipe (modifiers through the registry, as `qforge run` does), trains 2 steps with
// the loop's events, exports, reads the file back with the runtime, validates it, and returns
// what the checkpoint says about each layer.
std::map<std::string, LayerSummary> train_export_validate(const RunSetup& setup, const std::string& modifiers_yaml,
                                                          const std::string& what, std::string* path_out = nullptr) {
  SCOPED_TRACE(what + "\n" + modifiers_yaml);
  const Recipe recipe = load_recipe_from_string(setup.head + "modifiers:\n" + modifiers_yaml, "contract.yaml");
  const auto modifiers = cli::make_modifiers(recipe);
  train::Task& task = *setup.task;
  torch::manual_seed(2);
  auto model = train::make_model(recipe.model, task.input_shape());
  train::TrainState st(recipe, *model, task, torch::kCPU);
  st.steps_per_epoch = task.steps_per_epoch();
  st.total_steps = 2;
  st.epochs = 1;
  for (auto& m : modifiers) m->prepare(st);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01));
  st.optimizer = &optimizer;
  for (auto& m : modifiers) m->train_start(st);
  model->train();
  for (st.step = 0; st.step < 2; ++st.step) {
    st.batch = task.train_batch(0, st.step);
    for (auto& m : modifiers) m->before_forward(st);
    st.output = model->forward(st.batch.input);
    st.loss = task.loss(st.output, st.batch);
    for (auto& m : modifiers) m->after_loss(st);
    optimizer.zero_grad();
    st.loss.backward();
    for (auto& m : modifiers) m->after_backward(st);
    optimizer.step();
    for (auto& m : modifiers) m->after_step(st);
  }
  for (auto& m : modifiers) m->train_end(st);

  exporter::ExportOptions o;
  o.golden_examples = 16;
  const std::string path = test::temp_dir("contract") + "/m.qf.h5";
  if (path_out) *path_out = path;
  write_checkpoint(path, exporter::checkpoint_from_model(*model, task, recipe, o));
  Engine engine = Engine::load(path);
  const ValidationReport report = validate(engine);
  EXPECT_TRUE(report.passed) << report.summary();
  std::map<std::string, LayerSummary> layers;
  for (const LayerSummary& l : inspect(engine.checkpoint()).layers) layers[l.name] = l;
  return layers;
}

std::vector<std::string> layer_names(const RunSetup& setup, const std::string& kind) {
  const Recipe r = load_recipe_from_string(setup.head, "contract.yaml");
  auto model = train::make_model(r.model, setup.task->input_shape());
  std::vector<std::string> out;
  for (auto& l : model->layers())
    if (l->kind() == kind) out.push_back(l->layer_name());
  return out;
}

// Runs all 30 weight schemes (21 restricted, 9 on the full 2..4-bit range) for one (kind,
// activation scheme, pruning) case, as many per run as the model has layers of the kind, and
// checks that the checkpoint stores each layer as asked.
void run_all_weight_schemes(const RunSetup& setup, const std::string& kind, const std::string& inputs_yaml,
                            const std::string& act_mode, bool prune, int group_size,
                            const std::vector<std::string>& dense_layers = {}) {
  const std::vector<std::string> names = layer_names(setup, kind);
  ASSERT_FALSE(names.empty());
  const std::vector<WeightCase> schemes = all_weight_schemes();
  for (size_t first = 0; first < schemes.size(); first += names.size()) {
    std::string yaml = "  - quantization:\n      calibration_batches: 2\n      kinds: [" + kind + "]\n      weights: " +
                       weights_yaml(schemes[first], group_size) + "\n" + inputs_yaml + "      overrides:\n";
    std::map<std::string, WeightCase> expected;
    for (size_t i = 0; i < names.size(); ++i) {
      const WeightCase& w = schemes[(first + i) % schemes.size()];
      expected[names[i]] = w;
      yaml += "        - {pattern: '" + names[i] + "', weights: " + weights_yaml(w, group_size) + "}\n";
    }
    std::string leave_dense;
    for (const auto& d : dense_layers) leave_dense += (leave_dense.empty() ? "" : ", ") + d;
    if (prune)
      yaml += "  - pruning:\n      pattern: '2:4'\n      kinds: [" + kind + "]\n      leave_dense: [" + leave_dense +
              "]\n      schedule: {type: one_shot}\n";
    const auto layers = train_export_validate(setup, yaml, kind + " inputs " + act_mode + (prune ? " 2:4" : ""));
    for (const auto& [name, w] : expected) {
      ASSERT_TRUE(layers.count(name)) << name;
      const LayerSummary& l = layers.at(name);
      EXPECT_EQ(l.bits, w.bits) << name;
      EXPECT_EQ(l.weight_format.find(" (full)") != std::string::npos, w.full_range) << name << " " << l.weight_format;
      EXPECT_EQ(l.granularity, w.granularity) << name;
      EXPECT_EQ(l.act_mode, act_mode) << name;
      const bool pruned = prune && std::find(dense_layers.begin(), dense_layers.end(), name) == dense_layers.end();
      EXPECT_EQ(l.sparsity, pruned ? "2:4" : "dense") << name;
    }
  }
}

const char* kStaticSym = "      inputs: {mode: static, symmetric: true}\n";
const char* kStaticAsym = "      inputs: {mode: static, symmetric: false}\n";
const char* kDynamic = "      inputs: {mode: dynamic_per_token}\n";

TEST(ExportContract, LinearEveryWeightSchemeEveryInputSchemeWithAndWithout24) {
  test::TempDir dir("contract-linear");
  // 7 linear layers: K = 256 (fc0), 16 (the others); group size 8 divides all, 2:4 fits all.
  const RunSetup setup = image_setup(dir, "{family: mlp, hidden: [16, 16, 16, 16, 16, 16]}");
  for (bool prune : {false, true}) {
    run_all_weight_schemes(setup, "linear", "", "none", prune, 8);
    run_all_weight_schemes(setup, "linear", kStaticSym, "static", prune, 8);
    run_all_weight_schemes(setup, "linear", kStaticAsym, "static", prune, 8);
    run_all_weight_schemes(setup, "linear", kDynamic, "dynamic_per_token", prune, 8);
  }
}

TEST(ExportContract, Conv2dEveryWeightSchemeEveryInputSchemeWithAndWithout24) {
  test::TempDir dir("contract-conv");
  // 4 conv layers: K = 9, 36, 72, 72 (group size 3 divides all); the first (K = 9) cannot be 2:4.
  const RunSetup setup = image_setup(dir, "{family: cnn, channels: [4, 8, 8, 8], hidden: 8}");
  for (bool prune : {false, true}) {
    run_all_weight_schemes(setup, "conv2d", "", "none", prune, 3, {"features.0"});
    run_all_weight_schemes(setup, "conv2d", kStaticSym, "static", prune, 3, {"features.0"});
    run_all_weight_schemes(setup, "conv2d", kStaticAsym, "static", prune, 3, {"features.0"});
  }
}

TEST(ExportContract, EmbeddingEveryWeightScheme) {
  RunSetup setup;
  setup.head =
      "name: contract\nseed: 1\nmodel: {family: gpt, layers: 1, heads: 2, dim: 16, context: 8}\n"
      "data: {dataset: brown, batch_size: 4, eval_batches: 1}\n"
      "train: {steps: 2, steps_per_epoch: 2, optimizer: {type: sgd, lr: 0.01}}\n";
  try {
    setup.task = train::make_task(load_recipe_from_string(setup.head, "contract.yaml"));
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  run_all_weight_schemes(setup, "embedding", "", "none", false, 8);
}

// FP8 E4M3 (feature fp8_e4m3): per-tensor and per-channel weights with float, static and
// per-token E4M3 inputs, mixed with int4 / int8 layers in the same model, export and validate
// (bit for bit where the inputs are quantized: validate's integer-deterministic check).
TEST(ExportContract, Fp8E4M3LinearMixedWithInt4) {
  test::TempDir dir("contract-fp8-linear");
  const RunSetup setup = image_setup(dir, "{family: mlp, hidden: [16, 16, 16]}");
  for (const char* inputs : {"", "      inputs: {mode: static}\n", "      inputs: {mode: dynamic_per_token}\n"}) {
    const std::string yaml = std::string("  - quantization:\n      calibration_batches: 2\n      kinds: [linear]\n"
                                         "      weights: {bits: 4, granularity: group, group_size: 8}\n") + inputs +
                             "      overrides:\n"
                             "        - {pattern: fc1, weights: {format: fp8_e4m3, granularity: channel}" +
                             (*inputs ? ", inputs: {format: fp8_e4m3}" : "") + "}\n"
                             "        - {pattern: fc2, weights: {format: fp8_e4m3, granularity: tensor}" +
                             (*inputs ? ", inputs: {format: fp8_e4m3}" : "") + "}\n";
    const auto layers = train_export_validate(setup, yaml, "fp8 linear");
    EXPECT_EQ(layers.at("fc0").weight_format, "int4");
    EXPECT_EQ(layers.at("fc1").weight_format, "fp8_e4m3");
    EXPECT_EQ(layers.at("fc1").bits, 8);
    EXPECT_EQ(layers.at("fc1").granularity, "channel");
    EXPECT_EQ(layers.at("fc2").granularity, "tensor");
    EXPECT_EQ(layers.at("head").weight_format, "int4");
  }
}

TEST(ExportContract, Fp8E4M3Conv2dStaticInputsBesideInt8) {
  test::TempDir dir("contract-fp8-conv");
  const RunSetup setup = image_setup(dir, "{family: cnn, channels: [4, 8], hidden: 8}");
  for (const char* inputs : {"", "      inputs: {mode: static}\n"}) {
    const std::string yaml = std::string("  - quantization:\n      calibration_batches: 2\n"
                                         "      weights: {format: fp8_e4m3}\n") +
                             (*inputs ? "      inputs: {format: fp8_e4m3, mode: static}\n" : "") +
                             "      overrides:\n        - {pattern: features.0, weights: {format: none, bits: 8}" +
                             (*inputs ? ", inputs: {format: int}" : "") + "}\n";
    const auto layers = train_export_validate(setup, yaml, "fp8 conv");
    EXPECT_EQ(layers.at("features.0").weight_format, "int8");
    EXPECT_EQ(layers.at("features.1").weight_format, "fp8_e4m3");
    EXPECT_EQ(layers.at("features.1").act_mode, *inputs ? "static" : "none");
  }
}

TEST(ExportContract, Fp8E4M3TinyGpt) {
  RunSetup setup;
  setup.head =
      "name: contract\nseed: 1\nmodel: {family: gpt, layers: 1, heads: 2, dim: 16, context: 8}\n"
      "data: {dataset: brown, batch_size: 4, eval_batches: 1}\n"
      "train: {steps: 2, steps_per_epoch: 2, optimizer: {type: sgd, lr: 0.01}}\n";
  try {
    setup.task = train::make_task(load_recipe_from_string(setup.head, "contract.yaml"));
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  // FP8 W8A8 (per-token E4M3 inputs) on the blocks, int4 lm_head, FP8 embedding.
  const auto layers = train_export_validate(
      setup,
      "  - quantization:\n      calibration_batches: 2\n      kinds: [linear]\n"
      "      weights: {format: fp8_e4m3}\n      inputs: {format: fp8_e4m3, mode: dynamic_per_token}\n"
      "      overrides:\n        - {pattern: lm_head, weights: {format: none, bits: 4}, inputs: {format: int}}\n"
      "  - quantization:\n      kinds: [embedding]\n      weights: {format: fp8_e4m3}\n",
      "fp8 gpt");
  EXPECT_EQ(layers.at("blocks.0.attn.qkv").weight_format, "fp8_e4m3");
  EXPECT_EQ(layers.at("blocks.0.attn.qkv").act_mode, "dynamic_per_token");
  EXPECT_EQ(layers.at("tok_emb").weight_format, "fp8_e4m3");
  EXPECT_EQ(layers.at("lm_head").weight_format, "int4");
}

// llama.cpp's block formats (`weights: {format: q4_0}` / `q8_0`, trained for GGUF) export to .qf.h5 as
// well: int8 codes with one scale per block of 32 (5 bits for Q4_0), computed by the writer with the
// arithmetic the fake quantizer reproduces, so the checkpoint holds the trained blocks and validates.
// Weight-only and under per-token int8 inputs, Q4_0 beside a Q8_0 override.
TEST(ExportContract, GgmlBlockWeightsExportAndValidate) {
  test::TempDir dir("contract-ggml");
  const RunSetup setup = image_setup(dir, "{family: mlp, hidden: [32, 32]}");  // K = 256, 32, 32
  for (const char* inputs : {"", "      inputs: {mode: dynamic_per_token}\n"}) {
    const std::string yaml = std::string("  - quantization:\n      kinds: [linear]\n      weights: {format: q4_0}\n") +
                             inputs + "      overrides:\n        - {pattern: fc1, weights: {format: q8_0}}\n";
    const auto layers = train_export_validate(setup, yaml, "ggml blocks");
    for (const char* name : {"fc0", "head"}) {
      EXPECT_EQ(layers.at(name).bits, 5) << name;  // Q4_0: codes in [-8, 8]
      EXPECT_EQ(layers.at(name).granularity, "group") << name;
      EXPECT_EQ(layers.at(name).group_size, 32) << name;
      EXPECT_EQ(layers.at(name).act_mode, *inputs ? "dynamic_per_token" : "none") << name;
    }
    EXPECT_EQ(layers.at("fc1").bits, 8);
  }
}

// A pruned layer whose weight stays float is stored dense (N:M storage packs quantized codes
// only): pruning without quantization, and pruning of a layer an override keeps float.
// The quantized KV cache (feature kv_cache_int4): a tiny gpt (head dim 32) trained 2 steps with
// each cache scheme, float or w4a8 weights, exports, validates (the runtime's attention over its
// packed cache reproduces the contract, i.e. the fake-quant model), lists the feature, reports the
// cache's bytes per token, and decodes token by token to the full run's logits.
TEST(ExportContract, GptQuantizedKvCacheEverySchemeValidates) {
  RunSetup setup;
  setup.head =
      "name: contract\nseed: 1\nmodel: {family: gpt, layers: 2, heads: 2, dim: 64, context: 16}\n"
      "data: {dataset: brown, batch_size: 4, eval_batches: 1}\n"
      "train: {steps: 2, steps_per_epoch: 2, optimizer: {type: sgd, lr: 0.01}}\n";
  try {
    setup.task = train::make_task(load_recipe_from_string(setup.head, "contract.yaml"));
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("Brown corpus not found") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  struct Case {
    const char* kv;
    const char* weights;
    int64_t bytes_per_token;  // 2 layers x K and V x 64 values
  };
  const Case cases[] = {
      {"{bits: 4, group_size: 32}", "", 2 * 2 * (32 + 2 * 2)},
      {"{bits: 4, group_size: head, symmetric: false}", "", 2 * 2 * (32 + 2 * 2 * 2)},
      {"{bits: 8, group_size: 32, clip: 0.9}", "", 2 * 2 * (64 + 2 * 2)},
      // integer zero points (kv_cache_zero_point): 2 groups -> one byte of int4 zero points
      {"{bits: 4, group_size: 32, zero_point: int4}", "", 2 * 2 * (32 + 1 + 2 * 2)},
      {"{bits: 4, group_size: 32}",
       "      weights: {bits: 4, granularity: group, group_size: 32}\n      inputs: {mode: dynamic_per_token}\n",
       2 * 2 * (32 + 2 * 2)},
  };
  for (const Case& c : cases) {
    const std::string yaml = std::string("  - quantization:\n      calibration_batches: 1\n      kinds: [linear]\n") +
                             c.weights + "      kv_cache: " + c.kv + "\n";
    std::string path;
    train_export_validate(setup, yaml, std::string("kv_cache ") + c.kv, &path);
    Engine engine = Engine::load(path);
    const auto& f = engine.checkpoint().required_features;
    EXPECT_NE(std::find(f.begin(), f.end(), "kv_cache_int4"), f.end()) << c.kv;
    const bool zp = std::string(c.kv).find("zero_point") != std::string::npos;
    EXPECT_EQ(std::find(f.begin(), f.end(), "kv_cache_zero_point") != f.end(), zp) << c.kv;
    const InspectSummary s = inspect(engine.checkpoint());
    EXPECT_EQ(s.kv_quantized_ops, 2) << c.kv;
    EXPECT_EQ(s.kv_bytes_per_token, c.bytes_per_token) << c.kv;
    EXPECT_EQ(s.kv_fp16_bytes_per_token, 2 * 2 * 64 * 2);
    // Token by token through the session's packed cache = the full run (each token's K and V
    // are quantized on their own, so the codes are the same).
    const Tensor& ids = engine.checkpoint().golden.at(0).inputs.begin()->second;
    const int64_t t = ids.shape.at(1);
    const std::string in = engine.checkpoint().graph.inputs.at(0).name, out = engine.checkpoint().graph.outputs.at(0);
    const std::vector<int64_t> row(ids.i64.begin(), ids.i64.begin() + t);
    const Tensor full = engine.run({{in, Tensor::ids({1, t}, row)}}).at(out);
    Session session = engine.start_session();
    for (int64_t i = 0; i < t; ++i) {
      const Tensor step = session.step({{in, Tensor::ids({1, 1}, {row[i]})}}).at(out);
      const int64_t v = step.shape.back();
      for (int64_t j = 0; j < v; ++j)
        ASSERT_NEAR(step.f32[j], full.f32[i * v + j], 1e-4f * (1.0f + std::fabs(full.f32[i * v + j])))
            << c.kv << " token " << i;
    }
    EXPECT_EQ(session.kv_bytes_per_token(), c.bytes_per_token) << c.kv;
  }
}

TEST(ExportContract, PrunedFloatWeightsExportDense) {
  test::TempDir dir("contract-float");
  const RunSetup setup = image_setup(dir, "{family: mlp, hidden: [16, 16]}");
  auto layers = train_export_validate(
      setup, "  - pruning: {pattern: '2:4', leave_dense: [], schedule: {type: one_shot}}\n", "float 2:4");
  for (const auto& [name, l] : layers) {
    EXPECT_EQ(l.weight_format, "float32") << name;
    EXPECT_EQ(l.sparsity, "dense") << name;
  }
  layers = train_export_validate(
      setup,
      "  - quantization:\n      weights: {bits: 4}\n      overrides: [{pattern: fc1, weights: {enabled: false}}]\n"
      "  - pruning: {pattern: '2:4', leave_dense: [], schedule: {type: one_shot}}\n",
      "mixed float/int4 2:4");
  EXPECT_EQ(layers.at("fc1").weight_format, "float32");
  EXPECT_EQ(layers.at("fc1").sparsity, "dense");
  EXPECT_EQ(layers.at("fc0").sparsity, "2:4");
}

// One registry of modifier types: an unknown one names the file, the line and the known types.
TEST(ModifierRegistry, UnknownTypeNamesFileLineAndKnownTypes) {
  const Recipe r = load_recipe_from_string(
      "name: t\nmodel: {family: mlp}\ndata: {dataset: fashion_mnist}\ntrain: {epochs: 1}\nmodifiers:\n"
      "  - quantization: {weights: {bits: 8}}\n  - quantisation: {bits: 4}\n",
      "typo.yaml");
  try {
    cli::make_modifiers(r);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "typo.yaml:7: unknown modifier type 'quantisation' in 'modifiers' (expected one of: quantization, "
                 "pruning, distillation)");
  }
  std::vector<std::string> types;
  for (const auto& f : cli::modifier_registry()) types.push_back(f.type);
  EXPECT_EQ(types, (std::vector<std::string>{"quantization", "pruning", "distillation"}));
}

// A recipe that fails validation trains nothing and leaves no run directory: neither when a
// modifier section is wrong (checked before anything runs) nor when a layer cannot take the
// scheme (checked when the model is prepared).
TEST(RunRecipe, InvalidRecipeLeavesNoRunDirectory) {
  test::TempDir dir("contract-norun");
  const RunSetup setup = image_setup(dir, "{family: mlp, hidden: [12]}");
  for (const char* mods : {
           "  - quantization: {weights: {bits: 4}, inputs: {mode: dynamic_per_token, bits: 4}}\n",
           // group size 16 divides fc0's K = 256 but not fc1's K = 12: a prepare-time error.
           "  - quantization: {weights: {bits: 4, granularity: group, group_size: 16}}\n",
       }) {
    const Recipe r = load_recipe_from_string(setup.head + "modifiers:\n" + mods, "bad.yaml");
    cli::RunRequest req;
    req.run_dir = dir.file("run");
    req.progress = false;
    req.threads = 1;
    EXPECT_THROW(cli::run_recipe(r, req), std::exception) << mods;
    EXPECT_FALSE(std::filesystem::exists(req.run_dir)) << mods;
  }
}

// Every shipped recipe parses with its modifiers (the registry and the schema checks), so none
// uses an old key or a scheme the checkpoint cannot hold. Nothing is trained.
TEST(ShippedRecipes, AllParseWithTheirModifiers) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path();
  int n = 0;
  for (const char* folder : {"recipes", "bench/recipes"})
    for (const auto& e : fs::directory_iterator(root / folder)) {
      if (e.path().extension() != ".yaml") continue;
      EXPECT_NO_THROW(cli::make_modifiers(load_recipe(e.path().string()))) << e.path();
      ++n;
    }
  EXPECT_GE(n, 17);
}

}  // namespace
}  // namespace qf
