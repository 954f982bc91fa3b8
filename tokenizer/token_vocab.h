// A tokenizer described as data, engine-neutral: the pieces, their scores and types, the BPE
// merges and the special ids. The GGUF writer turns this into tokenizer.ggml.* metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::tok {

// The token types of SentencePiece's ModelProto (and GGUF's tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenVocab {
  // "bpe": pieces are byte-level-mapped strings (GPT-2's bytes_to_unicode), merges "a b".
  // "sentencepiece": pieces use U+2581 for spaces, <0xNN> byte pieces; scores from the model.
  std::string model;
  std::string pre_tokenizer_regex;  // bpe: the split regex ("" = GPT-2's default)
  std::vector<std::string> pieces;  // by id
  std::vector<float> scores;        // by id (bpe: 0)
  std::vector<TokenType> types;     // by id
  std::vector<std::string> merges;  // bpe only, rank order, "left right"
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = false;  // whether the model expects BOS prepended (tokenizer_config / spm)
  bool add_space_prefix = false;  // sentencepiece: the normalizer prepends U+2581 (add_dummy_prefix)
};

}  // namespace qf::tok
