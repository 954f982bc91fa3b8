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
// --compare dense,sp24,...: the same step with 2:4 weights beside dense Q4_0 (the 2:4 checkpoint of
// the race: every projection pruned to 2:4 by magnitude from the same codes, then Q4_0 blocks; the
// head stays dense), interleaved: each round runs one pass per variant over every shape, in a
// rotated order; per variant the median step time and, per round, dense step / variant step
// (median [min, max]). Variants: dense; sp24 (the runtime's default 2:4 packing); sp24_idx /
// sp24_ctl / sp24_slice / sp24_perm / sp24_sperm (force kSparse24NibbleIdx / kSparse24NibbleCtl /
// kSparse24NibbleSlice / kSparse24PermByte / kSparse24SlicePerm).
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/cpu_time.h"
#include "core/fp16.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_kernels.h"

using namespace qf;
using namespace qf::kernels;

namespace {

// Weight groups along K (0: per channel); the race's Q4_0 blocks are 32.
int64_t g_group = 32;
// --clock cpu: process CPU time per call (every thread; robust to other processes taking the core),
// wall: steady clock.
bool g_cpu_clock = true;
// --copies N: weights per shape (default: enough that a pass exceeds L3; 1 with --reps keeps one
// weight in cache, the kernels' compute-bound rate). --reps: calls per copy and pass.
int g_copies = 0, g_reps = 1;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Weight {
  std::vector<int8_t> codes;
  std::vector<uint8_t> index;  // 2:4: the kept codes' 2-bit indices
  std::vector<float> scales;
  QWeights w;
  std::unique_ptr<PreparedQWeights> prep;
};

// A 2:4 packing to force (bench names sp24_idx / sp24_ctl / sp24_slice), or the default (sp24).
void set_sparse24_for(const std::string& variant) {
  using x86::PackedFormat;
  x86::set_avx512_sparse24_strategy(variant == "sp24_ctl"   ? PackedFormat::kSparse24NibbleCtl
                                    : variant == "sp24_idx" ? PackedFormat::kSparse24NibbleIdx
                                    : variant == "sp24_perm" ? PackedFormat::kSparse24PermByte
                                    : variant == "sp24_slice" ? PackedFormat::kSparse24NibbleSlice
                                                            : PackedFormat::kSparse24SlicePerm);  // sp24_sperm*, sp24
  x86::set_avx512_sparse24_ctl_max_bytes(variant == "sp24_idx" ? 0 : -1);
  // sp24_apart: kSparse24SlicePerm with its side data apart (not in the panel stream).
  x86::set_avx512_slice_side_inline(variant != "sp24_apart");
  // sp24_sperm_pfN: kSparse24SlicePerm prefetching N lines of each chunk (sp24_sperm: the default).
  x86::set_avx512_slice_perm_prefetch_lines(variant.rfind("sp24_sperm_pf", 0) == 0 ? std::atoi(variant.c_str() + 13) : -1);
}

const char* layout_name(const PreparedQWeights* p) {
  const auto* P = dynamic_cast<const x86::PackedQWeights*>(p);
  if (!P) return "reference";
  switch (P->format) {
    case x86::PackedFormat::kInt4PairsU: return "int4_pairs_u";
    case x86::PackedFormat::kSparse24NibbleIdx: return "sp24_nibble_idx";
    case x86::PackedFormat::kSparse24NibbleCtl: return "sp24_nibble_ctl";
    case x86::PackedFormat::kSparse24NibbleSlice: return "sp24_nibble_slice";
    case x86::PackedFormat::kSparse24PermByte: return "sp24_perm_byte";
    case x86::PackedFormat::kSparse24SlicePerm: return "sp24_slice_perm";
    default: return "other";
  }
}

// Q4_0-like codes in [-8, 7]; sparse24: each group of 4 keeps its 2 largest |code| (the race's
// one-shot magnitude pruning), stored as a kNM weight (kept codes + 2-bit indices).
void make(Weight& W, int64_t n, int64_t k, std::mt19937& rng, const KernelTable& kt, bool sparse24 = false) {
  W.codes.resize(static_cast<size_t>(n * k));
  std::uniform_int_distribution<int> c(-8, 7);
  for (auto& v : W.codes) v = static_cast<int8_t>(c(rng));
  if (sparse24) {
    for (int64_t g = 0; g < n * k; g += 4) {
      int8_t* q = W.codes.data() + g;
      int a = 0, b = 1;  // the two smallest |code| are zeroed
      if (std::abs(q[b]) < std::abs(q[a])) std::swap(a, b);
      for (int i = 2; i < 4; ++i) {
        if (std::abs(q[i]) < std::abs(q[a])) { b = a; a = i; }
        else if (std::abs(q[i]) < std::abs(q[b])) b = i;
      }
      q[a] = 0;
      q[b] = 0;
    }
    NMPattern pat;
    auto cmp = nm_compress(W.codes.data(), n, k, pat);
    W.codes = std::move(cmp.values);
    W.index = std::move(cmp.indices);
  }
  W.scales.resize(static_cast<size_t>(g_group ? n * k / g_group : n));
  std::uniform_real_distribution<float> s(1e-3f, 2e-3f);
  for (auto& v : W.scales) v = fp16_to_fp32(fp32_to_fp16(s(rng)));
  W.w.kind = sparse24 ? QWeightKind::kNM : QWeightKind::kInt8;
  if (sparse24) {
    W.w.packed = W.index.data();
    W.w.nm_n = 2;
    W.w.nm_m = 4;
  }
  W.w.n = n;
  W.w.k = k;
  W.w.codes = W.codes.data();
  W.w.scales = W.scales.data();
  W.w.per_group = g_group > 0;
  W.w.group_size = g_group;
  if (kt.prepare_qweights) W.prep = kt.prepare_qweights(W.w);
  W.w.prepared = W.prep.get();
  // The packed copy is what the kernel reads: free the source codes' pages from the cache's view.
}

// Bytes a GEMV call streams: the packed panels, the fp16 / float scales, and the row sums where the
// tile reads them (every format but kInt4PairsU with qs8 activations).
double streamed_bytes(const PreparedQWeights* p) {
  const auto* P = dynamic_cast<const x86::PackedQWeights*>(p);
  if (!P) return 0;
  const double side = static_cast<double>(P->panels * P->kg.groups * P->nr);
  const bool rowsum = P->format != x86::PackedFormat::kInt4PairsU;
  if (P->side_inline) return static_cast<double>(P->panels * P->panel_bytes);  // side data in the panels
  return static_cast<double>(P->panels * P->panel_bytes) + side * (P->scales_f16 ? 2 : 4) +
         (rowsum ? side * (P->rowsum8 ? 1 : P->rowsum16 ? 2 : 4) : 0);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// --compare: dense Q4_0 and 2:4 variants of the step's GEMVs, interleaved rounds (see the header).
int compare(const KernelTable& kt, const std::vector<std::pair<int64_t, int64_t>>& sh, const std::vector<std::string>& vars,
            int rounds, int threads, int64_t m) {
  std::mt19937 rng(7);
  const size_t V = vars.size(), S = sh.size();
  std::vector<std::vector<std::vector<Weight>>> ws(V);
  for (auto& w : ws) w.resize(S);
  std::vector<std::vector<std::string>> layout(V, std::vector<std::string>(S));
  std::vector<std::vector<double>> sbytes(V, std::vector<double>(S));
  const bool full_step = S == 8;  // the default shapes: 7 projections x 16 layers + the head
  for (size_t v = 0; v < V; ++v) {
    const bool sp = vars[v] != "dense";
    if (sp && vars[v] != "sp24" && vars[v] != "sp24_idx" && vars[v] != "sp24_ctl" && vars[v] != "sp24_slice" &&
        vars[v] != "sp24_perm" && vars[v].rfind("sp24_sperm", 0) != 0 && vars[v] != "sp24_apart") {
      std::fprintf(stderr, "unknown variant %s (dense, sp24, sp24_idx, sp24_ctl, sp24_slice, sp24_perm, sp24_sperm, sp24_sperm_pfN, sp24_apart)\n", vars[v].c_str());
      return 2;
    }
    set_sparse24_for(vars[v]);
    for (size_t i = 0; i < S; ++i) {
      const bool head = full_step && i + 1 == S;  // the tied head stays dense in the 2:4 checkpoint
      const double bytes = static_cast<double>(sh[i].first * sh[i].second) * 18.0 / 32.0;
      const int copies = g_copies > 0 ? g_copies : std::max(1, static_cast<int>(std::ceil(96e6 / bytes)));
      ws[v][i].resize(static_cast<size_t>(copies));
      for (auto& W : ws[v][i]) make(W, sh[i].first, sh[i].second, rng, kt, sp && !head);
      layout[v][i] = layout_name(ws[v][i][0].prep.get());
      sbytes[v][i] = streamed_bytes(ws[v][i][0].prep.get());
    }
  }
  set_sparse24_for("sp24");
  int64_t kmax = 0, nmax = 0;
  for (auto& s : sh) kmax = std::max(kmax, s.second), nmax = std::max(nmax, s.first);
  std::vector<int8_t> x(static_cast<size_t>(m * kmax));
  std::uniform_int_distribution<int> xc(-127, 127);
  for (auto& e : x) e = static_cast<int8_t>(xc(rng));
  std::vector<float> sx(static_cast<size_t>(m), 0.01f), y(static_cast<size_t>(m * nmax));
  QActs qa;
  qa.codes = x.data();
  qa.scales = sx.data();
  qa.scale_stride = 1;
  // t[v][i]: every call's wall time; step[v][r]: round r's step time (sum over shapes of the
  // round's median call x calls per step).
  std::vector<std::vector<std::vector<double>>> t(V, std::vector<std::vector<double>>(S));
  std::vector<std::vector<double>> step(V);
  for (int r = 0; r < rounds; ++r)
    for (size_t j = 0; j < V; ++j) {
      const size_t v = (j + static_cast<size_t>(r)) % V;
      double st = 0;
      for (size_t i = 0; i < S; ++i) {
        std::vector<double> tr;
        for (auto& W : ws[v][i])
          for (int rep = 0; rep < g_reps; ++rep) {
          const double c = g_cpu_clock ? qf::bench::cpu_seconds() : now();
          kt.qgemm[1][static_cast<int>(W.w.kind)](m, qa, W.w, nullptr, y.data());
          tr.push_back((g_cpu_clock ? qf::bench::cpu_seconds() : now()) - c);
        }
        t[v][i].insert(t[v][i].end(), tr.begin(), tr.end());
        st += (full_step && i + 1 < S ? 16.0 : 1.0) * median(tr);
      }
      step[v].push_back(st);
    }
  std::printf("table %s, %d thread(s), M = %lld, group %lld, %d interleaved rounds, %s time per call, load %s\n\n", kt.name,
              threads, static_cast<long long>(m), static_cast<long long>(g_group), rounds, g_cpu_clock ? "CPU" : "wall", [] {
                static char b[64] = "?";
                if (FILE* f = std::fopen("/proc/loadavg", "r")) {
                  if (!std::fgets(b, sizeof b, f)) b[0] = 0;
                  std::fclose(f);
                  for (char* q = b; *q; ++q)
                    if (*q == '\n') *q = 0;
                }
                return b;
              }());
  std::printf("| N x K |");
  for (auto& v : vars) std::printf(" %s us (layout, GB/s streamed) |", v.c_str());
  std::printf("\n| --- |");
  for (size_t v = 0; v < V; ++v) std::printf(" --- |");
  std::printf("\n");
  for (size_t i = 0; i < S; ++i) {
    std::printf("| %lldx%lld |", static_cast<long long>(sh[i].first), static_cast<long long>(sh[i].second));
    for (size_t v = 0; v < V; ++v) {
      const double md = median(t[v][i]);
      std::printf(" %.1f (%s, %.1f) |", md * 1e6, layout[v][i].c_str(), sbytes[v][i] / md / 1e9);
    }
    std::printf("\n");
  }
  std::printf("\n| variant | step ms (median of rounds) | dense / variant per round: median [min, max] |\n| --- | --- | --- |\n");
  for (size_t v = 0; v < V; ++v) {
    std::vector<double> ratio;
    for (int r = 0; r < rounds; ++r) ratio.push_back(step[0][static_cast<size_t>(r)] / step[v][static_cast<size_t>(r)]);
    std::sort(ratio.begin(), ratio.end());
    std::printf("| %s | %.3f | %.3fx [%.3f, %.3f] |\n", vars[v].c_str(), median(step[v]) * 1e3, median(ratio), ratio.front(),
                ratio.back());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, rounds = 5;
  bool ab = false;
  int64_t m = 1;
  std::string compare_vars;
  std::string shapes = "2048x2048,512x2048,512x2048,2048x2048,8192x2048,8192x2048,2048x8192,128256x2048";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("q4_gemv_bench [--threads 1] [--rounds 5] [--m 1] [--shapes NxK,...] [--huge 0|1] [--gemv 0|1] [--ab 1]\n"
                  "              [--compare dense,sp24,sp24_idx,sp24_ctl,sp24_slice,sp24_perm,sp24_sperm]  (the first variant is the baseline)\n"
                  "              [--group 32] (0: per channel) [--clock cpu|wall] [--copies N] [--reps R] (--compare's)\n");
      return 0;
    }
    if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); return 2; }
    const std::string v = argv[++i];
    if (a == "--threads") threads = std::stoi(v);
    else if (a == "--rounds") rounds = std::stoi(v);
    else if (a == "--m") m = std::stoll(v);
    else if (a == "--shapes") shapes = v;
    else if (a == "--ab") ab = v != "0";
    else if (a == "--compare") compare_vars = v;
    else if (a == "--group") g_group = std::stoll(v);
    else if (a == "--copies") g_copies = std::stoi(v);
    else if (a == "--reps") g_reps = std::stoi(v);
    else if (a == "--clock") g_cpu_clock = v == "cpu";
    else if (a == "--gemv") x86::set_strided_gemv(v != "0");
    else if (a == "--huge") x86::set_packed_huge_pages(v != "0");
    else if (a == "--quarters") x86::set_gemv_quarter_align(v != "0");
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
  if (!compare_vars.empty()) {
    std::vector<std::string> vars;
    std::stringstream vs(compare_vars);
    std::string it;
    while (std::getline(vs, it, ',')) vars.push_back(it);
    return compare(kt, sh, vars, rounds, threads, m);
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
