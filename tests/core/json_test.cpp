#include "core/json.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace qf {
namespace {

TEST(Json, ParsesAllTypes) {
  Json j = Json::parse(R"( {"a": [1, -2, 3.5, 1e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "big": 12345678901234} )");
  const auto& a = j.at("a").as_array();
  ASSERT_EQ(a.size(), 7u);
  EXPECT_TRUE(a[0].is_int());
  EXPECT_EQ(a[1].as_int(), -2);
  EXPECT_EQ(a[2].as_double(), 3.5);
  EXPECT_FALSE(a[3].is_int());
  EXPECT_EQ(a[3].as_double(), 1000.0);
  EXPECT_TRUE(a[4].as_bool());
  EXPECT_TRUE(a[6].is_null());
  EXPECT_EQ(j.at("s").as_string(), "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(j.at("big").as_int(), 12345678901234);
}

TEST(Json, RoundTripDump) {
  Json j = Json::object();
  j["name"] = "tab\there \x01";
  j["pi"] = 3.141592653589793;
  j["one"] = 1.0;
  j["n"] = int64_t{-7};
  j["list"].push_back(Json());
  j["list"].push_back(true);
  const std::string s = j.dump();
  Json k = Json::parse(s);
  EXPECT_EQ(k.dump(), s);
  EXPECT_EQ(k.at("pi").as_double(), 3.141592653589793);
  EXPECT_FALSE(k.at("one").is_int());  // doubles stay doubles
  EXPECT_EQ(k.at("name").as_string(), "tab\there \x01");
}

std::string parse_error(const std::string& text, int depth = Json::kDefaultMaxDepth) {
  try {
    Json::parse(text, depth);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Json, RejectsMalformedWithPosition) {
  const char* bad[] = {"", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "01", "1.", "-", "1e", "tru",
                       "\"abc", "\"a\nb\"", "\"\\x\"", "\"\\u12G4\"", "\"\\ud800\"", "[1 2]",
                       "{\"a\" 1}", "1 2", "NaN", "{\"a\":1,\"a\":2}", "[\"\\udc00\"]", "1e999"};
  for (const char* t : bad) {
    const std::string e = parse_error(t);
    EXPECT_NE(e.find("JSON parse error at offset"), std::string::npos) << "input: " << t << " -> " << e;
  }
  EXPECT_NE(parse_error("{\n  \"a\": x}").find("line 2, column 8"), std::string::npos)
      << parse_error("{\n  \"a\": x}");
  EXPECT_NE(parse_error("{\"a\":1,\"a\":2}").find("duplicate"), std::string::npos);
}

TEST(Json, DepthLimitStopsDeepNesting) {
  std::string deep(100000, '[');
  EXPECT_NE(parse_error(deep).find("nesting deeper than 64"), std::string::npos);
  std::string ok = std::string(10, '[') + std::string(10, ']');
  EXPECT_EQ(parse_error(ok, 10), "");
  EXPECT_NE(parse_error(ok, 9), "");
}

TEST(Json, TypedAccessErrors) {
  Json j = Json::parse("{\"a\": \"x\"}");
  EXPECT_THROW(j.at("a").as_int(), Error);
  EXPECT_THROW(j.at("b"), Error);
  EXPECT_THROW(j.as_array(), Error);
  EXPECT_EQ(Json::parse("2.0").as_int(), 2);
  EXPECT_THROW(Json::parse("2.5").as_int(), Error);
}

TEST(Json, NonFiniteCannotBeWritten) {
  EXPECT_THROW(Json(std::numeric_limits<double>::infinity()).dump(), Error);
}

}  // namespace
}  // namespace qf
