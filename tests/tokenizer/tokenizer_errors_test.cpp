// Malformed tokenizer files and bad input get clear errors (qf::Error naming what is wrong).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

class TokenizerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qf_tok_err_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    good_ = qf::Json::parse(slurp(QF_HF_FIXTURES "/tokenizer_bpe/tokenizer.json"));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes tokenizer.json and returns the error message load_tokenizer throws ("" if none).
  std::string load_error(const std::string& json_text) {
    std::ofstream(dir_ / "tokenizer.json") << json_text;
    try {
      qf::tok::load_tokenizer(dir_.string());
    } catch (const qf::Error& e) {
      return e.what();
    }
    return "";
  }
  std::string load_error(const qf::Json& j) { return load_error(j.dump()); }

  fs::path dir_;
  qf::Json good_;
};

TEST_F(TokenizerErrors, TheUnmodifiedFileLoads) { EXPECT_EQ(load_error(good_), ""); }

TEST_F(TokenizerErrors, NotJson) {
  const std::string e = load_error(std::string("{\"model\": "));
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  EXPECT_NE(e.find("JSON parse error"), std::string::npos) << e;
}

TEST_F(TokenizerErrors, MissingModel) {
  qf::Json j = good_;
  j.as_object().erase("model");
  EXPECT_NE(load_error(j).find("missing object 'model'"), std::string::npos) << load_error(j);
}

TEST_F(TokenizerErrors, UnknownModelType) {
  qf::Json j = good_;
  j["model"]["type"] = "WordPiece";
  EXPECT_NE(load_error(j).find("model.type must be \"BPE\""), std::string::npos);
}

TEST_F(TokenizerErrors, MergeOfUnknownPiece) {
  qf::Json j = good_;
  j["model"]["merges"].push_back(qf::Json(qf::Json::Array{"zz", "qq"}));
  EXPECT_NE(load_error(j).find("not in the vocab"), std::string::npos) << load_error(j);
}

TEST_F(TokenizerErrors, MalformedMergeString) {
  qf::Json j = good_;
  j["model"]["merges"].push_back("nospace");
  EXPECT_NE(load_error(j).find("model.merges["), std::string::npos) << load_error(j);
}

TEST_F(TokenizerErrors, HolesInIds) {
  qf::Json j = good_;
  j["model"]["vocab"]["!"] = 5000;
  EXPECT_NE(load_error(j).find("not dense"), std::string::npos) << load_error(j);
}

TEST_F(TokenizerErrors, DuplicateIds) {
  qf::Json j = good_;
  j["model"]["vocab"]["!"] = 3;
  EXPECT_NE(load_error(j).find("is used by both"), std::string::npos) << load_error(j);
}

TEST_F(TokenizerErrors, UnknownNormalizerIsRefusedByName) {
  qf::Json j = good_;
  j["normalizer"] = qf::Json(qf::Json::Object{{"type", "Lowercase"}});
  EXPECT_NE(load_error(j).find("normalizer 'Lowercase' is not supported"), std::string::npos);
}

// Qwen2's tokenizer.json normalizes to NFC: a decomposed "e + U+0301" then encodes like the
// precomposed U+00E9; without the normalizer it does not.
TEST_F(TokenizerErrors, NfcNormalizerComposesBeforeSplitting) {
  qf::Json j = good_;
  j["normalizer"] = qf::Json(qf::Json::Object{{"type", "NFC"}});
  ASSERT_EQ(load_error(j), "");
  auto nfc = qf::tok::load_tokenizer(dir_.string());
  auto plain = qf::tok::load_tokenizer(QF_HF_FIXTURES "/tokenizer_bpe");
  const std::string composed = "caf\xc3\xa9", decomposed = "cafe\xcc\x81";
  EXPECT_EQ(nfc->encode(decomposed, false), plain->encode(composed, false));
  EXPECT_NE(plain->encode(decomposed, false), plain->encode(composed, false));
  EXPECT_THROW(nfc->encode(std::string("a\xff"), false), qf::Error);
}

TEST_F(TokenizerErrors, DropoutIsRefused) {
  qf::Json j = good_;
  j["model"]["dropout"] = 0.1;
  EXPECT_NE(load_error(j).find("dropout"), std::string::npos);
}

TEST_F(TokenizerErrors, BadSplitRegex) {
  qf::Json j = good_;
  j["pre_tokenizer"]["pretokenizers"].as_array()[0]["pattern"]["Regex"] = "(\\p{L}+";
  const std::string e = load_error(j);
  EXPECT_NE(e.find("does not compile at offset"), std::string::npos) << e;
}

TEST_F(TokenizerErrors, UnknownPreTokenizer) {
  qf::Json j = good_;
  j["pre_tokenizer"] = qf::Json(qf::Json::Object{{"type", "Whitespace"}});
  EXPECT_NE(load_error(j).find("pre_tokenizer 'Whitespace' is not supported"), std::string::npos);
}

TEST_F(TokenizerErrors, BosTokenNotInVocab) {
  std::ofstream(dir_ / "tokenizer_config.json") << "{\"bos_token\": \"<s>\"}";
  const std::string e = load_error(good_);
  EXPECT_NE(e.find("tokenizer_config.json: bos_token '<s>' is not a token"), std::string::npos) << e;
}

TEST_F(TokenizerErrors, NoTokenizerInFolder) {
  try {
    qf::tok::load_tokenizer(dir_.string());
    FAIL() << "expected an error";
  } catch (const qf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json or tokenizer.model"), std::string::npos);
  }
}

TEST_F(TokenizerErrors, GarbageSentencePieceModel) {
  for (const std::string& bytes : {std::string(), std::string("\xff\xff\xff\xff not a proto", 17),
                                   slurp(QF_HF_FIXTURES "/tokenizer_spm/tokenizer.model").substr(0, 1000)}) {
    std::ofstream(dir_ / "tokenizer.model", std::ios::binary) << bytes;
    try {
      qf::tok::load_tokenizer(dir_.string());
      FAIL() << "expected an error for a " << bytes.size() << "-byte model";
    } catch (const qf::Error& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerInput, InvalidUtf8IsAnError) {
  auto tok = qf::tok::load_tokenizer(QF_HF_FIXTURES "/tokenizer_bpe");
  try {
    tok->encode(std::string("ab\xff" "cd"), false);
    FAIL() << "expected an error";
  } catch (const qf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte 2"), std::string::npos) << e.what();
  }
}

TEST(TokenizerInput, OutOfRangeIdIsAnError) {
  for (const char* f : {QF_HF_FIXTURES "/tokenizer_bpe", QF_HF_FIXTURES "/tokenizer_spm"}) {
    auto tok = qf::tok::load_tokenizer(f);
    EXPECT_THROW(tok->decode({1, 512}), qf::Error);
    EXPECT_THROW(tok->decode({-1}), qf::Error);
  }
}

}  // namespace
