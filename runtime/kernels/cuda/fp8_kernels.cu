// The `cuda` table's FP8 E4M3 entries (kernels.h, "FP8 E4M3"):
//  * quantize_e4m3 / quantize_per_row_e4m3: core/fp8_quantize.h's rules operation for operation
//    (x / scale correctly rounded, core's fp32_to_e4m3 bit logic, max is order-free), so codes
//    and scales are bit-identical to the reference kernels';
//  * qf8_gemm: the Hopper tensor-core kernel (fp8_wgmma_gemm.cu) where it can run -- its sum is
//    within kFp8TensorCoreRelBound, not bit-exact -- else the exact kernel below (any GPU, K not a
//    multiple of 16, unaligned codes), which is bit-identical to the reference.
#include <cuda_runtime.h>

#include <string>

#include "core/fp8_e4m3.h"
#include "core/quant.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/fp8_gemm.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::grid_for;
using detail::kThreads;

// core/fp8_e4m3.cpp's fp32_to_e4m3, line for line (integer logic on the float's bits).
__device__ __forceinline__ uint8_t fp32_to_e4m3_dev(float x) {
  const uint32_t f = __float_as_uint(x);
  const uint8_t sign = static_cast<uint8_t>((f >> 24) & 0x80u);
  const uint32_t abs = f & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint8_t>(sign | kE4M3NaN);
  if (abs >= 0x43E00000u) return static_cast<uint8_t>(sign | kE4M3MaxCode);
  if (abs < 0x3C800000u) {
    const uint32_t exp = abs >> 23;
    if (exp < 110u) return sign;
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 141u - exp;
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return static_cast<uint8_t>(sign | m);
  }
  uint32_t h = (abs >> 20) - ((127u - 7u) << 3);
  const uint32_t rem = abs & 0xFFFFFu;
  if (rem > 0x80000u || (rem == 0x80000u && (h & 1u))) ++h;
  return static_cast<uint8_t>(sign | h);
}

// core's e4m3_to_int_2p9 (NaN patterns: 0, flagged by the caller).
__device__ __forceinline__ int32_t e4m3_int(uint8_t b) {
  if ((b & 0x7F) == 0x7F) return 0;
  const int32_t e = (b >> 3) & 0xF, m = b & 7;
  const int32_t mag = e == 0 ? m : (8 + m) << (e - 1);
  return (b & 0x80) ? -mag : mag;
}

// fp32_to_e4m3(x / s), x / s correctly rounded, with the NaN that x86-64's division gives (core's
// x / scale in the reference): a NaN operand comes back as itself, sign included (x first, then
// s), and an invalid quotient (inf / inf, e.g. an infinite x in a row whose amax, hence scale, is
// infinite) is the default NaN, whose sign bit is set -- code 0xFF. The GPU's division returns one
// positive NaN for all of these, so the code is patched on the bits.
__device__ __forceinline__ uint8_t quantize_one(float x, float s) {
  const float q = __fdiv_rn(x, s);
  const uint32_t xb = __float_as_uint(x), sb = __float_as_uint(s), qb = __float_as_uint(q);
  auto nan_bits = [](uint32_t b) { return (b & 0x7FFFFFFFu) > 0x7F800000u; };
  if (nan_bits(xb)) return static_cast<uint8_t>(((xb >> 24) & 0x80u) | kE4M3NaN);
  if (nan_bits(sb)) return static_cast<uint8_t>(((sb >> 24) & 0x80u) | kE4M3NaN);
  if (nan_bits(qb)) return static_cast<uint8_t>(0x80u | kE4M3NaN);
  return fp32_to_e4m3_dev(q);
}

__global__ void quantize_e4m3_kernel(const float* x, int64_t n, float s, uint8_t* codes) {
  detail::pdl_entry();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    codes[i] = quantize_one(x[i], s);
}

// One block per row: amax (fmaxf skips NaN like std::fmax), e4m3_scale, then the codes.
__global__ void quantize_per_row_e4m3_kernel(const float* x, int64_t cols, uint8_t* codes, float* scales) {
  detail::pdl_entry();
  __shared__ float sh[32];
  const float* xr = x + blockIdx.x * cols;
  float amax = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) amax = fmaxf(amax, fabsf(xr[c]));
  amax = detail::block_reduce(amax, sh, detail::MaxOp{});
  float s = __fdiv_rn(amax, kE4M3Max);
  if (!(s > kMinScale)) s = amax > 0.0f ? kMinScale : 1.0f;
  if (threadIdx.x == 0) scales[blockIdx.x] = s;
  uint8_t* cr = codes + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) cr[c] = quantize_one(xr[c], s);
}

// The exact GEMM: one thread per output, int64 sum of the integer values (units of 2^-18),
// rounded once to float32 (__ll2float_rn), scaled by 2^-18 exactly, then the contract's epilogue.
__global__ void qf8_gemm_exact_kernel(int64_t m, int64_t n, int64_t k, const uint8_t* x, const float* sx,
                                      int64_t sx_stride, const uint8_t* w, const float* sw, const float* bias,
                                      float* y) {
  detail::pdl_entry();
  __shared__ int32_t tab[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) tab[i] = e4m3_int(static_cast<uint8_t>(i));
  __syncthreads();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < m * n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, o = i % n;
    const uint8_t* xr = x + r * k;
    const uint8_t* wr = w + o * k;
    int64_t acc = 0;
    bool nan = false;
    for (int64_t j = 0; j < k; ++j) {
      const uint8_t c = xr[j];
      nan = nan || (c & 0x7F) == 0x7F;
      acc += static_cast<int64_t>(tab[c]) * tab[wr[j]];
    }
    const float p = nan ? __int_as_float(0x7fffffff) : __fmul_rn(__ll2float_rn(acc), 0x1p-18f);
    float v = __fmul_rn(p, __fmul_rn(sx[r * sx_stride], sw[o]));
    if (bias) v = __fadd_rn(v, bias[o]);
    y[i] = v;
  }
}

// A weight's E4M3 codes [N, K] and per-row scales [N] in device memory (the checkpoint's stay on
// the host), made once at load by prepare_qf8_weights__cuda.
struct CudaFp8Weights : kernels::PreparedQWeights {
  int64_t n = 0, k = 0;
  void* codes = nullptr;
  void* scales = nullptr;
  ~CudaFp8Weights() override {
    device_free(codes);
    device_free(scales);
  }
};

Fp8Gemm gemm_args(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y) {
  if (w.kind != kernels::QWeightKind::kFp8E4M3 || w.per_group)
    throw Error("cuda qf8_gemm: the weight is not E4M3 with per-channel scales");
  Fp8Gemm g;
  g.m = m;
  g.n = w.n;
  g.k = w.k;
  g.x = static_cast<const uint8_t*>(x.codes);
  g.sx = x.scales;
  g.sx_stride = x.scale_stride;
  // Prepared (the engine's weights): the device copy; otherwise the caller passed device pointers.
  if (const auto* p = dynamic_cast<const CudaFp8Weights*>(w.prepared)) {
    if (p->n != w.n || p->k != w.k) throw Error("cuda qf8_gemm: the prepared weight does not match its shape");
    g.w = static_cast<const uint8_t*>(p->codes);
    g.sw = static_cast<const float*>(p->scales);
  } else {
    g.w = w.packed;
    g.sw = w.scales;
  }
  g.bias = bias;
  g.y = y;
  return g;
}

}  // namespace

void fp8_gemm_exact(const Fp8Gemm& g) {
  if (g.m <= 0 || g.n <= 0) return;
  detail::launch_kernel(qf8_gemm_exact_kernel, dim3(grid_for(g.m * g.n)), dim3(kThreads), 0, nullptr, g.m, g.n, g.k,
                        g.x, g.sx, g.sx_stride, g.w, g.sw, g.bias, g.y);
  check_launch("qf8_gemm (exact)");
}

std::unique_ptr<kernels::PreparedQWeights> prepare_qf8_weights__cuda(const kernels::QWeights& w) {
  if (w.kind != kernels::QWeightKind::kFp8E4M3) return nullptr;
  if (w.per_group) throw Error("cuda prepare_qf8_weights: FP8 scales are per channel, not per group");
  if (w.n <= 0 || w.k <= 0) throw Error("cuda prepare_qf8_weights: empty weight");
  auto p = std::make_unique<CudaFp8Weights>();
  p->n = w.n;
  p->k = w.k;
  p->codes = device_alloc(w.n * w.k);  // cudaMalloc: 256-byte aligned, as the copy engine needs
  copy_to_device(p->codes, w.packed, w.n * w.k);
  p->scales = device_alloc(w.n * static_cast<int64_t>(sizeof(float)));
  copy_to_device(p->scales, w.scales, w.n * static_cast<int64_t>(sizeof(float)));
  return p;
}

void qf8_qf8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                             float* y) {
  const Fp8Gemm g = gemm_args(m, x, w, bias, y);
  if (!fp8_gemm_wgmma(g)) fp8_gemm_exact(g);
}

void f32_quantize_e4m3__cuda(const float* x, int64_t n, float scale, uint8_t* codes) {
  if (n <= 0) return;
  detail::launch_kernel(quantize_e4m3_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, scale, codes);
  check_launch("quantize_e4m3");
}

void f32_quantize_per_row_e4m3__cuda(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) throw Error("cuda quantize_per_row_e4m3: too many rows");
  detail::launch_kernel(quantize_per_row_e4m3_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, nullptr, x,
                        cols, codes, scales);
  check_launch("quantize_per_row_e4m3");
}

}  // namespace qf::cuda
