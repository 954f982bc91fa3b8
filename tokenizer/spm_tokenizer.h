// SentencePiece `tokenizer.model` (Llama 2, Gemma, Mistral) through the SentencePiece library
// itself (Debian's libsentencepiece-dev): its normalizer, byte fallback and special pieces are
// exactly those of the model file. The library type stays out of this header.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace qf::tok {

class SpmTokenizer : public Tokenizer {
 public:
  // Throws qf::Error naming the file when it cannot be read or is not a SentencePiece model.
  explicit SpmTokenizer(const std::string& model_path);
  ~SpmTokenizer() override;

  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  int64_t vocab_size() const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  const char* kind() const override { return "sentencepiece"; }
  TokenVocab vocab() const override;

  void set_add_bos(bool add_bos) { add_bos_ = add_bos; }

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
  bool add_bos_ = true;
};

// The factory load_tokenizer uses (strong here; load_tokenizer.cpp references it weakly).
std::unique_ptr<SpmTokenizer> make_spm_tokenizer(const std::string& model_path);

}  // namespace qf::tok
