// FP8 E4M3 as the OCP 8-bit floating point specification (v1.0, 2023) defines it, the "fn"
// variant that NVIDIA's H100 tensor cores and torch.float8_e4m3fn implement:
//   S.EEEE.MMM, exponent bias 7, no infinities, one NaN pattern per sign (S.1111.111),
//   max finite 448 (S.1111.110), min normal 2^-6, subnormals m * 2^-9 (m = 1..7), +-0.
// float32 -> E4M3 rounds to nearest, ties to even, and *saturates*: every finite value (and
// +-inf) beyond 448 becomes +-448 (the OCP "saturation" conversion mode). NaN stays NaN.
// E4M3 -> float32 is exact (every E4M3 value is a float32).
#pragma once

#include <cstdint>

namespace qf {

inline constexpr float kE4M3Max = 448.0f;      // largest finite magnitude
inline constexpr uint8_t kE4M3NaN = 0x7F;      // the positive NaN pattern (0xFF is the negative one)
inline constexpr uint8_t kE4M3MaxCode = 0x7E;  // +448

uint8_t fp32_to_e4m3(float x);   // round to nearest even, saturating; NaN -> 0x7F | sign
float e4m3_to_fp32(uint8_t b);   // exact; 0x7F / 0xFF -> quiet NaN
inline bool e4m3_is_nan(uint8_t b) { return (b & 0x7F) == 0x7F; }

// The E4M3 value times 2^9 (= 512), an integer in [-229376, 229376]: every E4M3 value is a
// multiple of the smallest subnormal 2^-9. Products of two such integers are exact in int64 and
// so are their sums (FORMAT.md, "fp8_e4m3": the exact dot product). NaN patterns have no
// integer: callers reject them first (returns 0 for them).
int32_t e4m3_to_int_2p9(uint8_t b);

}  // namespace qf
