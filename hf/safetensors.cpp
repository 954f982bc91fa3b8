#include "hf/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace qf::hf {
namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error("safetensors file " + path + ": " + what);
}

int dtype_bytes(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

bool known_unsupported(const std::string& dtype) {
  static const std::set<std::string> names = {"F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32",
                                              "U64", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                              "F6_E2M3", "F6_E3M2", "C64"};
  return names.count(dtype) > 0;
}

uint64_t file_size(std::ifstream& f) {
  f.seekg(0, std::ios::end);
  const auto n = f.tellg();
  f.seekg(0, std::ios::beg);
  return n < 0 ? 0 : static_cast<uint64_t>(n);
}

}  // namespace

float bf16_to_f32(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    u = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    u = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

SafetensorsFile::SafetensorsFile(std::string path) : path_(std::move(path)) {
  std::ifstream f(path_, std::ios::binary);
  if (!f) bad(path_, "cannot open");
  const uint64_t size = file_size(f);
  if (size < 8) bad(path_, "truncated: " + std::to_string(size) + " bytes, the 8-byte header length is missing");
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes)
    bad(path_, "header length " + std::to_string(n) + " exceeds the " + std::to_string(kMaxHeaderBytes) + "-byte bound");
  if (n > size - 8)
    bad(path_, "truncated: header length " + std::to_string(n) + " but only " + std::to_string(size - 8) +
                   " bytes follow");
  std::string header(n, '\0');
  f.read(header.data(), static_cast<std::streamsize>(n));
  if (!f) bad(path_, "cannot read the header");
  data_start_ = 8 + n;
  const uint64_t data_bytes = size - data_start_;
  Json j;
  try {
    j = Json::parse(header);
  } catch (const Error& e) {
    bad(path_, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(path_, "header must be a JSON object");
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (const auto& [name, v] : j.as_object()) {
    if (name == "__metadata__") {
      if (!v.is_object()) bad(path_, "__metadata__ must be an object of strings");
      for (const auto& [k, s] : v.as_object()) {
        if (!s.is_string()) bad(path_, "__metadata__ value '" + k + "' is not a string");
        metadata_[k] = s.as_string();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!v.is_object()) bad(path_, where + "entry must be an object");
    for (const auto& kv : v.as_object())
      if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
        bad(path_, where + "unknown key '" + kv.first + "'");
    if (!v.contains("dtype") || !v.at("dtype").is_string()) bad(path_, where + "missing string 'dtype'");
    if (!v.contains("shape") || !v.at("shape").is_array()) bad(path_, where + "missing array 'shape'");
    if (!v.contains("data_offsets") || !v.at("data_offsets").is_array() || v.at("data_offsets").as_array().size() != 2)
      bad(path_, where + "'data_offsets' must be [begin, end]");
    SafetensorsEntry e;
    e.dtype = v.at("dtype").as_string();
    const int esize = dtype_bytes(e.dtype);
    if (esize == 0)
      bad(path_, where + (known_unsupported(e.dtype) ? "dtype " + e.dtype + " is not supported (BF16, F16 and F32 are)"
                                                     : "unknown dtype '" + e.dtype + "'"));
    uint64_t numel = 1;
    for (const Json& d : v.at("shape").as_array()) {
      if (!d.is_int() || d.as_int() < 0) bad(path_, where + "shape entries must be non-negative integers");
      const uint64_t dim = static_cast<uint64_t>(d.as_int());
      if (dim != 0 && numel > (uint64_t{1} << 62) / dim) bad(path_, where + "shape too large");
      numel *= dim;
      e.shape.push_back(d.as_int());
    }
    const auto& off = v.at("data_offsets").as_array();
    if (!off[0].is_int() || !off[1].is_int() || off[0].as_int() < 0 || off[1].as_int() < off[0].as_int())
      bad(path_, where + "data_offsets must be integers with 0 <= begin <= end");
    e.begin = static_cast<uint64_t>(off[0].as_int());
    e.end = static_cast<uint64_t>(off[1].as_int());
    if (e.end > data_bytes)
      bad(path_, where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") run past the data section (" + std::to_string(data_bytes) + " bytes; file truncated?)");
    if (e.end - e.begin != numel * esize)
      bad(path_, where + "holds " + std::to_string(e.end - e.begin) + " bytes but " + e.dtype + " " +
                     "x shape needs " + std::to_string(numel * esize));
    ranges.push_back({{e.begin, e.end}, name});
    entries_[name] = std::move(e);
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t at = 0;
  std::string prev;
  for (const auto& [r, name] : ranges) {
    if (r.first < at) bad(path_, "tensors '" + prev + "' and '" + name + "' overlap");
    if (r.first > at) bad(path_, "gap of " + std::to_string(r.first - at) + " bytes before tensor '" + name + "'");
    at = r.second;
    prev = name;
  }
  if (at != data_bytes)
    bad(path_, std::to_string(data_bytes - at) + " bytes after the last tensor belong to none");
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) bad(path_, "no tensor '" + name + "'");
  const SafetensorsEntry& e = it->second;
  std::ifstream f(path_, std::ios::binary);
  if (!f) bad(path_, "cannot open");
  std::vector<char> raw(e.end - e.begin);
  f.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
  f.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (!f) bad(path_, "tensor '" + name + "': read failed (file changed or truncated)");
  std::vector<float> out;
  if (e.dtype == "F32") {
    out.resize(raw.size() / 4);
    std::memcpy(out.data(), raw.data(), raw.size());  // little-endian hosts only (x86, arm64)
  } else {
    out.resize(raw.size() / 2);
    const bool bf = e.dtype == "BF16";
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  return out;
}

std::map<std::string, HostTensor> load_safetensors_folder(const std::string& folder) {
  const std::string single = folder + "/model.safetensors", index = folder + "/model.safetensors.index.json";
  std::map<std::string, HostTensor> out;
  auto take_all = [&](const SafetensorsFile& file, const std::set<std::string>* only) {
    for (const auto& [name, e] : file.entries()) {
      if (only && !only->count(name)) continue;
      if (out.count(name)) throw Error("tensor '" + name + "' appears in two safetensors files of " + folder);
      out[name] = HostTensor{e.shape, file.read_f32(name)};
    }
  };
  if (std::ifstream(single).good()) {
    take_all(SafetensorsFile(single), nullptr);
    return out;
  }
  std::ifstream in(index);
  if (!in) throw Error(folder + ": neither model.safetensors nor model.safetensors.index.json found");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error(index + ": " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object())
    throw Error(index + ": missing object 'weight_map'");
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [name, shard] : j.at("weight_map").as_object()) {
    if (!shard.is_string()) throw Error(index + ": weight_map['" + name + "'] is not a file name");
    const std::string& s = shard.as_string();
    if (s.empty() || s.find('/') != std::string::npos || s.find("..") != std::string::npos)
      throw Error(index + ": shard name '" + s + "' must be a plain file name in the folder");
    by_shard[s].insert(name);
  }
  for (const auto& [shard, names] : by_shard) {
    SafetensorsFile file(folder + "/" + shard);
    for (const std::string& n : names)
      if (!file.contains(n)) throw Error(index + ": says tensor '" + n + "' is in " + shard + ", which lacks it");
    take_all(file, &names);
  }
  return out;
}

void write_safetensors_f32(const std::string& path, const std::map<std::string, HostTensor>& tensors) {
  Json header = Json::object();
  header["__metadata__"]["format"] = "pt";
  uint64_t at = 0;
  for (const auto& [name, t] : tensors) {
    uint64_t n = 1;
    Json shape = Json::array();
    for (int64_t d : t.shape) {
      n *= static_cast<uint64_t>(d);
      shape.push_back(Json(d));
    }
    if (n != t.data.size()) throw Error("write_safetensors: tensor '" + name + "' shape does not match its data");
    Json e = Json::object();
    e["dtype"] = "F32";
    e["shape"] = shape;
    Json off = Json::array();
    off.push_back(Json(static_cast<int64_t>(at)));
    off.push_back(Json(static_cast<int64_t>(at + 4 * n)));
    e["data_offsets"] = off;
    header[name] = e;
    at += 4 * n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write " + tmp);
    const uint64_t len = h.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((len >> (8 * i)) & 0xff));
    f << h;
    for (const auto& kv : tensors)
      f.write(reinterpret_cast<const char*>(kv.second.data.data()), static_cast<std::streamsize>(4 * kv.second.data.size()));
    if (!f) throw Error("write failed: " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("cannot rename " + tmp + " to " + path);
}

}  // namespace qf::hf
