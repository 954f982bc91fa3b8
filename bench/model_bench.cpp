// model_bench: a checkpoint's batch throughput through the runtime, LibTorch-free (so it builds
// with -DQFORGE_WITH_TORCH=OFF, where `qforge bench` does not exist), made for A/B measurements
// on a loaded machine: rounds alternate the variants under test (--ab), and each round reports
// wall-clock images/s (median of --iters runs), the process CPU time per batch (user + sys, which
// other processes' load does not inflate the way it inflates wall time) and a per-op profile.
//
//   model_bench CKPT [--batch 256] [--threads 2] [--iters 20] [--rounds 3] [--ab conv-int32-pool]
//
// The inputs are the checkpoint's first golden case, repeated to --batch (as `qforge bench`).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/engine.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_conv_kernels.h"  // set_conv_pool_int32_pooling (--ab)

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::map<std::string, qf::Tensor> batched_inputs(const qf::Checkpoint& ck, int64_t batch) {
  if (ck.golden.empty()) throw std::runtime_error(ck.source + ": no golden case to take the input shape from");
  std::map<std::string, qf::Tensor> out;
  for (const qf::TensorSpec& spec : ck.graph.inputs) {
    auto it = ck.golden[0].inputs.find(spec.name);
    if (it == ck.golden[0].inputs.end()) throw std::runtime_error(ck.source + ": golden case 0 lacks input " + spec.name);
    const qf::Tensor& g = it->second;
    if (g.dtype != qf::DType::kFloat32 || g.shape.empty() || g.shape[0] < 1)
      throw std::runtime_error(ck.source + ": input '" + spec.name + "' is not a batched float tensor");
    const int64_t row = g.numel() / g.shape[0];
    qf::Tensor t;
    t.dtype = g.dtype;
    t.shape = g.shape;
    t.shape[0] = batch;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t src = (b % g.shape[0]) * row;
      t.f32.insert(t.f32.end(), g.f32.begin() + src, g.f32.begin() + src + row);
    }
    out.emplace(spec.name, std::move(t));
  }
  return out;
}

struct Variant {
  std::string name;
  void (*apply)();
  int engine = 0;  // which loaded engine runs it (options decided at load time get one each)
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Batch throughput of a checkpoint through the runtime (wall and CPU time, per-op profile), A/B rounds"};
  std::string path, ab;
  int64_t batch = 256, iters = 20, rounds = 3;
  int threads = 2;
  app.add_option("checkpoint", path, "model.qf.h5")->required();
  app.add_option("--batch", batch, "Images per run");
  app.add_option("--threads", threads, "Runtime threads (0: all cores)");
  app.add_option("--iters", iters, "Timed runs per round");
  app.add_option("--rounds", rounds, "Rounds (each runs every variant once, in turn)");
  app.add_option("--ab", ab,
                 "Alternate variants each round: conv-int32-pool (the fused conv + pool kernel pooling the int32 sums "
                 "vs the float fold); conv-sp24 (the 2:4 convolution vs the dense channels-last one, an engine "
                 "loaded with each)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (batch < 1 || iters < 1 || rounds < 1) throw std::runtime_error("--batch, --iters and --rounds must be >= 1");
    std::vector<Variant> variants{{"current", [] {}}};
    if (ab == "conv-int32-pool")
      variants = {{"float-fold", [] { qf::kernels::x86::set_conv_pool_int32_pooling(false); }},
                  {"int32-pool", [] { qf::kernels::x86::set_conv_pool_int32_pooling(true); }}};
    else if (ab == "conv-sp24")
      variants = {{"dense-conv", [] {}, 0}, {"sp24-conv", [] {}, 1}};
    else if (!ab.empty())
      throw std::runtime_error("unknown --ab '" + ab + "' (conv-int32-pool, conv-sp24)");
    qf::kernels::set_num_threads(threads);
    std::vector<qf::Engine> engines;
    if (ab == "conv-sp24") {  // the 2:4 conv is chosen when the weights are prepared
      qf::kernels::x86::set_conv_sparse24(false);
      engines.push_back(qf::Engine::load(path));
      qf::kernels::x86::set_conv_sparse24(true);
    }
    engines.push_back(qf::Engine::load(path));
    const auto in = batched_inputs(engines[0].checkpoint(), batch);
    std::printf("%s, batch %lld, %d threads, kernels %s\n", path.c_str(), static_cast<long long>(batch),
                qf::kernels::num_threads(), engines[0].kernel_table().name);
    std::printf("| round | variant | images/s (median of %lld) | CPU ms / batch | wall ms / batch (min) |\n",
                static_cast<long long>(iters));
    std::printf("| --- | --- | --- | --- | --- |\n");
    std::map<std::string, std::vector<qf::OpTime>> profiles;
    for (int64_t r = 0; r < rounds; ++r) {
      for (const Variant& v : variants) {
        v.apply();
        qf::Engine& engine = engines[static_cast<size_t>(v.engine)];
        for (int i = 0; i < 2; ++i) engine.run(in);  // warm-up
        std::vector<double> secs;
        const double c0 = cpu_seconds();
        for (int64_t i = 0; i < iters; ++i) {
          const auto t0 = Clock::now();
          engine.run(in);
          secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        }
        const double cpu = (cpu_seconds() - c0) / static_cast<double>(iters);
        std::sort(secs.begin(), secs.end());
        std::printf("| %lld | %s | %.0f | %.3f | %.3f |\n", static_cast<long long>(r), v.name.c_str(),
                    static_cast<double>(batch) / secs[secs.size() / 2], 1e3 * cpu, 1e3 * secs.front());
        std::fflush(stdout);
        engine.reset_op_times();
        engine.set_profiling(true);
        for (int i = 0; i < 3; ++i) engine.run(in);
        engine.set_profiling(false);
        auto& acc = profiles[v.name];
        const auto t = engine.op_times();
        if (acc.empty()) acc = t;
        else
          for (size_t i = 0; i < t.size() && i < acc.size(); ++i) acc[i].seconds = std::min(acc[i].seconds, t[i].seconds);
      }
    }
    std::printf("\nper-op ms per run (min over rounds of 3 profiled runs):\n| op | kind |");
    for (const Variant& v : variants) std::printf(" %s |", v.name.c_str());
    std::printf("\n| --- | --- |");
    for (size_t i = 0; i < variants.size(); ++i) std::printf(" --- |");
    std::printf("\n");
    const auto& first = profiles[variants[0].name];
    for (size_t i = 0; i < first.size(); ++i) {
      if (first[i].seconds <= 0) continue;
      std::printf("| %s | %s |", first[i].name.c_str(), first[i].kind.c_str());
      for (const Variant& v : variants) {
        const qf::OpTime& t = profiles[v.name][i];
        std::printf(t.kernel.empty() ? " %.3f |" : " %.3f (%s) |", 1e3 * t.seconds / 3.0, t.kernel.c_str());
      }
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
