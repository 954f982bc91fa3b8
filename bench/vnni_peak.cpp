// The machine's int8 multiply-add ceiling: GOP/s (2 ops per multiply-add) of back-to-back
// AVX-512 VNNI vpdpbusd with 24 independent accumulators (no loads, no dependency stalls), on 1
// and on T threads. The GEMM table's GOP/s are only meaningful next to this number: a kernel
// cannot beat it, so a ratio target above ceiling / peer is out of reach on this CPU.
//
//   build/bench/vnni_peak [--threads T] [--seconds S]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// One call: iters x 24 vpdpbusd of 64 u8 x s8 products each, into 24 independent accumulators
// (zmm8..zmm31). Written as one asm loop so that no compiler can spill the accumulators.
__attribute__((target("avx512f,avx512vnni"))) int64_t spin(int64_t iters) {
#define QF_DP(r) "vpdpbusd %%zmm1, %%zmm0, %%zmm" #r "\n\t"
  asm volatile(
      "vpternlogd $0xff, %%zmm0, %%zmm0, %%zmm0\n\t"
      "vpternlogd $0xff, %%zmm1, %%zmm1, %%zmm1\n\t"
      "1:\n\t" QF_DP(8) QF_DP(9) QF_DP(10) QF_DP(11) QF_DP(12) QF_DP(13) QF_DP(14) QF_DP(15) QF_DP(16) QF_DP(17)
          QF_DP(18) QF_DP(19) QF_DP(20) QF_DP(21) QF_DP(22) QF_DP(23) QF_DP(24) QF_DP(25) QF_DP(26) QF_DP(27)
              QF_DP(28) QF_DP(29) QF_DP(30) QF_DP(31) "dec %0\n\t"
      "jnz 1b\n\t"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
        "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
        "xmm30", "xmm31", "cc");
#undef QF_DP
  return iters;
}

double gops(int threads, double seconds) {
  const int64_t iters = 1 << 20;
  std::vector<double> rate(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      const auto t0 = std::chrono::steady_clock::now();
      int64_t calls = 0;
      volatile int64_t sink = 0;
      double el = 0;
      do {
        sink = sink + spin(iters);
        ++calls;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (el < seconds);
      rate[static_cast<size_t>(t)] = static_cast<double>(calls) * static_cast<double>(iters) * 24 * 64 * 2 / el / 1e9;
    });
  for (auto& t : ts) t.join();
  double sum = 0;
  for (double r : rate) sum += r;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("vnni_peak [--threads T] [--seconds S]: GOP/s of back-to-back vpdpbusd (the int8 ceiling)\n");
      return 0;
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "vnni_peak: unknown argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni")) {
    std::fprintf(stderr, "vnni_peak: this CPU has no AVX-512 VNNI\n");
    return 1;
  }
  std::printf("vpdpbusd zmm ceiling: 1 thread %.0f GOP/s, %d threads %.0f GOP/s\n", gops(1, seconds), threads,
              gops(threads, seconds));
  return 0;
}
