// batch_bench MODEL.qf.h5 PROMPTS.txt [-n 64] [--batch 16] [--rounds 3] [--stop-id -1] [--profile 1]:
// continuous batching (runtime/batch_generation.h, the code behind `qforge generate --prompts
// --batch B`) against one prompt at a time (generate(), `--batch 1`), greedy, on every line of
// PROMPTS as a byte prompt (cut to the model's context), one kernel thread.
// Measure: CPU time of this process (the machine is shared; wall time measures the neighbours);
// the two configurations alternate which runs first in each round; mean ± std over rounds.
// Also checks that every batched output is the one-at-a-time output token for token (exit 1 if not).
// --profile 1: after the rounds, one more run of each with the engine's per-op timing on, printed
// as CPU-clock microseconds per generated token by op kind (where a step's time goes).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/cpu_time.h"
#include "runtime/batch_generation.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"

namespace {

using qf::bench::cpu_seconds;

using qf::bench::mean_std;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]) == "--help") {
    std::printf("usage: batch_bench MODEL.qf.h5 PROMPTS.txt [-n 64] [--batch 16] [--rounds 3] [--stop-id -1] [--profile 1]\n");
    return argc == 2 ? 0 : 2;
  }
  int64_t n = 64, batch = 16, rounds = 3, stop = -1, profile = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "-n") n = std::stoll(argv[i + 1]);
    else if (a == "--batch") batch = std::stoll(argv[i + 1]);
    else if (a == "--rounds") rounds = std::stoll(argv[i + 1]);
    else if (a == "--stop-id") stop = std::stoll(argv[i + 1]);
    else if (a == "--profile") profile = std::stoll(argv[i + 1]);
  }
  try {
    qf::kernels::set_num_threads(1);
    qf::Engine engine = qf::Engine::load(argv[1]);
    const int64_t context = qf::positional_context(engine);
    std::ifstream f(argv[2], std::ios::binary);
    if (!f) throw std::runtime_error(std::string(argv[2]) + ": cannot open");
    std::vector<qf::BatchRequest> reqs;
    int64_t prompt_bytes = 0;
    for (std::string line; std::getline(f, line);) {
      if (line.empty()) continue;
      if (context > 0 && static_cast<int64_t>(line.size()) > context) line = line.substr(line.size() - context);
      qf::BatchRequest r;
      r.prompt.assign(line.begin(), line.end());
      r.max_new_tokens = n;
      if (stop >= 0) r.stop_ids = {stop};
      r.seed = reqs.size();
      prompt_bytes += static_cast<int64_t>(line.size());
      reqs.push_back(std::move(r));
    }
    qf::BatchOptions bo;
    bo.max_batch = batch;
    bo.context = context;
    std::vector<double> tps_one, tps_batch, ratio;
    qf::BatchStats bst;
    int64_t differing = 0;
    for (int64_t round = 0; round < rounds; ++round) {
      std::vector<std::vector<int64_t>> one(reqs.size()), batched;
      double s_one = 0, s_batch = 0;
      int64_t tokens = 0;
      auto run_one = [&] {
        const double t0 = cpu_seconds();
        tokens = 0;
        for (size_t i = 0; i < reqs.size(); ++i) {
          qf::GenerateOptions g;
          g.max_new_tokens = n;
          g.context = context;
          g.seed = reqs[i].seed;
          g.stop_ids = reqs[i].stop_ids;
          one[i] = qf::generate(engine, reqs[i].prompt, g);
          tokens += static_cast<int64_t>(one[i].size());
        }
        s_one = cpu_seconds() - t0;
      };
      auto run_batch = [&] {
        const double t0 = cpu_seconds();
        batched = qf::generate_batch(engine, reqs, bo, &bst);
        s_batch = cpu_seconds() - t0;
      };
      if (round % 2 == 0) {
        run_one();
        run_batch();
      } else {
        run_batch();
        run_one();
      }
      for (size_t i = 0; i < reqs.size(); ++i) differing += batched[i] != one[i];
      tps_one.push_back(static_cast<double>(tokens) / s_one);
      tps_batch.push_back(static_cast<double>(bst.tokens) / s_batch);
      ratio.push_back(tps_batch.back() / tps_one.back());
      std::printf("round %lld: one at a time %.1f tokens / CPU s, batched %.1f (%.3fx)\n", static_cast<long long>(round),
                  tps_one.back(), tps_batch.back(), ratio.back());
      std::fflush(stdout);
    }
    std::printf("%s: %zu prompts (%lld prompt bytes), %lld new tokens each%s, context %lld, batch %lld\n", argv[1],
                reqs.size(), static_cast<long long>(prompt_bytes), static_cast<long long>(n),
                stop >= 0 ? " (or up to the stop id)" : "", static_cast<long long>(context), static_cast<long long>(batch));
    std::printf("batched: %lld decoding steps of %.1f rows on average (most %lld), %lld prefills\n",
                static_cast<long long>(bst.steps), bst.mean_rows(), static_cast<long long>(bst.most_rows),
                static_cast<long long>(bst.prefills));
    std::printf("| one at a time, tokens / CPU s | batched | ratio |\n| %s | %s | %s |\n", mean_std(tps_one, 1).c_str(),
                mean_std(tps_batch, 1).c_str(), mean_std(ratio, 3).c_str());
    std::printf("outputs differing from one at a time: %lld of %lld\n", static_cast<long long>(differing),
                static_cast<long long>(rounds * static_cast<int64_t>(reqs.size())));
    if (profile) {  // per-op time by kind, microseconds per generated token, each mode run once more
      std::map<std::string, std::pair<double, double>> by_kind;  // kind -> (one at a time, batched)
      double total_one = 0, total_batch = 0;
      for (int mode = 0; mode < 2; ++mode) {
        engine.reset_op_times();
        engine.set_profiling(true);
        int64_t tokens = 0;
        if (mode == 0) {
          for (const auto& r : reqs) {
            qf::GenerateOptions g;
            g.max_new_tokens = n;
            g.context = context;
            g.seed = r.seed;
            g.stop_ids = r.stop_ids;
            tokens += static_cast<int64_t>(qf::generate(engine, r.prompt, g).size());
          }
        } else {
          qf::generate_batch(engine, reqs, bo, &bst);
          tokens = bst.tokens;
        }
        engine.set_profiling(false);
        for (const qf::OpTime& t : engine.op_times()) {
          const double us = 1e6 * t.seconds / static_cast<double>(tokens);
          (mode == 0 ? by_kind[t.kind].first : by_kind[t.kind].second) += us;
          (mode == 0 ? total_one : total_batch) += us;
        }
      }
      std::printf("per-op time (the op timer's clock), microseconds per generated token:\n| op kind | one at a time | batched |\n| --- | --- | --- |\n");
      for (const auto& [kind, t] : by_kind) std::printf("| %s | %.2f | %.2f |\n", kind.c_str(), t.first, t.second);
      std::printf("| all ops | %.2f | %.2f |\n", total_one, total_batch);
    }
    return differing == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "batch_bench: %s\n", e.what());
    return 1;
  }
}
