// End-to-end data parallelism: `qforge run --nproc 2` (2 processes, Gloo on loopback) against
// single-process runs of the same recipe. Small on purpose (a tiny CNN on 256 Fashion-MNIST
// images, a few steps): CI runs these on 2 cores.
//
// Tolerances. Two workers compute the same global-batch gradient as one, but sum it in another
// order (per-shard convolution reductions, then the all-reduce), so results agree to float
// rounding, not bit for bit. With SGD (no Adam normalisation that could amplify a ~1e-7 gradient
// difference into a full-size step), the differences stay at rounding level: weights within
// 1e-4 absolute after the steps below, observer ranges within 1e-4 relative. Masks are compared
// exactly (a different mask is a bug, not rounding). The replicas themselves (rank 0 vs rank 1)
// are compared bit for bit by the trainer, which fails the run if they differ.
// Over more steps rounding differences grow with the training dynamics; the resume test (16
// steps) therefore measures the float noise of this very recipe in the same test — one process
// with 2 threads instead of 1 (another summation order, nothing else) — and allows that much.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../train/test_support.h"
#include "cli/modifiers.h"
#include "train/metrics_log.h"
#include "train/trainer.h"

namespace qf {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr
  double seconds = 0;
};

// Runs `qforge ARGS` with extra environment assignments; bounded by `timeout_s` (timeout(1)).
Outcome qforge(const std::string& args, const std::string& env = "", int timeout_s = 240) {
  const std::string cmd = "env " + env + " timeout -s KILL " + std::to_string(timeout_s) + " " QFORGE_BIN " " + args + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  Outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int st = pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

// QAT (4-bit LSQ weights per channel, 8-bit static inputs with a moving-average observer) and
// gradual 2:4 pruning of a CNN with BatchNorm (synchronised across workers), SGD.
// `ema`: a train.ema section (e.g. "{decay: 0.5}"), or "" for none.
std::string recipe_text(int64_t epochs, int64_t steps = 0, const std::string& observer = "moving_average_minmax",
                        const std::string& ema = "") {
  return "name: dp_test\nseed: 5\n"
         "model: {family: cnn, channels: [4, 8], hidden: 16}\n"
         "data: {dataset: fashion_mnist, train_subset: 256, test_subset: 100, batch_size: 32}\n"
         "train: {" + (steps > 0 ? "steps: " + std::to_string(steps) : "epochs: " + std::to_string(epochs)) +
         ", optimizer: {type: sgd, lr: 0.05, momentum: 0.9}" + (ema.empty() ? "" : ", ema: " + ema) + "}\n"
         "modifiers:\n"
         "  - quantization:\n"
         "      calibration_batches: 3\n"
         "      weights: {bits: 4, granularity: channel, method: lsq}\n"
         "      inputs: {mode: static, bits: 8, symmetric: false, observer: " + observer + "}\n"
         "  - pruning:\n"
         "      pattern: '2:4'\n"
         "      start_epoch: 0\n"
         "      end_epoch: 0.5\n"
         "      schedule: {type: cubic, update_every: 2}\n";
}

std::shared_ptr<train::ZooModel> load_model(const std::string& run_dir) {
  const Recipe r = load_recipe(run_dir + "/recipe.yaml");
  auto task = train::make_task(r);
  return train::load_run_model(run_dir, r, *task, cli::make_modifiers(r));
}

// Compares every parameter and buffer of two runs' final models.
void expect_same_state(const std::string& a_dir, const std::string& b_dir, double weight_atol, double range_rtol) {
  auto a = load_model(a_dir), b = load_model(b_dir);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) {
    const torch::Tensor x = p.value(), y = pb[p.key()];
    const double diff = (x - y).abs().max().item<double>();
    EXPECT_LE(diff, weight_atol) << "parameter " << p.key();
  }
  const auto ba = a->named_buffers(), bb = b->named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  int masks = 0, ranges = 0;
  for (const auto& p : ba) {
    const torch::Tensor x = p.value(), y = bb[p.key()];
    const std::string& k = p.key();
    if (k.find("mask") != std::string::npos) {
      ++masks;
      EXPECT_TRUE(torch::equal(x, y)) << "mask " << k << " differs in " << x.ne(y).sum().item<int64_t>() << " places";
    } else if (k.size() >= 4 && (k.substr(k.size() - 4) == ".min" || k.substr(k.size() - 4) == ".max")) {
      ++ranges;
      const double rel = (x - y).abs().item<double>() / std::max(1e-6, y.abs().item<double>());
      EXPECT_LE(rel, range_rtol) << "observer " << k << ": " << x.item<double>() << " vs " << y.item<double>();
    } else if (x.is_floating_point()) {
      EXPECT_LE((x - y).abs().max().item<double>(), weight_atol * 10) << "buffer " << k;  // BN statistics
    } else {
      EXPECT_TRUE(torch::equal(x, y)) << "buffer " << k;
    }
  }
  EXPECT_GT(masks, 0);
  EXPECT_GT(ranges, 0);
}

// Largest difference between the parameters of two runs' final models.
double max_parameter_difference(const std::string& a_dir, const std::string& b_dir) {
  auto a = load_model(a_dir), b = load_model(b_dir);
  const auto pb = b->named_parameters();
  double worst = 0;
  for (const auto& p : a->named_parameters()) worst = std::max(worst, (p.value() - pb[p.key()]).abs().max().item<double>());
  return worst;
}

class DataParallel : public ::testing::Test {
 protected:
  test::TempDir tmp{"qforge-dp"};
  std::string recipe(int64_t epochs, int64_t steps = 0, const std::string& observer = "moving_average_minmax",
                     const std::string& ema = "") {
    const std::string path = tmp.file("dp_" + std::to_string(epochs) + "_" + std::to_string(steps) + "_" + observer +
                                      (ema.empty() ? "" : "_ema") + ".yaml");
    std::ofstream(path) << recipe_text(epochs, steps, observer, ema);
    return path;
  }
};

TEST_F(DataParallel, TwoWorkersReachTheWeightsMasksAndScalesOfOne) {
  const std::string r = recipe(0, /*steps=*/6);
  const Outcome one = qforge("run " + r + " -o " + tmp.file("one") + " --threads 1");
  ASSERT_EQ(one.status, 0) << one.output;
  const Outcome two = qforge("run " + r + " -o " + tmp.file("two") + " --nproc 2");
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("[rank 1] "), std::string::npos) << "worker output is prefixed by rank";
  EXPECT_NE(two.output.find("data parallel: 2 workers (gloo)"), std::string::npos) << two.output;
  expect_same_state(tmp.file("one"), tmp.file("two"), 1e-4, 1e-4);
  // Rank 0 alone wrote the run directory: one start, one epoch, one final record.
  EXPECT_EQ(train::MetricsLog::read(tmp.file("two") + "/metrics.jsonl").size(), 3u);
  EXPECT_FALSE(fs::exists(tmp.file("two") + "/checkpoint.pt.tmp"));
}

// train.ema: every rank averages its own identical parameters (the trainer compares the averages
// across ranks bit for bit at each epoch end); the run's checkpoint holds the average of one process.
TEST_F(DataParallel, TwoWorkersReachTheWeightAverageOfOne) {
  const std::string r = recipe(0, /*steps=*/6, "moving_average_minmax", "{decay: 0.5, start_step: 2}");
  const Outcome one = qforge("run " + r + " -o " + tmp.file("one") + " --threads 1");
  ASSERT_EQ(one.status, 0) << one.output;
  const Outcome two = qforge("run " + r + " -o " + tmp.file("two") + " --nproc 2");
  ASSERT_EQ(two.status, 0) << two.output;
  expect_same_state(tmp.file("one"), tmp.file("two"), 1e-4, 1e-4);
  const auto log = train::MetricsLog::read(tmp.file("two") + "/metrics.jsonl");
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.back().at("weights").as_string(), "ema");
}

TEST_F(DataParallel, EveryRankHoldsTheObserverStatisticsOfOneProcessAfterCalibration) {
  // Calibration only: 3 batches, each rank observing its half of each. Without the all-reduce,
  // rank 0 (whose checkpoint is written) would hold the range of half the data; the trainer also
  // compares all ranks' buffers bit for bit after calibration and fails the run if they differ.
  const std::string r = recipe(1);
  const Outcome one = qforge("run " + r + " -o " + tmp.file("one") + " --threads 1 --calibrate-only");
  ASSERT_EQ(one.status, 0) << one.output;
  const Outcome two = qforge("run " + r + " -o " + tmp.file("two") + " --nproc 2 --calibrate-only");
  ASSERT_EQ(two.status, 0) << two.output;
  expect_same_state(tmp.file("one"), tmp.file("two"), 0.0, 1e-5);
}

TEST_F(DataParallel, HistogramObserversClipAsOneProcessDoes) {
  // Percentile / MSE / KL observers clip from a histogram of the calibration data: each rank bins
  // its shard, and the counts are summed across ranks before the clip is chosen. Without that sum
  // the ranks would clip differently (and the trainer's cross-rank check would fail the run).
  for (const std::string observer : {"mse", "percentile"}) {
    const std::string r = recipe(1, 0, observer);
    const Outcome one = qforge("run " + r + " -o " + tmp.file("one_" + observer) + " --threads 1 --calibrate-only");
    ASSERT_EQ(one.status, 0) << one.output;
    const Outcome two = qforge("run " + r + " -o " + tmp.file("two_" + observer) + " --nproc 2 --calibrate-only");
    ASSERT_EQ(two.status, 0) << two.output;
    expect_same_state(tmp.file("one_" + observer), tmp.file("two_" + observer), 0.0, 1e-5);
  }
}

TEST_F(DataParallel, AFailingWorkerFailsTheRunWithItsRankAndMessage) {
  const std::string r = recipe(2);
  const Outcome o = qforge("run " + r + " -o " + tmp.file("fail") + " --nproc 2", "QFORGE_FAULT_INJECT=1:3", 120);
  EXPECT_NE(o.status, 0);
  EXPECT_NE(o.status, 128 + SIGKILL) << "the launcher hung until timeout(1) killed it";
  EXPECT_NE(o.output.find("rank 1 of 2 failed"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("fault injected at step 3"), std::string::npos) << o.output;
  EXPECT_LT(o.seconds, 60.0);
}

TEST_F(DataParallel, AHungWorkerFailsTheRunAfterTheCollectiveTimeoutAndDoesNotSurvive) {
  const std::string r = recipe(2), dir = tmp.file("hang");
  const Outcome o = qforge("run " + r + " -o " + dir + " --nproc 2", "QFORGE_FAULT_INJECT=1:3:hang QFORGE_DIST_TIMEOUT_S=5", 120);
  EXPECT_NE(o.status, 0);
  EXPECT_NE(o.status, 128 + SIGKILL) << "the launcher hung until timeout(1) killed it";
  EXPECT_NE(o.output.find("failed"), std::string::npos) << o.output;
  EXPECT_LT(o.seconds, 60.0) << o.output;
  // No worker of this run is left: look for our run directory on any command line.
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(cmd.find(dir), std::string::npos) << "survivor: pid " << e.path().filename();
  }
}

TEST_F(DataParallel, ATwoWorkerCheckpointResumesWithOneWorker) {
  // 2 epochs of 8 steps. The 2-worker run is killed (a fault in step 9) after epoch 1's
  // checkpoint; one worker resumes it. The result matches an uninterrupted single-process run.
  const std::string r = recipe(2);
  const Outcome straight = qforge("run " + r + " -o " + tmp.file("straight") + " --threads 1");
  ASSERT_EQ(straight.status, 0) << straight.output;
  const Outcome noise_run = qforge("run " + r + " -o " + tmp.file("two_threads") + " --threads 2");
  ASSERT_EQ(noise_run.status, 0) << noise_run.output;
  const double noise = max_parameter_difference(tmp.file("straight"), tmp.file("two_threads"));
  std::printf("float noise of the recipe (1 vs 2 threads, one process): %.3g\n", noise);
  const Outcome first = qforge("run " + r + " -o " + tmp.file("resumed") + " --nproc 2", "QFORGE_FAULT_INJECT=0:9");
  ASSERT_NE(first.status, 0);
  ASSERT_NE(first.output.find("fault injected at step 9"), std::string::npos) << first.output;
  const Outcome second = qforge("run " + r + " -o " + tmp.file("resumed") + " --threads 1 --resume");
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_NE(second.output.find("after epoch 1 (step 8)"), std::string::npos) << second.output;
  expect_same_state(tmp.file("straight"), tmp.file("resumed"), std::max(1e-4, noise), 1e-4);
  EXPECT_EQ(train::MetricsLog::read(tmp.file("resumed") + "/metrics.jsonl").size(), 4u);  // start, 2 epochs, final
}

}  // namespace
}  // namespace qf
