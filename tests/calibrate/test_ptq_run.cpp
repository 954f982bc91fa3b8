// Post-training quantization end to end, through the recipe: a float run, then the `ptq` section
// (GPTQ, with 2:4 pruning too; observers) calibrates it without training; the result evaluates,
// exports, and the standalone runtime validates it. Tiny random data (IDX files made here).
#include <gtest/gtest.h>

#include <filesystem>

#include "../train/test_support.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"
#include "qat/fake_quantize.h"
#include "qat/quantization_modifier.h"
#include "runtime/engine.h"
#include "runtime/validate.h"
#include "sparsify/masks.h"
#include "sparsify/weight_mask.h"
#include "train/idx.h"
#include "train/trainer.h"

namespace qf {
namespace {

// 128 random 12x12 images of 4 classes, a CNN, and its float run (20 steps).
struct PtqSetup {
  test::TempDir dir{"qforge-ptq"};
  std::string head, float_run;
  PtqSetup() {
    torch::manual_seed(0);
    const torch::Tensor px = torch::randint(0, 256, {128 * 12 * 12}, torch::kInt);
    std::vector<uint8_t> pixels(static_cast<size_t>(px.numel()));
    for (int64_t i = 0; i < px.numel(); ++i) pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(px[i].item<int>());
    std::vector<uint8_t> labels(128);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>((pixels[i * 144 + 70] / 64) % 4);
    write_idx(dir.file("img"), {128, 12, 12}, pixels);
    write_idx(dir.file("lab"), {128}, labels);
    head = "seed: 1\nmodel: {family: cnn, channels: [8, 16], hidden: 16INIT}\ndata: {dataset: idx, path: " + dir.path() +
           ", train_images: img, train_labels: lab, test_images: img, test_labels: lab, batch_size: 32}\n"
           "train: {steps: 20, optimizer: {type: adamw, lr: 0.01}}\n";
    float_run = dir.file("float");
    cli::RunRequest req;
    req.run_dir = float_run;
    req.progress = false;
    cli::run_recipe(recipe("float", ""), req);
  }
  Recipe recipe(const std::string& name, const std::string& modifiers) const {
    std::string h = head;
    h.replace(h.find("INIT"), 4, name == "float" ? "" : ", init_from: " + float_run);
    return load_recipe_from_string("name: " + name + "\n" + h + (modifiers.empty() ? "" : "modifiers:\n" + modifiers),
                                   name + ".yaml");
  }
  // Calibrates (no training), exports and validates; returns the final metrics.
  std::map<std::string, double> calibrate_export_validate(const std::string& name, const std::string& modifiers) const {
    const Recipe r = recipe(name, modifiers);
    cli::RunRequest req;
    req.run_dir = dir.file(name);
    req.calibrate_only = true;
    req.progress = false;
    const train::RunResult res = cli::run_recipe(r, req);
    const std::string out = dir.file(name + ".qf.h5");
    exporter::export_run(req.run_dir, out, 16, r, cli::make_modifiers(r));
    Engine engine = Engine::load(out);
    const ValidationReport report = validate(engine);
    EXPECT_TRUE(report.passed) << name << "\n" << report.summary();
    return res.metrics.values;
  }
};

const char* kW4 =
    "  - quantization:\n      calibration_batches: 2\n"
    "      weights: {bits: 4, granularity: channel}\n"
    "      inputs: {mode: static, bits: 8, symmetric: false, observer: OBS}\n"
    "      ptq: {PTQ}\n";

std::string w4(const std::string& ptq, const std::string& observer = "minmax") {
  std::string s = kW4;
  s.replace(s.find("OBS"), 3, observer);
  s.replace(s.find("PTQ"), 3, ptq);
  return s;
}

TEST(PtqRun, GptqCheckpointValidatesThroughTheRuntime) {
  const PtqSetup s;
  const auto m = s.calibrate_export_validate("gptq", w4("method: gptq, batches: 2, act_order: true"));
  EXPECT_GT(m.at("accuracy"), 0.0);
}

TEST(PtqRun, ObserversForWeightsAndActivationsValidate) {
  const PtqSetup s;
  s.calibrate_export_validate("mse", w4("method: mse", "mse"));
  s.calibrate_export_validate("pct", w4("method: percentile, percentile: 99", "percentile"));
  s.calibrate_export_validate("kl", w4("method: kl", "kl"));
}

// A 2:4 mask in the layer (as a pruning modifier leaves it): GPTQ quantizes only the kept weights,
// and the pruned ones stay exactly 0 in the deployed weight.
TEST(PtqRun, GptqKeepsATwoFourMask) {
  const PtqSetup s;
  const Recipe r = s.recipe("m24", w4("method: gptq, batches: 2"));
  auto task = train::make_task(r);
  auto model = train::make_model(r.model, task->input_shape());
  train::load_model_weights(*model, s.float_run + "/checkpoint.pt");
  auto fc = model->layers().back();
  const torch::Tensor w = fc->effective_weight().detach();
  sparsify::WeightMask mask(w, std::make_pair<int64_t, int64_t>(2, 4));
  mask->set_mask(sparsify::nm_mask(w, 2, 4));
  fc->set_hook(train::HookSlot::kWeightMask, mask.ptr());
  auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(cli::make_modifiers(r).at(0));
  q->mutable_config().ptq_progress = false;
  train::TrainState st(r, *model, *task, torch::kCPU);
  q->prepare(st);
  const torch::Tensor deployed = fc->deployed_weight().detach();
  EXPECT_EQ((deployed.masked_select(mask->mask() == 0) != 0).sum().item<int64_t>(), 0);
  EXPECT_LT(q->ptq_report().back().gptq_error, q->ptq_report().back().rtn_error);
}

// GPTQ, layer by layer, lowers the layers' output error below round-to-nearest's; LSQ weights
// start from the PTQ scales (stored, not recomputed).
TEST(PtqRun, GptqBeatsRtnPerLayerAndInitialisesLsq) {
  const PtqSetup s;
  const Recipe r = s.recipe("lsq", "  - quantization:\n      calibration_batches: 2\n"
                                   "      weights: {bits: 4, granularity: channel, method: lsq}\n"
                                   "      ptq: {method: gptq, batches: 4}\n");
  auto task = train::make_task(r);
  auto model = train::make_model(r.model, task->input_shape());
  train::load_model_weights(*model, s.float_run + "/checkpoint.pt");
  auto mods = cli::make_modifiers(r);
  auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(mods.at(0));
  q->mutable_config().ptq_progress = false;
  train::TrainState st(r, *model, *task, torch::kCPU);
  q->prepare(st);
  ASSERT_EQ(q->ptq_report().size(), model->layers().size());
  // Never worse per layer; strictly better over the model (a 9-input conv may leave no room).
  double rtn = 0, gptq = 0;
  for (const auto& l : q->ptq_report()) {
    EXPECT_LE(l.gptq_error, l.rtn_error * (1 + 1e-6)) << l.name;
    rtn += l.rtn_error, gptq += l.gptq_error;
  }
  EXPECT_LT(gptq, rtn);
  for (auto& layer : model->layers()) {
    auto wq = std::dynamic_pointer_cast<qat::WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant));
    ASSERT_TRUE(wq && wq->has_stored_scales());
    // The deployed weight is on the stored grid: weight / scale is integral.
    const torch::Tensor w = layer->deployed_weight().detach().reshape({layer->effective_weight().size(0), -1});
    const torch::Tensor codes = w / wq->scales(layer->effective_weight()).reshape({-1, 1});
    EXPECT_TRUE(torch::allclose(codes, torch::round(codes), 0, 1e-4)) << layer->layer_name();
  }
}

TEST(PtqRun, RecipeErrorsNameTheKey) {
  const PtqSetup s;
  auto expect_error = [&](const std::string& mods, const std::string& needle) {
    try {
      cli::make_modifiers(s.recipe("bad", mods));
      ADD_FAILURE() << "no error for " << mods;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(w4("method: optimal"), "method");
  expect_error(w4("method: mse, percdamp: 0.1"), "percdamp");
  expect_error("  - quantization:\n      weights: {bits: 4, granularity: group, group_size: 4}\n      ptq: {method: kl}\n",
               "kl observer");
}

}  // namespace
}  // namespace qf
