// The `cuda` table's CNN data entries: im2col (float, u8, s8, channels-last 8-bit codes) and
// pooling (max, avg over NCHW planes, max over channels-last images with the optional relu
// first). One thread per output element; each pooled value walks its window in the reference's
// order with the reference's rule (max: `v > m || isnan(v)`, avg: a float sum in window order
// divided by kh * kw), so every entry is bit-identical to kernels/ref/conv_ref.cpp.
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::grid_for;
using detail::kThreads;

#define QF_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// col[P, K] with K in (c, i, j) order (PyTorch's weight.reshape(O, -1)).
template <class T>
__global__ void im2col_kernel(const T* x, kernels::Conv2dGeom g, T pad, T* col) {
  detail::pdl_entry();
  const int64_t kdim = g.c * g.kh * g.kw, n = g.oh * g.ow * kdim;
  QF_GRID_STRIDE(idx, n) {
    const int64_t p = idx / kdim, k = idx - p * kdim;
    const int64_t oy = p / g.ow, ox = p - oy * g.ow;
    const int64_t c = k / (g.kh * g.kw), ij = k - c * g.kh * g.kw, i = ij / g.kw, j = ij - i * g.kw;
    const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
    const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
    col[idx] = inside ? x[c * g.channel_stride + iy * g.w + ix] : pad;
  }
}

// Channels-last codes x [h, w, c] -> col [P, ldcol], K in (i, j, c) order, then pad columns.
__global__ void im2col_nhwc_kernel(const uint8_t* x, kernels::Conv2dGeom g, uint8_t pad, int64_t ldcol, uint8_t* col) {
  detail::pdl_entry();
  const int64_t kdim = g.kh * g.kw * g.c, n = g.oh * g.ow * ldcol;
  QF_GRID_STRIDE(idx, n) {
    const int64_t p = idx / ldcol, k = idx - p * ldcol;
    if (k >= kdim) {
      col[idx] = pad;
      continue;
    }
    const int64_t oy = p / g.ow, ox = p - oy * g.ow;
    const int64_t i = k / (g.kw * g.c), rest = k - i * g.kw * g.c, j = rest / g.c, c = rest - j * g.c;
    const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
    const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
    col[idx] = inside ? x[(iy * g.w + ix) * g.c + c] : pad;
  }
}

__global__ void maxpool_kernel(const float* x, int64_t planes, kernels::Conv2dGeom g, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(idx, planes * g.oh * g.ow) {
    const int64_t p = idx / (g.oh * g.ow), o = idx - p * g.oh * g.ow, oy = o / g.ow, ox = o - oy * g.ow;
    const float* in = x + p * g.h * g.w;
    float m = -INFINITY;  // padding never wins
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
          const float v = in[iy * g.w + ix];
          if (v > m || isnan(v)) m = v;
        }
      }
    y[idx] = m;
  }
}

__global__ void maxpool_nhwc_kernel(const float* x, int64_t images, int64_t channels, kernels::Conv2dGeom g,
                                    bool relu_first, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(idx, images * g.oh * g.ow * channels) {
    const int64_t c = idx % channels, pix = idx / channels;
    const int64_t b = pix / (g.oh * g.ow), o = pix - b * g.oh * g.ow, oy = o / g.ow, ox = o - oy * g.ow;
    const float* in = x + b * g.h * g.w * channels;
    float m = -INFINITY;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
          float v = in[(iy * g.w + ix) * channels + c];
          if (relu_first) v = v > 0.0f ? v : 0.0f;
          if (v > m || isnan(v)) m = v;
        }
      }
    y[idx] = m;
  }
}

__global__ void avgpool_kernel(const float* x, int64_t planes, kernels::Conv2dGeom g, float* y) {
  detail::pdl_entry();
  const float div = static_cast<float>(g.kh * g.kw);
  QF_GRID_STRIDE(idx, planes * g.oh * g.ow) {
    const int64_t p = idx / (g.oh * g.ow), o = idx - p * g.oh * g.ow, oy = o / g.ow, ox = o - oy * g.ow;
    const float* in = x + p * g.h * g.w;
    float s = 0.0f;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) s += in[iy * g.w + ix];
      }
    y[idx] = s / div;
  }
}

template <class T>
void launch_im2col(const T* x, const kernels::Conv2dGeom& g, T pad, T* col, const char* what) {
  const int64_t n = g.oh * g.ow * g.c * g.kh * g.kw;
  if (n <= 0) return;
  detail::launch_kernel(im2col_kernel<T>, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, g, pad, col);
  check_launch(what);
}

}  // namespace

void f32_im2col__cuda(const float* x, const kernels::Conv2dGeom& g, float pad, float* col) {
  launch_im2col(x, g, pad, col, "im2col_f32");
}
void x8_im2col_u8__cuda(const uint8_t* x, const kernels::Conv2dGeom& g, uint8_t pad, uint8_t* col) {
  launch_im2col(x, g, pad, col, "im2col_u8");
}
void x8_im2col_s8__cuda(const int8_t* x, const kernels::Conv2dGeom& g, int8_t pad, int8_t* col) {
  launch_im2col(x, g, pad, col, "im2col_s8");
}
void x8_im2col_nhwc__cuda(const uint8_t* x, const kernels::Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col) {
  const int64_t n = g.oh * g.ow * ldcol;
  if (n <= 0) return;
  detail::launch_kernel(im2col_nhwc_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, g, pad, ldcol, col);
  check_launch("im2col_nhwc_x8");
}
void f32_maxpool2d__cuda(const float* x, int64_t planes, const kernels::Conv2dGeom& g, float* y) {
  const int64_t n = planes * g.oh * g.ow;
  if (n <= 0) return;
  detail::launch_kernel(maxpool_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, planes, g, y);
  check_launch("maxpool2d");
}
void f32_avgpool2d__cuda(const float* x, int64_t planes, const kernels::Conv2dGeom& g, float* y) {
  const int64_t n = planes * g.oh * g.ow;
  if (n <= 0) return;
  detail::launch_kernel(avgpool_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, planes, g, y);
  check_launch("avgpool2d");
}
void f32_maxpool2d_nhwc__cuda(const float* x, int64_t images, int64_t channels, const kernels::Conv2dGeom& g,
                              bool relu_first, float* y) {
  const int64_t n = images * g.oh * g.ow * channels;
  if (n <= 0) return;
  detail::launch_kernel(maxpool_nhwc_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, images, channels, g,
                        relu_first, y);
  check_launch("maxpool2d_nhwc");
}

}  // namespace qf::cuda
