// What limits the AVX-512 int8 GEMM tile on this CPU: the k-loop of the runtime's kInt8 tile
// (6 rows x 4 panels of 16 outputs, one 64-byte weight load per panel and k-block of 4, one
// broadcast per row, 24 vpdpbusd; runtime/kernels/x86/qgemm_avx512vnni.cpp) on one thread, as
// a share of the same process's vpdpbusd ceiling, with and without software prefetch:
//   l1: each panel stream kTilePrefetchKBlocks (6) k-blocks ahead into L1 (what the runtime does);
//   l2: on top, the next tile's weights prefetched (T1) a slice during each block of rows, one
//       line every second k-block: tried for weights that come from DRAM, measured no gain, not
//       in the runtime (docs/RESULTS.md, "The int8 GEMM on Zen 5").
// Rows in the inner loop, as the runtime does: a tile's weights (4 x K x 16 B) are re-read from
// L2 by every block of 6 rows, and come from DRAM or L3 for the first one.
//
//   build/bench/int8_tile_probe [--m 128] [--k 4096] [--n 1024,4096] [--rounds 5]
//
// --n 1024 (4 MiB of weights) stays in this VM's L3 between calls; --n 4096 (16 MiB) does not.
// Prints the median over interleaved rounds of GOP/s (2 * M * N * K / s) and % of the ceiling.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kMR = 6, kNP = 4, kPF = 6;

struct Operands {
  int64_t m = 128, k = 4096, panels = 64;
  std::vector<uint8_t> x, w;  // x [m][k] u8; w [panels][k / 4][16][4] s8 (the runtime's kInt8 panels)
  std::vector<float> y;       // [m][panels * 16]
};

__attribute__((target("avx512f,avx512vnni"))) inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// One tile of rows [m0, m0 + 6) and panels [p0, p0 + 4); prefetches `l2_lines` lines from `l2`
// into L2, one every second k-block, as the runtime's tile does.
template <bool L1>
__attribute__((target("avx512f,avx512vnni"), noinline)) void tile(const Operands& o, int64_t m0, int64_t p0,
                                                                  const char* l2, int64_t l2_lines) {
  __m512i acc[kMR][kNP];
  for (auto& r : acc)
    for (auto& v : r) v = _mm512_setzero_si512();
  const int32_t* xq[kMR];
  for (int r = 0; r < kMR; ++r) xq[r] = reinterpret_cast<const int32_t*>(o.x.data() + (m0 + r) * o.k);
  const __m512i* wq[kNP];
  for (int p = 0; p < kNP; ++p) wq[p] = reinterpret_cast<const __m512i*>(o.w.data() + (p0 + p) * o.k * 16);
  for (int64_t b = 0; b < o.k / 4; ++b) {
    __m512i wv[kNP];
#pragma GCC unroll 4
    for (int p = 0; p < kNP; ++p) wv[p] = _mm512_loadu_si512(wq[p] + b);
    if constexpr (L1) {
#pragma GCC unroll 4
      for (int p = 0; p < kNP; ++p) _mm_prefetch(reinterpret_cast<const char*>(wq[p] + b + kPF), _MM_HINT_T0);
    }
    if ((b & 1) == 0 && (b >> 1) < l2_lines) _mm_prefetch(l2 + (b >> 1) * 64, _MM_HINT_T1);
#pragma GCC unroll 6
    for (int r = 0; r < kMR; ++r) {
      const __m512i xv = _mm512_set1_epi32(xq[r][b]);
#pragma GCC unroll 4
      for (int p = 0; p < kNP; ++p) acc[r][p] = dpbusd(acc[r][p], xv, wv[p]);
    }
  }
  const int64_t n = o.panels * 16;
  for (int r = 0; r < kMR; ++r)
    for (int p = 0; p < kNP; ++p)
      _mm512_storeu_ps(const_cast<float*>(o.y.data()) + (m0 + r) * n + (p0 + p) * 16, _mm512_cvtepi32_ps(acc[r][p]));
}

// Every tile, rows in the inner loop; returns GOP/s.
template <bool L1>
double gemm(const Operands& o, bool l2_next) {
  const int64_t blocks = o.m / kMR, tile_bytes = kNP * o.k * 16;
  const int64_t lines = tile_bytes / 64, per_block = (lines + blocks - 1) / blocks;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t p0 = 0; p0 + kNP <= o.panels; p0 += kNP) {
    const bool next = l2_next && p0 + 2 * kNP <= o.panels;
    const char* nw = reinterpret_cast<const char*>(o.w.data()) + (p0 + kNP) * o.k * 16;
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t l0 = std::min(lines, i * per_block), n = next ? std::min(lines, l0 + per_block) - l0 : 0;
      tile<L1>(o, i * kMR, p0, nw + l0 * 64, n);
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * static_cast<double>(blocks * kMR) * static_cast<double>(o.panels / kNP * kNP * 16) *
         static_cast<double>(o.k) / s / 1e9;
}

// 24 independent vpdpbusd chains, no loads: the ceiling the tile is read against (GOP/s).
__attribute__((target("avx512f,avx512vnni"), noinline)) double peak() {
  __m512i a[24];
  for (int i = 0; i < 24; ++i) a[i] = _mm512_set1_epi32(i);
  const __m512i x = _mm512_set1_epi32(3), y = _mm512_set1_epi32(5);
  const int64_t iters = 20000000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int j = 0; j < 24; ++j) a[j] = dpbusd(a[j], x, y);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int32_t sink = 0;
  for (int i = 0; i < 24; ++i) sink += _mm512_reduce_add_epi32(a[i]);
  if (sink == 42) std::puts("");
  return 24.0 * static_cast<double>(iters) * 128.0 / s / 1e9;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  for (size_t i = 0; i < s.size();) {
    const size_t j = s.find(',', i);
    v.push_back(std::stoll(s.substr(i, j == std::string::npos ? std::string::npos : j - i)));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t m = 128, k = 4096;
  std::vector<int64_t> ns = {1024, 4096};
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--m" && has) {
      m = std::stoll(argv[++i]);
    } else if (a == "--k" && has) {
      k = std::stoll(argv[++i]);
    } else if (a == "--n" && has) {
      ns = parse_list(argv[++i]);
    } else if (a == "--rounds" && has) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::printf("usage: %s [--m 128] [--k 4096] [--n 1024,4096] [--rounds 5]\n%s", argv[0],
                  "  the runtime's 6 x 4 int8 tile k-loop, 1 thread, without / with its L1 and next-tile L2\n"
                  "  prefetches, as GOP/s and % of the vpdpbusd ceiling (medians of interleaved rounds)\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!__builtin_cpu_supports("avx512vnni")) {
    std::printf("this CPU has no AVX-512 VNNI\n");
    return 0;
  }
  if (m < kMR || k % 64 != 0) {
    std::printf("--m must be >= %d and --k a multiple of 64\n", kMR);
    return 2;
  }
  std::mt19937 rng(1);
  std::printf("| N x K | M | variant | GOP/s | %% of ceiling |\n| --- | --- | --- | --- | --- |\n");
  for (const int64_t n : ns) {
    Operands o;
    o.m = m, o.k = k, o.panels = n / 16;
    o.x.resize(static_cast<size_t>(m * k));
    o.w.resize(static_cast<size_t>(o.panels * k * 16));
    o.y.resize(static_cast<size_t>(m * n));
    for (auto& v : o.x) v = static_cast<uint8_t>(rng());
    for (auto& v : o.w) v = static_cast<uint8_t>(rng());
    const char* names[] = {"ceiling", "no prefetch", "l1", "l1 + l2 next tile"};
    std::vector<std::vector<double>> r(4);
    for (int round = 0; round < rounds; ++round) {
      r[0].push_back(peak());
      r[1].push_back(gemm<false>(o, false));
      r[2].push_back(gemm<true>(o, false));
      r[3].push_back(gemm<true>(o, true));
    }
    for (auto& v : r) std::sort(v.begin(), v.end());
    const double ceiling = r[0][r[0].size() / 2];
    for (int v = 0; v < 4; ++v) {
      const double med = r[v][r[v].size() / 2];
      std::printf("| %lldx%lld | %lld | %s | %.1f | %.1f |\n", static_cast<long long>(n), static_cast<long long>(k),
                  static_cast<long long>(m), names[v], med, 100.0 * med / ceiling);
    }
  }
  return 0;
}
