// Test tool: do two GGUF files hold the same model? Compares, with the project's strict reader,
// every metadata key (type and value; general.name is allowed to differ) and every tensor (name,
// order, shape, type and data bytes). With --values, tensors are compared by value instead
// (dequantized to float32, exact equality; types may differ), and so may general.file_type and
// general.quantization_version.
// Prints the first differences; exit 0 same, 1 different, 2 unreadable.
//   gguf_diff [--values] A.gguf B.gguf
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>

#include "runtime/gguf_reader.h"

using qf::gguf::Value;

namespace {

bool same_value(const Value& a, const Value& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || a.s != b.s || a.arr.size() != b.arr.size()) return false;
  if (!(a.f == b.f) && !(a.f != a.f && b.f != b.f)) return false;
  if (!a.arr.empty() && a.elem != b.elem) return false;
  for (size_t i = 0; i < a.arr.size(); ++i)
    if (!same_value(a.arr[i], b.arr[i])) return false;
  return true;
}

// Keys that name the storage types, not the model: --values compares models stored differently.
bool ignored_by_values(const std::string& key) {
  return key == "general.file_type" || key == "general.quantization_version";
}

}  // namespace

int main(int argc, char** argv) {
  const bool values = argc == 4 && std::string(argv[1]) == "--values";
  if (argc != 3 && !values) {
    std::fprintf(stderr, "usage: gguf_diff [--values] A.gguf B.gguf\n");
    return 2;
  }
  if (values) argv += 1;
  qf::gguf::File a, b;
  try {
    a = qf::gguf::read_gguf(argv[1]);
    b = qf::gguf::read_gguf(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf_diff: %s\n", e.what());
    return 2;
  }
  int diffs = 0;
  auto report = [&](const std::string& what) {
    if (++diffs <= 20) std::printf("differs: %s\n", what.c_str());
  };
  for (const auto& kv : a.metadata) {
    if (kv.key == "general.name" || (values && ignored_by_values(kv.key))) continue;
    const Value* other = b.find(kv.key);
    if (!other) report("key " + kv.key + " only in " + argv[1]);
    else if (!same_value(kv.value, *other)) report("value of " + kv.key);
  }
  for (const auto& kv : b.metadata)
    if (kv.key != "general.name" && !(values && ignored_by_values(kv.key)) && !a.find(kv.key)) report("key " + kv.key + " only in " + argv[2]);
  if (a.tensors.size() != b.tensors.size()) report("number of tensors");
  for (size_t i = 0; i < a.tensors.size() && i < b.tensors.size(); ++i) {
    const auto &ta = a.tensors[i], &tb = b.tensors[i];
    if (ta.name != tb.name) { report("tensor " + std::to_string(i) + ": " + ta.name + " vs " + tb.name); continue; }
    if (ta.ne != tb.ne) { report("shape of " + ta.name); continue; }
    if (values) {
      if (qf::gguf::dequantize(a, ta) != qf::gguf::dequantize(b, tb)) report("values of " + ta.name);
      continue;
    }
    if (ta.type != tb.type) { report("type of " + ta.name); continue; }
    const uint64_t n = qf::gguf::tensor_bytes(ta.type, ta.ne);
    if (std::memcmp(a.data(ta), b.data(tb), n) != 0) report("data of " + ta.name);
  }
  std::printf("%s: %zu keys, %zu tensors; %d difference(s)\n", diffs ? "DIFFERENT" : "same", a.metadata.size(),
              a.tensors.size(), diffs);
  return diffs ? 1 : 0;
}
