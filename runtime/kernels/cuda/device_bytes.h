// A device allocation freed with its owner: how the cuda table's GEMMs keep the weights they
// prepared at load (qgemm_exact.cu, block_sparse_gemm.cu). Plain C++ over cuda_qgemm.h's
// device_alloc / copy_to_device / device_free.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/kernels/cuda/cuda_qgemm.h"

namespace qf::cuda {

struct DeviceBytes {
  void* p = nullptr;
  DeviceBytes() = default;
  // `bytes` bytes of `host` copied to a new device allocation.
  DeviceBytes(const void* host, int64_t bytes) : p(device_alloc(bytes)) {
    if (bytes > 0) copy_to_device(p, host, bytes);
  }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(DeviceBytes&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
  ~DeviceBytes() {
    if (p) device_free(p);
  }
};

template <class T>
DeviceBytes upload(const std::vector<T>& v) {
  return DeviceBytes(v.data(), static_cast<int64_t>(v.size() * sizeof(T)));
}

}  // namespace qf::cuda
