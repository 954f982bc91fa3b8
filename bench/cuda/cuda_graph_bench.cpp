// The whole graph on the GPU, measured: for each checkpoint, `validate` on the CPU table and on
// the `cuda` table (the same golden cases and per-op trace checks as `qforge validate`), then
// greedy decoding on both: a prompt, then one token per step, both engines fed the same tokens
// (the CPU's greedy choices), reporting prefill time, decode tokens/s, argmax agreement and the
// largest logits difference. LibTorch-free (the GPU image has no LibTorch; the `qforge` CLI's
// `--device cuda` is the same engine). Usage:
//   cuda_graph_bench [--prompt N] [--tokens N] [--batch B] CHECKPOINT...
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/validate.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Options {
  int64_t prompt = 16, tokens = 128, batch = 1;
  std::vector<std::string> paths;
};

int64_t argmax_last(const qf::Tensor& logits, int64_t b) {
  const int64_t v = logits.shape.back(), t = logits.shape[1];
  auto row = logits.f32.begin() + (b * t + t - 1) * v;
  return std::max_element(row, row + v) - row;
}

void bench_one(const std::string& path, const Options& o) {
  std::printf("## %s\n", path.c_str());
  qf::Engine cpu = qf::Engine::load(path, &qf::kernels::kernel_table_for_device("cpu"));
  auto t0 = Clock::now();
  // QF_GRAPH_BENCH_TABLE=ref|avx2|avx512: a CPU table in the cuda table's place (how far two CPU
  // tables drift apart on the same steps, for comparison; no GPU needed).
  const char* second = std::getenv("QF_GRAPH_BENCH_TABLE");
  qf::Engine gpu = qf::Engine::load(path, second ? &qf::kernels::kernel_table_for_isa(second)
                                                 : &qf::kernels::kernel_table_for_device("cuda"));
  std::printf("load on %s: %.2f s\n", gpu.kernel_table().name, since(t0));
  for (qf::Engine* e : {&cpu, &gpu}) {
    if (cpu.checkpoint().golden.empty()) {
      std::printf("(no golden cases: not validated)\n");
      break;
    }
    t0 = Clock::now();
    const qf::ValidationReport r = qf::validate(*e);
    std::printf("validate on %s (%.2f s):\n%s\n", e->kernel_table().name, since(t0), r.summary().c_str());
  }
  const qf::Checkpoint& ck = cpu.checkpoint();
  if (ck.graph.family != "gpt" || ck.graph.inputs.size() != 1 || ck.graph.inputs[0].dtype != "int64") {
    // Not a decoder: the first golden case's batch, median of 20 whole runs after 3 warm-ups.
    if (ck.golden.empty()) return;
    const auto& in = ck.golden[0].inputs;
    const int64_t items = in.begin()->second.shape.empty() ? 1 : in.begin()->second.shape[0];
    std::printf("| table | batch | ms/run (median of 20) | items/s |\n| --- | --- | --- | --- |\n");
    for (qf::Engine* e : {&cpu, &gpu}) {
      std::vector<double> t;
      for (int i = 0; i < 23; ++i) {
        t0 = Clock::now();
        e->run(in);
        if (i >= 3) t.push_back(since(t0));
      }
      std::sort(t.begin(), t.end());
      std::printf("| %s | %lld | %.3f | %.0f |\n", e->kernel_table().name, static_cast<long long>(items), t[10] * 1e3,
                  static_cast<double>(items) / t[10]);
    }
    std::printf("\n");
    return;
  }
  int64_t tmax = 1 << 30;
  for (const auto& [name, L] : ck.layers)
    if (L.kind == "positional_embedding" && !L.shape.empty()) tmax = L.shape[0];
  const int64_t tokens = std::min(o.tokens, tmax - o.prompt);
  const std::string in_name = ck.graph.inputs[0].name, out_name = ck.graph.outputs.at(0);
  std::mt19937 gen(1234);
  std::vector<int64_t> prompt(static_cast<size_t>(o.batch * o.prompt));
  for (auto& id : prompt) id = static_cast<int64_t>(gen() % 200);  // ids every tokenizer here has
  // The CPU's greedy continuation, then both engines timed on exactly those steps.
  std::vector<std::vector<int64_t>> steps;
  std::vector<qf::Tensor> cpu_logits;
  double cpu_prefill = 0, cpu_decode = 0, gpu_prefill = 0, gpu_decode = 0;
  {
    qf::Session s = cpu.start_session();
    t0 = Clock::now();
    qf::Tensor l = s.step({{in_name, qf::Tensor::ids({o.batch, o.prompt}, prompt)}}).at(out_name);
    cpu_prefill = since(t0);
    for (int64_t i = 0; i < tokens; ++i) {
      std::vector<int64_t> next;
      for (int64_t b = 0; b < o.batch; ++b) next.push_back(argmax_last(l, b));
      steps.push_back(next);
      t0 = Clock::now();
      l = s.step({{in_name, qf::Tensor::ids({o.batch, 1}, next)}}).at(out_name);
      cpu_decode += since(t0);
      cpu_logits.push_back(l);
    }
  }
  int64_t agree = 0, rows = 0;
  double worst = 0, scale = 0;
  for (int rep = 0; rep < 2; ++rep) {  // the first pass warms the GPU up (module load, allocations)
    qf::Session s = gpu.start_session();
    t0 = Clock::now();
    s.step({{in_name, qf::Tensor::ids({o.batch, o.prompt}, prompt)}});
    gpu_prefill = since(t0);
    gpu_decode = 0;
    for (int64_t i = 0; i < tokens; ++i) {
      t0 = Clock::now();
      const qf::Tensor l = s.step({{in_name, qf::Tensor::ids({o.batch, 1}, steps[static_cast<size_t>(i)])}}).at(out_name);
      gpu_decode += since(t0);
      if (rep == 1) {
        const qf::Tensor& want = cpu_logits[static_cast<size_t>(i)];
        for (int64_t b = 0; b < o.batch; ++b, ++rows) agree += argmax_last(l, b) == argmax_last(want, b);
        for (size_t j = 0; j < l.f32.size(); ++j) {
          worst = std::max(worst, std::fabs(static_cast<double>(l.f32[j]) - want.f32[j]));
          scale = std::max(scale, std::fabs(static_cast<double>(want.f32[j])));
        }
      }
    }
  }
  std::printf("decode: batch %lld, prompt %lld, %lld steps\n", static_cast<long long>(o.batch),
              static_cast<long long>(o.prompt), static_cast<long long>(tokens));
  std::printf("| table | prefill ms | decode tokens/s | ms/step |\n| --- | --- | --- | --- |\n");
  std::printf("| %s | %.2f | %.1f | %.3f |\n", cpu.kernel_table().name, cpu_prefill * 1e3,
              static_cast<double>(tokens * o.batch) / cpu_decode, cpu_decode / static_cast<double>(tokens) * 1e3);
  std::printf("| %s | %.2f | %.1f | %.3f |\n", gpu.kernel_table().name, gpu_prefill * 1e3,
              static_cast<double>(tokens * o.batch) / gpu_decode, gpu_decode / static_cast<double>(tokens) * 1e3);
  std::printf("cuda vs %s on the same tokens: argmax agreement %lld/%lld, max |logit diff| %.3g (max |logit| %.3g)\n\n",
              cpu.kernel_table().name, static_cast<long long>(agree), static_cast<long long>(rows), worst, scale);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto num = [&]() -> int64_t {
      if (i + 1 >= argc) throw qf::Error(a + " needs a number");
      return std::atoll(argv[++i]);
    };
    if (a == "--help" || a == "-h") {
      std::printf("usage: cuda_graph_bench [--prompt N] [--tokens N] [--batch B] CHECKPOINT...\n"
                  "validate on the CPU and cuda tables, then greedy decode tokens/s on both\n");
      return 0;
    }
    try {
      if (a == "--prompt") o.prompt = num();
      else if (a == "--tokens") o.tokens = num();
      else if (a == "--batch") o.batch = num();
      else o.paths.push_back(a);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cuda_graph_bench: %s\n", e.what());
      return 2;
    }
  }
  if (o.paths.empty()) {
    std::fprintf(stderr, "cuda_graph_bench: no checkpoint given (--help)\n");
    return 2;
  }
  int rc = 0;
  for (const std::string& p : o.paths) {
    try {
      bench_one(p, o);
    } catch (const std::exception& e) {
      std::printf("%s: error: %s\n\n", p.c_str(), e.what());
      rc = 1;
    }
  }
  return rc;
}
