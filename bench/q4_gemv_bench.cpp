// q4_gemv_bench [--threads 1] [--rounds 5] [--m 1] [--shapes NxK,...] [--huge 0|1] [--gemv 0|1] [--ab 1]
// The M = 1 GEMV of a llama.cpp Q4_0 checkpoint (int8-stored codes in [-8, 7], groups of 32,
// fp16-exact scales, per-token int8 activations: what a decoding step of bench/llama_race.sh runs),
// through the selected kernel table's qs8 int8 entry, on Llama-3.2-1B's projection shapes by
// default. Prints, per shape, the median call time and the GB/s of the Q4_0 bytes it streams
// (18 bytes per 32 weights), and for the whole set (one decoding step's GEMVs: 16 layers of q, k,
// v, o, gate, up, down, and the head) the implied tokens/s. Weights larger than L3 are cycled
// through several copies so every call streams from DRAM, as in a real step.
// --gemv 0: ordinary tiles instead of the strided GEMV (x86::set_strided_gemv); --huge 0: packed
// weights without transparent huge pages. --ab 1: per round, a pass over the copies with ordinary tiles
// then one with the strided GEMV (a loaded machine slows both alike), medians and their ratio.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_kernels.h"

using namespace qf;
using namespace qf::kernels;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Weight {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  QWeights w;
  std::unique_ptr<PreparedQWeights> prep;
};

void make(Weight& W, int64_t n, int64_t k, std::mt19937& rng, const KernelTable& kt) {
  W.codes.resize(static_cast<size_t>(n * k));
  std::uniform_int_distribution<int> c(-8, 7);
  for (auto& v : W.codes) v = static_cast<int8_t>(c(rng));
  W.scales.resize(static_cast<size_t>(n * k / 32));
  std::uniform_real_distribution<float> s(1e-3f, 2e-3f);
  for (auto& v : W.scales) v = fp16_to_fp32(fp32_to_fp16(s(rng)));
  W.w.kind = QWeightKind::kInt8;
  W.w.n = n;
  W.w.k = k;
  W.w.codes = W.codes.data();
  W.w.scales = W.scales.data();
  W.w.per_group = true;
  W.w.group_size = 32;
  if (kt.prepare_qweights) W.prep = kt.prepare_qweights(W.w);
  W.w.prepared = W.prep.get();
  // The packed copy is what the kernel reads: free the source codes' pages from the cache's view.
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, rounds = 5;
  bool ab = false;
  int64_t m = 1;
  std::string shapes = "2048x2048,512x2048,512x2048,2048x2048,8192x2048,8192x2048,2048x8192,128256x2048";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("q4_gemv_bench [--threads 1] [--rounds 5] [--m 1] [--shapes NxK,...]\n");
      return 0;
    }
    if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); return 2; }
    const std::string v = argv[++i];
    if (a == "--threads") threads = std::stoi(v);
    else if (a == "--rounds") rounds = std::stoi(v);
    else if (a == "--m") m = std::stoll(v);
    else if (a == "--shapes") shapes = v;
    else if (a == "--ab") ab = v != "0";
    else if (a == "--gemv") x86::set_strided_gemv(v != "0");
    else if (a == "--huge") x86::set_packed_huge_pages(v != "0");
    else { std::fprintf(stderr, "unknown %s\n", a.c_str()); return 2; }
  }
  set_num_threads(threads);
  const KernelTable& kt = select_kernels();
  std::vector<std::pair<int64_t, int64_t>> sh;
  {
    std::stringstream ss(shapes);
    std::string it;
    while (std::getline(ss, it, ',')) {
      const size_t x = it.find('x');
      sh.emplace_back(std::stoll(it.substr(0, x)), std::stoll(it.substr(x + 1)));
    }
  }
  std::mt19937 rng(7);
  // Copies per shape so that one pass over them exceeds L3 (32 MiB): every call reads DRAM.
  std::vector<std::vector<Weight>> ws(sh.size());
  for (size_t i = 0; i < sh.size(); ++i) {
    const double bytes = static_cast<double>(sh[i].first * sh[i].second) * 18.0 / 32.0;
    const int copies = std::max(1, static_cast<int>(std::ceil(96e6 / bytes)));
    ws[i].resize(static_cast<size_t>(copies));
    for (auto& W : ws[i]) make(W, sh[i].first, sh[i].second, rng, kt);
  }
  int64_t kmax = 0, nmax = 0;
  for (auto& s : sh) kmax = std::max(kmax, s.second), nmax = std::max(nmax, s.first);
  std::vector<int8_t> x(static_cast<size_t>(m * kmax));
  std::uniform_int_distribution<int> xc(-127, 127);
  for (auto& v : x) v = static_cast<int8_t>(xc(rng));
  std::vector<float> sx(static_cast<size_t>(m), 0.01f), y(static_cast<size_t>(m * nmax));
  QActs qa;
  qa.codes = x.data();
  qa.scales = sx.data();
  qa.scale_stride = 1;
  std::printf("table %s, %d thread(s), M = %lld\n| N x K | us / call | GB/s (Q4_0 bytes) |\n| --- | --- | --- |\n", kt.name,
              threads, static_cast<long long>(m));
  if (ab) {
    std::printf("\n| N x K | ordinary tiles us | strided us | speed-up |\n| --- | --- | --- | --- |\n");
    double s0 = 0, s1 = 0;
    for (size_t i = 0; i < sh.size(); ++i) {
      std::vector<double> t0, t1;
      for (int r = 0; r < rounds; ++r)
        for (int v = 0; v < 2; ++v) {  // a pass over all copies (> L3) per variant: DRAM for both
          x86::set_strided_gemv(v == 1);
          for (auto& W : ws[i]) {
            const double c = now();
            kt.qgemm[1][0](m, qa, W.w, nullptr, y.data());
            (v ? t1 : t0).push_back(now() - c);
          }
        }
      std::sort(t0.begin(), t0.end());
      std::sort(t1.begin(), t1.end());
      const double a0 = t0[t0.size() / 2], a1 = t1[t1.size() / 2];
      std::printf("| %lldx%lld | %.1f | %.1f | %.2fx |\n", static_cast<long long>(sh[i].first),
                  static_cast<long long>(sh[i].second), a0 * 1e6, a1 * 1e6, a0 / a1);
      const double w = (i + 1 == sh.size() && sh.size() == 8) ? 1.0 : 16.0;
      s0 += w * a0;
      s1 += w * a1;
    }
    x86::set_strided_gemv(true);
    if (sh.size() == 8)
      std::printf("one step's GEMVs: ordinary %.2f ms, strided %.2f ms: %.2fx\n", s0 * 1e3, s1 * 1e3, s0 / s1);
    return 0;
  }
  double step = 0;
  const int per_layer[] = {1, 1, 1, 1, 1, 1, 1};
  for (size_t i = 0; i < sh.size(); ++i) {
    std::vector<double> t;
    for (int r = 0; r < rounds; ++r) {
      for (auto& W : ws[i]) {
        const double t0 = now();
        kt.qgemm[1][0](m, qa, W.w, nullptr, y.data());
        t.push_back(now() - t0);
      }
    }
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2];
    const double bytes = static_cast<double>(sh[i].first * sh[i].second) * 18.0 / 32.0;
    std::printf("| %lldx%lld | %.1f | %.2f |\n", static_cast<long long>(sh[i].first), static_cast<long long>(sh[i].second),
                med * 1e6, bytes / med / 1e9);
    step += (i + 1 == sh.size() && sh.size() == 8) ? med : 16.0 * med * (i < 7 ? per_layer[i] : 1);
  }
  if (sh.size() == 8) std::printf("one step's GEMVs: %.2f ms -> %.2f tokens/s (GEMVs only)\n", step * 1e3, 1.0 / step);
  return 0;
}
