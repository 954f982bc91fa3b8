// Host side of launch_util.cuh: whether the table's kernels launch with programmatic dependent
// launch.
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "runtime/kernels/cuda/cuda_check.h"

namespace qf::cuda::detail {

bool pdl_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("QF_CUDA_PDL");
    if (env && std::strcmp(env, "0") == 0) return false;
    // The attribute and griddepcontrol exist from compute capability 9.0 (the device current at the
    // first launch decides, for the whole process).
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

}  // namespace qf::cuda::detail
