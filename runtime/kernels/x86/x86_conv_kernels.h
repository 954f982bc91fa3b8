// The fused convolution epilogue of the x86 tables (kernels.h, QConvPoolArgs): the conv GEMM
// with relu -> 2x2 max pool -> relu -> quantize applied to each window's rows in registers.
//
// qconv_pool_x86.cpp (baseline flags) holds the table entry: it checks the weight is this
// table's dense int8 per-channel packing (else it runs the reference) and splits pooled rows
// over threads; qconv_pool_avx512vnni.cpp (AVX-512 VNNI flags) holds the range kernel. Only
// plain structs and raw pointers cross that boundary (x86_kernels.h says why).
#pragma once

#include <cstdint>

#include "runtime/kernels/kernels.h"
#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {

// Table entry: 4 conv rows (one pool window) x 64 outputs per tile, k-blocks of 4.
void x8_conv2d_pool_4x64c4__avx512vnni(const QConvPoolArgs& a, const QWeights& w, const float* bias);
// Pooling on the int32 sums where the epilogue is monotone (qconv_pool_avx512vnni.cpp says when
// that is exact); off: the four-value float fold for every lane. For measurements and tests
// only (both are bit-identical to the reference); default on.
void set_conv_pool_int32_pooling(bool on);
// Pooled rows [r0, r1) (r = image * pooled_h + py) with a weight the entry has checked.
void x8_conv2d_pool_rows__avx512vnni(const QConvPoolArgs& a, const PackedQWeights& w, const float* bias, int64_t r0,
                                     int64_t r1, bool int32_pooling);

}  // namespace qf::kernels::x86
