// cuda_gemm_bench: times qforge's CUDA GEMMs against cuBLAS FP16 (fp16 in/out, fp32 accumulate,
// cublasGemmEx with the default algorithm) in the same process, and measures the card's copy
// bandwidth and FP16 GEMM peak first, so every ratio has its ceiling beside it.
//
// Method (.library METHOD.md): random data (never zeros), CUDA events around many launches,
// median of repeats, and every operand rotated through enough copies that one pass touches
// more than twice the L2 cache, so a small weight is not timed out of L2.
// The timed weights are random bits in the prepared layouts (the layouts and arithmetic are
// checked by tests/runtime_cuda; timing does not depend on the values).
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
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"

using namespace qf::cuda;

namespace {

// Valid ordered 2:4 metadata: every nibble one of the six increasing index pairs.
__global__ void fill_meta(uint32_t* p, int64_t n, uint32_t seed) {
  const uint8_t pairs[6] = {0x4, 0x8, 0xC, 0x9, 0xD, 0xE};  // i0 | i1 << 2
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = hash32(i, seed), w = 0;
    for (int j = 0; j < 8; ++j) {
      w |= uint32_t(pairs[h % 6]) << (4 * j);
      h = h / 6 + hash32(i * 8 + j, seed + 1);
    }
    p[i] = w;
  }
}
void fill(void* p, int64_t bytes, uint32_t seed) {
  fill_bits<<<1024, 256>>>(static_cast<uint32_t*>(p), bytes / 4, seed);
  QF_CUDA_CHECK(cudaGetLastError());
}




struct Row {
  int64_t n, k, m;
  double cublas, w4, w4sp, w8;
  double w4mma = 0, w4gemv = 0;  // W4A16 with the tensor-core / CUDA-core kernel forced (M <= 16)
  double w4stream = 0, w4stream128 = 0;  // the streaming kernel forced (64-row units; 128-row at M > 8)
  double w4streampdl = 0;                // the streaming kernel with programmatic dependent launch
  double w4stream2 = 0;                  // the streaming kernel, 2 chunks per warp per stage
  double w4stream12 = 0;                 // the streaming kernel, 12 consumer warps (M <= 8)
  double w4stream32 = 0, w4stream32pdl = 0;  // 32-row units handed out whole (no split-K), plain / PDL
  std::string w4cfg;
};

// Device copy of a random weight in the w4_prepare (dense) or w4sp_prepare (2:4) layout,
// group size 128, fp16.
std::unique_ptr<W4Device> random_w4(int64_t n, int64_t k, bool sparse, uint32_t seed) {
  auto d = std::make_unique<W4Device>();
  d->n = n;
  d->k = k;
  d->ntiles = (n + 15) / 16;
  d->chunks = sparse ? (k + 127) / 128 : (k + 63) / 64;
  d->group_size = 128;
  d->groups = k / 128;
  d->sparse = sparse;
  const int64_t tiles = d->ntiles * d->chunks;
  d->packed = device_alloc(tiles * 512);
  fill(d->packed, tiles * 512, seed);
  if (sparse) {
    d->meta = device_alloc(tiles * 256);
    fill_meta<<<1024, 256>>>(static_cast<uint32_t*>(d->meta), tiles * 64, seed + 7);
  }
  d->scales = device_alloc(d->groups * d->ntiles * 16 * 4);
  fill_float<<<1024, 256>>>(static_cast<float*>(d->scales), d->groups * d->ntiles * 16, seed + 3, 0.01f);
  QF_CUDA_CHECK(cudaGetLastError());
  return d;
}

// One shape's weights, each in enough copies to touch 3x the L2 (no call times a weight from L2):
// cuBLAS's fp16 matrix, and the int4 dense and 2:4 prepared layouts (random_w4).
struct RotatedWeights {
  std::vector<__half*> w16;
  std::vector<std::unique_ptr<W4Device>> w4, w4s;
};
RotatedWeights rotated_weights(int64_t n, int64_t k, int64_t l2) {
  RotatedWeights r;
  const int64_t wbytes16 = n * k * 2;
  for (int i = 0, c = copies_for(wbytes16, l2); i < c; ++i) {
    r.w16.push_back(static_cast<__half*>(device_alloc(wbytes16)));
    fill_half<<<1024, 256>>>(r.w16.back(), n * k, 10 + i, 0.05f);
  }
  for (int i = 0, c = copies_for(n * k / 2, l2); i < c; ++i) r.w4.push_back(random_w4(n, k, false, 100 + i));
  for (int i = 0, c = copies_for(n * k * 3 / 8, l2); i < c; ++i) r.w4s.push_back(random_w4(n, k, true, 200 + i));
  return r;
}

// --sparse: 4-bit + 2:4 at M <= 16 against cuBLAS FP16 and dense W4A16 in the same process: the
// launcher's pick (the register-streaming kernel; at M = 9..16 two 8-row slices of it), its
// variants (at M = 9..16 also the one 16-row kernel), and the earlier cp.async-ring kernel.
// Bytes (int4 kept codes N*K/4 + metadata N*K/8 + fp32 scales + activations + output) over the
// measured copy bandwidth give each shape's floor.
void sparse_bench(cublasHandle_t h, int64_t l2, double copy_gbs) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 4096}, {8192, 8192}, {28672, 8192}};
  std::vector<int64_t> ms = {1, 2, 4, 8, 12, 16};
  if (g_profile) {  // --sparse --profile: each kernel once at 8192^2, M = 1 and 16 (for ncu)
    shapes = {{8192, 8192}};
    ms = {1, 16};
  }
  std::vector<std::string> lines;
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    const RotatedWeights rw = rotated_weights(n, k, l2);
    const std::vector<__half*>& w16 = rw.w16;
    const auto& w4 = rw.w4;
    const auto& w4s = rw.w4s;
    const int c16 = static_cast<int>(w16.size()), c4 = static_cast<int>(w4.size()), c4s = static_cast<int>(w4s.size());
    for (int64_t m : ms) {
      __half* x = static_cast<__half*>(device_alloc(m * k * 2));
      __half* y = static_cast<__half*>(device_alloc(m * n * 2));
      fill_half<<<1024, 256>>>(x, m * k, 5, 1.0f);
      const float one = 1.0f, zero = 0.0f;
      const double cub = time_us([&](int i) {
        CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w16[i], CUDA_R_16F, k, x, CUDA_R_16F, k,
                                  &zero, y, CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }, c16);
      const double dense = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y); }, c4);
      auto sp = [&](int which, int depth, int shfl, int bulk, int msplit) {
        W4Config c;
        c.sparse = which;
        c.sparse_depth = depth;
        c.sparse_meta_shfl = shfl;
        c.sparse_bulk_prefetch = bulk;
        c.sparse_msplit = msplit;
        return time_us([&](int i) { w4a16_gemm(*w4s[i], m, x, k, y, nullptr, c); }, c4s);
      };
      const double ring = sp(-1, 0, 0, 0, 0), pick = sp(0, 0, 0, 0, 0), d3 = sp(0, 3, 0, 0, 0), sh = sp(0, 0, 1, 0, 0);
      const double bulk = sp(0, 0, 0, 1, 0), bulk3 = sp(0, 3, 0, 1, 0);
      const double rows8 = m > 8 ? sp(0, 0, 0, 0, -1) : 0.0, rows8b = m > 8 ? sp(0, 0, 0, 1, -1) : 0.0;
      const double pick2 = sp(0, 0, 0, 0, 0);  // the pick again: run-to-run spread in the same process
      const double act = m * k * 2.0 + m * n * 2.0;
      const double bsp = n * k / 4.0 + n * k / 8.0 + n * (k / 128) * 4.0 + act;
      const double floor_us = bsp / copy_gbs / 1e3;
      const double best = std::min({pick, d3, sh, bulk, bulk3, m > 8 ? rows8 : 1e30, m > 8 ? rows8b : 1e30});
      char buf[640];
      std::snprintf(buf, sizeof buf,
                    "| %ld x %ld | %ld | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f / %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | "
                    "%.1f | %.1f | %.1f | %.2f | %.0f | %.1f | %.0f %% | %.2f |",
                    long(n), long(k), long(m), cub, dense, cub / dense, ring, cub / ring, pick, pick2, cub / pick, d3, sh,
                    bulk, bulk3, rows8, rows8b, best, cub / best, bsp / best / 1e3, floor_us, 100.0 * floor_us / best,
                    cub / floor_us);
      lines.push_back(buf);
      std::fprintf(stderr, "%s\n", buf);
      device_free(x);
      device_free(y);
    }
    for (auto* p : w16) device_free(p);
  }
  std::printf(
      "\n4-bit + 2:4 at M <= 16 (group 128, fp16), same process; us; x = cuBLAS FP16 / kernel; floor = bytes /\n"
      "copy bandwidth (kept codes + metadata + fp32 scales + activations + output); %% of floor = floor / best:\n\n"
      "| N x K | M | cuBLAS FP16 | dense W4A16 | x | 2:4 ring kernel | x | 2:4 new (pick, twice) | x | depth 3 | "
      "shfl meta | bulk L2 prefetch | bulk + depth 3 | 16-row kernel | 16-row + bulk | best | best x | best GB/s | "
      "floor us | %% of floor | floor x |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto& l : lines) std::printf("%s\n", l.c_str());
}

// --pdl: what a small-M call costs beyond its bytes, and how much of it programmatic dependent
// launch recovers. The floor kernel only reads a weight's bytes (up to three buffers: codes,
// metadata, scales; U independent 16-byte streaming loads per thread per step, folded by XOR; it
// stores only if the fold hits a value it practically never does, so no load can be dropped),
// timed like the GEMMs, over 16 grid shapes: the fastest plain read of those bytes when timed this
// way, which no kernel that reads them all is expected to beat by much. It triggers and waits as
// the GEMMs do.
struct ReadSpans {
  const uint4* p[3] = {nullptr, nullptr, nullptr};
  int64_t end[3] = {0, 0, 0};  // cumulative 16-byte words
  void add(const void* b, int64_t bytes, int i) {
    p[i] = static_cast<const uint4*>(b);
    end[i] = (i ? end[i - 1] : 0) + bytes / 16;
  }
};
__device__ __forceinline__ uint4 read_at(const ReadSpans& r, int64_t i) {
  if (i < r.end[0]) return ptx::ld_stream(r.p[0] + i);
  if (i < r.end[1]) return ptx::ld_stream(r.p[1] + (i - r.end[0]));
  return ptx::ld_stream(r.p[2] + (i - r.end[1]));
}
template <int U>
__global__ void read_floor(ReadSpans r, uint32_t* sink) {
  detail::pdl_launch_dependents();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, words = r.end[2];
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  uint32_t f = 0;
  for (; i + (U - 1) * stride < words; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) v[u] = read_at(r, i + u * stride);
#pragma unroll
    for (int u = 0; u < U; ++u) f ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < words; i += stride) {
    const uint4 v = read_at(r, i);
    f ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  detail::pdl_wait();
  if (f == 0x9E3779B9u) sink[blockIdx.x] = f;
}
__global__ void empty_kernel() {
  detail::pdl_launch_dependents();
  detail::pdl_wait();
}

// The weight bytes a W4A16 / 2:4 call streams: codes, metadata (2:4), scales.
ReadSpans spans_of(const W4Device& w) {
  ReadSpans r;
  const int64_t tiles = w.ntiles * w.chunks;
  r.add(w.packed, tiles * 512, 0);
  r.add(w.meta, w.sparse ? tiles * 256 : 0, 1);
  r.add(w.scales, w.groups * w.ntiles * 16 * 4, 2);
  return r;
}

void pdl_bench(cublasHandle_t h, int64_t l2) {
  int sms = 0;
  QF_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  uint32_t* sink = static_cast<uint32_t*>(device_alloc(int64_t(sms) * 8 * 4));
  for (int pdl = 0; pdl < 2; ++pdl) {
    const double t =
        time_us([&](int) { detail::launch_pdl(empty_kernel, dim3(1), dim3(32), 0, nullptr, pdl == 1); }, 1, 200);
    std::printf("empty kernel, back to back%s: %.2f us per launch\n", pdl ? ", PDL" : "", t);
  }
  // The fastest read of spans[i % copies] over blocks per SM x loads in flight per thread.
  auto floor_us = [&](const std::vector<ReadSpans>& spans, bool pdl, std::string* best_cfg) {
    double best = 1e30;
    for (int bps : {1, 2, 4, 8})
      for (int u : {2, 4, 8, 16}) {
        const dim3 grid(sms * bps), block(256);
        const double t = time_us([&](int i) {
          const ReadSpans& r = spans[i];
          switch (u) {
            case 2:
              detail::launch_pdl(read_floor<2>, grid, block, 0, nullptr, pdl, r, sink);
              break;
            case 4:
              detail::launch_pdl(read_floor<4>, grid, block, 0, nullptr, pdl, r, sink);
              break;
            case 8:
              detail::launch_pdl(read_floor<8>, grid, block, 0, nullptr, pdl, r, sink);
              break;
            default:
              detail::launch_pdl(read_floor<16>, grid, block, 0, nullptr, pdl, r, sink);
              break;
          }
        }, static_cast<int>(spans.size()));
        if (t < best) {
          best = t;
          *best_cfg = std::to_string(bps) + "x" + std::to_string(u);
        }
      }
    return best;
  };
  std::vector<std::string> lines;
  for (const auto& shape : std::vector<std::pair<int64_t, int64_t>>{{4096, 4096}, {8192, 8192}, {28672, 8192}}) {
    const int64_t n = shape.first, k = shape.second;
    const RotatedWeights rw = rotated_weights(n, k, l2);
    const int c16 = static_cast<int>(rw.w16.size()), c4 = static_cast<int>(rw.w4.size()), c4s = static_cast<int>(rw.w4s.size());
    std::vector<ReadSpans> s16, s4, s4s;
    for (auto* p : rw.w16) {
      s16.emplace_back();
      s16.back().add(p, n * k * 2, 0);
      s16.back().add(p, 0, 1);
      s16.back().add(p, 0, 2);
    }
    for (auto& w : rw.w4) s4.push_back(spans_of(*w));
    for (auto& w : rw.w4s) s4s.push_back(spans_of(*w));
    std::string g16, g4, g4p, gs, gsp;
    const double f16 = floor_us(s16, false, &g16), f4 = floor_us(s4, false, &g4), f4p = floor_us(s4, true, &g4p);
    const double fs = floor_us(s4s, false, &gs), fsp = floor_us(s4s, true, &gsp);
    std::printf("%ld x %ld: read floors (blocks per SM x loads per thread): fp16 %.1f us (%s), int4 %.1f (%s), "
                "int4 PDL %.1f (%s), 2:4 %.1f (%s), 2:4 PDL %.1f (%s); %.1f / %.1f / %.1f MB\n",
                long(n), long(k), f16, g16.c_str(), f4, g4.c_str(), f4p, g4p.c_str(), fs, gs.c_str(), fsp, gsp.c_str(),
                s16[0].end[2] * 16 / 1e6, s4[0].end[2] * 16 / 1e6, s4s[0].end[2] * 16 / 1e6);
    for (int64_t m : {1, 8, 16}) {
      __half* x = static_cast<__half*>(device_alloc(m * k * 2));
      __half* y = static_cast<__half*>(device_alloc(m * n * 2));
      fill_half<<<1024, 256>>>(x, m * k, 5, 1.0f);
      const float one = 1.0f, zero = 0.0f;
      auto cublas = [&] {
        return time_us([&](int i) {
          CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, rw.w16[i], CUDA_R_16F, k, x, CUDA_R_16F,
                                    k, &zero, y, CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }, c16);
      };
      auto w4 = [&](const std::vector<std::unique_ptr<W4Device>>& w, int c, int pdl) {
        W4Config cfg;
        cfg.pdl = pdl ? 1 : -1;
        if (pdl > 0) cfg.stream = -1;  // the register kernels (the streaming one has its own switch)
        return time_us([&](int i) { w4a16_gemm(*w[i], m, x, k, y, nullptr, cfg); }, c);
      };
      const double cub1 = cublas();
      const double d0 = w4(rw.w4, c4, 0), d1 = w4(rw.w4, c4, 1), s0 = w4(rw.w4s, c4s, 0), s1 = w4(rw.w4s, c4s, 1);
      const double cub = std::min(cub1, cublas());
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "| %ld x %ld | %ld | %.1f | %.0f %% | %.1f | %.2f | %.1f | %.2f | %.1f (%.2f) | %.1f (%.2f) | %.0f %% | "
                    "%.1f | %.2f | %.1f | %.2f | %.1f (%.2f) | %.1f (%.2f) |",
                    long(n), long(k), long(m), cub, 100.0 * f16 / cub, d0, cub / d0, d1, cub / d1, f4, cub / f4, f4p,
                    cub / f4p, 100.0 * f4 / d0, s0, cub / s0, s1, cub / s1, fs, cub / fs, fsp, cub / fsp);
      lines.push_back(buf);
      std::fprintf(stderr, "%s\n", buf);
      device_free(x);
      device_free(y);
    }
    for (auto* p : rw.w16) device_free(p);
  }
  std::printf(
      "\nSmall-M W4A16 and 4-bit + 2:4 (group 128, fp16) with and without programmatic dependent launch (PDL),\n"
      "beside the read floor of the same weight bytes (the fastest plain read of codes, metadata and scales over 16\n"
      "grid shapes, timed the same way); us; x / (x) = cuBLAS FP16 / time (cuBLAS timed first and last, the faster\n"
      "kept); %% of floor = floor / time. 'PDL' = back-to-back calls of the same kernel each launched while the\n"
      "previous one finishes, as in a chain of kernels that all trigger early:\n\n"
      "| N x K | M | cuBLAS FP16 | its fp16 read floor, %% | W4A16 | x | W4A16 PDL | x | int4 read floor | "
      "int4 floor PDL | W4A16 %% of floor | 2:4 | x | 2:4 PDL | x | 2:4 read floor | 2:4 floor PDL |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto& l : lines) std::printf("%s\n", l.c_str());
  device_free(sink);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, small = false, sparse = false, pdl = false;
  std::vector<int64_t> ms = {1, 2, 4, 8, 16, 64, 128, 1024};
  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 4096}, {8192, 8192}, {28672, 8192}};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: cuda_gemm_bench [--quick] [--profile] [--small] [--sparse] [--pdl]\n"
          "Times cuBLAS FP16 and qforge's W4A16, 4-bit + 2:4 and W8A8 CUDA GEMMs for (N, K) in\n"
          "{(4096,4096), (8192,8192), (28672,8192)} x M in {1,2,4,8,16,64,128,1024}; prints the\n"
          "copy bandwidth, the FP16 GEMM peak and a markdown table (W4A16 as the launcher picks, and\n"
          "at M <= 16 its tensor-core and CUDA-core kernels forced). --quick: one shape, M in {1,16}.\n"
          "--profile: 8192x8192, M in {1,4,16}, each kernel run once untimed (for ncu).\n"
          "--small: M in {1,2,4,8,16} only, no block-shape sweeps (the small-M W4A16 comparison).\n"
          "--sparse: only the 4-bit + 2:4 kernels at M in {1,2,4,8,12,16} (their variants, dense W4A16\n"
          "and cuBLAS FP16 in the same process), with each shape's byte floor.\n"
          "--pdl: W4A16 and 4-bit + 2:4 at M in {1,8,16} with and without programmatic dependent launch,\n"
          "beside a kernel that only reads the same codes (the floor of a call timed this way) and an\n"
          "empty kernel's back-to-back launch time.\n"
          "On a 9.x GPU a second table times the streaming W4A16 kernel (w4_stream_gemm.cu) and its\n"
          "variants (PDL, 2 chunks/warp, 12 warps, 32- and 128-row units) beside the tensor-core kernel.\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--profile")) g_profile = true;
    if (!std::strcmp(argv[i], "--small")) small = true;
    if (!std::strcmp(argv[i], "--sparse")) sparse = true;
    if (!std::strcmp(argv[i], "--pdl")) pdl = true;
  }
  if (small) ms = {1, 2, 4, 8, 16};
  if (quick) {
    shapes = {{4096, 4096}};
    ms = {1, 16};
  }
  if (g_profile) {
    shapes = {{8192, 8192}};
    ms = {1, 4, 16};
  }
  std::string why;
  if (!device_available(&why)) {
    std::printf("no CUDA GPU (%s): nothing to time\n", why.c_str());
    return 0;
  }
  const int64_t l2 = describe_device();

  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));

  // Ceilings: device-to-device copy (bytes read + written) and cuBLAS FP16 8192^3.
  double copy_gbs = 0;
  {
    const int64_t bytes = int64_t(1) << 30;
    void *a = device_alloc(bytes), *b = device_alloc(bytes);
    fill(a, bytes, 1);
    const double us = time_us([&](int) { QF_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 1, 10, 5);
    copy_gbs = 2.0 * bytes / us / 1e3;
    std::printf("copy bandwidth: %.0f GB/s (1 GiB device-to-device, read + write)\n", copy_gbs);
    device_free(a);
    device_free(b);
    const int64_t s = 8192;
    __half *x = static_cast<__half*>(device_alloc(s * s * 2)), *w = static_cast<__half*>(device_alloc(s * s * 2)),
           *y = static_cast<__half*>(device_alloc(s * s * 2));
    fill_half<<<1024, 256>>>(x, s * s, 3, 1.0f);
    fill_half<<<1024, 256>>>(w, s * s, 4, 1.0f);
    const float one = 1.0f, zero = 0.0f;
    const double t = time_us([&](int) {
      CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, s, s, s, &one, w, CUDA_R_16F, s, x, CUDA_R_16F, s, &zero, y,
                                CUDA_R_16F, s, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }, 1, 10, 5);
    std::printf("cuBLAS FP16 peak: %.0f TFLOP/s (8192^3, fp32 accumulate)\n", 2.0 * s * s * s / t / 1e6);
    device_free(x);
    device_free(w);
    device_free(y);
  }

  if (pdl) {
    pdl_bench(h, l2);
    cublasDestroy(h);
    return 0;
  }
  if (sparse) {
    sparse_bench(h, l2, copy_gbs);
    cublasDestroy(h);
    return 0;
  }
  std::vector<Row> rows;
  std::vector<std::string> sweep, gsweep;
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    // Weights rotated past 3x the L2: cuBLAS FP16, then int4 dense / 2:4 in their prepared layouts.
    const RotatedWeights rw = rotated_weights(n, k, l2);
    const std::vector<__half*>& w16 = rw.w16;
    const auto& w4 = rw.w4;
    const auto& w4s = rw.w4s;
    const int c16 = static_cast<int>(w16.size()), c4 = static_cast<int>(w4.size()), c4s = static_cast<int>(w4s.size());
    std::vector<std::unique_ptr<W8Device>> w8;
    const int c8 = copies_for(n * k, l2);
    for (int i = 0; i < c8; ++i) {
      auto d = std::make_unique<W8Device>();
      d->n = n;
      d->k = k;
      d->kpad = k;
      d->groups = 1;
      d->group_size = 0;
      d->codes = device_alloc(n * k);
      fill(d->codes, n * k, 300 + i);
      std::vector<float> s(n, 0.001f);
      std::vector<int32_t> rs(n, 0);
      d->scales = device_alloc(n * 4);
      copy_to_device(d->scales, s.data(), n * 4);
      d->rowsums = device_alloc(n * 4);
      copy_to_device(d->rowsums, rs.data(), n * 4);
      w8.push_back(std::move(d));
    }
    for (int64_t m : ms) {
      __half* x = static_cast<__half*>(device_alloc(m * k * 2));
      __half* y = static_cast<__half*>(device_alloc(m * n * 2));
      fill_half<<<1024, 256>>>(x, m * k, 5, 1.0f);
      void* x8 = device_alloc(m * k);
      fill(x8, m * k, 6);
      std::vector<float> sx(m, 0.02f);
      float* dsx = static_cast<float*>(device_alloc(m * 4));
      copy_to_device(dsx, sx.data(), m * 4);
      void* q8 = device_alloc(m * n);
      const float one = 1.0f, zero = 0.0f;
      Row r{n, k, m, 0, 0, 0, 0};
      r.cublas = time_us([&](int i) {
        CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w16[i], CUDA_R_16F, k, x, CUDA_R_16F, k,
                                  &zero, y, CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }, c16);
      r.w4 = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y); }, c4);
      if (m <= 16) {
        W4Config mma, gemv;
        mma.gemv = -1;
        mma.stream = -1;
        gemv.gemv = 1;
        gemv.stream = -1;
        if (w4a16_stream_supported()) {
          W4Config st;
          st.stream = 1;
          r.w4stream = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          st.stream_pdl = 1;
          r.w4streampdl = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          st.stream_pdl = 0;
          st.stream_cpw = 2;
          r.w4stream2 = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          st.stream_cpw = 0;
          st.stream_tile_rows = 32;
          r.w4stream32 = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          st.stream_pdl = 1;
          r.w4stream32pdl = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          st.stream_pdl = 0;
          st.stream_tile_rows = 0;
          if (m <= 8) {
            st.stream_warps = 12;
            r.w4stream12 = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
            st.stream_warps = 0;
          }
          if (m > 8) {
            st.stream_tile_rows = 128;
            r.w4stream128 = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, st); }, c4);
          }
        }
        r.w4mma = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, mma); }, c4);
        r.w4gemv = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, gemv); }, c4);
      }
      r.w4sp = time_us([&](int i) { w4a16_gemm(*w4s[i], m, x, k, y); }, c4s);
      W8Acts a;
      a.codes = x8;
      a.ldx = k;
      a.scales = dsx;
      a.per_row = true;
      W8Epilogue e;
      e.q_out = q8;  // the deployment epilogue: int8 codes of the next layer's input
      e.ldq = n;
      e.q_unsigned = false;
      e.q_scale = 0.05f;
      e.q_min = -127;
      e.q_max = 127;
      r.w8 = time_us([&](int i) { w8a8_gemm(*w8[i], m, a, e); }, c8);
      // Which W4A16 block shape wins here (the launcher picks one by a rule; this checks it).
      if (m <= 64 && !g_profile && !small) {
        const W4Config cfgs[] = {{2, 4, 1}, {2, 4, 2}, {1, 8, 1}};
        std::string line = "N=" + std::to_string(n) + " K=" + std::to_string(k) + " M=" + std::to_string(m) + ":";
        for (auto c : cfgs) {
          const double d = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, c); }, c4, 30, 5);
          char buf[160];
          std::snprintf(buf, sizeof buf, " [%d,%d,%d] dense %.1f us;", c.warps_n, c.warps_k, c.tiles_per_warp, d);
          line += buf;
        }
        sweep.push_back(line);
      }
      // The CUDA-core kernel's block shapes: [tiles per warp, warps per block splitting K].
      if (m <= 16 && !g_profile && !small) {
        std::string line = "N=" + std::to_string(n) + " K=" + std::to_string(k) + " M=" + std::to_string(m) + ":";
        for (int pipe : {0, -1})
          for (int tpw : {1, 2})
            for (int wk : {4, 8, 16, 32}) {
              if (tpw == 2 && m > 2) continue;  // one tile per warp beyond 2 rows (registers)
              W4Config c;
              c.gemv = 1;
              c.tiles_per_warp = tpw;
              c.warps_k = wk;
              c.gemv_pipeline = pipe;
              const double d = time_us([&](int i) { w4a16_gemm(*w4[i], m, x, k, y, nullptr, c); }, c4, 30, 5);
              char buf[160];
              std::snprintf(buf, sizeof buf, " %s[%d,%d] %.1f us;", pipe < 0 ? "batched" : "pipelined", tpw, wk, d);
              line += buf;
            }
        gsweep.push_back(line);
      }
      rows.push_back(r);
      std::fprintf(stderr,
                   "N=%ld K=%ld M=%ld: cuBLAS %.1f us, W4A16 %.1f us (mma %.1f, gemv %.1f, stream %.1f / %.1f), "
                   "W4+2:4 %.1f us, W8A8 %.1f us\n",
                   long(n), long(k), long(m), r.cublas, r.w4, r.w4mma, r.w4gemv, r.w4stream, r.w4stream128, r.w4sp,
                   r.w8);
      device_free(x);
      device_free(y);
      device_free(x8);
      device_free(dsx);
      device_free(q8);
    }
    for (auto* p : w16) device_free(p);
  }
  std::printf("\nW4A16 (dense) block shapes [warps_n, warps_k, tiles_per_warp] at M <= 64 (2:4 has one):\n");
  for (auto& s : sweep) std::printf("%s\n", s.c_str());
  std::printf("\nW4A16 CUDA-core kernel block shapes [tiles_per_warp, warps_k], weight loads double-buffered\n"
              "(pipelined) or one batch at a time (batched), at M <= 16:\n");
  for (auto& s : gsweep) std::printf("%s\n", s.c_str());
  std::printf(
      "\n| N | K | M | cuBLAS FP16 us | W4A16 us | W4A16 GB/s | W4A16 x | tensor-core us | CUDA-core us | "
      "W4+2:4 us | W4+2:4 GB/s | W4+2:4 x | W8A8 us | W8A8 TOPS | W8A8 x |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto& r : rows) {
    const double act = r.m * r.k * 2.0 + r.m * r.n * 2.0;
    const double b4 = r.n * r.k / 2.0 + r.n * (r.k / 128) * 2.0 + act;
    const double b4s = r.n * r.k * 3.0 / 8.0 + r.n * (r.k / 128) * 2.0 + act;
    const double ops = 2.0 * r.m * r.n * r.k;
    char mma[32] = "-", gemv[32] = "-";
    if (r.w4mma > 0) std::snprintf(mma, sizeof mma, "%.1f", r.w4mma);
    if (r.w4gemv > 0) std::snprintf(gemv, sizeof gemv, "%.1f", r.w4gemv);
    std::printf("| %ld | %ld | %ld | %.1f | %.1f | %.0f | %.2f | %s | %s | %.1f | %.0f | %.2f | %.1f | %.0f | %.2f |\n",
                long(r.n), long(r.k), long(r.m), r.cublas, r.w4, b4 / r.w4 / 1e3, r.cublas / r.w4, mma, gemv, r.w4sp,
                b4s / r.w4sp / 1e3, r.cublas / r.w4sp, r.w8, ops / r.w8 / 1e6, r.cublas / r.w8);
  }
  std::printf(
      "\nW4A16 at M <= 16, the streaming kernel (bulk copies, persistent grid) against the register-streaming\n"
      "tensor-core kernel, same process; GB/s counts weights + scales + activations + output once:\n"
      "\n| N | K | M | cuBLAS FP16 us | tensor-core us | x | streaming us | GB/s | x | streaming 128-row us | x | "
      "streaming + PDL us | GB/s | x | streaming 2 chunks/warp us | x | streaming 12 warps us | x | "
      "32-row whole units us | x | 32-row + PDL us | GB/s | x |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto& r : rows) {
    if (r.w4stream <= 0) continue;
    const double b4 = r.n * r.k / 2.0 + r.n * (r.k / 128) * 4.0 + r.m * r.k * 2.0 + r.m * r.n * 2.0;
    // Variants measured only at some M (128-row units above M = 8, 12 warps up to it): "-" elsewhere.
    char r128[64] = "- | -", r12[64] = "- | -";
    if (r.w4stream128 > 0) std::snprintf(r128, sizeof r128, "%.1f | %.2f", r.w4stream128, r.cublas / r.w4stream128);
    if (r.w4stream12 > 0) std::snprintf(r12, sizeof r12, "%.1f | %.2f", r.w4stream12, r.cublas / r.w4stream12);
    std::printf("| %ld | %ld | %ld | %.1f | %.1f | %.2f | %.1f | %.0f | %.2f | %s | %.1f | %.0f | %.2f | %.1f | %.2f | %s "
                "| %.1f | %.2f | %.1f | %.0f | %.2f |\n",
                long(r.n), long(r.k), long(r.m), r.cublas, r.w4mma, r.cublas / r.w4mma, r.w4stream,
                b4 / r.w4stream / 1e3, r.cublas / r.w4stream, r128, r.w4streampdl, b4 / r.w4streampdl / 1e3,
                r.cublas / r.w4streampdl, r.w4stream2, r.cublas / r.w4stream2, r12, r.w4stream32, r.cublas / r.w4stream32,
                r.w4stream32pdl, b4 / r.w4stream32pdl / 1e3, r.cublas / r.w4stream32pdl);
  }
  std::printf("\ncuBLAS FP16 TFLOP/s per row: ");
  for (auto& r : rows) std::printf("%.0f ", 2.0 * r.m * r.n * r.k / r.cublas / 1e6);
  std::printf("\n");
  cublasDestroy(h);
  return 0;
}
