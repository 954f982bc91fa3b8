// spec_cost TARGET.qf.h5 DRAFT.qf.h5 [--prompt-tokens P] [--steps N]: the CPU cost of the steps
// speculative decoding is made of (one kernel thread, CPU time of this process): a target step of
// 1 token (plain decoding), a target step of k + 1 tokens (verification) and a draft step of 1
// token, each after a P-token prompt, averaged over N steps (rolled back with Session::truncate,
// so every step sees the same cache length). Prints them and the speedup they predict for
// acceptance rates alpha (Leviathan et al., eq. 1: expected tokens per round
// (1 - alpha^(k+1)) / (1 - alpha), cost per round k * draft + verify(k + 1), in target steps).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <string>

#include "bench/cpu_time.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"

namespace {

using qf::bench::cpu_seconds;

// Mean CPU seconds of a t-token step after `prompt` tokens.
double step_cost(qf::Engine& e, int64_t prompt, int64_t t, int steps) {
  const std::string in = e.checkpoint().graph.inputs.at(0).name;
  qf::Session s = e.start_session();
  std::vector<int64_t> ids(static_cast<size_t>(prompt));
  for (int64_t i = 0; i < prompt; ++i) ids[i] = 32 + (i * 7) % 90;
  s.step({{in, qf::Tensor::ids({1, prompt}, ids)}});
  const std::vector<int64_t> next(static_cast<size_t>(t), 101);
  s.step({{in, qf::Tensor::ids({1, t}, next)}});  // warm-up (memory plan)
  s.truncate(prompt);
  const double t0 = cpu_seconds();
  for (int i = 0; i < steps; ++i) {
    s.step({{in, qf::Tensor::ids({1, t}, next)}});
    s.truncate(prompt);
  }
  return (cpu_seconds() - t0) / steps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]) == "--help") {
    std::printf("usage: spec_cost TARGET.qf.h5 DRAFT.qf.h5 [--prompt-tokens P] [--steps N]\n");
    return argc == 2 ? 0 : 2;
  }
  int64_t prompt = 64;
  int steps = 50;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--prompt-tokens") prompt = std::stoll(argv[i + 1]);
    else if (a == "--steps") steps = std::stoi(argv[i + 1]);
  }
  try {
    qf::kernels::set_num_threads(1);
    qf::Engine target = qf::Engine::load(argv[1]), draft = qf::Engine::load(argv[2]);
    const double c1 = step_cost(target, prompt, 1, steps), cd = step_cost(draft, prompt, 1, steps);
    std::printf("target step, 1 token: %.1f us; draft step, 1 token: %.1f us (%.3f of the target's)\n", 1e6 * c1,
                1e6 * cd, cd / c1);
    std::printf("| k | verify step (k+1 tokens) / 1-token step | predicted speedup at alpha = 0.5 | 0.6 | 0.7 | 0.8 | 0.9 |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int64_t k : {1, 2, 3, 4, 6, 8}) {
      const double cv = step_cost(target, prompt, k + 1, steps) / c1;
      std::printf("| %lld | %.2f |", static_cast<long long>(k), cv);
      for (double a : {0.5, 0.6, 0.7, 0.8, 0.9}) {
        const double tokens = (1 - std::pow(a, static_cast<double>(k + 1))) / (1 - a);
        std::printf(" %.2f |", tokens / (cv + static_cast<double>(k) * cd / c1));
      }
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spec_cost: %s\n", e.what());
    return 1;
  }
  return 0;
}
