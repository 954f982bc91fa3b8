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

# The linker: lld where the compiler can use it (QFORGE_LINKER=AUTO), about 7x faster than GNU ld
# on the LibTorch programs (a test program: 2.2 s -> 0.3 s), which CI links some forty of.
# DEFAULT keeps the compiler's own. (nvcc-linked CUDA programs keep theirs either way.)
set(QFORGE_LINKER "AUTO" CACHE STRING "Linker for C/C++ programs: AUTO (lld if usable), LLD, DEFAULT")
if(NOT QFORGE_LINKER STREQUAL "DEFAULT")
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=lld" QFORGE_LLD_WORKS)
  if(QFORGE_LLD_WORKS)
    add_link_options($<$<LINK_LANGUAGE:C,CXX>:-fuse-ld=lld>)
  elseif(QFORGE_LINKER STREQUAL "LLD")
    message(FATAL_ERROR "QFORGE_LINKER=LLD but the compiler cannot link with -fuse-ld=lld (Debian: apt-get install lld)")
  endif()
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
