#include "runtime/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fp16.h"
#include "core/ggml_blocks.h"

namespace qf::gguf {
namespace {

constexpr int kMaxArrayDepth = 4;

class In {
 public:
  In(const std::vector<uint8_t>& b, const std::string& name) : b_(b), name_(name) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": malformed GGUF at byte " + std::to_string(pos_) + ": " + what);
  }
  void need(uint64_t n) const {
    if (n > b_.size() - pos_) fail("truncated (needs " + std::to_string(n) + " more bytes)");
  }
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return b_.size() - pos_; }

 private:
  const std::vector<uint8_t>& b_;
  std::string name_;
  uint64_t pos_ = 0;
};

Value read_value(In& in, ValueType t, int depth, const std::string& key) {
  Value v;
  v.type = t;
  switch (t) {
    case ValueType::kUint8: v.u = in.get<uint8_t>(); break;
    case ValueType::kInt8: v.i = in.get<int8_t>(); break;
    case ValueType::kUint16: v.u = in.get<uint16_t>(); break;
    case ValueType::kInt16: v.i = in.get<int16_t>(); break;
    case ValueType::kUint32: v.u = in.get<uint32_t>(); break;
    case ValueType::kInt32: v.i = in.get<int32_t>(); break;
    case ValueType::kFloat32: v.f = in.get<float>(); break;
    case ValueType::kBool: {
      const auto b = in.get<uint8_t>();
      if (b > 1) in.fail("key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
      v.u = b;
      break;
    }
    case ValueType::kString: v.s = in.str(); break;
    case ValueType::kUint64: v.u = in.get<uint64_t>(); break;
    case ValueType::kInt64: v.i = in.get<int64_t>(); break;
    case ValueType::kFloat64: v.f = in.get<double>(); break;
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) in.fail("key '" + key + "': arrays nested too deeply");
      const auto et = in.get<uint32_t>();
      if (et > 12) in.fail("key '" + key + "': unknown array element type " + std::to_string(et));
      const auto n = in.get<uint64_t>();
      if (n > in.left()) in.fail("key '" + key + "': array of " + std::to_string(n) + " elements cannot fit");
      v.elem = static_cast<ValueType>(et);
      v.arr.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.arr.push_back(read_value(in, v.elem, depth + 1, key));
      break;
    }
    default:
      in.fail("key '" + key + "': unknown value type " + std::to_string(static_cast<uint32_t>(t)));
  }
  return v;
}

}  // namespace

const Value* File::find(const std::string& key) const {
  for (const KeyValue& kv : metadata)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const Value& File::at(const std::string& key) const {
  const Value* v = find(key);
  if (!v) throw Error("GGUF: missing key '" + key + "'");
  return *v;
}

const TensorInfo* File::tensor(const std::string& name) const {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

File parse_gguf(std::vector<uint8_t> bytes, const std::string& name) {
  File f;
  f.bytes = std::move(bytes);
  In in(f.bytes, name);
  if (in.get<uint32_t>() != kMagic) in.fail("not a GGUF file (bad magic)");
  f.version = in.get<uint32_t>();
  if (f.version != kVersion) in.fail("version " + std::to_string(f.version) + " (only 3 is read)");
  const auto n_tensors = in.get<uint64_t>();
  const auto n_kv = in.get<uint64_t>();
  // Each key/value takes >= 13 bytes, each tensor info >= 24: bound the counts by the file.
  if (n_kv > in.left() / 13) in.fail(std::to_string(n_kv) + " metadata entries cannot fit");
  if (n_tensors > in.left() / 24) in.fail(std::to_string(n_tensors) + " tensors cannot fit");
  std::set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    KeyValue kv;
    kv.key = in.str();
    if (kv.key.empty()) in.fail("empty metadata key");
    if (!keys.insert(kv.key).second) in.fail("metadata key '" + kv.key + "' is repeated");
    const auto t = in.get<uint32_t>();
    if (t > 12) in.fail("key '" + kv.key + "': unknown value type " + std::to_string(t));
    kv.value = read_value(in, static_cast<ValueType>(t), 0, kv.key);
    f.metadata.push_back(std::move(kv));
  }
  if (const Value* a = f.find("general.alignment")) {
    if (a->type != ValueType::kUint32) in.fail("general.alignment must be a uint32");
    f.alignment = a->u;
    if (f.alignment == 0 || (f.alignment & (f.alignment - 1)))
      in.fail("general.alignment " + std::to_string(f.alignment) + " is not a power of two");
  }
  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = in.str();
    if (t.name.empty() || t.name.size() >= 64) in.fail("tensor name '" + t.name + "' must have 1..63 bytes");
    if (!names.insert(t.name).second) in.fail("tensor '" + t.name + "' is repeated");
    const auto nd = in.get<uint32_t>();
    if (nd == 0 || nd > 4) in.fail("tensor '" + t.name + "' has " + std::to_string(nd) + " dimensions (1..4)");
    for (uint32_t d = 0; d < nd; ++d) {
      const auto v = in.get<uint64_t>();
      if (v == 0 || v > (uint64_t{1} << 62)) in.fail("tensor '" + t.name + "' has dimension " + std::to_string(v));
      t.ne.push_back(static_cast<int64_t>(v));
    }
    const auto type = in.get<uint32_t>();
    if (!is_known_tensor_type(type))
      in.fail("tensor '" + t.name + "' has ggml type " + std::to_string(type) +
              " (this reader knows F32, F16, Q4_0, Q8_0)");
    t.type = static_cast<TensorType>(type);
    t.offset = in.get<uint64_t>();
    if (t.offset % f.alignment) in.fail("tensor '" + t.name + "' offset is not aligned");
    f.tensors.push_back(std::move(t));
  }
  f.data_offset = (in.pos() + f.alignment - 1) / f.alignment * f.alignment;
  if (f.data_offset > f.bytes.size() && !f.tensors.empty()) in.fail("no data section");
  for (uint64_t p = in.pos(); p < std::min<uint64_t>(f.data_offset, f.bytes.size()); ++p)
    if (f.bytes[p] != 0) in.fail("non-zero padding before the data section");
  // Tensors inside the data section, non-overlapping.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  const uint64_t data_size = f.bytes.size() > f.data_offset ? f.bytes.size() - f.data_offset : 0;
  for (const TensorInfo& t : f.tensors) {
    uint64_t n;
    try {
      n = tensor_bytes(t.type, t.ne);
    } catch (const Error& e) {
      in.fail("tensor '" + t.name + "': " + e.what());
    }
    if (t.offset > data_size || n > data_size - t.offset)
      in.fail("tensor '" + t.name + "' (" + std::to_string(n) + " bytes at data offset " +
              std::to_string(t.offset) + ") runs past the end of the file");
    spans.emplace_back(t.offset, t.offset + n);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) in.fail("tensor data regions overlap");
  return f;
}

File read_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path + ": cannot open");
  const std::streamsize n = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), n)) throw Error(path + ": read failed");
  return parse_gguf(std::move(bytes), path);
}

std::vector<float> dequantize(const File& f, const TensorInfo& t) {
  int64_t n = 1;
  for (int64_t d : t.ne) n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* p = f.data(t);
  switch (t.type) {
    case TensorType::kF32: std::memcpy(out.data(), p, static_cast<size_t>(n) * 4); break;
    case TensorType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[static_cast<size_t>(i)] = fp16_to_fp32(h);
      }
      break;
    case TensorType::kQ4_0: {
      std::vector<BlockQ4_0> b(static_cast<size_t>(n / 32));
      std::memcpy(b.data(), p, b.size() * sizeof(BlockQ4_0));
      dequantize_row_q4_0(b.data(), n, out.data());
      break;
    }
    case TensorType::kQ8_0: {
      std::vector<BlockQ8_0> b(static_cast<size_t>(n / 32));
      std::memcpy(b.data(), p, b.size() * sizeof(BlockQ8_0));
      dequantize_row_q8_0(b.data(), n, out.data());
      break;
    }
  }
  return out;
}

}  // namespace qf::gguf
