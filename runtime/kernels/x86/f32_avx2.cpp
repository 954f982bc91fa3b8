// Float kernels of the AVX2 table (compiled with -mavx2 -mfma).
#define Eigen qforge_eigen_avx2
#define QF_ISA_SUFFIX avx2_eigen
#define QF_ISA_SUFFIX_SHORT avx2
#include "runtime/kernels/x86/f32_eigen_impl.inc"
