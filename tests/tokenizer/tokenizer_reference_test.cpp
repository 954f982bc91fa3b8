// Both tokenizers reproduce the reference ids of every probe string (computed by Hugging Face
// `tokenizers` 0.23 and `sentencepiece` 0.2.2) and decode them back to the reference text.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/json.h"
#include "tokenizer/tokenizer.h"

namespace {

qf::Json read_json(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return qf::Json::parse(buf.str());
}

void check_reference(const std::string& folder, const char* kind) {
  const qf::Json ref = read_json(folder + "/reference.json");
  auto tok = qf::tok::load_tokenizer(folder);
  EXPECT_STREQ(tok->kind(), kind);
  EXPECT_EQ(tok->vocab_size(), ref.at("vocab_size").as_int());
  EXPECT_EQ(tok->bos_id(), ref.at("bos_id").as_int());
  EXPECT_EQ(tok->eos_id(), ref.at("eos_id").as_int());
  int n = 0;
  for (const qf::Json& c : ref.at("cases").as_array()) {
    const std::string& text = c.at("text").as_string();
    std::vector<int32_t> want;
    for (const qf::Json& id : c.at("ids").as_array()) want.push_back(static_cast<int32_t>(id.as_int()));
    EXPECT_EQ(tok->encode(text, false), want) << "probe: '" << text << "'";
    EXPECT_EQ(tok->decode(want), c.at("decoded").as_string()) << "probe: '" << text << "'";
    auto with_bos = tok->encode(text, true);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], tok->bos_id());
    EXPECT_EQ(tok->decode(with_bos, /*skip_special=*/true), c.at("decoded").as_string());
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST(TokenizerReference, ByteLevelBpeReproducesEveryProbe) {
  check_reference(QF_HF_FIXTURES "/tokenizer_bpe", "bpe");
}

TEST(TokenizerReference, SentencePieceReproducesEveryProbe) {
  check_reference(QF_HF_FIXTURES "/tokenizer_spm", "sentencepiece");
}

TEST(TokenizerReference, BpeSplitsAddedTokensOut) {
  auto tok = qf::tok::load_tokenizer(QF_HF_FIXTURES "/tokenizer_bpe");
  const auto plain = tok->encode("Hello World", false);
  auto ids = tok->encode("<|begin_of_text|>Hello World<|end_of_text|>", false);
  ASSERT_EQ(ids.size(), plain.size() + 2);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 1);
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1), plain);
  EXPECT_EQ(tok->decode(ids), "<|begin_of_text|>Hello World<|end_of_text|>");
  EXPECT_EQ(tok->decode(ids, true), "Hello World");
}

TEST(TokenizerReference, VocabDescribesTheTokenizer) {
  auto bpe = qf::tok::load_tokenizer(QF_HF_FIXTURES "/tokenizer_bpe")->vocab();
  EXPECT_EQ(bpe.model, "bpe");
  EXPECT_EQ(bpe.pieces.size(), 512u);
  EXPECT_EQ(bpe.merges.size(), 254u);
  EXPECT_EQ(bpe.merges[0], "a n");
  EXPECT_EQ(bpe.types[0], qf::tok::TokenType::kControl);
  EXPECT_EQ(bpe.types[2], qf::tok::TokenType::kNormal);
  EXPECT_NE(bpe.pre_tokenizer_regex.find("\\p{L}"), std::string::npos);
  auto spm = qf::tok::load_tokenizer(QF_HF_FIXTURES "/tokenizer_spm")->vocab();
  EXPECT_EQ(spm.model, "sentencepiece");
  EXPECT_EQ(spm.pieces.size(), 512u);
  EXPECT_EQ(spm.unk_id, 3);
  EXPECT_EQ(spm.pad_id, 0);
  EXPECT_EQ(spm.types[3], qf::tok::TokenType::kUnknown);
  EXPECT_EQ(spm.types[2], qf::tok::TokenType::kControl);
  int bytes = 0;
  for (auto t : spm.types) bytes += t == qf::tok::TokenType::kByte;
  EXPECT_EQ(bytes, 256);  // byte fallback pieces <0x00>..<0xFF>
  EXPECT_FALSE(spm.add_space_prefix);  // the fixture's first piece is "The", not "\u2581The"
}

}  // namespace
