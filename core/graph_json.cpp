#include "core/graph_json.h"

#include <set>

#include "core/error.h"

namespace qf {

Json graph_to_json(const Graph& g) {
  Json j = Json::object();
  j["family"] = g.family;
  Json ins = Json::array();
  for (const TensorSpec& t : g.inputs) {
    Json shape = Json::array();
    for (int64_t d : t.shape) shape.push_back(d);
    Json ti = Json::object();
    ti["name"] = t.name;
    ti["dtype"] = t.dtype;
    ti["shape"] = shape;
    ins.push_back(ti);
  }
  j["inputs"] = ins;
  Json outs = Json::array();
  for (const std::string& o : g.outputs) outs.push_back(o);
  j["outputs"] = outs;
  Json ops = Json::array();
  for (const Op& op : g.ops) {
    Json jo = Json::object();
    jo["kind"] = op.kind;
    jo["name"] = op.name;
    Json in = Json::array(), out = Json::array();
    for (const auto& s : op.inputs) in.push_back(s);
    for (const auto& s : op.outputs) out.push_back(s);
    jo["inputs"] = in;
    jo["outputs"] = out;
    Json ints = Json::object(), floats = Json::object(), strings = Json::object();
    for (const auto& kv : op.ints) {
      Json a = Json::array();
      for (int64_t v : kv.second) a.push_back(v);
      ints[kv.first] = a;
    }
    for (const auto& kv : op.floats) floats[kv.first] = kv.second;
    for (const auto& kv : op.strings) strings[kv.first] = kv.second;
    jo["ints"] = ints;
    jo["floats"] = floats;
    jo["strings"] = strings;
    ops.push_back(jo);
  }
  j["ops"] = ops;
  return j;
}

std::string graph_to_json_string(const Graph& g) { return graph_to_json(g).dump(); }

namespace {

// Runs `f`, prefixing any qf::Error with `where` so messages name the op and key.
template <class F>
auto in_context(const std::string& where, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error("graph: " + where + ": " + e.what());
  }
}

std::vector<std::string> string_list(const Json& j) {
  std::vector<std::string> out;
  for (const Json& v : j.as_array()) out.push_back(v.as_string());
  return out;
}

}  // namespace

Graph graph_from_json(const Json& j) {
  Graph g;
  in_context("top level", [&] {
    j.as_object();
    if (j.contains("family")) g.family = j.at("family").as_string();
    return 0;
  });
  // Pointers, not references: GCC 13 cannot see that the lambda's result outlives the call.
  const Json::Array* ins_ptr = &in_context("'inputs'", [&]() -> const Json::Array& { return j.at("inputs").as_array(); });
  const Json::Array& ins = *ins_ptr;
  for (size_t i = 0; i < ins.size(); ++i) {
    in_context("inputs[" + std::to_string(i) + "]", [&] {
      TensorSpec t;
      t.name = ins[i].at("name").as_string();
      t.dtype = ins[i].at("dtype").as_string();
      for (const Json& d : ins[i].at("shape").as_array()) t.shape.push_back(d.as_int());
      g.inputs.push_back(std::move(t));
      return 0;
    });
  }
  g.outputs = in_context("'outputs'", [&] { return string_list(j.at("outputs")); });
  const Json::Array* ops_ptr = &in_context("'ops'", [&]() -> const Json::Array& { return j.at("ops").as_array(); });
  const Json::Array& ops = *ops_ptr;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Json& jo = ops[i];
    std::string where = "ops[" + std::to_string(i) + "]";
    if (jo.is_object() && jo.contains("name") && jo.at("name").is_string())
      where += " ('" + jo.at("name").as_string() + "')";
    in_context(where, [&] {
      Op op;
      op.kind = jo.at("kind").as_string();
      op.name = jo.at("name").as_string();
      op.inputs = in_context("'inputs'", [&] { return string_list(jo.at("inputs")); });
      op.outputs = in_context("'outputs'", [&] { return string_list(jo.at("outputs")); });
      if (jo.contains("ints"))
        for (const auto& kv : jo.at("ints").as_object())
          in_context("ints." + kv.first, [&] {
            std::vector<int64_t> v;
            for (const Json& x : kv.second.as_array()) v.push_back(x.as_int());
            op.ints[kv.first] = v;
            return 0;
          });
      if (jo.contains("floats"))
        for (const auto& kv : jo.at("floats").as_object())
          op.floats[kv.first] = in_context("floats." + kv.first, [&] { return kv.second.as_double(); });
      if (jo.contains("strings"))
        for (const auto& kv : jo.at("strings").as_object())
          op.strings[kv.first] = in_context("strings." + kv.first, [&] { return kv.second.as_string(); });
      g.ops.push_back(std::move(op));
      return 0;
    });
  }
  validate_graph(g);
  return g;
}

Graph graph_from_json_string(const std::string& text) {
  return graph_from_json(Json::parse(text));
}

static void check_name(const std::string& what, const std::string& name) {
  if (name.empty()) throw Error("graph: " + what + " has an empty name");
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    throw Error("graph: " + what + " name '" + name + "' must not contain '/' or be '.'/'..'");
}

void validate_graph(const Graph& g) {
  std::set<std::string> tensors, op_names;
  for (const TensorSpec& t : g.inputs) {
    check_name("input", t.name);
    if (t.dtype != "float32" && t.dtype != "int64")
      throw Error("graph: input '" + t.name + "' has dtype '" + t.dtype +
                  "' (expected float32 or int64)");
    if (t.shape.empty()) throw Error("graph: input '" + t.name + "' has an empty shape");
    for (int64_t d : t.shape)
      if (d == 0 || d < -1)
        throw Error("graph: input '" + t.name + "' has invalid dimension " + std::to_string(d));
    if (!tensors.insert(t.name).second)
      throw Error("graph: input name '" + t.name + "' is used twice");
  }
  for (const Op& op : g.ops) {
    check_name("op of kind '" + op.kind + "'", op.name);
    if (op.kind.empty()) throw Error("graph: op '" + op.name + "' has no kind");
    if (!op_names.insert(op.name).second)
      throw Error("graph: op name '" + op.name + "' is used twice");
    for (const std::string& in : op.inputs)
      if (!tensors.count(in))
        throw Error("graph: op '" + op.name + "' reads tensor '" + in +
                    "', which is neither a graph input nor produced by an earlier op");
    if (op.outputs.empty()) throw Error("graph: op '" + op.name + "' has no outputs");
    for (const std::string& out : op.outputs) {
      check_name("output of op '" + op.name + "'", out);
      if (!tensors.insert(out).second)
        throw Error("graph: tensor '" + out + "' (output of op '" + op.name +
                    "') is produced twice");
    }
  }
  if (g.outputs.empty()) throw Error("graph: no outputs");
  for (const std::string& o : g.outputs)
    if (!tensors.count(o)) throw Error("graph: output '" + o + "' is not produced by any op");
}

}  // namespace qf
