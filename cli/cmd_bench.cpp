// qforge bench CHECKPOINT: throughput and batch-1 latency of the standalone runtime on a
// checkpoint, with the kernel table that ran. A benchmark prints numbers; it asserts nothing.
//
//   qforge bench model.qf.h5 --batch 256 --threads 2 --iters 20 [--json]
//
// Inputs: the first golden case's inputs (images or token ids, already in the model's dtype and
// normalisation), their rows repeated to fill the batch dimension. Items are images for a graph
// with a float input, tokens (B * T) for a graph with int64 token ids.
//
// The per-op table comes from Engine::set_profiling / op_times (a separate pass, so profiling never
// touches the timed runs). --threads sets the runtime's kernel threads (runtime/kernels/threads.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "runtime/engine.h"

#include "runtime/kernels/threads.h"

namespace qf::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Applies --threads to the runtime's kernels (0: all cores) and says how many run.
int set_runtime_threads(int threads) {
  qf::kernels::set_num_threads(threads);
  return qf::kernels::num_threads();
}

// ---- per-op profile (Engine::set_profiling / op_times) ----
struct OpRow {
  std::string name, kind;
  double seconds = 0;
  int64_t calls = 0;
  std::string kernel;
};

// Runs `iters` profiled forward passes and returns the per-op times summed over them.
template <class Run>
std::vector<OpRow> profile_ops(Engine& engine, int64_t iters, Run&& run) {
  engine.reset_op_times();
  engine.set_profiling(true);
  for (int64_t i = 0; i < iters; ++i) run();
  engine.set_profiling(false);
  std::vector<OpRow> rows;
  for (const OpTime& t : engine.op_times()) rows.push_back({t.name, t.kind, t.seconds, t.calls, t.kernel});
  return rows;
}

// The first golden case's inputs with dim 0 resized to `batch` (rows repeated cyclically).
std::map<std::string, Tensor> batched_inputs(const Checkpoint& ck, int64_t batch) {
  if (ck.golden.empty())
    throw std::runtime_error(ck.source + ": the checkpoint has no golden case to take the input shape from");
  std::map<std::string, Tensor> out;
  for (const TensorSpec& spec : ck.graph.inputs) {
    auto it = ck.golden[0].inputs.find(spec.name);
    if (it == ck.golden[0].inputs.end())
      throw std::runtime_error(ck.source + ": golden case 0 lacks graph input '" + spec.name + "'");
    const Tensor& g = it->second;
    if (g.shape.empty() || g.shape[0] < 1)
      throw std::runtime_error(ck.source + ": golden input '" + spec.name + "' has no batch dimension");
    const int64_t row = g.numel() / g.shape[0];
    Tensor t;
    t.dtype = g.dtype;
    t.shape = g.shape;
    t.shape[0] = batch;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t src = (b % g.shape[0]) * row;
      if (g.dtype == DType::kFloat32)
        t.f32.insert(t.f32.end(), g.f32.begin() + src, g.f32.begin() + src + row);
      else
        t.i64.insert(t.i64.end(), g.i64.begin() + src, g.i64.begin() + src + row);
    }
    out.emplace(spec.name, std::move(t));
  }
  return out;
}

// Items one forward pass over these inputs processes: images, or tokens for token-id inputs.
std::pair<int64_t, const char*> items_of(const std::map<std::string, Tensor>& in) {
  const Tensor& t = in.begin()->second;
  if (t.dtype == DType::kInt64) return {t.numel(), "tokens"};
  return {t.shape[0], "images"};
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  struct Options {
    std::string path, device = "cpu";
    int64_t batch = 256, iters = 20, warmup = 3, latency_iters = 200;
    int threads = 0;
    bool json = false, no_profile = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Throughput (images/s or tokens/s) and batch-1 latency of the standalone runtime on a .qf.h5 "
      "checkpoint, with the kernel table that ran and, when the runtime can profile, time per op");
  cmd->add_option("checkpoint", opt->path, "Checkpoint file (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--batch", opt->batch, "Batch size of the throughput runs (dim 0 of the first golden input)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--threads", opt->threads, "Runtime CPU threads (0: the runtime's default)")
      ->capture_default_str()->check(CLI::Range(0, 1024));
  cmd->add_option("--iters", opt->iters, "Timed throughput runs (median reported)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--warmup", opt->warmup, "Untimed runs before each measurement")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--latency-iters", opt->latency_iters,
                  "Timed batch-1 runs (median reported; also capped at ~2 s of runs, at least 5)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of the table");
  cmd->add_flag("--no-profile", opt->no_profile,
                "Skip the per-op profile pass (with --device cuda the per-op times are launch times: kernels run "
                "asynchronously until the output is copied back)");
  add_device_option(cmd, opt->device);
  cmd->callback([opt] {
    const int threads = set_runtime_threads(opt->threads);
    Engine engine = Engine::load(opt->path, &table_for_device_or_exit(opt->device));
    const Checkpoint& ck = engine.checkpoint();

    // Throughput at --batch: median over --iters timed runs.
    const auto in = batched_inputs(ck, opt->batch);
    const auto [items, item_name] = items_of(in);
    for (int64_t i = 0; i < opt->warmup; ++i) engine.run(in);
    std::vector<double> secs;
    for (int64_t i = 0; i < opt->iters; ++i) {
      const auto t0 = Clock::now();
      engine.run(in);
      secs.push_back(seconds_since(t0));
    }
    const double med = quantile(secs, 0.5);
    const double items_per_s = static_cast<double>(items) / med;

    // Batch-1 latency: median of repeats (also stopped after ~2 s, at least 5 runs).
    const auto in1 = batched_inputs(ck, 1);
    for (int64_t i = 0; i < std::max<int64_t>(opt->warmup, 3); ++i) engine.run(in1);
    std::vector<double> lat;
    const auto l0 = Clock::now();
    for (int64_t i = 0; i < opt->latency_iters; ++i) {
      const auto t0 = Clock::now();
      engine.run(in1);
      lat.push_back(seconds_since(t0));
      if (i >= 4 && seconds_since(l0) > 2.0) break;
    }

    // Per-op profile, a separate pass so that profiling never touches the numbers above.
    const int64_t profile_runs = opt->no_profile ? 0 : std::min<int64_t>(opt->iters, 5);
    std::vector<OpRow> ops;
    if (profile_runs > 0) ops = profile_ops(engine, profile_runs, [&] { engine.run(in); });
    double op_total = 0;
    for (const auto& r : ops) op_total += r.seconds;

    const std::string kernels = engine.kernel_table().name;
    const std::string threads_str = std::to_string(threads);
    if (opt->json) {
      std::printf("{\"checkpoint\": \"%s\", \"family\": \"%s\", \"kernels\": \"%s\", \"batch\": %lld, "
                  "\"threads\": %d, \"item\": \"%s\", \"items_per_run\": %lld, "
                  "\"items_per_s\": %.6g, \"ms_per_run_median\": %.6g, \"ms_per_run_min\": %.6g, "
                  "\"ms_per_run_max\": %.6g, \"iters\": %lld, \"latency_ms_b1\": %.6g, "
                  "\"latency_ms_b1_p10\": %.6g, \"latency_ms_b1_p90\": %.6g, \"latency_iters\": %zu, "
                  "\"profile_runs\": %lld, \"op_times\": [",
                  json_escape(opt->path).c_str(), json_escape(ck.graph.family).c_str(), json_escape(kernels).c_str(),
                  static_cast<long long>(opt->batch), threads, item_name,
                  static_cast<long long>(items), items_per_s, med * 1e3, quantile(secs, 0) * 1e3,
                  quantile(secs, 1) * 1e3, static_cast<long long>(opt->iters), quantile(lat, 0.5) * 1e3,
                  quantile(lat, 0.1) * 1e3, quantile(lat, 0.9) * 1e3, lat.size(),
                  static_cast<long long>(ops.empty() ? 0 : profile_runs));
      for (size_t i = 0; i < ops.size(); ++i)
        std::printf("%s{\"name\": \"%s\", \"kind\": \"%s\", \"seconds\": %.6g, \"calls\": %lld, \"kernel\": \"%s\"}",
                    i ? ", " : "", json_escape(ops[i].name).c_str(), json_escape(ops[i].kind).c_str(), ops[i].seconds,
                    static_cast<long long>(ops[i].calls), json_escape(ops[i].kernel).c_str());
      std::printf("]}\n");
      return;
    }
    std::printf("%s (%s, kernels: %s, threads: %s)\n", opt->path.c_str(), ck.graph.family.c_str(), kernels.c_str(),
                threads_str.c_str());
    std::printf("  batch %-6lld %12.1f %s/s   (median of %lld runs: %.3f ms; min %.3f, max %.3f)\n",
                static_cast<long long>(opt->batch), items_per_s, item_name, static_cast<long long>(opt->iters),
                med * 1e3, quantile(secs, 0) * 1e3, quantile(secs, 1) * 1e3);
    std::printf("  batch 1 latency %8.3f ms       (median of %zu runs; p10 %.3f, p90 %.3f)\n", quantile(lat, 0.5) * 1e3,
                lat.size(), quantile(lat, 0.1) * 1e3, quantile(lat, 0.9) * 1e3);
    if (ops.empty()) {
      return;
    }
    std::printf("\n  %-28s %-12s %10s %8s %7s  %s\n", "op", "kind", "ms/run", "calls", "share", "kernel");
    for (const auto& r : ops) {
      const double runs = static_cast<double>(profile_runs);
      std::printf("  %-28s %-12s %10.3f %8lld %6.1f%%  %s\n", r.name.c_str(), r.kind.c_str(), r.seconds / runs * 1e3,
                  static_cast<long long>(r.calls), op_total > 0 ? 100.0 * r.seconds / op_total : 0.0, r.kernel.c_str());
    }
  });
}

}  // namespace qf::cli
