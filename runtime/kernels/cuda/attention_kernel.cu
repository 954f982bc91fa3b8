// The `cuda` table's causal attention over the float KV cache (kernels.h, AttentionFn): one
// block per (query, head). Scores q . k (warp per key, lanes across the head dimension) into
// shared memory, scaled by 1 / sqrt(d) as the reference does, then max, exp and a float sum
// (another order than the reference's: within rounding), then each thread one output element,
// summed over keys in increasing order like the reference (p_j = e_j / sum, y += p_j * v_j).
// Keys per query are bounded by the shared memory (kMaxKeys); longer contexts throw.
#include <cmath>
#include <string>

#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/kv_rows.cuh"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;

constexpr int kAttnThreads = 128;
constexpr int64_t kMaxKeys = 12000;  // 48,000 bytes of scores: under the 48 KiB default with the static part

template <class Rows>
__global__ void causal_attention_kernel(const float* q, int64_t q_stride, Rows rows, int64_t t, int64_t l, int64_t c,
                                        int64_t d, float inv_sqrt_d, float* y) {
  detail::pdl_entry();
  extern __shared__ float scores[];
  __shared__ float sh[32];
  const int64_t i = blockIdx.x, h = blockIdx.y;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const float* qi = q + i * q_stride + h * d;
  const int64_t visible = l - t + i + 1;
  for (int64_t j = warp; j < visible; j += warps) {
    float s = 0.0f;
    for (int64_t e = lane; e < d; e += 32) s += qi[e] * rows.key(j, h * d + e);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) scores[j] = s * inv_sqrt_d;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, scores[j]);
  m = detail::block_reduce(m, sh, detail::MaxOp{});
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) sum += (scores[j] = expf(scores[j] - m));
  sum = detail::block_reduce(sum, sh, detail::SumOp{});  // its __syncthreads orders the exp writes
  float* yi = y + i * c + h * d;
  for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < visible; ++j) acc += (scores[j] / sum) * rows.value(j, h * d + e);
    yi[e] = acc;
  }
}

template <class Rows>
void launch_causal(const float* q, int64_t q_stride, const Rows& rows, int64_t t, int64_t l, int64_t c, int64_t heads,
                   float* y, const char* what) {
  if (t <= 0 || heads <= 0) return;
  if (l > kMaxKeys)
    throw Error(std::string("cuda ") + what + ": " + std::to_string(l) + " keys exceed the kernel's " +
                std::to_string(kMaxKeys) + " (scores are kept in shared memory)");
  if (t > 0x7fffffff || heads > 65535) throw Error(std::string("cuda ") + what + ": too many queries or heads");
  const int64_t d = c / heads;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));  // the reference's float value
  const dim3 grid(static_cast<unsigned>(t), static_cast<unsigned>(heads));
  detail::launch_kernel(causal_attention_kernel<Rows>, grid, dim3(kAttnThreads), static_cast<size_t>(l) * sizeof(float),
                        nullptr, q, q_stride, rows, t, l, c, d, inv_sqrt_d, y);
  check_launch(what);
}

}  // namespace

void f32_causal_attention__cuda(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  (void)scratch;  // scores live in shared memory
  launch_causal(q, q_stride, detail::FloatKv{k, v, kv_stride}, t, l, c, heads, y, "causal_attention");
}

void f32_qkv_causal_attention__cuda(const float* q, int64_t q_stride, const kernels::QuantKvRows& k,
                                    const kernels::QuantKvRows& v, int64_t t, int64_t l, int64_t c, int64_t heads,
                                    float* scratch, float* y) {
  (void)scratch;
  launch_causal(q, q_stride, detail::QuantKv{k, v}, t, l, c, heads, y, "qkv_causal_attention");
}

}  // namespace qf::cuda
