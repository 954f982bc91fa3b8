# Compiler flags shared by every qforge target, set through an interface library so that they
# do not leak into third-party code.
add_library(qforge_flags INTERFACE)
# (C++ only: nvcc takes host-compiler flags through -Xcompiler; the CUDA kernels set their own.)
target_compile_options(qforge_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter
  # Bit-exactness between the fake-quant model and the runtime needs IEEE float ops exactly as
  # written: no fused multiply-add contraction, no fast-math reassociation.
  -ffp-contract=off>)
target_include_directories(qforge_flags INTERFACE ${PROJECT_SOURCE_DIR})

if(QFORGE_SANITIZE)
  target_compile_options(qforge_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer>)
  target_link_options(qforge_flags INTERFACE -fsanitize=address,undefined)
endif()

# CUDA: auto-detected from nvcc (also at /usr/local/cuda, where Debian images keep it).
set(QFORGE_HAVE_CUDA OFF)
if(NOT QFORGE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # sm_90 for the H100/H200 the kernels are tuned on (one architecture: the W4A16 file alone takes
  # minutes per architecture on 2 cores). The kernels use only sm_80 instructions (mma.sync,
  # mma.sp): pass -DCMAKE_CUDA_ARCHITECTURES="80;90" to add Ampere machine code.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(QFORGE_HAVE_CUDA ON)
  elseif(QFORGE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "QFORGE_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "qforge: CUDA kernels ${QFORGE_HAVE_CUDA}")
