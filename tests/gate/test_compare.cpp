// compare(): verdicts and messages for each rule, and the report writers.
#include <gtest/gtest.h>

#include <cmath>

#include "gate/compare.h"
#include "gate/report_writers.h"

using namespace qf::gate;

namespace {

Baseline baseline(const std::string& metrics_yaml, double alpha = 0.01) {
  return parse_baseline("recipe: r\nalpha: " + std::to_string(alpha) + "\nmetrics:\n" + metrics_yaml, "b.yaml");
}

}  // namespace

TEST(Compare, MarginRule) {
  const Baseline b = baseline("  accuracy: {value: 92.9, tolerance: 0.5}\n  size_bytes: {value: 1000, tolerance_pct: 1}\n");
  EXPECT_TRUE(compare(b, {{"accuracy", {92.5}}, {"size_bytes", {1010}}}, "t").passed());
  const CheckReport r = compare(b, {{"accuracy", {92.3}}, {"size_bytes", {1011}}}, "t");
  EXPECT_EQ(r.failures(), 2);
  EXPECT_NE(r.results[0].message.find("beyond the allowed drop of 0.5 from 92.9"), std::string::npos) << r.results[0].message;
  EXPECT_NE(r.results[1].message.find("beyond the allowed rise of 10"), std::string::npos) << r.results[1].message;
  // Better is never a failure.
  EXPECT_TRUE(compare(b, {{"accuracy", {99}}, {"size_bytes", {10}}}, "t").passed());
}

TEST(Compare, StatisticalRuleSingleAndSeveralCandidates) {
  const Baseline b = baseline("  accuracy: {seeds: [92.83, 92.66, 92.55, 93.05, 92.87]}\n", 0.01);
  const CheckReport ok = compare(b, {{"accuracy", {92.6}}}, "t");
  EXPECT_TRUE(ok.passed()) << ok.results[0].message;
  EXPECT_EQ(ok.results[0].rule, "prediction");
  const CheckReport bad = compare(b, {{"accuracy", {91.0}}}, "t");
  EXPECT_FALSE(bad.passed());
  EXPECT_NE(bad.results[0].message.find("beyond noise"), std::string::npos) << bad.results[0].message;
  const CheckReport several = compare(b, {{"accuracy", {92.1, 92.0, 92.2}}}, "t");
  EXPECT_EQ(several.results[0].rule, "t-test");
  EXPECT_FALSE(several.passed()) << several.results[0].message;
  EXPECT_TRUE(compare(b, {{"accuracy", {92.8, 92.7, 92.9}}}, "t").passed());
}

TEST(Compare, ToleranceIsAMinimumEffectForTheStatisticalRule) {
  // Seeds with almost no spread: a 0.05 drop is significant, but within the tolerance.
  const Baseline b = baseline("  accuracy: {seeds: [93.0, 93.001, 92.999], tolerance: 0.1}\n");
  const CheckReport r = compare(b, {{"accuracy", {92.95}}}, "t");
  EXPECT_TRUE(r.passed()) << r.results[0].message;
  EXPECT_NE(r.results[0].message.find("within the tolerance"), std::string::npos);
  EXPECT_FALSE(compare(b, {{"accuracy", {92.8}}}, "t").passed());
}

TEST(Compare, LowerIsBetterMetrics) {
  const Baseline b = baseline("  perplexity: {seeds: [5.1, 5.2, 5.15, 5.12]}\n");
  EXPECT_TRUE(compare(b, {{"perplexity", {4.0}}}, "t").passed());
  EXPECT_FALSE(compare(b, {{"perplexity", {6.0}}}, "t").passed());
}

TEST(Compare, UnmeasuredMetricIsBadInputNamingTheLine) {
  const Baseline b = baseline("  accuracy: {value: 1}\n  perplexity: {value: 5}\n");
  try {
    compare(b, {{"accuracy", {1}}}, "model.qf.h5");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.yaml:5: metric 'perplexity' is not measured for model.qf.h5"), std::string::npos)
        << e.what();
  }
}

TEST(Compare, NonFiniteCandidateFails) {
  const Baseline b = baseline("  perplexity: {value: 5, tolerance_pct: 5}\n");
  EXPECT_FALSE(compare(b, {{"perplexity", {std::nan("")}}}, "t").passed());
}

TEST(ReportWriters, TableJsonAndEscaping) {
  const Baseline b = baseline("  accuracy: {value: 92.9, tolerance: 0.5}\n  validate: {value: 1}\n");
  const CheckReport r = compare(b, {{"accuracy", {90}}, {"validate", {1}}}, "a<b>&\"c\".qf.h5");
  const std::string table = report_table(r);
  EXPECT_NE(table.find("REGRESSION: 1 of 2 metrics failed"), std::string::npos) << table;
  const std::string xml = report_junit_xml(r);
  EXPECT_NE(xml.find("value=\"a&lt;b&gt;&amp;&quot;c&quot;.qf.h5\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"qforge.check.r\" name=\"accuracy\""), std::string::npos);
  EXPECT_NE(xml.find("failures=\"1\""), std::string::npos);
  const std::string json = report_json(r);
  EXPECT_NE(json.find("\"passed\":false"), std::string::npos) << json;
  EXPECT_EQ(xml_escape(std::string("a\x01z")), "a?z");
}
