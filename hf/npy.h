// numpy's .npy format, the little of it that logits and token ids need (std-only): read int32,
// int64 or float32 little-endian C-order arrays; write float32 / int64 / int32. The reader checks
// the magic, the header dict and that the file holds exactly shape x itemsize bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::hf {

struct NpyArray {
  std::string descr;  // "<f4", "<i4", "<i8"
  std::vector<int64_t> shape;
  std::vector<float> f32;    // descr <f4
  std::vector<int64_t> i64;  // descr <i4 or <i8 (widened)
  int64_t numel() const;
};

NpyArray read_npy(const std::string& path);
// Writes to path + ".tmp" then renames.
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data);
void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape, const int32_t* data);

}  // namespace qf::hf
