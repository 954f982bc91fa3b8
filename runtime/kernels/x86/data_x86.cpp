// Table entries of the x86 data kernels (baseline flags): threading over independent outputs
// (planes, rows, elements, columns -- never a reduction), each chunk computed by the range kernels
// of data_avx512.cpp / data_avx2.cpp. Every output element is computed by exactly one thread with
// the same operations, so results do not depend on the thread count.
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_data_kernels.h"

namespace qf::kernels::x86 {
namespace {

// Elements per quantization chunk: large enough that a chunk's call overhead vanishes, small
// enough that two threads balance on the CNN's 6e6-element inputs.
constexpr int64_t kQuantChunk = 16384;
// Columns of x per transpose task (one task writes 16 whole rows of y).
constexpr int64_t kTransposeCols = 16;

using PoolPlanes = void (*)(const float*, int64_t, int64_t, const Conv2dGeom&, float*);
using QuantX8 = void (*)(const float*, int64_t, float, int32_t, int32_t, int32_t, uint8_t*);
using QuantRows = void (*)(const float*, int64_t, int64_t, int64_t, int8_t*, float*);
using Im2colF32Rows = void (*)(const float*, const Conv2dGeom&, float, float*, int64_t, int64_t);
using Im2colX8Rows = void (*)(const uint8_t*, const Conv2dGeom&, uint8_t, uint8_t*, int64_t, int64_t);
using TransposeCols = void (*)(const float*, int64_t, int64_t, float*, int64_t, int64_t);

void maxpool(PoolPlanes fn, const float* x, int64_t planes, const Conv2dGeom& g, float* y) {
  if (planes <= 0 || g.oh <= 0 || g.ow <= 0) return;
  parallel_for(planes, static_cast<double>(g.oh * g.ow * g.kh * g.kw),
               [&](int64_t p0, int64_t p1) { fn(x, p0, p1, g, y); });
}

using PoolNhwcRows = void (*)(const float*, int64_t, const Conv2dGeom&, bool, float*, int64_t, int64_t);
void maxpool_nhwc(PoolNhwcRows fn, const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu,
                  float* y) {
  if (images <= 0 || channels <= 0 || g.oh <= 0 || g.ow <= 0) return;
  parallel_for(images * g.oh, static_cast<double>(g.ow * channels * g.kh * g.kw),
               [&](int64_t r0, int64_t r1) { fn(x, channels, g, relu, y, r0, r1); });
}

void quantize(QuantX8 fn, const float* x, int64_t n, float scale, int32_t z, int32_t qmin, int32_t qmax,
              uint8_t* codes) {
  if (n <= 0) return;
  const int64_t chunks = (n + kQuantChunk - 1) / kQuantChunk;
  parallel_for(chunks, static_cast<double>(kQuantChunk), [&](int64_t c0, int64_t c1) {
    const int64_t b = c0 * kQuantChunk, e = c1 * kQuantChunk < n ? c1 * kQuantChunk : n;
    fn(x + b, e - b, scale, z, qmin, qmax, codes + b);
  });
}

void quantize_rows(QuantRows fn, const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales) {
  if (rows <= 0) return;
  parallel_for(rows, static_cast<double>(2 * cols), [&](int64_t r0, int64_t r1) { fn(x, r0, r1, cols, codes, scales); });
}

template <class T, class Fn>
void im2col(Fn fn, const T* x, const Conv2dGeom& g, T pad, T* col) {
  if (g.oh <= 0 || g.ow <= 0) return;
  parallel_for(g.oh, static_cast<double>(g.ow * g.c * g.kh * g.kw),
               [&](int64_t oy0, int64_t oy1) { fn(x, g, pad, col, oy0, oy1); });
}

void transpose(TransposeCols fn, const float* x, int64_t rows, int64_t cols, float* y) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t blocks = (cols + kTransposeCols - 1) / kTransposeCols;
  parallel_for(blocks, static_cast<double>(rows * kTransposeCols), [&](int64_t b0, int64_t b1) {
    fn(x, rows, cols, y, b0 * kTransposeCols, b1 * kTransposeCols < cols ? b1 * kTransposeCols : cols);
  });
}

}  // namespace

#define QF_DATA_ENTRIES(isa)                                                                                     \
  void f32_maxpool2d__##isa(const float* x, int64_t planes, const Conv2dGeom& g, float* y) {                     \
    maxpool(f32_maxpool2d_planes__##isa, x, planes, g, y);                                                       \
  }                                                                                                              \
  void f32_maxpool2d_nhwc__##isa(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu, \
                                 float* y) {                                                                     \
    maxpool_nhwc(f32_maxpool2d_nhwc_rows__##isa, x, images, channels, g, relu, y);                               \
  }                                                                                                              \
  void f32_quantize_u8__##isa(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin,          \
                              int32_t qmax, uint8_t* codes) {                                                    \
    quantize(f32_quantize_x8__##isa, x, n, scale, zero_point, qmin, qmax, codes);                                \
  }                                                                                                              \
  void f32_quantize_s8__##isa(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes) { \
    quantize(f32_quantize_x8__##isa, x, n, scale, 0, qmin, qmax, reinterpret_cast<uint8_t*>(codes));             \
  }                                                                                                              \
  void f32_quantize_per_row_s8__##isa(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales) { \
    quantize_rows(f32_quantize_rows_s8__##isa, x, rows, cols, codes, scales);                                    \
  }                                                                                                              \
  void f32_im2col__##isa(const float* x, const Conv2dGeom& g, float pad, float* col) {                           \
    im2col<float>(f32_im2col_rows__##isa, x, g, pad, col);                                                       \
  }                                                                                                              \
  void x8_im2col_u8__##isa(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col) {                   \
    im2col<uint8_t>(x8_im2col_rows__##isa, x, g, pad, col);                                                      \
  }                                                                                                              \
  void x8_im2col_s8__##isa(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col) {                      \
    /* a byte copy: the u8 kernel moves int8 codes unchanged */                                                  \
    im2col<uint8_t>(x8_im2col_rows__##isa, reinterpret_cast<const uint8_t*>(x), g, static_cast<uint8_t>(pad),    \
                    reinterpret_cast<uint8_t*>(col));                                                            \
  }                                                                                                              \
  void x8_im2col_nhwc__##isa(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col) {  \
    if (g.oh <= 0 || g.ow <= 0) return;                                                                          \
    parallel_for(g.oh, static_cast<double>(g.ow * ldcol), [&](int64_t oy0, int64_t oy1) {                        \
      x8_im2col_nhwc_rows__##isa(x, g, pad, ldcol, col, oy0, oy1);                                               \
    });                                                                                                          \
  }                                                                                                              \
  void f32_transpose__##isa(const float* x, int64_t rows, int64_t cols, float* y) {                              \
    transpose(f32_transpose_cols__##isa, x, rows, cols, y);                                                      \
  }

QF_DATA_ENTRIES(avx512)
QF_DATA_ENTRIES(avx2)

}  // namespace qf::kernels::x86
