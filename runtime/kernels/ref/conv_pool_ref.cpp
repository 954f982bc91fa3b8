// Reference of the fused convolution epilogue (kernels.h, QConvPoolArgs): for each pooled
// pixel, the window's four conv rows are gathered and run through the reference GEMM, then the
// graph's ops in their order with the reference kernels' expressions -- relu (x > 0 ? x : 0),
// max pool's fold from -inf (v > m || isnan(v)), relu, quantize. Slow and obviously the
// composition; optimized variants are compared with it bit for bit.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

void x8_conv2d_pool_ref(const QConvPoolArgs& a, const QWeights& w, const float* bias) {
  const int64_t n = w.n, k = w.k, seg = k / a.segs;
  if (a.cij_channels > 0 && (a.segs <= 0 || k % (a.segs * a.cij_channels) != 0))
    throw Error("x8_conv2d_pool_ref: K = " + std::to_string(k) + " is not cij_channels x segs x kw");
  std::vector<uint8_t> rows(static_cast<size_t>(4 * k));
  std::vector<float> y(static_cast<size_t>(4 * n)), m(static_cast<size_t>(n));
  const QActs acts{rows.data(), a.x_unsigned ? a.zero_point : 0, &a.sx, 0};
  QGemmFn gemm = nullptr;
  switch (w.kind) {
    case QWeightKind::kInt8: gemm = a.x_unsigned ? qu8_qs8w_gemm_f32_ref : qs8_qs8w_gemm_f32_ref; break;
    case QWeightKind::kInt4: gemm = a.x_unsigned ? qu8_qs4w_gemm_f32_ref : qs8_qs4w_gemm_f32_ref; break;
    case QWeightKind::kNM: gemm = a.x_unsigned ? qu8_qs8nmw_gemm_f32_ref : qs8_qs8nmw_gemm_f32_ref; break;
    // The conv op hands this kernel its channels-last int8 copy only (Conv2dOp::use_channels_last).
    case QWeightKind::kBSInt8:
    case QWeightKind::kBSInt4:
    case QWeightKind::kFp8E4M3: throw Error("x8_conv2d_pool_ref: block-sparse and FP8 weights have no fused conv + pool path");
  }
  for (int64_t img = 0; img < a.images; ++img)
    for (int64_t py = 0; py < a.pooled_h; ++py)
      for (int64_t px = 0; px < a.pooled_w; ++px) {
        for (int64_t t = 0; t < 4; ++t) {  // window (i, j) in maxpool's order
          const int64_t oy = 2 * py + t / 2, ox = 2 * px + t % 2;
          const uint8_t* src = a.x + img * a.x_image + oy * a.x_row + ox * a.x_pixel;
          if (a.cij_channels > 0) {  // K in (c, i, j) order from channels-last runs (kernels.h)
            const int64_t C = a.cij_channels, kw = k / (a.segs * C);
            for (int64_t c = 0; c < C; ++c)
              for (int64_t i = 0; i < a.segs; ++i)
                for (int64_t j = 0; j < kw; ++j)
                  rows[static_cast<size_t>(t * k + (c * a.segs + i) * kw + j)] = src[i * a.x_seg + j * C + c];
            continue;
          }
          for (int64_t s = 0; s < a.segs; ++s)
            std::memcpy(rows.data() + t * k + s * seg, src + s * a.x_seg, static_cast<size_t>(seg));
        }
        gemm(4, acts, w, bias, y.data());
        for (int64_t c = 0; c < n; ++c) {
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t t = 0; t < 4; ++t) {
            float v = y[static_cast<size_t>(t * n + c)];
            if (a.relu_before) v = v > 0.0f ? v : 0.0f;
            if (v > mx || std::isnan(v)) mx = v;
          }
          if (a.relu_after) mx = mx > 0.0f ? mx : 0.0f;
          m[static_cast<size_t>(c)] = mx;
        }
        const int64_t off = img * a.y_image + py * a.y_row + px * n;
        if (!a.out_codes) {
          std::memcpy(static_cast<float*>(a.y) + off, m.data(), static_cast<size_t>(n) * sizeof(float));
        } else if (a.out_unsigned) {
          f32_quantize_u8_ref(m.data(), n, a.out_scale, a.out_zero_point, a.out_qmin, a.out_qmax,
                              static_cast<uint8_t*>(a.y) + off);
        } else {
          f32_quantize_s8_ref(m.data(), n, a.out_scale, a.out_qmin, a.out_qmax,
                              reinterpret_cast<int8_t*>(static_cast<uint8_t*>(a.y) + off));
        }
      }
}

}  // namespace qf::kernels
