// The quantization arithmetic of qforge: the single source of truth shared by the fake-quant ops
// used in training (qat/) and the integer kernels of the runtime (runtime/).
//
// Rules (documented for users in export/FORMAT.md, "Arithmetic"):
//  * Signed symmetric b-bit codes use the *restricted* range [-(2^(b-1)-1), 2^(b-1)-1]
//    (int8: [-127, 127], int4: [-7, 7]). The range is symmetric so negation is exact, and int8
//    never holds -128, so products of two codes fit the 16-bit pair sums of x86 VNNI/maddubs
//    without saturation. The zero point is always 0.
//  * Weights of at most 4 bits may instead use the *full* signed range [-2^(b-1), 2^(b-1)-1]
//    (int4: [-8, 7], 16 levels instead of 15; GPTQ's, Marlin's and llama.cpp's symmetric int4),
//    opted into per layer (WeightScheme::full_range, checkpoint feature `int4_full_range`).
//  * Unsigned asymmetric b-bit codes use [0, 2^b - 1] with an integer zero point in that range.
//  * Quantize:   q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax)
//    Dequantize: x = (q - zero_point) * scale
//    Every step is a single IEEE-754 float32 operation (division, not multiplication by a
//    reciprocal), so LibTorch's `round(x / s) + z` and this code agree bit for bit.
//  * Scales come from ranges: symmetric  s = max|x| / ((qmax - qmin) / 2), which is max|x| / qmax
//                             on the restricted range and max|x| / 7.5 on the full int4 range;
//                             asymmetric s = (max - min) / (qmax - qmin), z = qmin - round(min / s),
//    with the range first widened to contain 0 (so 0.0 is exactly representable: padding and
//    ReLU zeros stay exact). An empty range (all zeros) gives s = 1.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace qf {

// Smallest scale we ever produce; keeps x / scale finite for denormal ranges.
inline constexpr float kMinScale = 1e-12f;

struct QuantRange {
  int32_t qmin;
  int32_t qmax;
};

// Code range for `bits` (2..8). Throws qf::Error on other widths.
inline QuantRange quant_range(int bits, bool symmetric) {
  if (bits < 2 || bits > 8)
    throw Error("quantization bits must be in [2, 8], got " + std::to_string(bits));
  if (symmetric) {
    const int32_t m = (1 << (bits - 1)) - 1;
    return {-m, m};
  }
  return {0, (1 << bits) - 1};
}

// The full signed range [-2^(b-1), 2^(b-1)-1] of a weight of at most 4 bits (int4: [-8, 7]).
inline QuantRange full_quant_range(int bits) {
  if (bits < 2 || bits > 4)
    throw Error("the full signed code range is defined for 2..4-bit weights, got " + std::to_string(bits) + " bits");
  return {-(1 << (bits - 1)), (1 << (bits - 1)) - 1};
}

// What a symmetric scale divides max|x| by: half the number of steps of the range. On a restricted
// range that is qmax exactly (7, 127); on the full int4 range 7.5, GPTQ's 2 max|x| / 15, so the
// largest magnitude lands on -8 or halfway past 7 and rounds down to it.
inline float symmetric_divisor(QuantRange r) { return 0.5f * static_cast<float>(r.qmax - r.qmin); }

// Round half to even, the rounding of IEEE-754 and of torch.round.
inline float round_half_even(float x) { return std::nearbyint(x); }

struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Symmetric: s = absmax / symmetric_divisor(r) (absmax = max |x|).
inline QuantParams symmetric_params(float absmax, QuantRange r) {
  float s = absmax / symmetric_divisor(r);
  if (!(s > kMinScale)) s = absmax > 0.0f ? kMinScale : 1.0f;
  return {s, 0};
}

// Asymmetric: range widened to contain 0, s = (max - min) / (qmax - qmin),
// z = clamp(qmin - round(min / s), qmin, qmax).
inline QuantParams asymmetric_params(float lo, float hi, QuantRange r) {
  lo = std::fmin(lo, 0.0f);
  hi = std::fmax(hi, 0.0f);
  if (hi - lo <= 0.0f) return {1.0f, r.qmin};
  float s = (hi - lo) / static_cast<float>(r.qmax - r.qmin);
  if (!(s > kMinScale)) s = kMinScale;
  float z = static_cast<float>(r.qmin) - round_half_even(lo / s);
  z = std::fmin(std::fmax(z, static_cast<float>(r.qmin)), static_cast<float>(r.qmax));
  return {s, static_cast<int32_t>(z)};
}

inline int32_t quantize(float x, QuantParams p, QuantRange r) {
  float q = round_half_even(x / p.scale) + static_cast<float>(p.zero_point);
  q = std::fmin(std::fmax(q, static_cast<float>(r.qmin)), static_cast<float>(r.qmax));
  return static_cast<int32_t>(q);
}

inline float dequantize(int32_t q, QuantParams p) {
  return static_cast<float>(q - p.zero_point) * p.scale;
}

inline float fake_quantize(float x, QuantParams p, QuantRange r) {
  return dequantize(quantize(x, p, r), p);
}

}  // namespace qf
