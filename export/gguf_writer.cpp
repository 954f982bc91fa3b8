#include "export/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fp16.h"
#include "core/ggml_blocks.h"

namespace qf::gguf {
namespace {

class Out {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void pad_to(uint64_t alignment) {
    while (buf_.size() % alignment) buf_.push_back(0);
  }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  std::vector<uint8_t> buf_;  // little-endian host assumed (x86-64; checked below)
};

void write_value(Out& o, const Value& v, const std::string& key) {
  switch (v.type) {
    case ValueType::kUint8: o.u8(static_cast<uint8_t>(v.u)); break;
    case ValueType::kInt8: o.u8(static_cast<uint8_t>(static_cast<int8_t>(v.i))); break;
    case ValueType::kUint16: { const auto x = static_cast<uint16_t>(v.u); o.raw(&x, 2); break; }
    case ValueType::kInt16: { const auto x = static_cast<int16_t>(v.i); o.raw(&x, 2); break; }
    case ValueType::kUint32: o.u32(static_cast<uint32_t>(v.u)); break;
    case ValueType::kInt32: { const auto x = static_cast<int32_t>(v.i); o.raw(&x, 4); break; }
    case ValueType::kFloat32: { const auto x = static_cast<float>(v.f); o.raw(&x, 4); break; }
    case ValueType::kBool: o.u8(v.u ? 1 : 0); break;
    case ValueType::kString: o.str(v.s); break;
    case ValueType::kUint64: o.u64(v.u); break;
    case ValueType::kInt64: { const int64_t x = v.i; o.raw(&x, 8); break; }
    case ValueType::kFloat64: { const double x = v.f; o.raw(&x, 8); break; }
    case ValueType::kArray:
      o.u32(static_cast<uint32_t>(v.elem));
      o.u64(v.arr.size());
      for (const Value& e : v.arr) {
        if (e.type != v.elem) throw Error("GGUF key '" + key + "': array element type mismatch");
        write_value(o, e, key);
      }
      break;
    default:
      throw Error("GGUF key '" + key + "': unknown value type");
  }
}

}  // namespace

std::vector<uint8_t> encode_tensor(TensorType type, const float* x, int64_t rows, int64_t k) {
  const uint64_t n = tensor_bytes(type, {k, rows});
  std::vector<uint8_t> out(n);
  switch (type) {
    case TensorType::kF32: std::memcpy(out.data(), x, n); break;
    case TensorType::kF16:
      for (int64_t i = 0; i < rows * k; ++i) {
        const uint16_t h = fp32_to_fp16(x[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    case TensorType::kQ4_0:
      for (int64_t r = 0; r < rows; ++r)
        quantize_row_q4_0(x + r * k, k, reinterpret_cast<BlockQ4_0*>(out.data()) + r * (k / 32));
      break;
    case TensorType::kQ8_0:
      for (int64_t r = 0; r < rows; ++r)
        quantize_row_q8_0(x + r * k, k, reinterpret_cast<BlockQ8_0*>(out.data()) + r * (k / 32));
      break;
  }
  return out;
}

void write_gguf(const std::string& path, const Content& c) {
  static_assert(sizeof(void*) == 8, "64-bit host");
  {
    const uint16_t probe = 1;
    uint8_t first;
    std::memcpy(&first, &probe, 1);
    if (first != 1) throw Error("the GGUF writer needs a little-endian host");
  }
  if (c.alignment == 0 || (c.alignment & (c.alignment - 1)))
    throw Error("GGUF alignment " + std::to_string(c.alignment) + " is not a power of two");
  std::set<std::string> keys;
  for (const KeyValue& kv : c.metadata) {
    if (kv.key.empty()) throw Error("GGUF metadata key is empty");
    if (!keys.insert(kv.key).second) throw Error("GGUF metadata key '" + kv.key + "' is repeated");
    if (kv.key == "general.alignment" && kv.value.as_uint() != c.alignment)
      throw Error("general.alignment does not match the alignment the writer uses");
  }
  std::set<std::string> names;
  for (const Tensor& t : c.tensors) {
    if (t.name.empty() || t.name.size() >= 64)  // GGML_MAX_NAME
      throw Error("GGUF tensor name '" + t.name + "' must have 1..63 bytes");
    if (!names.insert(t.name).second) throw Error("GGUF tensor '" + t.name + "' is repeated");
    if (t.ne.size() > 4) throw Error("GGUF tensor '" + t.name + "' has more than 4 dimensions");
    uint64_t want;
    try {
      want = tensor_bytes(t.type, t.ne);
    } catch (const Error& e) {
      throw Error("GGUF tensor '" + t.name + "': " + e.what());
    }
    if (t.data.size() != want)
      throw Error("GGUF tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                  " bytes of data, its type and shape need " + std::to_string(want));
  }

  Out o;
  o.u32(kMagic);
  o.u32(kVersion);
  o.u64(c.tensors.size());
  o.u64(c.metadata.size());
  for (const KeyValue& kv : c.metadata) {
    o.str(kv.key);
    o.u32(static_cast<uint32_t>(kv.value.type));
    write_value(o, kv.value, kv.key);
  }
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (const Tensor& t : c.tensors) {
    o.str(t.name);
    o.u32(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) o.u64(static_cast<uint64_t>(d));
    o.u32(static_cast<uint32_t>(t.type));
    o.u64(offset);
    offsets.push_back(offset);
    offset += (t.data.size() + c.alignment - 1) / c.alignment * c.alignment;
  }
  o.pad_to(c.alignment);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(tmp + ": cannot open for writing");
    f.write(reinterpret_cast<const char*>(o.bytes().data()), static_cast<std::streamsize>(o.bytes().size()));
    static const char zeros[256] = {};
    for (const Tensor& t : c.tensors) {
      f.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
      const uint64_t pad = (c.alignment - t.data.size() % c.alignment) % c.alignment;
      for (uint64_t p = pad; p > 0;) {
        const uint64_t n = p < sizeof zeros ? p : sizeof zeros;
        f.write(zeros, static_cast<std::streamsize>(n));
        p -= n;
      }
    }
    f.flush();
    if (!f) throw Error(tmp + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace qf::gguf
