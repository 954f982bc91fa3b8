#include "tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace qf::tok {

const char* const kGpt2SplitRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {
std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}
}  // namespace

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::string& pattern)
    : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE off = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!impl_->code)
    throw Error("pre-tokenizer regex does not compile at offset " + std::to_string(off) + ": " +
                pcre2_message(err) + " (pattern: " + pattern + ")");
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back silently
}

RegexSplitter::~RegexSplitter() = default;

std::vector<std::string> RegexSplitter::split(const std::string& text) const {
  std::vector<std::string> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gap_start = 0;
  uint32_t options = 0;  // the first call checks the whole subject for valid UTF-8
  while (pos <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), pos, options, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // On a UTF-8 error pcre2_get_startchar gives the offset of the bad character.
      const size_t bad = pcre2_get_startchar(md);
      pcre2_match_data_free(md);
      if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        throw Error("text is not valid UTF-8 at byte " + std::to_string(bad) + ": " +
                    pcre2_message(rc));
      throw Error("pre-tokenizer regex failed: " + pcre2_message(rc));
    }
    options = PCRE2_NO_UTF_CHECK;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (b > gap_start) out.emplace_back(text, gap_start, b - gap_start);
    if (e > b) {
      out.emplace_back(text, b, e - b);
      pos = e;
      gap_start = e;
    } else {
      // Empty match: step over one code point (it stays in the gap).
      pos = b + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      if (b >= text.size()) break;
    }
  }
  if (gap_start < text.size()) out.emplace_back(text, gap_start, text.size() - gap_start);
  pcre2_match_data_free(md);
  return out;
}

}  // namespace qf::tok
