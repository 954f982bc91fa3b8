// SHA-256 (FIPS 180-4), std-only: the checkpoint's per-dataset content digest. HDF5's fletcher32
// covers chunk contents but not the chunk index, so a file whose index was edited reads zeros
// silently; the digest of the decoded bytes catches that and any other path to wrong data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qf {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t bytes);
  std::string hex();  // finishes: lowercase hex of the 32-byte digest

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

inline std::string sha256_hex(const void* data, size_t bytes) {
  Sha256 s;
  s.update(data, bytes);
  return s.hex();
}

}  // namespace qf
