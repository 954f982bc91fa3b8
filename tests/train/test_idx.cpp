// IDX reader and Fashion-MNIST loader: the real dataset (Debian's dataset-fashion-mnist) and
// hand-made malformed files in a temporary folder.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"
#include "train/fashion_mnist.h"
#include "train/idx.h"
#include "train/recipe.h"
#include "train/models.h"
#include "train/task.h"

namespace {

namespace fs = std::filesystem;

struct TempDir : qf::test::TempDir {
  TempDir() : qf::test::TempDir("qforge-idx") {}
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream os(path, std::ios::binary);
  os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

// A valid ubyte IDX image: header + dims + data.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, size_t data_bytes, uint8_t type = 0x08) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  return b;
}

// Runs f, expects a std::runtime_error whose message contains every needle.
template <typename F>
void expect_error(F f, const std::vector<std::string>& needles) {
  try {
    f();
    FAIL() << "expected an error containing '" << needles.front() << "'";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg << "\nmissing: " << n;
  }
}

bool fashion_installed() { return fs::exists(std::string(qf::kFashionMnistDefaultDir) + "/t10k-labels-idx1-ubyte.gz"); }

TEST(FashionMnist, RealTestSplitLoads) {
  if (!fashion_installed()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const qf::ImageDataset ds = qf::load_fashion_mnist(qf::kFashionMnistDefaultDir, "test");
  ASSERT_EQ(ds.n, 10000);
  EXPECT_EQ(ds.rows, 28);
  EXPECT_EQ(ds.cols, 28);
  EXPECT_EQ(ds.num_classes, 10);
  EXPECT_EQ(ds.images.size(), size_t{10000} * 28 * 28);
  ASSERT_EQ(ds.labels.size(), size_t{10000});
  std::array<int, 10> per_class{};
  for (int64_t l : ds.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    ++per_class[static_cast<size_t>(l)];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[static_cast<size_t>(c)], 1000) << "class " << c;
  // Pixel statistics of the raw bytes are close to the published normalisation constants.
  double sum = 0, sq = 0;
  for (uint8_t p : ds.images) {
    const double x = p / 255.0;
    sum += x;
    sq += x * x;
  }
  const double mean = sum / static_cast<double>(ds.images.size());
  const double sd = std::sqrt(sq / static_cast<double>(ds.images.size()) - mean * mean);
  EXPECT_NEAR(mean, qf::kFashionMnistMean, 0.01);
  EXPECT_NEAR(sd, qf::kFashionMnistStd, 0.01);
}

TEST(FashionMnist, TrainLabelsHave60000) {
  if (!fashion_installed()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const qf::IdxArray a = qf::read_idx(std::string(qf::kFashionMnistDefaultDir) + "/train-labels-idx1-ubyte.gz");
  ASSERT_EQ(a.dims, (std::vector<int64_t>{60000}));
  EXPECT_EQ(a.data.size(), size_t{60000});
}

TEST(FashionMnist, MissingDirectoryNamesThePackage) {
  expect_error([] { qf::load_fashion_mnist("/nonexistent/qforge/fmnist", qf::Split::Train); },
               {"Fashion-MNIST not found at /nonexistent/qforge/fmnist",
                "apt-get install dataset-fashion-mnist"});
}

TEST(FashionMnist, MissingFileNamesThePackage) {
  TempDir dir;
  expect_error([&] { qf::load_fashion_mnist(dir.path(), qf::Split::Test); },
               {"Fashion-MNIST not found at " + dir.file("t10k-images-idx3-ubyte.gz"),
                "apt-get install dataset-fashion-mnist"});
}

TEST(FashionMnist, UncompressedFilesWorkToo) {
  TempDir dir;
  std::vector<uint8_t> pixels(3 * 28 * 28, 9);
  qf::write_idx(dir.file("train-images-idx3-ubyte"), {3, 28, 28}, pixels);
  qf::write_idx(dir.file("train-labels-idx1-ubyte"), {3}, {0, 9, 4});
  const qf::ImageDataset ds = qf::load_fashion_mnist(dir.path(), "train");
  EXPECT_EQ(ds.n, 3);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 9, 4}));
  EXPECT_EQ(ds.images, pixels);
}

TEST(FashionMnist, SplitNames) {
  EXPECT_EQ(qf::parse_split("train"), qf::Split::Train);
  EXPECT_EQ(qf::parse_split("test"), qf::Split::Test);
  EXPECT_THROW(qf::parse_split("validation"), std::invalid_argument);
}

TEST(FashionMnist, NormalizeMatchesFormula) {
  const std::vector<uint8_t> src = {0, 128, 255};
  std::vector<float> dst(3);
  qf::normalize_images(src.data(), src.size(), qf::kFashionMnistMean, qf::kFashionMnistStd, dst.data());
  for (size_t i = 0; i < 3; ++i)
    EXPECT_FLOAT_EQ(dst[i], (src[i] / 255.0f - 0.2860f) / 0.3530f);
  EXPECT_NEAR(dst[0], -0.8102, 1e-3);
  EXPECT_NEAR(dst[2], 2.0227, 1e-3);
}

TEST(Idx, RoundTripPlainAndGzip) {
  TempDir dir;
  const std::vector<uint8_t> bytes = idx_bytes({2, 3, 4}, 24);
  write_bytes(dir.file("a.idx"), bytes);
  write_gz(dir.file("a.idx.gz"), bytes);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const qf::IdxArray a = qf::read_idx(dir.file(name));
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 4})) << name;
    ASSERT_EQ(a.data.size(), size_t{24}) << name;
    EXPECT_EQ(a.data[5], 35) << name;
    EXPECT_EQ(a.numel(), 24);
  }
}

TEST(Idx, BadMagic) {
  TempDir dir;
  std::vector<uint8_t> b = idx_bytes({4}, 4);
  b[0] = 0x1f;
  write_bytes(dir.file("bad.idx"), b);
  expect_error([&] { qf::read_idx(dir.file("bad.idx")); }, {dir.file("bad.idx"), "bad IDX magic"});
}

TEST(Idx, UnsupportedTypeIsNamed) {
  TempDir dir;
  write_bytes(dir.file("f.idx"), idx_bytes({4}, 16, 0x0D));
  expect_error([&] { qf::read_idx(dir.file("f.idx")); }, {dir.file("f.idx"), "0x0D", "float32", "only 0x08"});
  write_bytes(dir.file("g.idx"), idx_bytes({4}, 4, 0x42));
  expect_error([&] { qf::read_idx(dir.file("g.idx")); }, {"invalid element type byte 0x42"});
}

TEST(Idx, ZeroDimsRejected) {
  TempDir dir;
  write_bytes(dir.file("z.idx"), {0, 0, 8, 0});
  expect_error([&] { qf::read_idx(dir.file("z.idx")); }, {"0 dimensions"});
}

TEST(Idx, AbsurdDimsRejectedBeforeAllocating) {
  TempDir dir;
  write_bytes(dir.file("huge.idx"), idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 0));
  expect_error([&] { qf::read_idx(dir.file("huge.idx")); },
               {dir.file("huge.idx"), "4294967295 x 4294967295 x 4294967295", "exceed the limit"});
}

TEST(Idx, TruncatedData) {
  TempDir dir;
  std::vector<uint8_t> b = idx_bytes({10, 5}, 50);
  b.resize(b.size() - 7);
  write_bytes(dir.file("t.idx"), b);
  expect_error([&] { qf::read_idx(dir.file("t.idx")); }, {dir.file("t.idx"), "truncated IDX data", "50", "43"});
  write_gz(dir.file("t.idx.gz"), b);
  expect_error([&] { qf::read_idx(dir.file("t.idx.gz")); }, {"truncated IDX data"});
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  write_bytes(dir.file("h.idx"), {0, 0, 8, 3, 0, 0});
  expect_error([&] { qf::read_idx(dir.file("h.idx")); }, {"truncated IDX header"});
  write_bytes(dir.file("e.idx"), {});
  expect_error([&] { qf::read_idx(dir.file("e.idx")); }, {"too short"});
}

TEST(Idx, TruncatedGzipStream) {
  TempDir dir;
  const std::vector<uint8_t> b = idx_bytes({4000}, 4000);
  write_gz(dir.file("c.gz"), b);
  std::ifstream is(dir.file("c.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_bytes(dir.file("c.gz"), gz);
  expect_error([&] { qf::read_idx(dir.file("c.gz")); }, {dir.file("c.gz"), "truncated"});
}

TEST(Idx, TrailingGarbage) {
  TempDir dir;
  std::vector<uint8_t> b = idx_bytes({3}, 3);
  b.push_back(0xAB);
  b.push_back(0xCD);
  write_bytes(dir.file("g.idx"), b);
  expect_error([&] { qf::read_idx(dir.file("g.idx")); }, {dir.file("g.idx"), "trailing garbage", "2 extra byte"});
  write_gz(dir.file("g.idx.gz"), b);
  expect_error([&] { qf::read_idx(dir.file("g.idx.gz")); }, {"trailing garbage"});
}

TEST(Idx, MissingFile) {
  expect_error([] { qf::read_idx("/nonexistent/x.idx"); }, {"/nonexistent/x.idx", "cannot open"});
}

TEST(IdxClassification, CountMismatchNamesBothFiles) {
  TempDir dir;
  qf::write_idx(dir.file("img"), {5, 2, 2}, std::vector<uint8_t>(20, 1));
  qf::write_idx(dir.file("lab"), {4}, {0, 1, 2, 3});
  expect_error([&] { qf::load_idx_classification(dir.file("img"), dir.file("lab")); },
               {"count mismatch", dir.file("img") + " has 5 images", dir.file("lab") + " has 4 labels"});
}

TEST(IdxClassification, LabelOutOfRange) {
  TempDir dir;
  qf::write_idx(dir.file("img"), {3, 2, 2}, std::vector<uint8_t>(12, 1));
  qf::write_idx(dir.file("lab"), {3}, {0, 10, 3});
  expect_error([&] { qf::load_idx_classification(dir.file("img"), dir.file("lab"), 10); },
               {dir.file("lab"), "label 10 at index 1", "< 10"});
  // Without a class count it is inferred.
  EXPECT_EQ(qf::load_idx_classification(dir.file("img"), dir.file("lab")).num_classes, 11);
}

// The recipe's data.num_classes reaches the loader: a label outside [0, num_classes) in either
// file fails naming the file and the example's index (it used to be ignored, and the label
// silently widened the classifier).
TEST(IdxClassification, RecipeNumClassesBoundsTheLabels) {
  TempDir dir;
  qf::write_idx(dir.file("img"), {4, 2, 2}, std::vector<uint8_t>(16, 7));
  qf::write_idx(dir.file("lab"), {4}, {0, 1, 2, 1});
  qf::write_idx(dir.file("bad"), {4}, {0, 1, 1, 5});
  auto recipe = [&](const std::string& train_labels, const std::string& test_labels, int classes) {
    return qf::load_recipe_from_string(
        "name: t\nmodel: {family: mlp, hidden: []}\n"
        "data: {dataset: idx, path: " + dir.path() + ", train_images: img, train_labels: " + train_labels +
            ", test_images: img, test_labels: " + test_labels + ", num_classes: " + std::to_string(classes) +
            "}\ntrain: {epochs: 1}\n",
        "idx.yaml");
  };
  EXPECT_EQ(qf::train::make_task(recipe("lab", "lab", 3))->input_shape().classes, 3);
  EXPECT_EQ(qf::train::make_task(recipe("lab", "lab", 0))->input_shape().classes, 3);  // inferred
  expect_error([&] { qf::train::make_task(recipe("lab", "lab", 2)); }, {dir.file("lab"), "label 2 at index 2", "< 2"});
  expect_error([&] { qf::train::make_task(recipe("bad", "lab", 4)); }, {dir.file("bad"), "label 5 at index 3", "< 4"});
  // Inferred from the training labels (3 classes), the test file's 5 is out of range.
  expect_error([&] { qf::train::make_task(recipe("lab", "bad", 0)); }, {dir.file("bad"), "label 5 at index 3", "< 3"});
}

TEST(IdxClassification, WrongRank) {
  TempDir dir;
  qf::write_idx(dir.file("img"), {3, 4}, std::vector<uint8_t>(12, 1));
  qf::write_idx(dir.file("lab"), {3}, {0, 1, 2});
  expect_error([&] { qf::load_idx_classification(dir.file("img"), dir.file("lab")); },
               {dir.file("img"), "expected 3 dims"});
}

}  // namespace
