// Post-training quantization end to end, through the recipe: a float run, then the `ptq` section
// (GPTQ, with 2:4 pruning too; observers) calibrates it without training; the result evaluates,
// exports, and the standalone runtime validates it. Tiny random data (IDX files made here).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../train/test_support.h"
#include "cli/commands.h"
#include "cli/measure.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"
#include "qat/fake_quantize.h"
#include "qat/quantization_modifier.h"
#include "runtime/engine.h"
#include "runtime/inspect.h"
#include "runtime/validate.h"
#include "sparsify/masks.h"
#include "sparsify/weight_mask.h"
#include "train/idx.h"
#include "train/trainer.h"
#include "core/json.h"

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
  // Trains `r` from the float run into run folder `name` (one thread, quiet) and returns the
  // trainer, whose model is the trained one. `quant` receives the run's quantization modifier;
  // stop_after_epochs and resume as in train::RunOptions.
  std::unique_ptr<train::Trainer> train(const Recipe& r, const std::string& name,
                                        std::shared_ptr<qat::QuantizationModifier>* quant = nullptr,
                                        int64_t stop_after_epochs = 0, bool resume = false) const {
    train::RunOptions o;
    o.run_dir = dir.file(name);
    o.threads = 1;
    o.progress = false;
    o.init_checkpoint = float_run + "/checkpoint.pt";
    o.stop_after_epochs = stop_after_epochs;
    o.resume = resume;
    auto trainer = std::make_unique<train::Trainer>(r, o);
    for (auto& mod : cli::make_modifiers(r)) {
      if (auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(mod)) {
        q->mutable_config().ptq_progress = false;
        if (quant) *quant = q;
      }
      trainer->add_modifier(mod);
    }
    trainer->run();
    return trainer;
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

// ptq.latent: updated leaves the same quantized model as the default (grid), but its latent float
// weights are GPTQ's error-updated ones, off the grid (what QAT then trains from).
TEST(PtqRun, GptqLatentUpdatedIsTheSameQuantizedModelOffTheGrid) {
  const PtqSetup s;
  auto prepared = [&](const std::string& latent) {
    const Recipe r = s.recipe("lat", "  - quantization:\n      calibration_batches: 2\n"
                                     "      weights: {bits: 4, granularity: channel, method: lsq}\n"
                                     "      ptq: {method: gptq, batches: 4, latent: " + latent + "}\n");
    auto task = train::make_task(r);
    auto model = train::make_model(r.model, task->input_shape());
    train::load_model_weights(*model, s.float_run + "/checkpoint.pt");
    auto mods = cli::make_modifiers(r);
    auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(mods.at(0));
    q->mutable_config().ptq_progress = false;
    train::TrainState st(r, *model, *task, torch::kCPU);
    q->prepare(st);
    model->eval();
    return model;
  };
  auto grid = prepared("grid"), updated = prepared("updated");
  ASSERT_EQ(grid->layers().size(), updated->layers().size());
  bool off_grid = false;
  for (size_t i = 0; i < grid->layers().size(); ++i) {
    auto& g = *grid->layers()[i];
    auto& u = *updated->layers()[i];
    EXPECT_TRUE(torch::allclose(g.deployed_weight(), u.deployed_weight(), 0, 1e-6)) << g.layer_name();
    off_grid = off_grid || (u.effective_weight() - u.deployed_weight()).abs().max().item<float>() > 1e-4f;
  }
  EXPECT_TRUE(off_grid) << "latent: updated keeps the weights between grid points";
}

// The accuracy-limited search, through the command: every trial is measured through the runtime;
// the chosen candidate's checkpoint re-measured independently gives the same accuracy, stays
// within the limit, and is smaller than float; a loose limit picks the most compressed candidate
// and a search of N candidates measures at most log2(N) + 2 of them.
TEST(PtqRun, MaxDropSearchChoosesAMeasuredCandidateWithinTheLimit) {
  const PtqSetup s;
  const Recipe base = s.recipe("md", w4("method: mse"));
  s.dir.write("md.yaml", base.text);
  auto search = [&](const std::string& tag, double max_drop) {
    CLI::App app;
    cli::add_sensitivity_command(app);
    std::ostringstream cmd;
    cmd << "sensitivity " << s.dir.file("md.yaml") << " --batches 2 --formats w2,w4,w8,float --threads 1 --max-drop "
        << max_drop << " --search-dir " << s.dir.file(tag) << " --write-recipe " << s.dir.file(tag + "_chosen.yaml");
    app.parse(cmd.str());
    std::ifstream in(s.dir.file(tag + "/search.json"));
    std::stringstream text;
    text << in.rdbuf();
    return Json::parse(text.str());
  };
  const Json tight = search("tight", 1.0);
  const double float_acc = tight.at("float_quality").as_double();
  const int64_t n = tight.at("candidates").as_int();
  ASSERT_GE(n, 3);
  const auto& trials = tight.at("trials").as_array();
  EXPECT_LE(static_cast<int64_t>(trials.size()), 2 + static_cast<int64_t>(std::ceil(std::log2(static_cast<double>(n)))));
  const int64_t chosen = tight.at("chosen").as_int();
  ASSERT_GE(chosen, 0);
  for (const Json& t : trials) {
    EXPECT_EQ(t.at("within").as_bool(), t.at("drop").as_double() <= 1.0);
    EXPECT_TRUE(t.at("ptq_validated").as_bool());
    if (t.at("candidate").as_int() != chosen) continue;
    EXPECT_TRUE(t.at("within").as_bool());
    const auto m = cli::measure_checkpoint(t.at("checkpoint").as_string(), cli::MeasureOptions{});
    EXPECT_DOUBLE_EQ(m.values.at("accuracy"), t.at("ptq_quality").as_double());
    EXPECT_LE(float_acc - m.values.at("accuracy"), 1.0);
    EXPECT_LT(m.values.at("bits_per_weight"), tight.at("float_bits_per_weight").as_double());
  }
  // Candidates more compressed than the chosen one that were tried all missed the limit.
  for (const Json& t : trials)
    if (t.at("candidate").as_int() < chosen) {
      EXPECT_FALSE(t.at("within").as_bool());
    }
  // The chosen recipe is written and parses.
  EXPECT_NO_THROW(load_recipe(s.dir.file("tight_chosen.yaml")));
  // Any drop allowed: the most compressed candidate (every layer w2).
  const Json loose = search("loose", 100.0);
  EXPECT_EQ(loose.at("chosen").as_int(), 0);
  EXPECT_NE(loose.at("trials").as_array().back().at("formats").as_string().find("=w2"), std::string::npos);
}

// --train: a candidate whose PTQ misses the limit is trained by the recipe's schedule (20 steps
// here) and measured again; the trial records both, and its drop is the better of the two.
TEST(PtqRun, MaxDropTrainsWherePtqMissesTheLimit) {
  const PtqSetup s;
  s.dir.write("mt.yaml", s.recipe("mt", w4("method: minmax")).text);
  CLI::App app;
  cli::add_sensitivity_command(app);
  app.parse("sensitivity " + s.dir.file("mt.yaml") + " --batches 2 --formats w2,float --threads 1 --max-drop 0 --train " +
            "--search-dir " + s.dir.file("mt"));
  std::ifstream in(s.dir.file("mt/search.json"));
  std::stringstream text;
  text << in.rdbuf();
  const Json j = Json::parse(text.str());
  int trained = 0;
  for (const Json& t : j.at("trials").as_array()) {
    const double ptq_drop = j.at("float_quality").as_double() - t.at("ptq_quality").as_double();
    if (ptq_drop <= 0) continue;
    ASSERT_TRUE(t.contains("qat_quality")) << "PTQ missed the limit but nothing was trained";
    ++trained;
    const double qat_drop = j.at("float_quality").as_double() - t.at("qat_quality").as_double();
    EXPECT_NEAR(t.at("drop").as_double(), std::min(ptq_drop, qat_drop), 1e-9);
    EXPECT_EQ(t.at("method").as_string(), qat_drop < ptq_drop ? "qat" : "ptq");
  }
  EXPECT_GE(trained, 1) << "every w2 candidate kept float accuracy: the test did not exercise training";
}

// qforge calibrate with a 2:4 pruning modifier (listed after quantization, with its training
// schedule): the pattern is applied one-shot at prepare time, GPTQ chooses each pruned layer's
// mask (SparseGPT) with lower output error than RTN on the magnitude mask, and the exported
// checkpoint stores exactly 2:4 and validates. The observer path gets the magnitude mask.
const char* kPrune24 = "  - pruning:\n      pattern: '2:4'\n      start_epoch: 0\n      end_epoch: 1\n";

TEST(PtqRun, OneShotTwoFourAtCalibrationIsExactAndValidates) {
  const PtqSetup s;
  for (const std::string method : {"gptq", "mse"}) {
    const std::string mods = w4("method: " + method + (method == "gptq" ? ", batches: 2" : "")) + kPrune24;
    s.calibrate_export_validate("sp_" + method, mods);
    Engine engine = Engine::load(s.dir.file("sp_" + method + ".qf.h5"));
    std::map<std::string, std::string> sparsity;
    for (const auto& l : inspect(engine.checkpoint()).layers) sparsity[l.name] = l.sparsity;
    EXPECT_EQ(sparsity["features.1"], "2:4") << method;
    EXPECT_EQ(sparsity["fc"], "2:4") << method;
    EXPECT_EQ(sparsity["features.0"], "dense") << method;  // leave_dense: first and last
    EXPECT_EQ(sparsity["head"], "dense") << method;
  }
  // The same prepare as qforge calibrate, looked into: GPTQ chose the masks.
  const Recipe r = s.recipe("sp", w4("method: gptq, batches: 2") + kPrune24);
  auto task = train::make_task(r);
  auto model = train::make_model(r.model, task->input_shape());
  train::load_model_weights(*model, s.float_run + "/checkpoint.pt");
  auto mods = cli::make_modifiers(r);
  auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(mods.at(0));
  q->mutable_config().ptq_progress = false;
  train::TrainState st(r, *model, *task, torch::kCPU);
  st.calibrate_only = true;
  train::prepare_modifiers(mods, st);
  for (auto& m : mods) m->train_start(st);
  int selected = 0;
  for (const auto& rep : q->ptq_report()) {
    if (!rep.selected_mask) continue;
    ++selected;
    EXPECT_LT(rep.gptq_error, rep.rtn_error) << rep.name;
  }
  EXPECT_EQ(selected, 2);
  for (auto& layer : model->layers()) {
    if (layer->layer_name() != "fc" && layer->layer_name() != "features.1") continue;
    EXPECT_TRUE(sparsify::satisfies_nm(layer->deployed_weight().detach(), 2, 4)) << layer->layer_name();
    EXPECT_TRUE(sparsify::satisfies_nm(layer->raw_weight().detach(), 2, 4)) << "pruned raw weights are 0";
  }
}

// lsq_lr_factor: the learned scales get an optimizer group of their own at that multiple of the
// learning rate. At 0 they stay exactly where PTQ put them while the weights train; at 1 (the
// default, no group) they move. Both runs start from the same GPTQ result.
TEST(PtqRun, LsqLrFactorZeroKeepsThePtqScalesWhileWeightsTrain) {
  const PtqSetup s;
  const std::string mods = "  - quantization:\n      calibration_batches: 2\n"
                           "      weights: {bits: 4, granularity: channel, method: lsq}\n"
                           "      inputs: {mode: static, bits: 8, symmetric: false, method: lsq}\n"
                           "      ptq: {method: gptq, batches: 2}\nFACTOR";
  // Per layer: (weight scales, input scale, raw weight) of a trained model.
  using Snapshot = std::vector<std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>>;
  auto snapshot = [](train::ZooModel& model) {
    Snapshot out;
    for (auto& layer : model.layers()) {
      auto wq = std::dynamic_pointer_cast<qat::WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant));
      auto aq = std::dynamic_pointer_cast<qat::ActFakeQuantImpl>(layer->hook(train::HookSlot::kInputQuant));
      EXPECT_TRUE(wq && aq) << layer->layer_name();
      out.emplace_back(wq->scales(layer->effective_weight()).clone(), torch::tensor(aq->static_params().scale),
                       layer->raw_weight().detach().clone());
    }
    return out;
  };
  auto train_with = [&](const std::string& name, const std::string& factor, double lr) {
    std::string m = mods;
    m.replace(m.find("FACTOR"), 6, factor);
    Recipe r = s.recipe(name, m);
    r.train.steps = 10;
    r.train.optimizer.lr = lr;
    return snapshot(s.train(r, name)->model());
  };
  // The reference trains at lr 0: the PTQ result itself (AdamW's decay is lr-scaled too).
  const Snapshot ptq = train_with("ref", "", 0.0);
  const Snapshot frozen = train_with("frozen", "      lsq_lr_factor: 0\n", 0.01);
  const Snapshot moving = train_with("moving", "", 0.01);
  ASSERT_EQ(ptq.size(), frozen.size());
  bool weights_moved = false, scales_moved = false;
  for (size_t i = 0; i < ptq.size(); ++i) {
    EXPECT_TRUE(torch::equal(std::get<0>(ptq[i]), std::get<0>(frozen[i]))) << "weight scales of layer " << i;
    EXPECT_TRUE(torch::equal(std::get<1>(ptq[i]), std::get<1>(frozen[i]))) << "input scale of layer " << i;
    weights_moved = weights_moved || !torch::equal(std::get<2>(ptq[i]), std::get<2>(frozen[i]));
    scales_moved = scales_moved || !torch::equal(std::get<0>(ptq[i]), std::get<0>(moving[i]));
  }
  EXPECT_TRUE(weights_moved) << "the weights train at the full learning rate";
  EXPECT_TRUE(scales_moved) << "without the factor the LSQ scales train";
}

// dampen: F pulls every quantized latent weight towards its own grid point after each step by
// f_t = F (1 - cos(pi (t+1) / T)) / 2. At lr 0 nothing else moves the weights, and a min-max
// group keeps its scale (its largest weight sits on the grid), so each weight's distance to the
// grid shrinks by exactly prod_t (1 - f_t): a closed form the run must reproduce.
TEST(QatDampen, PullsLatentWeightsToTheGridOnAHalfCosineRamp) {
  const PtqSetup s;
  const int64_t steps = 10;
  const double F = 0.5;
  auto residuals = [&](const std::string& name, const std::string& extra) {
    Recipe r = s.recipe(name, "  - quantization:\n      calibration_batches: 2\n      kinds: [linear]\n"
                              "      weights: {bits: 4, granularity: group, group_size: 8, method: minmax}\n" + extra);
    r.train.steps = steps;
    r.train.optimizer.lr = 0.0;
    const auto trainer = s.train(r, name);
    std::vector<torch::Tensor> out;
    torch::NoGradGuard no_grad;
    for (auto& layer : trainer->model().layers())
      if (layer->kind() == "linear") out.push_back((layer->raw_weight() - layer->deployed_weight()).clone());
    return out;
  };
  const std::vector<torch::Tensor> before = residuals("undamped", "");
  const std::vector<torch::Tensor> after = residuals("damped", "      dampen: 0.5\n");
  double keep = 1.0;
  for (int64_t t = 0; t < steps; ++t) keep *= 1.0 - F * 0.5 * (1.0 - std::cos(M_PI * double(t + 1) / double(steps)));
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    ASSERT_GT(before[i].abs().sum().item<double>(), 0.0) << "layer " << i << " starts on the grid: nothing to test";
    EXPECT_TRUE(torch::allclose(after[i], before[i] * keep, 1e-4, 1e-6))
        << "layer " << i << ": max |after - keep * before| = " << (after[i] - before[i] * keep).abs().max().item<double>();
  }
}

// A Conv+BN layer quantizes its folded weight, which the pull cannot reach: a clear error at
// prepare, naming the key and the layer; out-of-range fractions are refused when parsed.
TEST(QatDampen, ErrorsNameTheKeyAndTheLayer) {
  const PtqSetup s;
  auto expect_error = [&](const std::string& mods, const std::string& needle) {
    try {
      Recipe r = s.recipe("bad", mods);
      r.train.steps = 1;
      s.train(r, "bad");
      ADD_FAILURE() << "no error, expected one with '" << needle << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string q = "  - quantization:\n      weights: {bits: 4, granularity: channel}\n";
  expect_error(q + "      dampen: 1.5\n", "dampen");
  expect_error(q + "      dampen: 0\n", "dampen");
  expect_error(q + "      kinds: [conv2d, linear]\n      dampen: 0.01\n", "Conv+BN");
}

// freeze_oscillations through a training run: with momentum 0.5 and threshold 0.3 a weight freezes
// at its first reversal; at lr 0.01 (about a grid step per Adam step here) many do. A frozen weight
// ends the run on its grid point, at the code it froze at; the others train on.
TEST(QatFreezeOscillations, FrozenWeightsEndOnTheirFrozenCode) {
  const PtqSetup s;
  const std::string mods =
      "  - quantization:\n      calibration_batches: 2\n      kinds: [linear]\n"
      "      weights: {bits: 4, granularity: group, group_size: 8, method: minmax}\nEXTRA";
  auto train = [&](const std::string& name, const std::string& extra, std::shared_ptr<qat::QuantizationModifier>& q) {
    std::string m = mods;
    m.replace(m.find("EXTRA"), 5, extra);
    Recipe r = s.recipe(name, m);
    r.train.steps = 20;
    r.train.optimizer.lr = 0.01;
    return s.train(r, name, &q);
  };
  std::shared_ptr<qat::QuantizationModifier> q, plain_q;
  const auto frozen_run = train("frozen", "      freeze_oscillations: {threshold: 0.3, momentum: 0.5}\n", q);
  const auto plain_run = train("plain", "", plain_q);
  ASSERT_TRUE(q && plain_q);
  EXPECT_TRUE(plain_q->oscillation_trackers().empty());
  const auto& trackers = q->oscillation_trackers();
  std::vector<std::shared_ptr<train::QuantizableLayer>> linears, plain_linears;
  for (auto& layer : frozen_run->model().layers())
    if (layer->kind() == "linear") linears.push_back(layer);
  for (auto& layer : plain_run->model().layers())
    if (layer->kind() == "linear") plain_linears.push_back(layer);
  ASSERT_EQ(trackers.size(), linears.size());
  int64_t frozen = 0, total = 0;
  bool differs = false;
  for (size_t i = 0; i < linears.size(); ++i) {
    auto wq = std::dynamic_pointer_cast<qat::WeightFakeQuantImpl>(linears[i]->hook(train::HookSlot::kWeightQuant));
    ASSERT_TRUE(wq);
    torch::NoGradGuard no_grad;
    const torch::Tensor w = linears[i]->raw_weight().detach();
    const torch::Tensor mask = trackers[i].frozen();
    ASSERT_TRUE(mask.defined()) << "layer " << i << " was never tracked";
    frozen += mask.sum().item<int64_t>();
    total += mask.numel();
    const torch::Tensor codes = wq->codes(w);
    EXPECT_TRUE(torch::equal(codes.masked_select(mask), trackers[i].frozen_codes().masked_select(mask)))
        << "layer " << i << ": a frozen weight left its code";
    const torch::Tensor on_grid = (codes * wq->element_scales(w)).masked_select(mask);
    EXPECT_TRUE(torch::allclose(w.masked_select(mask), on_grid, 1e-6, 1e-7)) << "layer " << i << ": off its grid point";
    differs = differs || !torch::equal(w, plain_linears[i]->raw_weight().detach());
  }
  EXPECT_GT(frozen, 0) << "no weight froze: the test does not exercise freezing";
  EXPECT_LT(frozen, total) << "every weight froze";
  EXPECT_TRUE(differs) << "freezing changed nothing";
}

// freeze_oscillations' trackers are in checkpoint.pt: a run stopped after 2 of its 5 epochs and
// resumed ends with the weights, frozen masks and frozen codes of the uninterrupted run.
TEST(QatFreezeOscillations, ResumeContinuesTheTrackingExactly) {
  const PtqSetup s;
  const Recipe r = [&] {
    Recipe x = s.recipe("freeze_resume",
                        "  - quantization:\n      calibration_batches: 2\n      kinds: [linear]\n"
                        "      weights: {bits: 4, granularity: group, group_size: 8, method: minmax}\n"
                        "      freeze_oscillations: {threshold: 0.3, momentum: 0.5}\n");
    x.train.steps = 20;  // 4 steps an epoch (128 images, batches of 32): 5 epochs
    x.train.optimizer.lr = 0.01;
    return x;
  }();
  std::shared_ptr<qat::QuantizationModifier> qa, qb1, qb2;
  const auto straight = s.train(r, "straight", &qa);
  s.train(r, "interrupted", &qb1, /*stop_after_epochs=*/2);
  const int64_t frozen_at_stop = [&] {
    int64_t n = 0;
    for (const auto& t : qb1->oscillation_trackers()) n += t.frozen_count();
    return n;
  }();
  EXPECT_GT(frozen_at_stop, 0) << "nothing froze before the interruption: the test would not see lost state";
  const auto resumed = s.train(r, "interrupted", &qb2, 0, /*resume=*/true);
  std::vector<torch::Tensor> wa, wb;
  for (auto& p : straight->model().parameters()) wa.push_back(p.detach());
  for (auto& p : resumed->model().parameters()) wb.push_back(p.detach());
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
  const auto& ta = qa->oscillation_trackers();
  const auto& tb = qb2->oscillation_trackers();
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_TRUE(torch::equal(ta[i].frozen(), tb[i].frozen())) << "layer " << i;
    EXPECT_TRUE(torch::equal(ta[i].frozen_codes(), tb[i].frozen_codes())) << "layer " << i;
    EXPECT_TRUE(torch::equal(ta[i].frequency(), tb[i].frequency())) << "layer " << i;
  }
}

// The keys that act on a layer's own integer grid refuse a Conv+BN (its quantized weight is the
// folded one) at prepare, naming file, line, key and layer; quant_noise must reach 1 before the end.
TEST(QatFreezeOscillations, PrepareErrorsNameTheKeyAndTheLayer) {
  const PtqSetup s;
  auto expect_error = [&](const std::string& mods, const std::vector<std::string>& needles) {
    try {
      Recipe r = s.recipe("bad", mods);
      r.train.steps = 4;
      s.train(r, "bad");
      ADD_FAILURE() << "no error, expected one with '" << needles[0] << "'";
    } catch (const std::exception& e) {
      for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  };
  const std::string q = "  - quantization:\n      weights: {bits: 4, granularity: channel}\n";
  expect_error(q + "      kinds: [conv2d, linear]\n      freeze_oscillations: {threshold: 0.02}\n",
               {"bad.yaml:", "key 'freeze_oscillations'", "Conv+BN", "features.0"});
  expect_error(q + "      kinds: [conv2d, linear]\n      quant_noise: {fraction: 0.5, full_epoch: 0.5}\n",
               {"key 'quant_noise'", "Conv+BN"});
  expect_error(q + "      kinds: [linear]\n      quant_noise: {fraction: 0.5, full_epoch: 100}\n",
               {"key 'quant_noise'", "full_epoch", "after the last step"});
  expect_error(
      "  - quantization:\n      kinds: [linear]\n      weights: {format: fp8_e4m3}\n"
      "      freeze_oscillations: {threshold: 0.02}\n",
      {"key 'freeze_oscillations'", "integer grid"});
}

// The groups the trainer builds: everything unclaimed at factor 1 first, then each claimed set.
TEST(PtqRun, LrFactorParamGroupsSplitClaimedParameters) {
  struct Claims : train::Modifier {
    std::vector<torch::Tensor> mine;
    std::string name() const override { return "claims"; }
    std::vector<train::LrFactorGroup> lr_factor_groups() const override { return {{mine, 0.25}}; }
  };
  const torch::Tensor a = torch::zeros({2}), b = torch::zeros({3}), c = torch::zeros({4});
  auto m = std::make_shared<Claims>();
  m->mine = {b};
  std::vector<double> factors;
  const auto groups = train::lr_factor_param_groups({m}, {a, b, c}, factors);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(factors, (std::vector<double>{1.0, 0.25}));
  ASSERT_EQ(groups[0].params().size(), 2u);
  EXPECT_TRUE(groups[0].params()[0].is_same(a) && groups[0].params()[1].is_same(c));
  ASSERT_EQ(groups[1].params().size(), 1u);
  EXPECT_TRUE(groups[1].params()[0].is_same(b));
  m->mine = {b, b};
  EXPECT_THROW(train::lr_factor_param_groups({m}, {a, b, c}, factors), std::logic_error);
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
  expect_error(w4("method: mse") + "      lsq_lr_factor: -1\n", "lsq_lr_factor");
  expect_error(w4("method: mse, latent: updated"), "latent");
  expect_error(w4("method: gptq, latent: rounded"), "latent");
  // Learned scales only: min-max weights under ptq have static scales, nothing to train.
  expect_error(w4("method: mse") + "      lsq_lr_factor: 0.1\n", "applies to learned scales only");
}

}  // namespace
}  // namespace qf
