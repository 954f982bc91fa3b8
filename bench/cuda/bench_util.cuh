// What the CUDA benchmarks share (cuda_gemm_bench, cuda_fp8_bench, cuda_bs_bench): cuBLAS error
// checks, random fills from a counter hash (no host copies of large operands), and the timing
// rule: the median over `reps` runs of `iters` back-to-back calls, the weights rotated over
// `copies` buffers (copies_for: together 3x the L2) so that every call streams from DRAM.
// One benchmark includes it once; bench-only, never in the product.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "runtime/kernels/cuda/cuda_check.h"

#define CUBLAS_CHECK(x)                                                                 \
  do {                                                                                  \
    cublasStatus_t s_ = (x);                                                            \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                  \
      std::fprintf(stderr, "cuBLAS error %d at %s:%d\n", int(s_), __FILE__, __LINE__); \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

namespace {

__device__ __forceinline__ uint32_t hash32(uint64_t i, uint32_t seed) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull + seed;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<uint32_t>(x);
}
__global__ void fill_bits(uint32_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = hash32(i, seed);
}
// fp16 values in [-scale, scale) (random, finite).
__global__ void fill_half(__half* p, int64_t n, uint32_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = __float2half(((hash32(i, seed) >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale);
}
// float values in [0.5 scale, 1.5 scale) (scales: positive).
__global__ void fill_float(float* p, int64_t n, uint32_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = ((hash32(i, seed) >> 8) * (1.0f / 16777216.0f) + 0.5f) * scale;
}

bool g_profile = false;  // --profile: run each kernel once, untimed (for ncu)

// Median time (us) of one call, launches back to back; fn(i) runs copy i % copies.
double time_us(const std::function<void(int)>& fn, int copies, int iters = 50, int reps = 7) {
  if (g_profile) {
    fn(0);
    QF_CUDA_CHECK(cudaDeviceSynchronize());
    return 1.0;
  }
  for (int i = 0; i < 3; ++i) fn(i % copies);
  QF_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  QF_CUDA_CHECK(cudaEventCreate(&a));
  QF_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    QF_CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) fn((r * iters + i) % copies);
    QF_CUDA_CHECK(cudaEventRecord(b));
    QF_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    QF_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(1000.0 * ms / iters);
  }
  QF_CUDA_CHECK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return t[t.size() / 2];
}

// Buffers of `bytes` to rotate over so that together they exceed 3x the L2 (at most 64).
int copies_for(int64_t bytes, int64_t l2) { return static_cast<int>(std::clamp<int64_t>((3 * l2) / bytes + 1, 1, 64)); }

// Prints the device line every benchmark starts with; returns its L2 size in bytes (for copies_for).
int64_t describe_device() {
  cudaDeviceProp prop;
  QF_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %.0f MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6);
  return prop.l2CacheSize;
}

}  // namespace
