// One interface over the tokenizers of Hugging Face model folders: byte-level BPE
// (`tokenizer.json`, bpe_tokenizer.h) and SentencePiece (`tokenizer.model`, spm_tokenizer.h).
// LibTorch-free: the runtime's `generate`, the GGUF exporter and training all use it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/token_vocab.h"

namespace qf::tok {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text (UTF-8) -> ids. add_bos prepends bos_id() (an error when the tokenizer has none).
  // Throws qf::Error on invalid UTF-8.
  virtual std::vector<int32_t> encode(const std::string& text, bool add_bos) const = 0;
  // Ids -> text. skip_special drops control tokens (bos, eos, pad, ...). Throws qf::Error on an
  // id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;

  virtual int64_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;  // -1 when the tokenizer has none
  virtual const char* kind() const = 0;  // "bpe" | "sentencepiece"

  // Everything an exporter needs to describe the tokenizer to another engine (GGUF).
  virtual TokenVocab vocab() const = 0;
};

// Loads FOLDER/tokenizer.json (byte-level BPE) if present, else FOLDER/tokenizer.model
// (SentencePiece); FOLDER may also name one of the two files. tokenizer_config.json, when
// present, supplies bos/eos by token string where tokenizer.json does not. Throws qf::Error
// naming the file and what is wrong.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& folder_or_file);

}  // namespace qf::tok
