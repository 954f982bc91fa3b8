// Unicode normalization (NFC, NFKC, NFD, NFKD) for tokenizer.json's `normalizer` (Qwen2 ships NFC),
// through ICU (Debian's libicu-dev). The ICU types stay out of this header.
#pragma once

#include <memory>
#include <string>

namespace qf::tok {

class UnicodeNormalizer {
 public:
  // form: "NFC" | "NFKC" | "NFD" | "NFKD"; throws qf::Error otherwise or when ICU fails.
  explicit UnicodeNormalizer(const std::string& form);
  ~UnicodeNormalizer();
  // UTF-8 in, UTF-8 out. Throws qf::Error on invalid UTF-8.
  std::string normalize(const std::string& utf8) const;
  const std::string& form() const { return form_; }

 private:
  struct Impl;
  std::string form_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qf::tok
