// Device selection (`--device cpu|cuda`): the CPU tables of dispatch.cpp, or the `cuda` table
// of kernels/cuda/ when this build has CUDA (QFORGE_HAVE_CUDA, set by runtime/CMakeLists.txt)
// and a GPU is present.
#include <string>

#include "core/error.h"
#include "runtime/kernels/kernels.h"

#ifdef QFORGE_HAVE_CUDA
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/cuda_table.h"
#endif

namespace qf::kernels {

bool cuda_built() {
#ifdef QFORGE_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

const KernelTable& kernel_table_for_device(const std::string& device) {
  if (device.empty() || device == "cpu") return select_kernels();
  if (device == "cuda") {
#ifdef QFORGE_HAVE_CUDA
    std::string why;
    if (!cuda::device_available(&why)) throw Error("device 'cuda': no usable CUDA GPU here (" + why + ")");
    return cuda::cuda_kernel_table();
#else
    throw Error("device 'cuda': this qforge was built without CUDA (configure with nvcc present, -DQFORGE_CUDA=ON)");
#endif
  }
  throw Error("unknown device '" + device + "' (use cpu or cuda)");
}

}  // namespace qf::kernels
