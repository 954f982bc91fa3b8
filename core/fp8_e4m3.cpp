#include "core/fp8_e4m3.h"

#include <cmath>
#include <cstring>

namespace qf {

uint8_t fp32_to_e4m3(float x) {
  uint32_t f;
  std::memcpy(&f, &x, 4);
  const uint8_t sign = static_cast<uint8_t>((f >> 24) & 0x80u);
  const uint32_t abs = f & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint8_t>(sign | kE4M3NaN);
  // >= 448 (0x43E00000), +inf included: 448 itself, the ties in (448, 464] that round to even
  // (448's mantissa 110 is even, the next pattern 111 is NaN) and everything above saturate.
  if (abs >= 0x43E00000u) return static_cast<uint8_t>(sign | kE4M3MaxCode);
  if (abs < 0x3C800000u) {
    // Below the smallest normal 2^-6: value / 2^-9 rounded to nearest even, as an integer in
    // [0, 8] (8 is the smallest normal, 0x08: the carry is the right code).
    const uint32_t exp = abs >> 23;
    if (exp < 110u) return sign;  // < 2^-17: far below half the smallest subnormal (2^-10)
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;  // value = mant * 2^(exp - 150)
    const uint32_t shift = 141u - exp;                    // value / 2^-9 = mant >> shift; 21..31
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return static_cast<uint8_t>(sign | m);
  }
  // Normal: rebias the exponent (127 -> 7), keep 3 mantissa bits, round the 20 dropped bits to
  // nearest even (a carry into the exponent is the right result; it never passes 448 here).
  uint32_t h = (abs >> 20) - ((127u - 7u) << 3);
  const uint32_t rem = abs & 0xFFFFFu;
  if (rem > 0x80000u || (rem == 0x80000u && (h & 1u))) ++h;
  return static_cast<uint8_t>(sign | h);
}

float e4m3_to_fp32(uint8_t b) {
  if (e4m3_is_nan(b)) return (b & 0x80) ? -std::nanf("") : std::nanf("");
  const int32_t v = e4m3_to_int_2p9(b);
  float y = std::ldexp(static_cast<float>(v), -9);  // exact: |v| < 2^18
  if (v == 0 && (b & 0x80)) y = -0.0f;
  return y;
}

int32_t e4m3_to_int_2p9(uint8_t b) {
  if (e4m3_is_nan(b)) return 0;
  const int32_t e = (b >> 3) & 0xF, m = b & 7;
  // Subnormal: m * 2^-9 -> m. Normal: (8 + m) * 2^(e - 10) -> (8 + m) << (e - 1).
  const int32_t mag = e == 0 ? m : (8 + m) << (e - 1);
  return (b & 0x80) ? -mag : mag;
}

}  // namespace qf
