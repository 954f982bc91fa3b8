// Reference data movement and activation quantization: the steps the executor would otherwise
// do with its own loops (see kernels.h). Quantization calls core/quantize_rows.h, the loops the
// exporter and the training contract use.
#include <cstring>

#include "core/quantize_rows.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

void f32_add_ref(const float* a, const float* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void f32_add_rows_ref(const float* x, int64_t n_rows, int64_t period, int64_t d, const float* rows, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* p = rows + (r % period) * d;
    for (int64_t e = 0; e < d; ++e) y[r * d + e] = x[r * d + e] + p[e];
  }
}

void f32_gather_rows_ref(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(y + i * d, table + ids[i] * d, static_cast<size_t>(d) * sizeof(float));
}

void f32_transpose_ref(const float* x, int64_t rows, int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[c * rows + r] = x[r * cols + c];
}

void f32_copy_rows_ref(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                       int64_t dst_stride) {
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_stride, src + r * src_stride, static_cast<size_t>(cols) * sizeof(float));
}

void f32_quantize_per_row_s8_ref(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales) {
  quantize_per_token_s8(x, rows, cols, codes, scales);
}

void f32_quantize_u8_ref(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                         uint8_t* codes) {
  quantize_tensor_u8(x, n, QuantParams{scale, zero_point}, QuantRange{qmin, qmax}, codes);
}

void f32_quantize_s8_ref(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes) {
  quantize_tensor_s8(x, n, QuantParams{scale, 0}, QuantRange{qmin, qmax}, codes);
}

}  // namespace qf::kernels
