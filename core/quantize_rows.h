// Array-level quantization of a [rows, K] float matrix with the scalar rules of core/quant.h.
// Both the exporter (weights) and the runtime (activations) call these, so the codes written to
// a checkpoint and the codes a kernel computes come from the same loops.
#pragma once

#include <cstdint>
#include <vector>

#include "core/quant.h"
#include "core/quant_scheme.h"

namespace qf {

// Where the quantization parameters of each element live. Parameters are stored row-major as
// [1] (tensor), [rows] (channel) or [rows, K / group_size] (group).
struct QuantLayout {
  int64_t rows = 0;
  int64_t cols = 0;  // K
  Granularity granularity = Granularity::kTensor;
  int64_t group_size = 0;  // == cols for kChannel; == rows*cols conceptually for kTensor

  // Validates (rows, cols >= 0; group size > 0 and divides K for kGroup). Throws qf::Error.
  static QuantLayout make(int64_t rows, int64_t cols, Granularity g, int64_t group_size = 0);

  int64_t groups_per_row() const {
    return granularity == Granularity::kGroup ? cols / group_size : 1;
  }
  int64_t num_params() const {
    return granularity == Granularity::kTensor ? 1 : rows * groups_per_row();
  }
  int64_t param_index(int64_t r, int64_t k) const {
    switch (granularity) {
      case Granularity::kTensor: return 0;
      case Granularity::kChannel: return r;
      default: return r * groups_per_row() + k / group_size;
    }
  }
  std::vector<int64_t> param_shape() const;  // [1] | [rows] | [rows, K/G]
};

struct QuantizedMatrix {
  QuantLayout layout;
  int bits = 8;
  bool symmetric = true;
  std::vector<int32_t> codes;         // [rows, K]; int32 so signed and unsigned ranges both fit
  std::vector<float> scales;          // layout.num_params()
  std::vector<int32_t> zero_points;   // layout.num_params(); all 0 when symmetric
};

// Parameters from the data: absmax (symmetric) or min/max (asymmetric) over each param's
// elements, then symmetric_params / asymmetric_params.
void compute_quant_params(const float* x, const QuantLayout& layout, int bits, bool symmetric,
                          float* scales, int32_t* zero_points);

// codes[i] = quantize(x[i], params of i). zero_points may be null (all 0).
void quantize_with_params(const float* x, const QuantLayout& layout, QuantRange range,
                          const float* scales, const int32_t* zero_points, int32_t* codes);

// x[i] = dequantize(codes[i], params of i). zero_points may be null.
void dequantize_with_params(const int32_t* codes, const QuantLayout& layout, const float* scales,
                            const int32_t* zero_points, float* x);

// Convenience: parameters from the data (or the given ones, e.g. learned LSQ scales, when
// `scales` is non-empty), then codes.
QuantizedMatrix quantize_matrix(const float* x, const QuantLayout& layout, int bits,
                                bool symmetric, const std::vector<float>& scales = {},
                                const std::vector<int32_t>& zero_points = {});

// A weight's codes in its scheme's range (weight_quant_range: restricted, or full for
// `full_range`), symmetric, with scales from the data or the given ones. For ggml's Q4_0 / Q8_0
// blocks (`ggml_format`; groups of 32, no given scales): ggml_blocks_as_codes, 5 / 8 bits.
QuantizedMatrix quantize_weight_matrix(const float* x, const QuantLayout& layout, const WeightScheme& ws,
                                       const std::vector<float>& scales = {});

// Dynamic per-token activation quantization: each row of [rows, K] gets its own symmetric int8
// scale = absmax(row) / 127 (core rules, so an all-zero row gets scale 1).
void quantize_per_token_s8(const float* x, int64_t rows, int64_t cols, int8_t* codes,
                           float* scales);

// Static per-tensor activation quantization into 8-bit storage. Asymmetric codes go to uint8,
// symmetric codes to int8 (the caller picks by `range`); bits < 8 use a narrower range.
void quantize_tensor_u8(const float* x, int64_t n, QuantParams p, QuantRange r, uint8_t* codes);
void quantize_tensor_s8(const float* x, int64_t n, QuantParams p, QuantRange r, int8_t* codes);

}  // namespace qf
