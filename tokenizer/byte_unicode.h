// GPT-2's reversible byte <-> Unicode mapping used by byte-level BPE: every byte becomes a
// printable code point (printable ASCII and Latin-1 map to themselves, the rest to U+0100..),
// so that merges and vocab entries are valid strings.
#pragma once

#include <cstdint>
#include <string>

#include "core/utf8.h"

namespace qf::tok {

// The UTF-8 encoding of the code point that stands for byte b.
const std::string& byte_to_unicode(uint8_t b);

// Inverse: the byte a code point stands for, or -1 when cp is not in the mapping.
int unicode_to_byte(uint32_t cp);

using qf::append_utf8;  // appends the UTF-8 encoding of a code point

// Decodes one code point starting at s[i]; advances i. Returns -1 (and advances 1) on bad UTF-8.
int64_t next_code_point(const std::string& s, size_t& i);

}  // namespace qf::tok
