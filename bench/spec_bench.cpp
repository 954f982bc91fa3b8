// spec_bench TARGET.qf.h5 DRAFT.qf.h5 [-n 200] [--k 1,2,4] [--rounds 3] [--temperature 0]:
// target-only vs speculative decoding (runtime/generation.h, the code behind `qforge generate
// --draft`) on four Brown-like byte prompts (cut to the target's context), one kernel thread.
// Measure: CPU time of this process (the machine is shared; wall time measures the neighbours).
// Configurations are interleaved in each round; mean ± std over rounds. Greedy: also counts
// outputs that differ from target-only decoding (must be 0).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/cpu_time.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"

namespace {

using qf::bench::cpu_seconds;

using qf::bench::mean_std;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]) == "--help") {
    std::printf("usage: spec_bench TARGET.qf.h5 DRAFT.qf.h5 [-n 200] [--k 1,2,4] [--rounds 3] [--temperature 0]\n");
    return argc == 2 ? 0 : 2;
  }
  int64_t n = 200, rounds = 3;
  double temperature = 0;
  std::vector<int64_t> ks = {1, 2, 4};
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "-n") n = std::stoll(argv[i + 1]);
    else if (a == "--rounds") rounds = std::stoll(argv[i + 1]);
    else if (a == "--temperature") temperature = std::stod(argv[i + 1]);
    else if (a == "--k") {
      ks.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string t; std::getline(ss, t, ',');) ks.push_back(std::stoll(t));
    }
  }
  try {
    qf::kernels::set_num_threads(1);
    qf::Engine target = qf::Engine::load(argv[1]), draft = qf::Engine::load(argv[2]);
    const int64_t context = qf::positional_context(target);
    const char* texts[] = {"The jury further said in term-end presentments that the City Executive Committee",
                           "It was a cold morning in the spring of that year, and",
                           "The President said that he would not", "Mrs. Smith had been living in the house for"};
    std::vector<std::vector<int64_t>> prompts;
    for (const char* t : texts) {
      std::string s = t;
      if (context > 0 && static_cast<int64_t>(s.size()) > context) s = s.substr(s.size() - context);
      prompts.emplace_back(s.begin(), s.end());
    }
    std::map<int64_t, std::vector<double>> tps, ratio;  // k = 0: target only
    std::map<int64_t, qf::GenerateStats> stats;
    int64_t differing = 0, compared = 0;
    for (int64_t r = 0; r < rounds; ++r) {
      std::vector<std::vector<int64_t>> reference;
      double base = 0;
      for (int64_t k : [&] { std::vector<int64_t> v = {0}; v.insert(v.end(), ks.begin(), ks.end()); return v; }()) {
        double seconds = 0;
        for (size_t p = 0; p < prompts.size(); ++p) {
          qf::GenerateOptions o;
          o.max_new_tokens = n;
          o.temperature = temperature;
          o.seed = static_cast<uint64_t>(r * 100 + static_cast<int64_t>(p));
          o.context = context;
          qf::GenerateStats st;
          const double t0 = cpu_seconds();
          const std::vector<int64_t> out = k == 0 ? qf::generate(target, prompts[p], o, &st)
                                                  : qf::generate_speculative(target, draft, k, prompts[p], o, &st);
          seconds += cpu_seconds() - t0;
          if (k == 0) reference.push_back(out);
          else if (temperature <= 0) {
            ++compared;
            differing += out != reference[p];
          }
          stats[k].drafted += st.drafted;
          stats[k].accepted += st.accepted;
          stats[k].tokens += st.tokens;
          stats[k].target_steps += st.target_steps;
        }
        const double v = static_cast<double>(n * static_cast<int64_t>(prompts.size())) / seconds;
        if (k == 0) base = v;
        tps[k].push_back(v);
        ratio[k].push_back(v / base);
      }
    }
    std::printf("target %s, draft %s, %lld tokens x %zu prompts, temperature %g, %lld rounds, 1 thread\n", argv[1], argv[2],
                static_cast<long long>(n), prompts.size(), temperature, static_cast<long long>(rounds));
    std::printf("| decoding | tokens per CPU second | ratio to target only | acceptance | tokens per target step |\n");
    std::printf("| --- | --- | --- | --- | --- |\n");
    for (auto& [k, v] : tps) {
      const qf::GenerateStats& st = stats[k];
      std::printf("| %s | %s | %s | %s | %.2f |\n", k == 0 ? "target only" : ("k = " + std::to_string(k)).c_str(),
                  mean_std(v, 1).c_str(), mean_std(ratio[k], 3).c_str(),
                  k == 0 ? "—" : (std::to_string(st.acceptance()).substr(0, 5)).c_str(),
                  static_cast<double>(st.tokens) / static_cast<double>(st.target_steps));
    }
    if (temperature <= 0)
      std::printf("greedy outputs differing from target-only decoding: %lld of %lld\n", static_cast<long long>(differing),
                  static_cast<long long>(compared));
    return differing == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spec_bench: %s\n", e.what());
    return 1;
  }
}
