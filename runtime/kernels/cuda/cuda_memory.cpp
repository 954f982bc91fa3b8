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

// Step graphs. The library is compiled for the per-thread default stream (CMakeLists.txt), so
// every kernel and copy of a run goes to cudaStreamPerThread, which can be captured. Relaxed
// mode: an allocation made while recording (a buffer's first growth) is allowed.
void cuda_capture_begin() {
  QF_CUDA_CHECK(cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeRelaxed));
}
void cuda_capture_end(void** exec) {
  cudaGraph_t graph = nullptr;
  QF_CUDA_CHECK(cudaStreamEndCapture(cudaStreamPerThread, &graph));
  auto* e = reinterpret_cast<cudaGraphExec_t*>(exec);
  if (*e) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(*e, graph, &info) != cudaSuccess) {  // another shape of graph: remake it
      cudaGetLastError();
      cudaGraphExecDestroy(*e);
      *e = nullptr;
    }
  }
  const cudaError_t made = *e ? cudaSuccess : cudaGraphInstantiate(e, graph, 0);
  cudaGraphDestroy(graph);
  QF_CUDA_CHECK(made);
  QF_CUDA_CHECK(cudaGraphLaunch(*e, cudaStreamPerThread));
}
void cuda_capture_abort() {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(cudaStreamPerThread, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}
void cuda_graph_release(void* exec) {
  if (exec) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
}

}  // namespace

const MemoryOps& cuda_memory() {
  static const MemoryOps ops{Device{DeviceKind::kCuda, 0}, cuda_alloc, cuda_release, cuda_to_device, cuda_to_host,
                             cuda_copy,          cuda_synchronize, cuda_capture_begin,  cuda_capture_end,
                             cuda_capture_abort, cuda_graph_release};
  return ops;
}

}  // namespace qf::cuda
