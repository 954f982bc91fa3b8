// Pre-tokenization by a Unicode regex (the `Split` pre-tokenizer of Hugging Face tokenizers,
// behavior "Isolated"): matches and the text between them become separate pieces. PCRE2 in UTF +
// UCP mode, because the patterns use \p{L} / \p{N} classes std::regex cannot express.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace qf::tok {

class RegexSplitter {
 public:
  // Throws qf::Error naming the pattern and the offset of the syntax error.
  explicit RegexSplitter(const std::string& pattern);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Splits UTF-8 text into matches and the gaps between them, in order, none empty.
  // Throws qf::Error when the text is not valid UTF-8.
  std::vector<std::string> split(const std::string& text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

// GPT-2's split regex: what the ByteLevel pre-tokenizer applies when use_regex is true.
extern const char* const kGpt2SplitRegex;

}  // namespace qf::tok
