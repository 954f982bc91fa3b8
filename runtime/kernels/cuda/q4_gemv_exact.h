// The `cuda` table's int4 GEMV for decode steps (M <= 8): int4 weights (core/int4_pack.h) times
// qs8 / qu8 activation codes, bit-identical to the reference kernels (kernels.h, QGemmFn).
// Plain C++ (no CUDA headers). Device pointers.
#pragma once

#include <cstdint>

namespace qf::cuda {

// The largest M the GEMV takes (it keeps a warp's slice of the weight in registers and loops
// over the M activation rows).
constexpr int64_t kQ4GemvMaxM = 8;

// y[M, N] = the contract of the int4 weight w4 [N, K/2] with scales sw ([N] per channel when
// group_size == 0, else [N, K/group_size]) and the activation codes x [M, K] (uint8 with zero
// point zx when x_unsigned, else int8), per-row scales sx[i * sx_stride], bias (may be null).
// Returns false, launching nothing, where the kernel does not apply (M > kQ4GemvMaxM; K not a
// multiple of 32 or over 8192; group_size not 32, 64 or 128; x not 16-byte aligned); the caller
// then runs its general kernel.
bool q4_gemv_exact(int64_t m, const void* x, bool x_unsigned, int32_t zx, const float* sx, int64_t sx_stride,
                   const uint8_t* w4, const float* sw, int64_t n, int64_t k, int64_t group_size, const float* bias,
                   float* y);

}  // namespace qf::cuda
