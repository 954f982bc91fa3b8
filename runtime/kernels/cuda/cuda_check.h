// CUDA error checking for the kernel launchers: every runtime call and every launch is checked,
// and a failure becomes qf::Error naming the call (a silent CUDA error poisons later calls).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

#define QF_CUDA_CHECK(call)                                                                      \
  do {                                                                                           \
    const cudaError_t qf_err_ = (call);                                                          \
    if (qf_err_ != cudaSuccess)                                                                  \
      throw ::qf::Error(std::string("CUDA error: ") + cudaGetErrorString(qf_err_) + " in " #call \
                        " (" __FILE__ ":" + std::to_string(__LINE__) + ")");                    \
  } while (0)
