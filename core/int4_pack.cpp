#include "core/int4_pack.h"

#include "core/error.h"

namespace qf {

std::vector<uint8_t> pack_int4_rows(const int32_t* codes, int64_t rows, int64_t k,
                                    bool is_signed) {
  const int32_t lo = is_signed ? -8 : 0, hi = is_signed ? 7 : 15;
  const int64_t rb = int4_row_bytes(k);
  std::vector<uint8_t> out(static_cast<size_t>(rows * rb), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      const int32_t c = codes[r * k + j];
      if (c < lo || c > hi)
        throw Error("int4 code " + std::to_string(c) + " at [" + std::to_string(r) + ", " +
                    std::to_string(j) + "] does not fit a " + (is_signed ? "signed" : "unsigned") +
                    " nibble");
      uint8_t& b = out[static_cast<size_t>(r * rb + j / 2)];
      const uint8_t nib = static_cast<uint8_t>(static_cast<uint32_t>(c) & 0xFu);
      b = static_cast<uint8_t>(b | ((j % 2 == 0) ? nib : static_cast<uint8_t>(nib << 4)));
    }
  return out;
}

std::vector<int32_t> unpack_int4_rows(const uint8_t* packed, int64_t rows, int64_t k,
                                      bool is_signed) {
  const int64_t rb = int4_row_bytes(k);
  std::vector<int32_t> out(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      const uint8_t b = packed[r * rb + j / 2];
      out[static_cast<size_t>(r * k + j)] =
          (j % 2 == 0) ? (is_signed ? int4_lo_signed(b) : int4_lo_unsigned(b))
                       : (is_signed ? int4_hi_signed(b) : int4_hi_unsigned(b));
    }
  return out;
}

}  // namespace qf
