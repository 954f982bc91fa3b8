// prefix_ttft MODEL.qf.h5 [--prefix 200] [--prompts 16] [--rounds 5]: time to first token of
// prompts that share a prefix, with and without the prefix cache (runtime/prefix_cache.h). CPU
// time of this process, one kernel thread (the machine is shared). Each prompt is the same
// `prefix` tokens (bytes of Brown-like text) plus a distinct 4-to-7-token suffix. Three ways:
//   plain       the whole prompt in one step (what `qforge generate` does without a cache)
//   cold        PrefixCache::run_prompt on an empty cache (block-aligned chunks of 16)
//   warm        PrefixCache::run_prompt after the first prompt stored the prefix
// and checks that warm logits equal cold logits bit for bit.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <string>
#include <vector>

#include "bench/cpu_time.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"
#include "runtime/prefix_cache.h"

namespace {

using qf::bench::cpu_seconds;

void mean_std(const std::vector<double>& v, double& m, double& s) {
  m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  s = 0;
  for (double x : v) s += (x - m) * (x - m);
  s = v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::printf("usage: prefix_ttft MODEL.qf.h5 [--prefix 200] [--prompts 16] [--rounds 5]\n");
    return argc == 2 ? 0 : 2;
  }
  int64_t prefix = 200, prompts = 16, rounds = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--prefix") prefix = std::stoll(argv[i + 1]);
    else if (a == "--prompts") prompts = std::stoll(argv[i + 1]);
    else if (a == "--rounds") rounds = std::stoll(argv[i + 1]);
  }
  try {
    qf::kernels::set_num_threads(1);
    qf::Engine e = qf::Engine::load(argv[1]);
    const std::string in = e.checkpoint().graph.inputs.at(0).name, out = e.checkpoint().graph.outputs.at(0);
    const std::string text =
        "The Fulton County Grand Jury said Friday an investigation of recent primary elections produced no evidence "
        "that any irregularities took place. The jury further said in term-end presentments that the City Executive "
        "Committee, which had over-all charge of the election, deserves the praise and thanks of the City of Atlanta.";
    std::vector<int64_t> shared;
    for (int64_t i = 0; i < prefix; ++i) shared.push_back(static_cast<unsigned char>(text[i % text.size()]));
    std::vector<std::vector<int64_t>> ps;
    for (int64_t p = 0; p < prompts; ++p) {
      std::vector<int64_t> v = shared;
      for (int64_t j = 0; j < 4 + p % 4; ++j) v.push_back(97 + (p * 5 + j * 3) % 26);
      ps.push_back(v);
    }
    std::vector<double> plain, cold, warm;
    bool same = true;
    int64_t restored = 0;
    for (int64_t r = 0; r < rounds; ++r) {
      double t_plain = 0, t_cold = 0, t_warm = 0;
      qf::PrefixCache cache(16, int64_t{64} << 20);
      for (int64_t p = 0; p < prompts; ++p) {
        double t0 = cpu_seconds();
        {
          qf::Session s = e.start_session();
          s.step({{in, qf::Tensor::ids({1, static_cast<int64_t>(ps[p].size())}, ps[p])}});
        }
        t_plain += cpu_seconds() - t0;
        qf::PrefixCache empty(16, int64_t{64} << 20);
        t0 = cpu_seconds();
        std::vector<float> lc;
        {
          qf::Session s = e.start_session();
          lc = empty.run_prompt(s, in, out, ps[p]);
        }
        t_cold += cpu_seconds() - t0;
        if (p == 0) {  // the first prompt fills the cache (not timed as warm)
          qf::Session s = e.start_session();
          cache.run_prompt(s, in, out, ps[p]);
          continue;
        }
        const int64_t before = cache.hit_tokens();
        t0 = cpu_seconds();
        std::vector<float> lw;
        {
          qf::Session s = e.start_session();
          lw = cache.run_prompt(s, in, out, ps[p]);
        }
        t_warm += cpu_seconds() - t0;
        restored = cache.hit_tokens() - before;
        same = same && lw == lc;
      }
      plain.push_back(1e3 * t_plain / static_cast<double>(prompts));
      cold.push_back(1e3 * t_cold / static_cast<double>(prompts));
      warm.push_back(1e3 * t_warm / static_cast<double>(prompts - 1));
    }
    double m, s, m0, s0;
    std::printf("%lld prompts of %lld shared + 4..7 own tokens; %lld tokens restored per warm prompt; %lld rounds\n",
                static_cast<long long>(prompts), static_cast<long long>(prefix), static_cast<long long>(restored),
                static_cast<long long>(rounds));
    std::printf("| prompt processing | time to first token, ms CPU (mean ± std over rounds) | ratio to plain |\n| --- | --- | --- |\n");
    mean_std(plain, m0, s0);
    std::printf("| plain: whole prompt in one step | %.2f ± %.2f | 1 |\n", m0, s0);
    mean_std(cold, m, s);
    std::printf("| prefix cache, miss (chunks of 16) | %.2f ± %.2f | %.2f |\n", m, s, m / m0);
    mean_std(warm, m, s);
    std::printf("| prefix cache, hit | %.2f ± %.2f | %.3f |\n", m, s, m / m0);
    std::printf("warm logits == cold logits (bit for bit): %s\n", same ? "yes" : "NO");
    return same ? 0 : 1;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "prefix_ttft: %s\n", ex.what());
    return 1;
  }
}
