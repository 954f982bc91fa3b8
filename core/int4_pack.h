// int4 packing: two 4-bit codes per byte (the checkpoint's and the kernels' layout).
//
//   byte j of a row = code[2j] in bits 0..3 (LOW nibble) | code[2j+1] in bits 4..7 (HIGH nibble)
//
// Signed codes are stored as two's complement nibbles (-1 -> 0xF); qforge's symmetric int4 range
// is [-7, 7] (core/quant.h), the nibble can represent [-8, 7]. Unsigned codes are 0..15.
// Each row of a [rows, K] matrix is packed independently into ceil(K/2) bytes; for odd K the
// last high nibble is 0 (padding), so rows start on byte boundaries and can be sliced.
#pragma once

#include <cstdint>
#include <vector>

namespace qf {

// The packed unit, ggml-style: one byte = two codes. The size check documents the layout.
struct Int4x2 {
  uint8_t bits;
};
static_assert(sizeof(Int4x2) == 1, "two int4 codes must pack into exactly one byte");

constexpr int64_t int4_row_bytes(int64_t k) { return (k + 1) / 2; }
static_assert(int4_row_bytes(1) == 1 && int4_row_bytes(2) == 1 && int4_row_bytes(7) == 4,
              "ceil(K/2) bytes per row");

constexpr uint8_t pack_int4x2(int32_t lo, int32_t hi) {
  return static_cast<uint8_t>((static_cast<uint32_t>(lo) & 0xFu) |
                              ((static_cast<uint32_t>(hi) & 0xFu) << 4));
}
// Sign-extends a nibble: 0x8..0xF -> -8..-1.
constexpr int32_t int4_lo_signed(uint8_t b) { return static_cast<int32_t>(b & 0xF) - ((b & 0x8) << 1); }
constexpr int32_t int4_hi_signed(uint8_t b) { return int4_lo_signed(static_cast<uint8_t>(b >> 4)); }
constexpr int32_t int4_lo_unsigned(uint8_t b) { return b & 0xF; }
constexpr int32_t int4_hi_unsigned(uint8_t b) { return b >> 4; }
static_assert(int4_lo_signed(pack_int4x2(-7, 7)) == -7 && int4_hi_signed(pack_int4x2(-7, 7)) == 7,
              "two's complement nibbles");
static_assert(pack_int4x2(1, 2) == 0x21, "element 2i in the low nibble");

// Packs [rows, k] codes. Signed codes must be in [-8, 7], unsigned in [0, 15]; throws qf::Error
// otherwise (a code that does not fit would silently wrap).
std::vector<uint8_t> pack_int4_rows(const int32_t* codes, int64_t rows, int64_t k,
                                    bool is_signed = true);
// Unpacks to [rows, k] codes (padding nibbles are dropped).
std::vector<int32_t> unpack_int4_rows(const uint8_t* packed, int64_t rows, int64_t k,
                                      bool is_signed = true);

}  // namespace qf
