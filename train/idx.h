// Reader for IDX files (the MNIST / Fashion-MNIST container), gzip-compressed or not.
//
// Layout: 2 zero bytes, a type byte, a byte with the number of dimensions, then one big-endian
// uint32 per dimension, then the elements in row-major order. Only type 0x08 (unsigned byte) is
// supported; the other IDX types (0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)
// are rejected by name.
//
// The reader is strict: bad magic, absurd or overflowing sizes, fewer data bytes than the dims say
// and bytes after the data are all errors. Every error is a std::runtime_error whose message
// starts with the file path. Std + zlib only (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {10000, 28, 28}
  std::vector<uint8_t> data;  // row-major, size == numel()
  int64_t numel() const;
};

// Largest element count read_idx accepts by default (1 GiB of uint8): far above any dataset we
// use, small enough that a corrupt header cannot make us allocate the machine away.
inline constexpr int64_t kIdxDefaultMaxElements = int64_t{1} << 30;

// Reads `path` (gzip or plain; zlib's gzread handles both transparently).
IdxArray read_idx(const std::string& path, int64_t max_elements = kIdxDefaultMaxElements);

// Writes an uncompressed IDX ubyte file (tests, small tools). Throws on I/O errors.
void write_idx(const std::string& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data);

}  // namespace qf
