#include <gtest/gtest.h>

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

}  // namespace
}  // namespace qf::train
