// Reference im2col and pooling (NCHW planes).
#include <cmath>
#include <limits>

#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {
namespace {

template <class T>
void im2col(const T* x, const Conv2dGeom& g, T pad, T* col) {
  const int64_t kdim = g.c * g.kh * g.kw;
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      T* row = col + (oy * g.ow + ox) * kdim;
      for (int64_t c = 0; c < g.c; ++c) {
        const T* plane = x + c * g.channel_stride;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = oy * g.sh - g.ph + i;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = ox * g.sw - g.pw + j;
            const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            *row++ = inside ? plane[iy * g.w + ix] : pad;
          }
        }
      }
    }
}

}  // namespace

void f32_im2col_ref(const float* x, const Conv2dGeom& g, float pad, float* col) { im2col(x, g, pad, col); }
void x8_im2col_u8_ref(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col) { im2col(x, g, pad, col); }
void x8_im2col_s8_ref(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col) { im2col(x, g, pad, col); }

void x8_im2col_nhwc_ref(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col) {
  const int64_t kdim = g.kh * g.kw * g.c;
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      uint8_t* row = col + (oy * g.ow + ox) * ldcol;
      for (int64_t k = kdim; k < ldcol; ++k) row[k] = pad;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
          const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
          for (int64_t c = 0; c < g.c; ++c) *row++ = inside ? x[(iy * g.w + ix) * g.c + c] : pad;
        }
    }
}

void f32_maxpool2d_ref(const float* x, int64_t planes, const Conv2dGeom& g, float* y) {
  for (int64_t p = 0; p < planes; ++p) {
    const float* in = x + p * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float m = -std::numeric_limits<float>::infinity();  // padding never wins
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
              const float v = in[iy * g.w + ix];
              if (v > m || std::isnan(v)) m = v;
            }
          }
        y[(p * g.oh + oy) * g.ow + ox] = m;
      }
  }
}

void f32_maxpool2d_nhwc_ref(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu_first,
                            float* y) {
  // maxpool2d's loop with the channel innermost: the same window walk and rule per channel.
  for (int64_t b = 0; b < images; ++b) {
    const float* in = x + b * g.h * g.w * channels;
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t c = 0; c < channels; ++c) {
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
              if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
                float v = in[(iy * g.w + ix) * channels + c];
                if (relu_first) v = v > 0.0f ? v : 0.0f;  // f32_relu_ref's expression
                if (v > m || std::isnan(v)) m = v;
              }
            }
          y[((b * g.oh + oy) * g.ow + ox) * channels + c] = m;
        }
  }
}

void f32_avgpool2d_ref(const float* x, int64_t planes, const Conv2dGeom& g, float* y) {
  // count_include_pad = true (PyTorch's default): always divide by kh*kw. With padding <= k/2
  // (PyTorch's constraint) every window overlaps the padded input, so this is exact.
  const float div = static_cast<float>(g.kh * g.kw);
  for (int64_t p = 0; p < planes; ++p) {
    const float* in = x + p * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float s = 0.0f;
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) s += in[iy * g.w + ix];
          }
        y[(p * g.oh + oy) * g.ow + ox] = s / div;
      }
  }
}

}  // namespace qf::kernels
