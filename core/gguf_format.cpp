#include "core/gguf_format.h"

#include "core/error.h"

namespace qf::gguf {

const char* value_type_name(ValueType t) {
  static const char* const names[] = {"uint8", "int8",   "uint16", "int16",  "uint32",
                                      "int32", "float32", "bool",  "string", "array",
                                      "uint64", "int64", "float64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

const char* tensor_type_name(TensorType t) {
  switch (t) {
    case TensorType::kF32: return "F32";
    case TensorType::kF16: return "F16";
    case TensorType::kQ4_0: return "Q4_0";
    case TensorType::kQ8_0: return "Q8_0";
  }
  return "unknown";
}

bool is_known_tensor_type(uint32_t t) { return t == 0 || t == 1 || t == 2 || t == 8; }

int64_t block_elements(TensorType t) {
  return t == TensorType::kQ4_0 || t == TensorType::kQ8_0 ? 32 : 1;
}

int64_t block_bytes(TensorType t) {
  switch (t) {
    case TensorType::kF32: return 4;
    case TensorType::kF16: return 2;
    case TensorType::kQ4_0: return 18;
    case TensorType::kQ8_0: return 34;
  }
  return 0;
}

uint64_t tensor_bytes(TensorType t, const std::vector<int64_t>& ne) {
  if (ne.empty()) throw Error("a GGUF tensor needs at least one dimension");
  uint64_t n = 1;
  for (int64_t d : ne) {
    if (d <= 0) throw Error("GGUF tensor dimension " + std::to_string(d) + " is not positive");
    if (n > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) throw Error("GGUF tensor is too large");
    n *= static_cast<uint64_t>(d);
  }
  const int64_t be = block_elements(t);
  if (ne[0] % be != 0)
    throw Error(std::string(tensor_type_name(t)) + " tensor row of " + std::to_string(ne[0]) +
                " elements is not a multiple of its block size " + std::to_string(be));
  return n / static_cast<uint64_t>(be) * static_cast<uint64_t>(block_bytes(t));
}

Value Value::u32(uint32_t v) { Value x; x.type = ValueType::kUint32; x.u = v; return x; }
Value Value::i32(int32_t v) { Value x; x.type = ValueType::kInt32; x.i = v; return x; }
Value Value::u64(uint64_t v) { Value x; x.type = ValueType::kUint64; x.u = v; return x; }
Value Value::f32(float v) { Value x; x.type = ValueType::kFloat32; x.f = v; return x; }
Value Value::boolean(bool v) { Value x; x.type = ValueType::kBool; x.u = v ? 1 : 0; return x; }
Value Value::str(std::string v) { Value x; x.type = ValueType::kString; x.s = std::move(v); return x; }
Value Value::array(ValueType elem, std::vector<Value> items) {
  Value x;
  x.type = ValueType::kArray;
  x.elem = elem;
  for (const Value& v : items)
    if (v.type != elem) throw Error("GGUF array of " + std::string(value_type_name(elem)) +
                                    " holds a " + value_type_name(v.type));
  x.arr = std::move(items);
  return x;
}
Value Value::strings(const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(str(s));
  return array(ValueType::kString, std::move(items));
}
Value Value::f32s(const std::vector<float>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(f32(f));
  return array(ValueType::kFloat32, std::move(items));
}
Value Value::i32s(const std::vector<int32_t>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t i : v) items.push_back(i32(i));
  return array(ValueType::kInt32, std::move(items));
}

uint64_t Value::as_uint() const {
  switch (type) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: case ValueType::kUint64:
      return u;
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      if (i >= 0) return static_cast<uint64_t>(i);
      throw Error("GGUF value " + std::to_string(i) + " is negative where a count is expected");
    default:
      throw Error(std::string("GGUF value is a ") + value_type_name(type) + ", expected an integer");
  }
}
double Value::as_float() const {
  if (type == ValueType::kFloat32 || type == ValueType::kFloat64) return f;
  throw Error(std::string("GGUF value is a ") + value_type_name(type) + ", expected a float");
}
const std::string& Value::as_string() const {
  if (type == ValueType::kString) return s;
  throw Error(std::string("GGUF value is a ") + value_type_name(type) + ", expected a string");
}
bool Value::as_bool() const {
  if (type == ValueType::kBool) return u != 0;
  throw Error(std::string("GGUF value is a ") + value_type_name(type) + ", expected a bool");
}

}  // namespace qf::gguf
