// The `cuda` table's Hugging Face decoder entries (kernels.h, "decoder ops"): rms_norm, rope,
// gqa_attention, gated_act, scale. The contract computes the sensitive parts in double and
// rounds once (FORMAT.md), and so do these: RMS statistics in double (reduced in another
// order), rotary cos / sin of the float32 angle in double, attention scores / softmax / the
// weighted sum in double, the gated activations in double. CUDA's double libm is within 2 ulp
// of double, so after the one rounding to float the results agree with the reference kernels'
// almost always bit for bit (tests/runtime_cuda/cuda_table_test.cpp bounds them by a few ulp).
#include <string>

#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/kv_rows.cuh"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::grid_for;
using detail::kThreads;

__global__ void rms_norm_kernel(const float* x, int64_t d, const float* w, float eps, int plus_one, float* y) {
  detail::pdl_entry();
  __shared__ double sh[32];
  const float* xr = x + blockIdx.x * d;
  double ss = 0.0;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += static_cast<double>(xr[c]) * xr[c];
  ss = detail::block_reduce(ss, sh, detail::SumOp{});
  const float inv = static_cast<float>(1.0 / sqrt(ss / static_cast<double>(d) + static_cast<double>(eps)));
  float* yr = y + blockIdx.x * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) yr[c] = (xr[c] * inv) * (plus_one ? 1.0f + w[c] : w[c]);
}

// One thread per (row, frequency, head): reads its pair before writing it (in place is safe).
__global__ void rope_kernel(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                            const float* inv_freq, float* y) {
  detail::pdl_entry();
  const int64_t n = rows * h2 * heads, c = heads * 2 * h2;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t h = idx % heads, i = (idx / heads) % h2, r = idx / (heads * h2);
    const float pos = static_cast<float>(p0 + r % period);
    const float a = pos * inv_freq[i];
    const float cs = static_cast<float>(cos(static_cast<double>(a)));
    const float sn = static_cast<float>(sin(static_cast<double>(a)));
    const float* xh = x + r * c + h * 2 * h2;
    float* yh = y + r * c + h * 2 * h2;
    const float lo = xh[i], hi = xh[i + h2];
    yh[i] = lo * cs - hi * sn;
    yh[i + h2] = hi * cs + lo * sn;
  }
}

constexpr int kGqaThreads = 128;
constexpr int64_t kGqaMaxKeys = 6000;  // 48,000 bytes of double scores

// One block per (query, head), like the float causal kernel, in double.
template <class Rows>
__global__ void gqa_attention_kernel(const float* q, int64_t q_stride, Rows rows, int64_t t, int64_t l, int64_t heads,
                                     int64_t kv_heads, int64_t d, int64_t window, float scale, float* y) {
  detail::pdl_entry();
  extern __shared__ double p[];
  __shared__ double sh[32];
  __shared__ double sh_parts[kGqaThreads];
  const int64_t i = blockIdx.x, h = blockIdx.y, g = h / (heads / kv_heads), c = heads * d;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const float* qi = q + i * q_stride + h * d;
  const int64_t pos = l - t + i;
  const int64_t first = window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
  const int64_t n = pos - first + 1;
  for (int64_t jj = warp; jj < n; jj += warps) {
    double s = 0.0;
    for (int64_t e = lane; e < d; e += 32) s += static_cast<double>(qi[e]) * rows.key(first + jj, g * d + e);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) p[jj] = s * static_cast<double>(scale);
  }
  __syncthreads();
  double m = -INFINITY;
  for (int64_t jj = threadIdx.x; jj < n; jj += blockDim.x) m = fmax(m, p[jj]);
  struct DMax {
    __device__ double operator()(double a, double b) const { return fmax(a, b); }
  };
  m = detail::block_reduce(m, sh, DMax{});
  double sum = 0.0;
  for (int64_t jj = threadIdx.x; jj < n; jj += blockDim.x) sum += (p[jj] = exp(p[jj] - m));
  sum = detail::block_reduce(sum, sh, detail::SumOp{});
  for (int64_t jj = threadIdx.x; jj < n; jj += blockDim.x) p[jj] /= sum;  // one division per key
  __syncthreads();
  // The weighted sum over the keys: thread (part, e) sums keys part, part + split, ... for
  // output element e (a decode step has one query: splitting the keys keeps every thread busy
  // when d < blockDim.x), then the parts are added in order. Double throughout, rounded once.
  float* yi = y + i * c + h * d;
  const int64_t split = d < blockDim.x ? blockDim.x / d : 1, width = d < blockDim.x ? d : blockDim.x;
  const int64_t part = threadIdx.x / width;
  double* partial = sh_parts;
  for (int64_t e0 = 0; e0 < d; e0 += width) {
    const int64_t e = e0 + threadIdx.x % width;
    double acc = 0.0;
    if (part < split && e < d) {
      int64_t jj = part;
      for (; jj + 3 * split < n; jj += 4 * split) {  // four independent loads in flight
        const double v0 = rows.value(first + jj, g * d + e), v1 = rows.value(first + jj + split, g * d + e);
        const double v2 = rows.value(first + jj + 2 * split, g * d + e),
                     v3 = rows.value(first + jj + 3 * split, g * d + e);
        acc += p[jj] * v0;
        acc += p[jj + split] * v1;
        acc += p[jj + 2 * split] * v2;
        acc += p[jj + 3 * split] * v3;
      }
      for (; jj < n; jj += split) acc += p[jj] * rows.value(first + jj, g * d + e);
    }
    if (split == 1) {
      if (e < d) yi[e] = static_cast<float>(acc);
      continue;
    }
    if (part < split) partial[threadIdx.x] = acc;
    __syncthreads();
    if (part == 0 && e < d) {
      double total = partial[threadIdx.x];
      for (int64_t s2 = 1; s2 < split; ++s2) total += partial[s2 * width + threadIdx.x];
      yi[e] = static_cast<float>(total);
    }
    __syncthreads();
  }
}

__global__ void gated_act_kernel(const float* g, const float* u, int64_t n, int act, float* y) {
  detail::pdl_entry();
  const double kk = 0.79788456080286535588;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double x = g[i];
    const double a = act == 0 ? x / (1.0 + exp(-x)) : 0.5 * x * (1.0 + tanh(kk * (x + 0.044715 * x * x * x)));
    y[i] = static_cast<float>(a) * u[i];
  }
}

__global__ void scale_kernel(const float* x, int64_t n, float s, float* y) {
  detail::pdl_entry();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = x[i] * s;
}

}  // namespace

void f32_rms_norm__cuda(const float* x, int64_t n, int64_t d, const float* w, float eps, int plus_one, float* y) {
  if (n <= 0 || d <= 0) return;
  if (n > 0x7fffffff) throw Error("cuda rms_norm: too many rows");
  detail::launch_kernel(rms_norm_kernel, dim3(static_cast<unsigned>(n)), dim3(kThreads), 0, nullptr, x, d, w, eps,
                        plus_one, y);
  check_launch("rms_norm");
}
void f32_rope__cuda(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                    const float* inv_freq, float* y) {
  const int64_t n = rows * h2 * heads;
  if (n <= 0) return;
  detail::launch_kernel(rope_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, rows, period, p0, heads, h2,
                        inv_freq, y);
  check_launch("rope");
}
namespace {

template <class Rows>
void launch_gqa(const float* q, int64_t q_stride, const Rows& rows, int64_t t, int64_t l, int64_t heads,
                int64_t kv_heads, int64_t d, int64_t window, float scale, float* y, const char* what) {
  if (t <= 0 || heads <= 0) return;
  if (l > kGqaMaxKeys)
    throw Error(std::string("cuda ") + what + ": " + std::to_string(l) + " keys exceed the kernel's " +
                std::to_string(kGqaMaxKeys) + " (scores are kept in shared memory)");
  if (t > 0x7fffffff || heads > 65535) throw Error(std::string("cuda ") + what + ": too many queries or heads");
  const dim3 grid(static_cast<unsigned>(t), static_cast<unsigned>(heads));
  detail::launch_kernel(gqa_attention_kernel<Rows>, grid, dim3(kGqaThreads), static_cast<size_t>(l) * sizeof(double),
                        nullptr, q, q_stride, rows, t, l, heads, kv_heads, d, window, scale, y);
  check_launch(what);
}

}  // namespace

void f32_gqa_attention__cuda(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                             int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                             float scale, float* scratch, float* y) {
  (void)scratch;  // scores live in shared memory
  launch_gqa(q, q_stride, detail::FloatKv{k, v, kv_stride}, t, l, heads, kv_heads, d, window, scale, y,
             "gqa_attention");
}
void f32_qkv_gqa_attention__cuda(const float* q, int64_t q_stride, const kernels::QuantKvRows& k,
                                 const kernels::QuantKvRows& v, int64_t t, int64_t l, int64_t heads, int64_t kv_heads,
                                 int64_t d, int64_t window, float scale, float* scratch, float* y) {
  (void)scratch;
  launch_gqa(q, q_stride, detail::QuantKv{k, v}, t, l, heads, kv_heads, d, window, scale, y, "qkv_gqa_attention");
}
void f32_gated_act__cuda(const float* g, const float* u, int64_t n, int act, float* y) {
  if (n <= 0) return;
  detail::launch_kernel(gated_act_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, g, u, n, act, y);
  check_launch("gated_act");
}
void f32_scale__cuda(const float* x, int64_t n, float s, float* y) {
  if (n <= 0) return;
  detail::launch_kernel(scale_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, s, y);
  check_launch("scale");
}

}  // namespace qf::cuda
