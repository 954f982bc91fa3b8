#include "train/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>

namespace qf {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

const char* idx_type_name(int type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

std::string hex2(int v) {
  static const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(v >> 4) & 15] + digits[v & 15];
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to n bytes (n may exceed INT_MAX), returns how many were read; throws on gzip errors
// (corrupt stream). A short count means end of file.
size_t read_some(gzFile f, const std::string& path, uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, size_t{1} << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      fail(path, std::string("corrupt or truncated gzip stream (") + (msg ? msg : "?") + ")");
    }
    if (got == 0) {
      // gzread returns 0 both at a clean EOF and for a gzip stream cut off mid-member; zlib
      // reports the latter through gzerror (Z_BUF_ERROR "unexpected end of file").
      int errnum = Z_OK;
      const char* msg = gzerror(f, &errnum);
      if (errnum != Z_OK && errnum != Z_STREAM_END)
        fail(path, std::string("corrupt or truncated gzip stream (") + (msg ? msg : "?") + ")");
      break;
    }
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path, int64_t max_elements) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, expected an IDX file");

  GzPtr f(gzopen(path.c_str(), "rb"));
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  gzbuffer(f.get(), 1 << 18);

  uint8_t magic[4];
  if (read_some(f.get(), path, magic, 4) != 4) fail(path, "too short for an IDX header (need 4 magic bytes)");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "bad IDX magic: expected 0x00 0x00 <type> <ndims>, got " + hex2(magic[0]) + " " +
                   hex2(magic[1]) + " (not an IDX file?)");
  const int type = magic[2];
  if (type != 0x08) {
    const char* name = idx_type_name(type);
    if (name) fail(path, "unsupported IDX element type " + hex2(type) + " (" + name +
                             "); only 0x08 (unsigned byte) is supported");
    fail(path, "bad IDX magic: invalid element type byte " + hex2(type));
  }
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 8)
    fail(path, "bad IDX header: " + std::to_string(ndims) + " dimensions (expected 1..8)");

  std::vector<uint8_t> dim_bytes(4 * static_cast<size_t>(ndims));
  if (read_some(f.get(), path, dim_bytes.data(), dim_bytes.size()) != dim_bytes.size())
    fail(path, "truncated IDX header: expected " + std::to_string(ndims) + " dimension sizes");

  IdxArray out;
  int64_t numel = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* b = &dim_bytes[4 * static_cast<size_t>(i)];
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    out.dims.push_back(d);
    // d < 2^32 and numel <= max_elements < 2^62 here, so check before multiplying.
    if (d != 0 && numel > max_elements / d) {
      std::string shape;
      for (int j = 0; j < ndims; ++j) {
        const uint8_t* c = &dim_bytes[4 * static_cast<size_t>(j)];
        shape += (j ? " x " : "") +
                 std::to_string((uint64_t{c[0]} << 24) | (uint64_t{c[1]} << 16) | (uint64_t{c[2]} << 8) | c[3]);
      }
      fail(path, "IDX dims " + shape + " exceed the limit of " + std::to_string(max_elements) +
                     " elements (corrupt header?)");
    }
    numel *= d;
  }

  out.data.resize(static_cast<size_t>(numel));
  const size_t got = read_some(f.get(), path, out.data.data(), out.data.size());
  if (got != out.data.size())
    fail(path, "truncated IDX data: dims say " + std::to_string(numel) + " bytes, file has only " +
                   std::to_string(got));
  uint8_t extra[256];
  const size_t trailing = read_some(f.get(), path, extra, sizeof extra);
  if (trailing != 0)
    fail(path, "trailing garbage after IDX data: " +
                   std::string(trailing == sizeof extra ? "at least " : "") + std::to_string(trailing) +
                   " extra byte(s) beyond the " + std::to_string(numel) + " the dims describe");
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data) {
  if (dims.empty() || dims.size() > 255) fail(path, "write_idx: need 1..255 dims");
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > 0xFFFFFFFFLL) fail(path, "write_idx: dimension out of range");
    n *= d;
  }
  if (static_cast<size_t>(n) != data.size()) fail(path, "write_idx: data size does not match dims");
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  if (!os) fail(path, std::string("cannot create: ") + std::strerror(errno));
  const char header[4] = {0, 0, 0x08, static_cast<char>(dims.size())};
  os.write(header, 4);
  for (int64_t d : dims) {
    const char b[4] = {static_cast<char>((d >> 24) & 0xFF), static_cast<char>((d >> 16) & 0xFF),
                       static_cast<char>((d >> 8) & 0xFF), static_cast<char>(d & 0xFF)};
    os.write(b, 4);
  }
  os.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!os) fail(path, "write failed");
}

}  // namespace qf
