// GGUF v3, llama.cpp's model file format, as data: metadata value types, tensor types and the
// in-memory form shared by the writer (export/gguf_writer.h) and the strict reader
// (runtime/gguf_reader.h). Layout (little-endian):
//   "GGUF" u32 version=3, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 value type, value), n_tensors x (string name, u32 n_dims,
//   u64 ne[n_dims] (ne[0] fastest), u32 ggml type, u64 offset into the data section),
//   zero padding to `general.alignment` (32), the data section (each tensor at an aligned offset).
//   A string is u64 length + bytes (no NUL); an array is u32 element type, u64 count, elements.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kVersion = 3;
inline constexpr uint64_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* value_type_name(ValueType t);

// ggml tensor types this project writes and reads (ggml's numbering).
enum class TensorType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8 };
const char* tensor_type_name(TensorType t);
bool is_known_tensor_type(uint32_t t);
int64_t block_elements(TensorType t);  // 1 (F32, F16) or 32 (Q4_0, Q8_0)
int64_t block_bytes(TensorType t);     // 4, 2, 18, 34
// Bytes of a tensor with ne[0] = row elements (must be a multiple of block_elements) and n rows.
uint64_t tensor_bytes(TensorType t, const std::vector<int64_t>& ne);

// One metadata value. Scalars keep their exact type; arrays are homogeneous (arrays of arrays
// are legal GGUF but unused by llama.cpp's keys; the reader accepts them).
struct Value {
  ValueType type = ValueType::kUint32;
  uint64_t u = 0;     // unsigned integers, bool
  int64_t i = 0;      // signed integers
  double f = 0.0;     // float32 (exactly representable), float64
  std::string s;      // string
  ValueType elem = ValueType::kUint32;  // array element type
  std::vector<Value> arr;

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value array(ValueType elem, std::vector<Value> items);
  static Value strings(const std::vector<std::string>& v);
  static Value f32s(const std::vector<float>& v);
  static Value i32s(const std::vector<int32_t>& v);

  // Typed reads for consumers; throw qf::Error naming the expected type.
  uint64_t as_uint() const;  // any unsigned integer type (and non-negative signed)
  double as_float() const;   // float32 / float64
  const std::string& as_string() const;
  bool as_bool() const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous (innermost) dimension
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;      // relative to the data section
};

}  // namespace qf::gguf
