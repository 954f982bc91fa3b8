// Byte-level BPE from a Hugging Face `tokenizer.json` (GPT-2, Llama 3, Qwen2, SmolLM): added
// tokens split out first, then the pre-tokenizer's split regex, GPT-2's byte -> Unicode mapping,
// then merges by rank. A Unicode normalizer (NFC, ...) applies to the text between added tokens.
// Anything in the file that would change the result and is not implemented (other normalizers,
// BPE dropout, other pre-tokenizers) is refused by name.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex_splitter.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_normalizer.h"

namespace qf {
class Json;
}

namespace qf::tok {

class BpeTokenizer : public Tokenizer {
 public:
  // `json` is the parsed tokenizer.json; `source` names it in error messages.
  // bos/eos/add_bos come from tokenizer_config.json (the caller resolves token strings to ids).
  BpeTokenizer(const Json& json, const std::string& source);

  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  const char* kind() const override { return "bpe"; }
  TokenVocab vocab() const override;

  // Id of a piece or added token, -1 when absent.
  int32_t token_id(const std::string& piece) const;
  void set_special_ids(int32_t bos, int32_t eos, bool add_bos);

  // True when FILE's content is a byte-level BPE tokenizer.json this class can load (used to
  // prefer tokenizer.model for SentencePiece-style tokenizer.json files).
  static bool is_byte_level(const Json& json);

 private:
  struct AddedToken {
    std::string content;
    int32_t id;
    bool special, lstrip, rstrip;
  };
  void encode_words(const std::string& text, std::vector<int32_t>& out) const;
  void bpe_word(const std::string& mapped, std::vector<int32_t>& out) const;

  std::string source_;
  std::vector<std::string> pieces_;                 // by id (added tokens included)
  std::unordered_map<std::string, int32_t> ids_;    // piece -> id
  std::unordered_map<std::string, int32_t> ranks_;  // "left\0right" -> rank
  std::vector<std::string> merges_;                 // rank order, "left right"
  std::vector<AddedToken> added_;                   // longest content first
  std::vector<bool> is_special_;                    // by id
  std::vector<bool> is_added_;                      // by id: stored as text, not byte-mapped
  std::unique_ptr<RegexSplitter> splitter_;         // null: no split (whole text is one word)
  std::unique_ptr<UnicodeNormalizer> normalizer_;   // null: text is used as given
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
  int32_t bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = false;
};

}  // namespace qf::tok
