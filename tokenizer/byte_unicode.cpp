#include "tokenizer/byte_unicode.h"

#include <array>

namespace qf::tok {
namespace {

struct Tables {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> to_byte;  // every mapped code point is < 512
  Tables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool keeps = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const uint32_t cp = keeps ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_unicode[b], cp);
      to_byte[cp] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace


int64_t next_code_point(const std::string& s, size_t& i) {
  const auto c0 = static_cast<uint8_t>(s[i]);
  int n = 0;
  uint32_t cp = 0;
  if (c0 < 0x80) { ++i; return c0; }
  if ((c0 & 0xE0) == 0xC0) { n = 1; cp = c0 & 0x1F; }
  else if ((c0 & 0xF0) == 0xE0) { n = 2; cp = c0 & 0x0F; }
  else if ((c0 & 0xF8) == 0xF0) { n = 3; cp = c0 & 0x07; }
  else { ++i; return -1; }
  if (i + static_cast<size_t>(n) >= s.size()) { ++i; return -1; }  // truncated sequence
  for (int k = 1; k <= n; ++k) {
    const auto c = static_cast<uint8_t>(s[i + k]);
    if ((c & 0xC0) != 0x80) { ++i; return -1; }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += static_cast<size_t>(n) + 1;
  return cp;
}

const std::string& byte_to_unicode(uint8_t b) { return tables().to_unicode[b]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? tables().to_byte[cp] : -1; }

}  // namespace qf::tok
