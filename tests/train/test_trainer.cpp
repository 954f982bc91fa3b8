#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_support.h"
#include "train/metrics_log.h"
#include "train/trainer.h"

namespace qf::train {
namespace {

// Records the order in which the loop fires its events.
struct RecordingModifier : Modifier {
  std::vector<std::string> events;
  bool optimizer_seen_in_prepare = true;
  std::string name() const override { return "recorder"; }
  void prepare(TrainState& st) override {
    optimizer_seen_in_prepare = st.optimizer != nullptr;
    events.push_back("prepare");
  }
  void train_start(TrainState&) override { events.push_back("train_start"); }
  void epoch_start(TrainState&) override { events.push_back("epoch_start"); }
  void before_forward(TrainState& st) override {
    EXPECT_TRUE(st.batch.input.defined());
    events.push_back("before_forward");
  }
  void after_loss(TrainState& st) override {
    EXPECT_TRUE(st.loss.defined());
    events.push_back("after_loss");
  }
  void after_backward(TrainState&) override { events.push_back("after_backward"); }
  void after_step(TrainState&) override { events.push_back("after_step"); }
  void epoch_end(TrainState&) override { events.push_back("epoch_end"); }
  void train_end(TrainState&) override { events.push_back("train_end"); }
};

RunOptions options(const std::string& dir) {
  RunOptions o;
  o.run_dir = dir;
  o.threads = 1;
  o.progress = false;
  return o;
}

TEST(Trainer, EventsFireInOrder) {
  const Recipe r = test::small_fashion_recipe("{family: mlp, hidden: [16]}", 2, /*train_subset=*/128);
  Trainer t(r, options(test::temp_dir("events")));
  auto rec = std::make_shared<RecordingModifier>();
  t.add_modifier(rec);
  t.run();
  std::vector<std::string> expected = {"prepare", "train_start"};
  for (int e = 0; e < 2; ++e) {
    expected.push_back("epoch_start");
    for (int s = 0; s < 2; ++s)  // 128 samples / batch 64
      for (const char* ev : {"before_forward", "after_loss", "after_backward", "after_step"}) expected.push_back(ev);
    expected.push_back("epoch_end");
  }
  expected.push_back("train_end");
  EXPECT_EQ(rec->events, expected);
  EXPECT_FALSE(rec->optimizer_seen_in_prepare);
}

TEST(Trainer, SmokeTrainingLearns) {
  const std::string dir = test::temp_dir("smoke");
  const Recipe r = test::small_fashion_recipe("{family: cnn, channels: [8, 16], hidden: 32}", 2);
  Trainer t(r, options(dir));
  const RunResult res = t.run();
  // 10 classes: chance is 10%. A working loop gets far above it on 2000 examples.
  EXPECT_GT(res.metrics.values.at("accuracy"), 65.0);
  const auto records = MetricsLog::read(dir + "/metrics.jsonl");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_LT(records[1].at("train_loss").as_double(), records[0].at("train_loss").as_double());
  EXPECT_EQ(records[2].at("event").as_string(), "final");
  EXPECT_TRUE(std::filesystem::exists(dir + "/checkpoint.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/recipe.yaml"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/checkpoint.pt.tmp"));
}

torch::Tensor flat_weights(ZooModel& m) {
  std::vector<torch::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().flatten());
  for (auto& b : m.buffers()) parts.push_back(b.detach().flatten().to(torch::kFloat));
  return torch::cat(parts);
}

TEST(Trainer, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  const Recipe r = test::small_fashion_recipe("{family: cnn, channels: [4, 8], hidden: 16}", 3, 256);
  const std::string straight = test::temp_dir("straight"), interrupted = test::temp_dir("interrupted");
  Trainer a(r, options(straight));
  a.run();

  RunOptions first = options(interrupted);
  first.stop_after_epochs = 1;  // "killed" after the first epoch's checkpoint
  Trainer b1(r, first);
  EXPECT_EQ(b1.run().epochs_run, 1);
  RunOptions second = options(interrupted);
  second.resume = true;
  Trainer b2(r, second);
  EXPECT_EQ(b2.run().epochs_run, 2);

  EXPECT_TRUE(torch::equal(flat_weights(a.model()), flat_weights(b2.model())));
  // The resumed log holds each epoch once.
  EXPECT_EQ(MetricsLog::read(interrupted + "/metrics.jsonl").size(), 4u);
}

// A modifier that turns the loss of one step into NaN, as a diverging run would.
struct PoisonLoss : Modifier {
  int64_t at_step;
  explicit PoisonLoss(int64_t s) : at_step(s) {}
  std::string name() const override { return "poison"; }
  void after_loss(TrainState& st) override {
    if (st.step == at_step) st.loss = st.loss * std::numeric_limits<float>::quiet_NaN();
  }
};

TEST(Trainer, NonFiniteLossStopsTheRunNamingTheStep) {
  const Recipe r = test::small_fashion_recipe("{family: mlp, hidden: [16]}", 1, 256);
  Trainer t(r, options(test::temp_dir("nan")));
  t.add_modifier(std::make_shared<PoisonLoss>(2));
  try {
    t.run();
    FAIL() << "expected the run to stop";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("step 2"), std::string::npos) << e.what();
  }
}

// Records the learning rate of every optimizer step.
struct LrRecorder : Modifier {
  std::vector<double> lrs;
  std::string name() const override { return "lr"; }
  void before_forward(TrainState& st) override {
    lrs.push_back(st.optimizer->param_groups().at(0).options().get_lr());
  }
};

// train.steps is exact: 70 steps with 30 steps per epoch train 30 + 30 + 10 steps (not a third
// full epoch), and the cosine schedule spans those 70 steps.
TEST(Trainer, StepsAreNotRoundedUpToWholeEpochs) {
  const Recipe r = load_recipe_from_string(
      "name: t\nseed: 1\nmodel: {family: mlp, hidden: [8]}\n"
      "data: {dataset: fashion_mnist, train_subset: 60, test_subset: 50, batch_size: 2}\n"
      "train: {steps: 70, optimizer: {type: sgd, lr: 0.1}, schedule: {type: cosine, min_lr: 0.0}}\n",
      "steps.yaml");
  const std::string dir = test::temp_dir("steps");
  Trainer t(r, options(dir));
  auto rec = std::make_shared<LrRecorder>();
  t.add_modifier(rec);
  t.run();
  ASSERT_EQ(rec->lrs.size(), 70u);
  for (int64_t step : {0, 35, 69}) {
    const double expected = 0.1 * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / 70.0));
    EXPECT_NEAR(rec->lrs[static_cast<size_t>(step)], expected, 1e-12) << "step " << step;
  }
  // The run is finished after 3 epochs, the last one partial, at step 70.
  const auto log = MetricsLog::read(dir + "/metrics.jsonl");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().at("event").as_string(), "final");
  EXPECT_EQ(log.back().at("step").as_int(), 70);
  EXPECT_EQ(log.back().at("epochs").as_int(), 3);
}

// schedule.restart_epoch: until the restart the unrestarted cosine over the whole run (so a run
// restarted at the QAT switch trains its first part exactly like its float twin); from the restart
// step a linear warm-up from 0 over warmup_steps to restart_lr, then a half cosine to min_lr at the end.
TEST(Trainer, CosineRestartRewarmsAndDecaysAgain) {
  const Recipe r = load_recipe_from_string(
      "name: t\nseed: 1\nmodel: {family: mlp, hidden: [8]}\n"
      "data: {dataset: fashion_mnist, train_subset: 60, test_subset: 50, batch_size: 2}\n"
      "train: {steps: 70, optimizer: {type: sgd, lr: 0.1}, schedule: {type: cosine, warmup_steps: 4, "
      "min_lr: 0.01, restart_epoch: 1, restart_lr: 0.05}}\n",
      "restart.yaml");
  Trainer t(r, options(test::temp_dir("restart")));
  auto rec = std::make_shared<LrRecorder>();
  t.add_modifier(rec);
  t.run();
  ASSERT_EQ(rec->lrs.size(), 70u);
  auto first = [](int64_t step) {
    if (step < 4) return 0.1 * static_cast<double>(step + 1) / 4.0;
    return 0.01 + 0.09 * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step - 4) / 66.0));
  };
  auto restarted = [](int64_t step) {  // restart at step 30 (epoch 1 of 30 steps)
    const int64_t local = step - 30;
    if (local < 4) return 0.05 * static_cast<double>(local + 1) / 4.0;
    return 0.01 + 0.04 * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(local - 4) / 36.0));
  };
  for (int64_t step : {0, 3, 10, 29}) EXPECT_NEAR(rec->lrs[static_cast<size_t>(step)], first(step), 1e-12) << step;
  for (int64_t step : {30, 33, 34, 50, 69})
    EXPECT_NEAR(rec->lrs[static_cast<size_t>(step)], restarted(step), 1e-12) << step;
  EXPECT_NEAR(rec->lrs[34], 0.05, 1e-12) << "the restart's peak right after its warm-up";
  // A restart at or after the last step never happens: an error before training.
  const Recipe late = load_recipe_from_string(
      "name: t\nseed: 1\nmodel: {family: mlp, hidden: [8]}\n"
      "data: {dataset: fashion_mnist, train_subset: 60, test_subset: 50, batch_size: 2}\n"
      "train: {steps: 70, optimizer: {type: sgd, lr: 0.1}, schedule: {type: cosine, restart_epoch: 3}}\n",
      "late.yaml");
  try {
    Trainer bad(late, options(test::temp_dir("restart_late")));
    bad.run();
    ADD_FAILURE() << "a restart at step 90 of 70 was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("late.yaml:5: train.schedule.restart_epoch"), std::string::npos) << e.what();
  }
}

// Weights of another architecture fail naming the parameter and both shapes; LibTorch's own
// Module::load would take the stored shapes silently.
TEST(Trainer, InitialWeightsOfAnotherArchitectureNameParameterAndShapes) {
  const std::string dir = test::temp_dir("init_from_src");
  {
    Trainer t(test::small_fashion_recipe("{family: mlp, hidden: [16]}", 1, 64), options(dir));
    t.run();
  }
  const Recipe other = test::small_fashion_recipe("{family: mlp, hidden: [24]}", 1, 64);
  auto model = make_model(other.model, make_task(other)->input_shape());
  try {
    load_model_weights(*model, dir + "/checkpoint.pt");
    FAIL() << "loaded a [16, 784] weight into a [24, 784] one";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("parameter 'fc0.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("[16, 784] in the checkpoint but [24, 784] in this model"), std::string::npos) << m;
  }
  // The same architecture loads.
  const Recipe same = test::small_fashion_recipe("{family: mlp, hidden: [16]}", 1, 64);
  auto ok = make_model(same.model, make_task(same)->input_shape());
  EXPECT_NO_THROW(load_model_weights(*ok, dir + "/checkpoint.pt"));
}

// A run whose preparation fails (here: initial weights that do not fit) leaves no run directory.
TEST(Trainer, FailingPreparationLeavesNoRunDirectory) {
  const std::string src = test::temp_dir("init_from_src2");
  {
    Trainer t(test::small_fashion_recipe("{family: mlp, hidden: [16]}", 1, 64), options(src));
    t.run();
  }
  const std::string dir = test::temp_dir("no_run_dir") + "/run";
  RunOptions o = options(dir);
  o.init_checkpoint = src + "/checkpoint.pt";
  Trainer t(test::small_fashion_recipe("{family: mlp, hidden: [24]}", 1, 64), o);
  EXPECT_THROW(t.run(), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// ---- train.ema: an exponential moving average of the weights replaces them at the end ----------

// 128 examples in batches of 32: 4 steps per epoch, 12 steps in 3 epochs.
Recipe ema_recipe(const std::string& ema_yaml) {
  return load_recipe_from_string(
      "name: ema\nseed: 5\nmodel: {family: mlp, hidden: [8]}\n"
      "data: {dataset: fashion_mnist, train_subset: 128, test_subset: 100, batch_size: 32}\n"
      "train: {epochs: 3, optimizer: {type: adamw, lr: 0.01, weight_decay: 0.0}" +
          (ema_yaml.empty() ? std::string() : ", ema: " + ema_yaml) + "}\n",
      "ema.yaml");
}

torch::Tensor flat_parameters(torch::nn::Module& m) {
  std::vector<torch::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().flatten().clone());
  return torch::cat(parts);
}

// The model weights a run directory's checkpoint.pt holds.
torch::Tensor checkpoint_parameters(const Recipe& r, const std::string& dir) {
  auto model = make_model(r.model, make_task(r)->input_shape());
  load_model_weights(*model, dir + "/checkpoint.pt");
  return flat_parameters(*model);
}

// The parameters before training and after every optimizer step.
struct ParameterRecorder : Modifier {
  std::vector<torch::Tensor> after_steps;
  torch::Tensor initial;
  std::string name() const override { return "parameters"; }
  void train_start(TrainState& st) override { initial = flat_parameters(st.model); }
  void after_step(TrainState& st) override { after_steps.push_back(flat_parameters(st.model)); }
};

TEST(TrainerEma, DecayZeroGivesTheRawWeights) {
  const std::string raw_dir = test::temp_dir("ema_off"), ema_dir = test::temp_dir("ema_zero");
  Trainer raw(ema_recipe(""), options(raw_dir));
  raw.run();
  Trainer ema(ema_recipe("{decay: 0}"), options(ema_dir));
  ema.run();
  EXPECT_TRUE(torch::equal(flat_weights(raw.model()), flat_weights(ema.model())));
  EXPECT_TRUE(torch::equal(checkpoint_parameters(ema.recipe(), raw_dir), checkpoint_parameters(ema.recipe(), ema_dir)));
  const auto log = MetricsLog::read(ema_dir + "/metrics.jsonl");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().at("event").as_string(), "final");
  EXPECT_EQ(log.back().at("weights").as_string(), "ema");
  EXPECT_FALSE(MetricsLog::read(raw_dir + "/metrics.jsonl").back().contains("weights"));
}

TEST(TrainerEma, CheckpointHoldsTheAverageComputedIndependently) {
  const double decay = 0.7;
  const int64_t start = 3;
  const Recipe r = ema_recipe("{decay: 0.7, start_step: 3}");
  const std::string dir = test::temp_dir("ema_avg");
  Trainer t(r, options(dir));
  auto rec = std::make_shared<ParameterRecorder>();
  t.add_modifier(rec);
  const RunResult res = t.run();
  ASSERT_EQ(rec->after_steps.size(), 12u);

  // shadow = weights before training; after step k: the weights while k < start, else the average.
  torch::Tensor expected = rec->initial.to(torch::kDouble);
  for (size_t k = 0; k < rec->after_steps.size(); ++k) {
    const torch::Tensor p = rec->after_steps[k].to(torch::kDouble);
    expected = static_cast<int64_t>(k) < start ? p : decay * expected + (1 - decay) * p;
  }
  const torch::Tensor stored = checkpoint_parameters(r, dir);
  EXPECT_TRUE(torch::allclose(stored.to(torch::kDouble), expected, /*rtol=*/1e-5, /*atol=*/1e-6))
      << "max |diff| " << (stored.to(torch::kDouble) - expected).abs().max().item<double>();
  // The model in memory is the checkpoint's, and it is not the last step's weights.
  EXPECT_TRUE(torch::equal(flat_parameters(t.model()), stored));
  const torch::Tensor raw = rec->after_steps.back();
  EXPECT_GT((stored - raw).abs().max().item<double>(), 1e-4);
  // The final record evaluates the EMA weights, the last epoch record the raw ones.
  const auto log = MetricsLog::read(dir + "/metrics.jsonl");
  ASSERT_EQ(log.size(), 5u);  // start (a modifier is present), 3 epochs, final
  EXPECT_DOUBLE_EQ(log.back().at("accuracy").as_double(), res.metrics.values.at("accuracy"));
  EXPECT_DOUBLE_EQ(log.back().at("ema_decay").as_double(), decay);
  EXPECT_EQ(log[3].at("event").as_string(), "epoch");
  EXPECT_NE(log[3].at("test_loss").as_double(), log[4].at("test_loss").as_double());
}

TEST(TrainerEma, ResumeReproducesTheUninterruptedAverage) {
  const Recipe r = ema_recipe("{decay: 0.8, start_step: 2}");
  const std::string straight = test::temp_dir("ema_straight"), interrupted = test::temp_dir("ema_interrupted");
  Trainer a(r, options(straight));
  const RunResult ra = a.run();

  RunOptions first = options(interrupted);
  first.stop_after_epochs = 1;
  Trainer b1(r, first);
  EXPECT_EQ(b1.run().epochs_run, 1);
  RunOptions second = options(interrupted);
  second.resume = true;
  Trainer b2(r, second);
  const RunResult rb = b2.run();
  EXPECT_EQ(rb.epochs_run, 2);

  EXPECT_TRUE(torch::equal(checkpoint_parameters(r, straight), checkpoint_parameters(r, interrupted)));
  EXPECT_TRUE(torch::equal(flat_weights(a.model()), flat_weights(b2.model())));
  EXPECT_EQ(ra.metrics.values, rb.metrics.values);
  // Resuming the finished run changes nothing: the same average is copied in again.
  Trainer b3(r, second);
  EXPECT_EQ(b3.run().epochs_run, 0);
  EXPECT_TRUE(torch::equal(checkpoint_parameters(r, straight), checkpoint_parameters(r, interrupted)));
}

TEST(TrainerEma, ResumeWithoutStoredAverageAndLateStartAreErrors) {
  const std::string dir = test::temp_dir("ema_missing");
  RunOptions first = options(dir);
  first.stop_after_epochs = 1;
  Trainer plain(ema_recipe(""), first);
  plain.run();
  RunOptions again = options(dir);
  again.resume = true;
  Trainer t(ema_recipe("{decay: 0.9}"), again);
  try {
    t.run();
    FAIL() << "resumed an EMA run from a checkpoint without EMA weights";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no EMA weights"), std::string::npos) << e.what();
  }
  // A run given in epochs: start_step is checked against the run's 12 steps.
  Trainer late(ema_recipe("{decay: 0.9, start_step: 12}"), options(test::temp_dir("ema_late")));
  try {
    late.run();
    FAIL() << "accepted an average that never starts";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ema.yaml:5: train.ema.start_step (12) must be < the run's 12 steps"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace qf::train
