// The `cuda` table's 4-bit GEMVs for decode steps (M <= 8): int4 weights (core/int4_pack.h), and
// 2:4 weights whose kept codes fit 4 bits, times qs8 / qu8 activation codes, bit-identical to the
// reference kernels (kernels.h, QGemmFn).
// Plain C++ (no CUDA headers). Device pointers.
#pragma once

#include <cstdint>
#include <vector>

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

// A 2:4 weight whose kept codes all fit 4 bits, as the 2:4 GEMV reads it: per 32 k of a row, its
// 16 kept codes as 8 bytes (byte i of the first / second 4: kept value i / i + 8 in the low nibble,
// i + 4 / i + 12 in the high one), vals [N, K/4]; idx the checkpoint's 2-bit indices [N, K/8]
// (core/nm_sparse.h) as they are. Device pointers.
struct Sparse24Nibbles {
  const uint8_t* vals = nullptr;
  const uint8_t* idx = nullptr;
};
// Host side of the load: the vals layout above from the checkpoint's kept int8 codes [N, K/2]
// (K % 32 == 0; every code in [-8, 7]).
std::vector<uint8_t> sparse24_nibbles(const int8_t* kept, int64_t n, int64_t k);

// The same contract for such a weight (kernels.h: the kept value j of a row multiplies
// x[(j / 2) * 4 + index j]); the same shape rules as q4_gemv_exact, false when they exclude it.
bool q4s24_gemv_exact(int64_t m, const void* x, bool x_unsigned, int32_t zx, const float* sx, int64_t sx_stride,
                      const Sparse24Nibbles& w, const float* sw, int64_t n, int64_t k, int64_t group_size,
                      const float* bias, float* y);

}  // namespace qf::cuda
