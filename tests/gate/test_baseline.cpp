// Baseline files: parsing with file:line:key errors, and --update-baseline's in-place rewrite
// that keeps comments.
#include <gtest/gtest.h>

#include "gate/baseline.h"

using namespace qf::gate;

namespace {

const char* kBaseline = R"(# a comment that must survive
schema: 1
recipe: fashion_cnn_w4a8_sp24_kd   # the recipe
alpha: 0.05
metrics:
  accuracy:
    value: 92.8        # mean of the seeds
    seeds: [92.8, 92.7, 93.0]
  size_bytes: {value: 160000, tolerance_pct: 0.5}   # flow style
  validate:
    value: 1
# trailing comment
)";

std::string error_of(const std::string& text) {
  try {
    parse_baseline(text, "b.yaml");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Baseline, Parses) {
  const Baseline b = parse_baseline(kBaseline, "b.yaml");
  EXPECT_EQ(b.recipe, "fashion_cnn_w4a8_sp24_kd");
  EXPECT_DOUBLE_EQ(b.alpha, 0.05);
  ASSERT_EQ(b.metrics.size(), 3u);
  EXPECT_EQ(b.metrics[0].name, "accuracy");
  EXPECT_EQ(b.metrics[0].line, 6);
  EXPECT_EQ(b.metrics[0].seeds.size(), 3u);
  EXPECT_DOUBLE_EQ(b.metrics[1].tolerance_pct, 0.5);
  EXPECT_EQ(b.metrics[2].name, "validate");
}

TEST(Baseline, MalformedNamesFileLineAndKey) {
  EXPECT_EQ(error_of("recipe: x\nmetrics:\n  accuracy: {value: 9, tolerance: small}\n"),
            "b.yaml:3: key 'tolerance' in 'metrics.accuracy' must be a number, got 'small'");
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  acuracy: {value: 9}\n").find("b.yaml:3: key 'acuracy' in 'metrics' is not a metric"),
            std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  accuracy: {value: 9, tolerence: 1}\n").find("b.yaml:3: unknown key 'tolerence'"),
            std::string::npos);
  EXPECT_NE(error_of("metrics:\n  accuracy: {value: 9}\n").find("missing required key 'recipe'"), std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  accuracy: {tolerance: 1}\n").find("b.yaml:3: in 'metrics.accuracy': needs 'value' or 'seeds'"),
            std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  accuracy: {seeds: [1]}\n").find("key 'seeds'"), std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  accuracy: {value: 1, tolerance: -1}\n").find("must be >= 0"), std::string::npos);
  EXPECT_NE(error_of("recipe: x\nalpha: 0.7\nmetrics:\n  accuracy: {value: 1}\n").find("b.yaml:2: key 'alpha'"), std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics:\n  accuracy: 92\n").find("b.yaml:3: key 'accuracy' in 'metrics' must be a map"),
            std::string::npos);
  EXPECT_NE(error_of("recipe: x\nmetrics: [\n").find("b.yaml:"), std::string::npos);
}

TEST(Baseline, UpdateRewritesValuesAndKeepsComments) {
  const std::string out = update_baseline_text(
      kBaseline, "b.yaml",
      {{"accuracy", 92.5, {92.4, 92.6, 92.5}}, {"size_bytes", 150000, {}}, {"validate", 1, {}}});
  EXPECT_NE(out.find("# a comment that must survive"), std::string::npos);
  EXPECT_NE(out.find("    value: 92.5        # mean of the seeds\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    seeds: [92.4, 92.6, 92.5]\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  size_bytes: {value: 150000, tolerance_pct: 0.5}   # flow style\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# trailing comment"), std::string::npos);
  const Baseline b = parse_baseline(out, "b.yaml");
  EXPECT_DOUBLE_EQ(b.metrics[0].value.value(), 92.5);
  EXPECT_DOUBLE_EQ(b.metrics[1].value.value(), 150000);
}

TEST(Baseline, UpdateAddsMissingKeysAndMetrics) {
  const std::string text = "recipe: r\nmetrics:\n  validate:\n    tolerance: 0   # keep\n  agreement: {tolerance: 0, value: 1}\nother_top_level: 1\n";
  // 'other_top_level' makes the file invalid; use a valid one instead.
  const std::string valid = "recipe: r\nmetrics:\n  validate:\n    value: 1\n    tolerance: 0   # keep\n  agreement: {tolerance: 0, value: 1}\n";
  (void)text;
  const std::string out = update_baseline_text(valid, "b.yaml",
                                               {{"validate", 1, {}}, {"agreement", 0.99, {}}, {"accuracy", 91, {90.9, 91.1}}});
  const Baseline b = parse_baseline(out, "b.yaml");
  ASSERT_EQ(b.metrics.size(), 3u) << out;
  EXPECT_EQ(b.metrics[2].name, "accuracy");
  EXPECT_EQ(b.metrics[2].seeds.size(), 2u);
  EXPECT_DOUBLE_EQ(b.metrics[1].value.value(), 0.99);
  EXPECT_NE(out.find("tolerance: 0   # keep"), std::string::npos);
  // A flow map gains the seeds key inside its braces.
  const std::string out2 = update_baseline_text(valid, "b.yaml", {{"agreement", 1, {1, 1}}});
  EXPECT_NE(out2.find("  agreement: {tolerance: 0, value: 1, seeds: [1, 1]}\n"), std::string::npos) << out2;
}

TEST(Baseline, UpdateRefusesToDropSeedsSilently) {
  try {
    update_baseline_text(kBaseline, "b.yaml", {{"accuracy", 92.5, {}}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.yaml:8: metric 'accuracy' holds per-seed values"), std::string::npos) << e.what();
  }
}

TEST(Baseline, NewFileReadsBack) {
  const std::string t = new_baseline_text("r", {{"accuracy", 92.9, {92.8, 93.0}}, {"size_bytes", 1000, {}}});
  const Baseline b = parse_baseline(t, "new.yaml");
  EXPECT_EQ(b.recipe, "r");
  ASSERT_EQ(b.metrics.size(), 2u);
  EXPECT_DOUBLE_EQ(b.metrics[1].tolerance_pct, 0.5);
}

TEST(Baseline, NumbersAreWrittenShort) {
  EXPECT_EQ(format_number(92.959999999999994), "92.96");
  EXPECT_EQ(format_number(160000), "160000");
  EXPECT_EQ(format_number(0.1 + 0.2), "0.30000000000000004");
}
