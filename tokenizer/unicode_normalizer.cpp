#include "tokenizer/unicode_normalizer.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "core/error.h"

namespace qf::tok {

struct UnicodeNormalizer::Impl {
  const icu::Normalizer2* n = nullptr;  // owned by ICU
};

UnicodeNormalizer::UnicodeNormalizer(const std::string& form) : form_(form), impl_(std::make_unique<Impl>()) {
  UErrorCode st = U_ZERO_ERROR;
  if (form == "NFC") impl_->n = icu::Normalizer2::getNFCInstance(st);
  else if (form == "NFKC") impl_->n = icu::Normalizer2::getNFKCInstance(st);
  else if (form == "NFD") impl_->n = icu::Normalizer2::getNFDInstance(st);
  else if (form == "NFKD") impl_->n = icu::Normalizer2::getNFKDInstance(st);
  else throw Error("unknown Unicode normalization form '" + form + "'");
  if (U_FAILURE(st) || !impl_->n) throw Error("ICU cannot provide " + form + ": " + u_errorName(st));
}

UnicodeNormalizer::~UnicodeNormalizer() = default;

std::string UnicodeNormalizer::normalize(const std::string& utf8) const {
  // fromUTF8 replaces invalid sequences with U+FFFD silently: check first.
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= utf8.size();
    for (int k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(utf8[i + k]) & 0xC0) == 0x80;
    if (!ok) throw Error("text is not valid UTF-8 at byte " + std::to_string(i));
    i += static_cast<size_t>(n);
  }
  UErrorCode st = U_ZERO_ERROR;
  const icu::UnicodeString out = impl_->n->normalize(icu::UnicodeString::fromUTF8(utf8), st);
  if (U_FAILURE(st)) throw Error(form_ + " normalization failed: " + u_errorName(st));
  std::string r;
  out.toUTF8String(r);
  return r;
}

}  // namespace qf::tok
