// MemoryOps for the GPU: every activation, scratch area, KV cache and uploaded constant of a
// `cuda` run is a cudaMalloc'd Buffer. Copies are synchronous cudaMemcpy calls: to_host is where
// the host waits for the kernels queued before it (default stream).
#include <cuda_runtime.h>

#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_table.h"

namespace qf::cuda {
namespace {

void* cuda_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error("cuda: out of GPU memory allocating " + std::to_string(bytes) + " bytes (" + cudaGetErrorString(e) +
                ")");
  }
  return p;
}
void cuda_release(void* p) { cudaFree(p); }  // no throw: called from destructors
void cuda_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) QF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void cuda_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) QF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void cuda_copy(void* dst, const void* src, size_t bytes) {
  if (bytes) QF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void cuda_synchronize() { QF_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace

const MemoryOps& cuda_memory() {
  static const MemoryOps ops{Device{DeviceKind::kCuda, 0}, cuda_alloc, cuda_release, cuda_to_device, cuda_to_host,
                             cuda_copy, cuda_synchronize};
  return ops;
}

}  // namespace qf::cuda
