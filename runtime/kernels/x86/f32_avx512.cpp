// Float kernels of the AVX-512 table (compiled with -mavx512f -mavx512dq -mfma).
#define Eigen qforge_eigen_avx512
#define QF_ISA_SUFFIX avx512_eigen
#define QF_ISA_SUFFIX_SHORT avx512
#include "runtime/kernels/x86/f32_eigen_impl.inc"
