// cuda_fp8_bench: qforge's Hopper 8-bit GEMMs -- FP8 E4M3 (runtime/kernels/cuda/fp8_gemm.h) and
// W8A8 int8 (cuda_qgemm.h's w8a8_gemm: the wgmma kernel and the mma.sync one) -- against cuBLAS
// FP16 (fp16 in/out, fp32 accumulate, cublasGemmEx default algorithm) in the same process, at
// (N, K) in {(8192, 8192), (28672, 8192)} x M in {16, 128, 512, 1024}. cuBLASLt FP8 (torch._scaled_mm)
// is timed by bench/cuda/torch_fp8_peer.py in the same device call (scripts/device/cuda_fp8.sh).
// Both 8-bit paths write float32 y with the per-row x scale, per-channel w scale and bias
// (--epilogues also times W8A8 writing the next layer's uint8 codes instead).
//
// Method as cuda_gemm_bench (.library METHOD.md): random data, CUDA events around 50 launches,
// median of 7 repeats, weights rotated through enough copies that one pass exceeds 3x the L2.
// The FP8 path includes its epilogue (per-row x scale, per-channel w scale, bias) and writes
// float32 y, as the runtime uses it; cuBLAS FP16 writes fp16 y. cuBLAS and the table's FP8 path
// are each timed first and last in a row (their spread is the noise); ratios use the faster.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda/bench_util.cuh"
#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/fp8_gemm.h"

using namespace qf::cuda;

namespace {

// Codes in [-32, 31] (as bytes).
__global__ void fill_narrow(uint8_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = static_cast<uint8_t>(static_cast<int>(hash32(i, seed) % 64u) - 32);
}
// Random E4M3 codes of magnitude <= 2 (exponent field <= 8), either sign: no NaN, realistic
// scaled-activation values (the tensor cores' speed does not depend on them; NaN would).
__global__ void fill_e4m3(uint8_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t h = hash32(i, seed);
    p[i] = static_cast<uint8_t>((h & 0x80u) | ((h >> 8) % 72u));
  }
}

// One shape's weights, each rotated through enough copies that a pass exceeds 3x the L2: fp16
// (cuBLAS), E4M3 (FP8), int8 in the W8A8 prepared layout ([N, kpad = K] codes, per-channel
// scales, row sums; random bits), and the per-channel weight scale and bias the epilogues read.
struct ShapeWeights {
  int64_t n, k;
  std::vector<__half*> w16;
  std::vector<uint8_t*> w8;
  std::vector<std::unique_ptr<W8Device>> wi8;
  float* sw = nullptr;
  float* bias = nullptr;
  ShapeWeights(int64_t n_, int64_t k_, int64_t l2) : n(n_), k(k_) {
    const int c16 = copies_for(n * k * 2, l2), c8 = copies_for(n * k, l2);
    for (int i = 0; i < c16; ++i) {
      w16.push_back(static_cast<__half*>(device_alloc(n * k * 2)));
      fill_half<<<1024, 256>>>(w16.back(), n * k, 10 + i, 0.05f);
    }
    for (int i = 0; i < c8; ++i) {
      w8.push_back(static_cast<uint8_t*>(device_alloc(n * k)));
      fill_e4m3<<<1024, 256>>>(w8.back(), n * k, 300 + i);
    }
    for (int i = 0; i < c8; ++i) {
      auto d = std::make_unique<W8Device>();
      d->n = n;
      d->k = d->kpad = k;
      d->groups = 1;
      d->codes = device_alloc(n * k);
      fill_bits<<<1024, 256>>>(static_cast<uint32_t*>(d->codes), n * k / 4, 400 + i);
      d->scales = device_alloc(n * 4);
      fill_float<<<256, 256>>>(static_cast<float*>(d->scales), n, 500 + i, 0.001f);
      d->rowsums = device_alloc(n * 4);
      fill_bits<<<256, 256>>>(static_cast<uint32_t*>(d->rowsums), n, 600 + i);
      wi8.push_back(std::move(d));
    }
    sw = static_cast<float*>(device_alloc(n * 4));
    bias = static_cast<float*>(device_alloc(n * 4));
    fill_float<<<256, 256>>>(sw, n, 7, 0.01f);
    fill_float<<<256, 256>>>(bias, n, 8, 0.1f);
    QF_CUDA_CHECK(cudaGetLastError());
  }
  ~ShapeWeights() {
    for (auto* p : w16) device_free(p);
    for (auto* p : w8) device_free(p);
    device_free(sw);
    device_free(bias);
  }
  ShapeWeights(const ShapeWeights&) = delete;
  ShapeWeights& operator=(const ShapeWeights&) = delete;
};

// One M's operands: fp16 x / y (cuBLAS), E4M3 x (FP8), int8 x (W8A8), per-row x scales, float y,
// and uint8 codes of the next layer's input (W8A8's quantizing epilogue, --epilogues).
struct Activations {
  __half *x, *y;
  uint8_t *x8, *q8;
  int8_t* xi8;
  float *sx, *y32;
  Activations(int64_t m, int64_t n, int64_t k) {
    x = static_cast<__half*>(device_alloc(m * k * 2));
    y = static_cast<__half*>(device_alloc(m * n * 2));
    fill_half<<<1024, 256>>>(x, m * k, 5, 1.0f);
    x8 = static_cast<uint8_t*>(device_alloc(m * k));
    fill_e4m3<<<1024, 256>>>(x8, m * k, 6);
    xi8 = static_cast<int8_t*>(device_alloc(m * k));
    fill_bits<<<1024, 256>>>(reinterpret_cast<uint32_t*>(xi8), m * k / 4, 7);
    sx = static_cast<float*>(device_alloc(m * 4));
    fill_float<<<64, 256>>>(sx, m, 9, 0.02f);
    y32 = static_cast<float*>(device_alloc(m * n * 4));
    q8 = static_cast<uint8_t*>(device_alloc(m * n));
  }
  ~Activations() {
    device_free(x);
    device_free(y);
    device_free(x8);
    device_free(xi8);
    device_free(sx);
    device_free(y32);
    device_free(q8);
  }
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;
};

// cuBLAS FP16 (fp16 in / out, fp32 accumulate, default algorithm) on the shape's rotated weights.
double time_cublas(cublasHandle_t h, const ShapeWeights& w, int64_t m, const __half* x, __half* y) {
  const float one = 1.0f, zero = 0.0f;
  return time_us([&](int i) {
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, w.n, m, w.k, &one, w.w16[i], CUDA_R_16F, w.k, x, CUDA_R_16F,
                              w.k, &zero, y, CUDA_R_16F, w.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }, static_cast<int>(w.w16.size()));
}

// The FP8 wgmma GEMM as the runtime calls it (per-row x scale, per-channel w scale, bias, float
// y) on the shape's rotated E4M3 weights; exits if the kernel refuses the operands.
double time_fp8(const ShapeWeights& w, int64_t m, const uint8_t* x8, const float* sx, float* y32, Fp8Accum acc,
                Fp8Tiles tiles) {
  return time_us([&](int i) {
    Fp8Gemm g;
    g.m = m;
    g.n = w.n;
    g.k = w.k;
    g.x = x8;
    g.sx = sx;
    g.sx_stride = 1;
    g.w = w.w8[i];
    g.sw = w.sw;
    g.bias = w.bias;
    g.y = y32;
    if (!fp8_gemm_wgmma(g, acc, tiles)) {
      std::fprintf(stderr, "fp8 wgmma refused the operands\n");
      std::exit(1);
    }
  }, static_cast<int>(w.w8.size()));
}

// The W8A8 GEMM as the runtime calls it (int8 activation codes with per-row scales -- unsigned
// with zero point 128, or signed -- and the given epilogue) on the shape's rotated int8 weights.
double time_w8a8(const ShapeWeights& w, int64_t m, const Activations& act, bool is_unsigned, const W8Epilogue& e,
                 W8Config cfg = {}) {
  W8Acts a;
  a.codes = act.xi8;
  a.ldx = w.k;
  a.is_unsigned = is_unsigned;
  a.zero_point = 128;
  a.scales = act.sx;
  a.per_row = true;
  return time_us([&](int i) { w8a8_gemm(*w.wi8[i], m, a, e, nullptr, cfg); }, static_cast<int>(w.wi8.size()));
}

// --levers (branch w8mc; docs/RESULTS.md, "Multicast, deeper rings and persistent pairs"): only
// the variants that lever asks about, at M = 512 and 1024 on both shapes, in two rounds (the
// second in reverse order, so drift of the power-capped clock shows as the spread between them),
// cuBLAS FP16 first and last. One line per variant: us per round, the faster, cuBLAS FP16 / it.
void run_levers(cublasHandle_t h, int64_t l2, bool quick) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{8192, 8192}, {28672, 8192}};
  std::vector<int64_t> ms = {512, 1024};
  if (quick) shapes = {{28672, 8192}}, ms = {1024};
  if (g_profile) shapes = {{28672, 8192}}, ms = {1024};
  std::printf("\n| N | K | M | variant | us round 1 | us round 2 | best us | x cuBLAS FP16 |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    const ShapeWeights sw8(n, k, l2);
    for (int64_t m : ms) {
      const Activations act(m, n, k);
      auto cublas = [&] { return time_cublas(h, sw8, m, act.x, act.y); };
      auto fp8 = [&](Fp8Accum acc, Fp8Tiles tiles) { return time_fp8(sw8, m, act.x8, act.sx, act.y32, acc, tiles); };
      W8Epilogue float_y;
      float_y.bias = sw8.bias;
      float_y.y = act.y32;
      auto w8a8 = [&](W8Config cfg) { return time_w8a8(sw8, m, act, false, float_y, cfg); };
      struct Lever {
        const char* name;
        std::function<double()> run;
      };
      const std::vector<Lever> levers = {
          {"W8A8 pick", [&] { return w8a8({}); }},
          {"W8A8 pp 64x256", [&] { return w8a8({2, 1, 256, 1, 1, 0, 1}); }},
          {"W8A8 pp 64x256 mc", [&] { return w8a8({2, 1, 256, 1, 2, 0, 1}); }},
          {"W8A8 pp 64x256 mc cluster-scope release", [&] { return w8a8({2, 1, 256, 1, 2, 0, 1, 1}); }},
          {"W8A8 pp 64x256 bk64", [&] { return w8a8({2, 1, 256, 1, 1, 64, 1}); }},
          {"W8A8 pp 64x256 mc bk64", [&] { return w8a8({2, 1, 256, 1, 2, 64, 1}); }},
          {"W8A8 128x256 p", [&] { return w8a8({2, 2, 256, 1}); }},
          {"W8A8 128x256 mc p (pairs)", [&] { return w8a8({2, 2, 256, 1, 2}); }},
          {"W8A8 128x256 mc 1", [&] { return w8a8({2, 2, 256, -1, 2}); }},
          {"W8A8 128x256 mc 1 cluster-scope release", [&] { return w8a8({2, 2, 256, -1, 2, 0, 0, 1}); }},
          {"FP8 table (promoted pick)", [&] { return fp8(Fp8Accum::kPromoted, {}); }},
          {"FP8 promoted 128x128 p", [&] { return fp8(Fp8Accum::kPromoted, {2, 128, 1, 1}); }},
          {"FP8 promoted 128x192 p", [&] { return fp8(Fp8Accum::kPromoted, {2, 192, 1, 1}); }},
          {"FP8 promoted 128x192 mc p (pairs)", [&] { return fp8(Fp8Accum::kPromoted, {2, 192, 2, 1}); }},
          {"FP8 promoted 128x192 mc 1", [&] { return fp8(Fp8Accum::kPromoted, {2, 192, 2, -1}); }},
          {"FP8 fast pick", [&] { return fp8(Fp8Accum::kFast, {}); }},
          {"FP8 fast 128x256 p", [&] { return fp8(Fp8Accum::kFast, {2, 256, 1, 1}); }},
          {"FP8 fast pp 64x256 mc", [&] { return fp8(Fp8Accum::kFast, {1, 256, 2, 1, 0, 1}); }},
          {"FP8 fast pp 64x256 mc bk64", [&] { return fp8(Fp8Accum::kFast, {1, 256, 2, 1, 64, 1}); }},
          {"FP8 fast pp 64x256 bk64", [&] { return fp8(Fp8Accum::kFast, {1, 256, 1, 1, 64, 1}); }},
          {"FP8 fast 128x256 mc p (pairs)", [&] { return fp8(Fp8Accum::kFast, {2, 256, 2, 1}); }},
      };
      std::vector<double> r1(levers.size()), r2(levers.size());
      const double c_first = cublas();
      for (size_t i = 0; i < levers.size(); ++i) r1[i] = levers[i].run();
      for (size_t i = levers.size(); i-- > 0;) r2[i] = g_profile ? r1[i] : levers[i].run();  // ncu: once each
      const double c_last = cublas();
      const double c16best = std::min(c_first, c_last);
      std::printf("| %ld | %ld | %ld | cuBLAS FP16 (first / last) | %.1f | %.1f | %.1f | 1.00 |\n", long(n), long(k), long(m),
                  c_first, c_last, c16best);
      for (size_t i = 0; i < levers.size(); ++i) {
        const double b = std::min(r1[i], r2[i]);
        std::printf("| %ld | %ld | %ld | %s | %.1f | %.1f | %.1f | %.2f |\n", long(n), long(k), long(m), levers[i].name, r1[i],
                    r2[i], b, c16best / b);
      }
      std::fflush(stdout);
    }
  }
}

// --epilogues: the W8A8 launcher's pick at M = 512 and 1024 on both shapes with each of its two
// outputs -- float32 y (the runtime's float hand-off; what every other table here times) and the
// fused epilogue issue 21 names, "quantizing the next input" (uint8 codes, 1 byte per output
// against cuBLAS FP16's 2 and float y's 4). Same scales and bias in both. Three rounds, the order
// reversed each round (the board is power-capped: the clock drifts), cuBLAS FP16 first and last
// in each; the best of the rounds.
void run_epilogues(cublasHandle_t h, int64_t l2) {
  // --profile (for ncu): 28672 x 8192, M = 1024, one round, each kernel launched once.
  std::vector<std::pair<int64_t, int64_t>> shapes = {{8192, 8192}, {28672, 8192}};
  std::vector<int64_t> ms = {512, 1024};
  if (g_profile) shapes = {{28672, 8192}}, ms = {1024};
  const int n_rounds = g_profile ? 1 : 3;
  std::printf("\n| N | K | M | cuBLAS FP16 us (rounds) | W8A8 float y us (rounds) | x | W8A8 uint8 next-input codes us (rounds) | x |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    const ShapeWeights sw8(n, k, l2);
    for (int64_t m : ms) {
      const Activations act(m, n, k);
      W8Epilogue float_y, codes;
      float_y.bias = codes.bias = sw8.bias;
      float_y.y = act.y32;
      codes.q_out = act.q8;  // uint8 with zero point 128, as the runtime quantizes activations
      codes.ldq = n;
      codes.q_unsigned = true;
      codes.q_scale = 0.05f;
      codes.q_zero_point = 128;
      codes.q_min = 0;
      codes.q_max = 255;
      auto w8a8 = [&](bool quantize) { return time_w8a8(sw8, m, act, false, quantize ? codes : float_y); };
      const std::function<double()> runs[3] = {[&] { return time_cublas(h, sw8, m, act.x, act.y); },
                                               [&] { return w8a8(false); }, [&] { return w8a8(true); }};
      std::vector<double> t[3];
      for (int round = 0; round < n_rounds; ++round) {
        const int order[2] = {round % 2 ? 2 : 1, round % 2 ? 1 : 2};
        t[0].push_back(runs[0]());
        for (int j : order) t[j].push_back(runs[j]());
        t[0].push_back(runs[0]());
      }
      auto rounds = [](const std::vector<double>& v) {
        std::string r;
        char b[32];
        for (double x : v) std::snprintf(b, sizeof b, "%s%.1f", r.empty() ? "" : " / ", x), r += b;
        return r;
      };
      double best[3];
      for (int j = 0; j < 3; ++j) best[j] = *std::min_element(t[j].begin(), t[j].end());
      std::printf("| %ld | %ld | %ld | %s | %s | %.2f | %s | %.2f |\n", long(n), long(k), long(m), rounds(t[0]).c_str(),
                  rounds(t[1]).c_str(), best[0] / best[1], rounds(t[2]).c_str(), best[0] / best[2]);
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> ms = {16, 128, 512, 1024};
  std::vector<std::pair<int64_t, int64_t>> shapes = {{8192, 8192}, {28672, 8192}};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: cuda_fp8_bench [--quick | --profile | --levers [--quick] | --epilogues]\n"
          "Times cuBLAS FP16 and qforge's FP8 E4M3 wgmma GEMM (promoted accumulation as the cuda table\n"
          "runs it, the fast accumulation, each tile shape, one CTA per tile and persistent) and W8A8\n"
          "int8 GEMM (the launcher's pick, the mma.sync kernel, wgmma tile shapes) for (N, K) in\n"
          "{(8192,8192), (28672,8192)} x M in {16, 128, 512, 1024}; prints two markdown tables (FP8 as it\n"
          "goes, W8A8 at the end). --quick: 8192x8192, M = 1024 only. --profile: 28672x8192, M = 1024,\n"
          "each kernel run once untimed (for ncu). --levers: only the multicast / deep-ring / persistent-pair\n"
          "variants (branch w8mc) at M = 512, 1024, two rounds (with --quick: 28672x8192, M = 1024).\n"
          "--epilogues: the W8A8 pick with float y and with uint8 next-input codes, M = 512, 1024, three rounds\n"
          "(with --profile: 28672x8192, M = 1024, once each).\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--profile")) {
      g_profile = true;
      shapes = {{28672, 8192}};
      ms = {1024};
    }
    if (!std::strcmp(argv[i], "--quick")) {
      shapes = {{8192, 8192}};
      ms = {1024};
    }
  }
  bool levers = false, quick = false, epilogues = false;
  for (int i = 1; i < argc; ++i) {
    levers = levers || !std::strcmp(argv[i], "--levers");
    epilogues = epilogues || !std::strcmp(argv[i], "--epilogues");
    quick = quick || !std::strcmp(argv[i], "--quick");
  }
  std::string why;
  if (!device_available(&why)) {
    std::printf("no CUDA GPU (%s): nothing to time\n", why.c_str());
    return 0;
  }
  const char* no_tc = "";
  if (!fp8_wgmma_available(&no_tc)) {
    std::printf("the FP8 wgmma kernel does not run here (%s): nothing to time\n", no_tc);
    return 0;
  }
  const int64_t l2 = describe_device();
  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));
  if (epilogues) {
    run_epilogues(h, l2);
    cublasDestroy(h);
    return 0;
  }
  if (levers) {
    run_levers(h, l2, quick);
    cublasDestroy(h);
    return 0;
  }

  std::vector<std::string> w8rows;
  std::printf("\n| N | K | M | cuBLAS FP16 us, first / last | TFLOP/s | FP8 (table) us, first / last | TFLOP/s | x FP16 | FP8 fast-acc us | "
              "TFLOP/s | x FP16 | promoted tiles (one CTA per tile) 64x64 / 64x128 / 128x64 / 128x128 / 128x192 / "
              "128x128 mc / 128x192 mc us | fast tiles (one CTA per tile) 128x128 / 128x256 / 128x256 mc us |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    const ShapeWeights sw8(n, k, l2);
    const int c8 = static_cast<int>(sw8.w8.size());
    const auto& wi8 = sw8.wi8;
    float* const bias = sw8.bias;
    for (int64_t m : ms) {
      const Activations act(m, n, k);
      __half* const x = act.x;
      __half* const y = act.y;
      uint8_t* const x8 = act.x8;
      int8_t* const xi8 = act.xi8;
      float* const sx = act.sx;
      float* const y32 = act.y32;
      const double t16a = time_cublas(h, sw8, m, x, y);
      auto fp8 = [&](Fp8Accum acc, Fp8Tiles tiles) { return time_fp8(sw8, m, x8, sx, y32, acc, tiles); };
      const double t8 = fp8(Fp8Accum::kPromoted, {});
      const double t8f = fp8(Fp8Accum::kFast, {});
      double tt[7], tf[3];
      // Each tile shape one CTA per tile (persistent = -1), as before the persistent walk.
      const Fp8Tiles tiles[7] = {{1, 64, 1, -1},  {1, 128, 1, -1}, {2, 64, 1, -1}, {2, 128, 1, -1},
                                 {2, 192, 1, -1}, {2, 128, 2},     {2, 192, 2}};
      for (int i = 0; i < 7; ++i) tt[i] = fp8(Fp8Accum::kPromoted, tiles[i]);
      tf[0] = fp8(Fp8Accum::kFast, {2, 128, 1, -1});
      tf[1] = fp8(Fp8Accum::kFast, {2, 256, 1, -1});
      tf[2] = fp8(Fp8Accum::kFast, {2, 256, 2});
      // Persistent CTAs (one per SM walking the tiles): the table's pick, 128 x 192 promoted,
      // 128 x 256 fast.
      // Then the ping-pong schedule (wgmma_pingpong.cuh; pp): fast 64x256 and 128x128, promoted
      // 64x192 and 64x128, and the fast pick with ping-pong turned off.
      const double tp[11] = {fp8(Fp8Accum::kPromoted, {0, 0, 1, -1}), fp8(Fp8Accum::kPromoted, {2, 192, 1, 1}),
                             fp8(Fp8Accum::kFast, {2, 256, 1, 1}),      fp8(Fp8Accum::kFast, {2, 128, 1, 1}),
                             fp8(Fp8Accum::kFast, {2, 256, 1, 1, 64}),  fp8(Fp8Accum::kFast, {1, 256, 1, 1, 0, 1}),
                             fp8(Fp8Accum::kFast, {2, 128, 1, 1, 0, 1}), fp8(Fp8Accum::kPromoted, {1, 192, 1, 1, 0, 1}),
                             fp8(Fp8Accum::kPromoted, {1, 128, 1, 1, 0, 1}), fp8(Fp8Accum::kFast, {0, 0, 1, 0, 0, -1}),
                             fp8(Fp8Accum::kFast, {1, 256, 2, 1, 0, 1})};
      // W8A8: int8 codes (random bits) for x, the same float epilogue as the FP8 path.
      W8Epilogue float_y;
      float_y.bias = bias;
      float_y.y = y32;
      auto w8a8 = [&](bool is_unsigned, W8Config cfg) { return time_w8a8(sw8, m, act, is_unsigned, float_y, cfg); };
      const double tw_pick = w8a8(false, {}), tw_mma = w8a8(false, {1});
      // The wgmma kernel's tile shapes (BM x BN, p = persistent, 1 = one CTA per tile, mc = CTA
      // pairs multicasting w), u8 activations with a zero point, and codes of small magnitude.
      struct Variant {
        const char* name;
        bool u8;
        W8Config cfg;
      };
      const Variant variants[] = {{"128x256 1", false, {2, 2, 256, -1}}, {"128x256 p", false, {2, 2, 256, 1}},
                                  {"128x128 1", false, {2, 2, 128, -1}}, {"128x128 p", false, {2, 2, 128, 1}},
                                  {"128x64 p", false, {2, 2, 64, 1}},    {"64x128 p", false, {2, 1, 128, 1}},
                                  {"64x64 p", false, {2, 1, 64, 1}},     {"128x256 mc", false, {2, 2, 256, -1, 2}},
                                  {"128x256 p bk64", false, {2, 2, 256, 1, 1, 64}},
                                  {"128x128 p bk64", false, {2, 2, 128, 1, 1, 64}},
                                  {"u8 pick", true, {}},
                                  {"pp 64x256", false, {2, 1, 256, 1, 1, 0, 1}},
                                  {"pp 128x128", false, {2, 2, 128, 1, 1, 0, 1}},
                                  {"pp 64x256 mc", false, {2, 1, 256, 1, 2, 0, 1}},
                                  {"pick no-pp", false, {2, 0, 0, 0, 1, 0, -1}}};
      std::string cells;
      for (const Variant& v : variants) {
        char b[64];
        std::snprintf(b, sizeof b, "%s%s %.1f", cells.empty() ? "" : ", ", v.name, w8a8(v.u8, v.cfg));
        cells += b;
      }
      {  // The same GEMM on codes in [-32, 31] (closer to trained int8 tensors than random bits;
         // the tensor cores' power, and so the clock, depends on the bits they toggle).
        fill_narrow<<<1024, 256>>>(reinterpret_cast<uint8_t*>(xi8), m * k, 8);
        for (int i = 0; i < c8; ++i) fill_narrow<<<1024, 256>>>(static_cast<uint8_t*>(wi8[i]->codes), n * k, 700 + i);
        char b[64];
        std::snprintf(b, sizeof b, ", pick on codes in [-32, 31] %.1f", w8a8(false, {}));
        cells += b;
        for (int i = 0; i < c8; ++i) fill_bits<<<1024, 256>>>(static_cast<uint32_t*>(wi8[i]->codes), n * k / 4, 400 + i);
        fill_bits<<<1024, 256>>>(reinterpret_cast<uint32_t*>(xi8), m * k / 4, 7);
      }
      const double tw_pick2 = w8a8(false, {});
      // The table's path again, last: the first timing after cuBLAS has run slower than the same
      // tiles forced later in the sweep; both are printed, the ratio uses the faster.
      const double t8b = fp8(Fp8Accum::kPromoted, {});
      const double t16b = time_cublas(h, sw8, m, x, y);
      const double flop = 2.0 * m * n * k;
      const double t8m = std::min(t8, t8b), t16 = std::min(t16a, t16b);
      {
        const double twm = std::min(tw_pick, tw_pick2);
        char buf[1024];
        std::snprintf(buf, sizeof buf,
                      "| %ld | %ld | %ld | %.1f | %.0f | %.1f / %.1f | %.0f | **%.2f** | %.1f | %.0f | %.2f | %s | %.1f / %.1f / "
                      "%.1f / %.1f / %.1f / %.1f / %.1f / %.1f / %.1f / %.1f / %.1f |",
                      long(n), long(k), long(m), t16, flop / t16 / 1e6, tw_pick, tw_pick2, flop / twm / 1e6, t16 / twm,
                      tw_mma, flop / tw_mma / 1e6, t16 / tw_mma, cells.c_str(), tp[0], tp[1], tp[2], tp[3], tp[4], tp[5],
                      tp[6], tp[7], tp[8], tp[9], tp[10]);
        w8rows.push_back(buf);
      }
      std::printf("| %ld | %ld | %ld | %.1f / %.1f | %.0f | %.1f / %.1f | %.0f | %.2f | %.1f | %.0f | %.2f | %.1f / %.1f / %.1f / %.1f / "
                  "%.1f / %.1f / %.1f | %.1f / %.1f / %.1f |\n",
                  long(n), long(k), long(m), t16a, t16b, flop / t16 / 1e6, t8, t8b, flop / t8m / 1e6, t16 / t8m, t8f,
                  flop / t8f / 1e6, t16 / t8f, tt[0], tt[1], tt[2], tt[3], tt[4], tt[5], tt[6], tf[0], tf[1], tf[2]);
      std::fflush(stdout);
    }
  }
  std::printf(
      "\nW8A8 (int8 x int8 -> int32, float epilogue) and FP8 persistent or not; cuBLAS FP16 = the faster of its two timings "
      "above; x = cuBLAS FP16 time / time. W8A8 variants: wgmma tiles BM x BN, p = persistent, 1 = one CTA per tile, "
      "mc = CTA pairs multicasting w, bk64 = 64-code stages; u8 = unsigned activations with a zero point; pp = the ping-pong "
      "schedule (two consumer warpgroups, each its own tile); no-pp = the pick with ping-pong turned off.\n"
      "| N | K | M | cuBLAS FP16 us | TFLOP/s | W8A8 (w8a8_gemm pick) us, first / last | TOPS | x FP16 | W8A8 mma.sync us | "
      "TOPS | x FP16 | W8A8 variants us | FP8: pick one CTA per tile / persistent 128x192 promoted / 128x256 fast / "
      "128x128 fast / 128x256 fast 64-code stages / pp 64x256 fast / pp 128x128 fast / pp 64x192 promoted / pp 64x128 "
      "promoted / fast pick without pp / pp 64x256 fast mc us |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : w8rows) std::printf("%s\n", r.c_str());
  cublasDestroy(h);
  return 0;
}
