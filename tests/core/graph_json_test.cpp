#include "core/graph_json.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace qf {
namespace {

Graph small_graph() {
  Graph g;
  g.family = "cnn";
  g.inputs.push_back({"x", "float32", {-1, 1, 8, 8}});
  Op conv;
  conv.kind = "conv2d";
  conv.name = "conv1";
  conv.inputs = {"x"};
  conv.outputs = {"c1"};
  conv.ints["kernel"] = {3, 3};
  conv.ints["padding"] = {1, 1};
  Op relu;
  relu.kind = "relu";
  relu.name = "relu1";
  relu.inputs = {"c1"};
  relu.outputs = {"r1"};
  Op ln;
  ln.kind = "layernorm";
  ln.name = "ln";
  ln.inputs = {"r1"};
  ln.outputs = {"y"};
  ln.floats["eps"] = 1e-5;
  ln.strings["note"] = "a \"quoted\" note";
  g.ops = {conv, relu, ln};
  g.outputs = {"y"};
  return g;
}

TEST(GraphJson, RoundTrip) {
  const Graph g = small_graph();
  const std::string s = graph_to_json_string(g);
  const Graph h = graph_from_json_string(s);
  EXPECT_EQ(h.family, "cnn");
  ASSERT_EQ(h.inputs.size(), 1u);
  EXPECT_EQ(h.inputs[0].shape, (std::vector<int64_t>{-1, 1, 8, 8}));
  ASSERT_EQ(h.ops.size(), 3u);
  EXPECT_EQ(h.ops[0].ints.at("padding"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(h.ops[2].float_attr("eps", 0), 1e-5);
  EXPECT_EQ(h.ops[2].strings.at("note"), "a \"quoted\" note");
  EXPECT_EQ(graph_to_json_string(h), s);
}

std::string error_of(const Graph& g) {
  try {
    graph_from_json_string(graph_to_json_string(g));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GraphJson, ValidationErrors) {
  Graph g = small_graph();
  g.ops[1].inputs = {"nope"};
  EXPECT_NE(error_of(g).find("op 'relu1' reads tensor 'nope'"), std::string::npos) << error_of(g);

  g = small_graph();
  std::swap(g.ops[0], g.ops[1]);  // relu before its producer
  EXPECT_NE(error_of(g).find("reads tensor 'c1'"), std::string::npos);

  g = small_graph();
  g.ops[1].name = "conv1";
  EXPECT_NE(error_of(g).find("op name 'conv1' is used twice"), std::string::npos);

  g = small_graph();
  g.ops[1].outputs = {"c1"};
  EXPECT_NE(error_of(g).find("produced twice"), std::string::npos);

  g = small_graph();
  g.outputs = {"zz"};
  EXPECT_NE(error_of(g).find("output 'zz'"), std::string::npos);

  g = small_graph();
  g.inputs[0].dtype = "float16";
  EXPECT_NE(error_of(g).find("dtype 'float16'"), std::string::npos);

  g = small_graph();
  g.ops[0].name = "a/b";
  EXPECT_NE(error_of(g).find("must not contain '/'"), std::string::npos);
}

TEST(GraphJson, WrongTypesNameTheKey) {
  const char* text = R"({"inputs": [{"name": "x", "dtype": "float32", "shape": [1]}], "outputs": ["y"],
    "ops": [{"kind": "relu", "name": "r", "inputs": ["x"], "outputs": ["y"], "ints": {"k": ["3"]}}]})";
  try {
    graph_from_json_string(text);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("ops[0] ('r')"), std::string::npos) << m;
    EXPECT_NE(m.find("ints.k"), std::string::npos) << m;
    EXPECT_NE(m.find("expected integer, got string"), std::string::npos) << m;
  }
  EXPECT_THROW(graph_from_json_string(R"({"inputs": [], "ops": []})"), Error);  // no outputs key
  EXPECT_THROW(graph_from_json_string("[]"), Error);
}

}  // namespace
}  // namespace qf
