#include "hf/npy.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace qf::hf {
namespace {

[[noreturn]] void bad_npy(const std::string& path, const std::string& what) { throw Error(path + ": not a readable .npy: " + what); }

// The value of `key` in numpy's header dict literal, e.g. 'descr': '<f4' -> "'<f4'".
std::string dict_value(const std::string& h, const std::string& key, const std::string& path) {
  const std::string k = "'" + key + "'";
  size_t p = h.find(k);
  if (p == std::string::npos) bad_npy(path, "header lacks " + k);
  p = h.find(':', p + k.size());
  if (p == std::string::npos) bad_npy(path, "header entry " + k + " has no value");
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t e = p;
  if (h[p] == '(') {
    e = h.find(')', p);
    if (e == std::string::npos) bad_npy(path, "unterminated shape tuple");
    return h.substr(p, e - p + 1);
  }
  if (h[p] == '\'') {
    e = h.find('\'', p + 1);
    if (e == std::string::npos) bad_npy(path, "unterminated string");
    return h.substr(p + 1, e - p - 1);
  }
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return h.substr(p, e - p);
}

void write_npy(const std::string& path, const char* descr, const std::vector<int64_t>& shape, const void* data,
               size_t itemsize) {
  std::string shp = "(";
  for (size_t i = 0; i < shape.size(); ++i) shp += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  shp += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shp + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write " + tmp);
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    f.write(reinterpret_cast<const char*>(magic), 8);
    const uint16_t hl = static_cast<uint16_t>(header.size());
    const unsigned char hlb[2] = {static_cast<unsigned char>(hl & 0xff), static_cast<unsigned char>(hl >> 8)};
    f.write(reinterpret_cast<const char*>(hlb), 2);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n * itemsize));
    if (!f) throw Error("write failed: " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("cannot rename " + tmp + " to " + path);
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) bad_npy(path, "missing the \\x93NUMPY magic");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad_npy(path, "truncated header length");
    hlen = 0;
    for (int i = 3; i >= 0; --i) hlen = (hlen << 8) | static_cast<unsigned char>(bytes[8 + i]);
    hstart = 12;
  } else {
    bad_npy(path, "unknown format version " + std::to_string(major));
  }
  if (hlen > bytes.size() - hstart) bad_npy(path, "truncated header");
  const std::string h = bytes.substr(hstart, hlen);
  NpyArray a;
  a.descr = dict_value(h, "descr", path);
  const std::string fortran = dict_value(h, "fortran_order", path);
  if (fortran.find("False") == std::string::npos) bad_npy(path, "Fortran-order arrays are not supported");
  const std::string shp = dict_value(h, "shape", path);
  for (size_t p = 1; p < shp.size();) {
    while (p < shp.size() && (shp[p] == ' ' || shp[p] == ',')) ++p;
    if (p >= shp.size() || shp[p] == ')') break;
    size_t e = p;
    while (e < shp.size() && std::isdigit(static_cast<unsigned char>(shp[e]))) ++e;
    if (e == p || e - p > 15) bad_npy(path, "bad shape " + shp);
    a.shape.push_back(std::stoll(shp.substr(p, e - p)));
    p = e;
  }
  size_t itemsize;
  if (a.descr == "<f4") itemsize = 4;
  else if (a.descr == "<i4") itemsize = 4;
  else if (a.descr == "<i8") itemsize = 8;
  else bad_npy(path, "dtype '" + a.descr + "' is not supported (float32, int32 or int64, little-endian)");
  const int64_t n = a.numel();
  const size_t data_start = hstart + hlen;
  if (bytes.size() - data_start != static_cast<size_t>(n) * itemsize)
    bad_npy(path, "holds " + std::to_string(bytes.size() - data_start) + " data bytes, shape " + shp + " needs " +
                  std::to_string(static_cast<size_t>(n) * itemsize));
  const char* d = bytes.data() + data_start;
  if (a.descr == "<f4") {
    a.f32.resize(n);
    std::memcpy(a.f32.data(), d, n * 4);
  } else if (a.descr == "<i4") {
    a.i64.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, d + 4 * i, 4);
      a.i64[i] = v;
    }
  } else {
    a.i64.resize(n);
    std::memcpy(a.i64.data(), d, n * 8);
  }
  return a;
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  write_npy(path, "<f4", shape, data, 4);
}
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data) {
  write_npy(path, "<i8", shape, data, 8);
}
void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape, const int32_t* data) {
  write_npy(path, "<i4", shape, data, 4);
}

}  // namespace qf::hf
