#include "core/quantize_rows.h"

#include <cmath>

#include "core/error.h"
#include "core/ggml_blocks.h"

namespace qf {

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kTensor: return "tensor";
    case Granularity::kChannel: return "channel";
    default: return "group";
  }
}

Granularity parse_granularity(const std::string& s) {
  if (s == "tensor") return Granularity::kTensor;
  if (s == "channel") return Granularity::kChannel;
  if (s == "group") return Granularity::kGroup;
  throw Error("unknown granularity '" + s + "' (expected tensor, channel or group)");
}

const char* act_mode_name(ActMode m) {
  switch (m) {
    case ActMode::kNone: return "none";
    case ActMode::kStatic: return "static";
    default: return "dynamic_per_token";
  }
}

ActMode parse_act_mode(const std::string& s) {
  if (s == "none") return ActMode::kNone;
  if (s == "static") return ActMode::kStatic;
  if (s == "dynamic_per_token") return ActMode::kDynamicPerToken;
  throw Error("unknown activation mode '" + s + "' (expected none, static or dynamic_per_token)");
}

const char* ggml_format_name(GgmlFormat f) {
  switch (f) {
    case GgmlFormat::kQ4_0: return "q4_0";
    case GgmlFormat::kQ8_0: return "q8_0";
    default: return "none";
  }
}

GgmlFormat parse_ggml_format(const std::string& name) {
  if (name == "none") return GgmlFormat::kNone;
  if (name == "q4_0") return GgmlFormat::kQ4_0;
  if (name == "q8_0") return GgmlFormat::kQ8_0;
  throw Error("unknown ggml block format '" + name + "' (expected q4_0 or q8_0)");
}

WeightScheme ggml_weight_scheme(GgmlFormat f) {
  WeightScheme w;
  w.bits = f == GgmlFormat::kQ4_0 ? 4 : 8;
  w.granularity = Granularity::kGroup;
  w.group_size = 32;
  w.symmetric = true;
  w.ggml_format = f;
  return w;
}

QuantRange weight_quant_range(const WeightScheme& s) {
  return s.full_range ? full_quant_range(s.bits) : quant_range(s.bits, /*symmetric=*/true);
}

QuantLayout QuantLayout::make(int64_t rows, int64_t cols, Granularity g, int64_t group_size) {
  if (rows < 0 || cols < 0)
    throw Error("quantization layout: negative shape [" + std::to_string(rows) + ", " +
                std::to_string(cols) + "]");
  QuantLayout l;
  l.rows = rows;
  l.cols = cols;
  l.granularity = g;
  if (g == Granularity::kGroup) {
    if (group_size <= 0 || cols % group_size != 0)
      throw Error("group size " + std::to_string(group_size) + " does not divide K = " +
                  std::to_string(cols));
    l.group_size = group_size;
  } else {
    l.group_size = cols;
  }
  return l;
}

std::vector<int64_t> QuantLayout::param_shape() const {
  switch (granularity) {
    case Granularity::kTensor: return {1};
    case Granularity::kChannel: return {rows};
    default: return {rows, groups_per_row()};
  }
}

namespace {

void compute_params_in_range(const float* x, const QuantLayout& l, QuantRange r, bool symmetric, float* scales,
                             int32_t* zero_points) {
  const int64_t np = l.num_params();
  std::vector<float> lo(static_cast<size_t>(np), 0.0f), hi(static_cast<size_t>(np), 0.0f);
  // Ranges start at 0 (both rules widen the range to contain 0 anyway).
  for (int64_t i = 0; i < l.rows; ++i)
    for (int64_t k = 0; k < l.cols; ++k) {
      const float v = x[i * l.cols + k];
      const int64_t p = l.param_index(i, k);
      if (v < lo[p]) lo[p] = v;
      if (v > hi[p]) hi[p] = v;
    }
  for (int64_t p = 0; p < np; ++p) {
    const QuantParams qp = symmetric ? symmetric_params(std::fmax(-lo[p], hi[p]), r)
                                     : asymmetric_params(lo[p], hi[p], r);
    scales[p] = qp.scale;
    if (zero_points) zero_points[p] = qp.zero_point;
  }
}

}  // namespace

void compute_quant_params(const float* x, const QuantLayout& l, int bits, bool symmetric,
                          float* scales, int32_t* zero_points) {
  compute_params_in_range(x, l, quant_range(bits, symmetric), symmetric, scales, zero_points);
}

void quantize_with_params(const float* x, const QuantLayout& l, QuantRange range,
                          const float* scales, const int32_t* zero_points, int32_t* codes) {
  for (int64_t i = 0; i < l.rows; ++i)
    for (int64_t k = 0; k < l.cols; ++k) {
      const int64_t p = l.param_index(i, k);
      const QuantParams qp{scales[p], zero_points ? zero_points[p] : 0};
      codes[i * l.cols + k] = quantize(x[i * l.cols + k], qp, range);
    }
}

void dequantize_with_params(const int32_t* codes, const QuantLayout& l, const float* scales,
                            const int32_t* zero_points, float* x) {
  for (int64_t i = 0; i < l.rows; ++i)
    for (int64_t k = 0; k < l.cols; ++k) {
      const int64_t p = l.param_index(i, k);
      x[i * l.cols + k] = dequantize(codes[i * l.cols + k],
                                     QuantParams{scales[p], zero_points ? zero_points[p] : 0});
    }
}

namespace {

QuantizedMatrix quantize_in_range(const float* x, const QuantLayout& l, int bits, QuantRange range, bool symmetric,
                                  const std::vector<float>& scales, const std::vector<int32_t>& zero_points) {
  QuantizedMatrix q;
  q.layout = l;
  q.bits = bits;
  q.symmetric = symmetric;
  const size_t np = static_cast<size_t>(l.num_params());
  if (scales.empty()) {
    q.scales.resize(np);
    q.zero_points.resize(np);
    compute_params_in_range(x, l, range, symmetric, q.scales.data(), q.zero_points.data());
  } else {
    if (scales.size() != np)
      throw Error("expected " + std::to_string(np) + " scales for granularity " +
                  granularity_name(l.granularity) + ", got " + std::to_string(scales.size()));
    for (float s : scales)
      if (!std::isfinite(s) || !(s > 0.0f)) throw Error("scale must be finite and > 0");
    q.scales = scales;
    if (zero_points.empty()) {
      q.zero_points.assign(np, 0);
    } else {
      if (zero_points.size() != np) throw Error("zero point count does not match scale count");
      if (symmetric)
        for (int32_t z : zero_points)
          if (z != 0) throw Error("symmetric quantization requires zero point 0");
      for (int32_t z : zero_points)
        if (z < range.qmin || z > range.qmax) throw Error("zero point outside the code range");
      q.zero_points = zero_points;
    }
  }
  q.codes.resize(static_cast<size_t>(l.rows * l.cols));
  quantize_with_params(x, l, range, q.scales.data(), q.zero_points.data(), q.codes.data());
  return q;
}

}  // namespace

QuantizedMatrix quantize_matrix(const float* x, const QuantLayout& l, int bits, bool symmetric,
                                const std::vector<float>& scales,
                                const std::vector<int32_t>& zero_points) {
  return quantize_in_range(x, l, bits, quant_range(bits, symmetric), symmetric, scales, zero_points);
}

QuantizedMatrix quantize_weight_matrix(const float* x, const QuantLayout& l, const WeightScheme& ws,
                                       const std::vector<float>& scales) {
  if (ws.ggml_format == GgmlFormat::kNone)
    return quantize_in_range(x, l, ws.bits, weight_quant_range(ws), /*symmetric=*/true, scales, {});
  // ggml's blocks: its own block scales, stored as codes of [-8, 8] (Q4_0) or [-127, 127] (Q8_0).
  if (!scales.empty()) throw Error(std::string(ggml_format_name(ws.ggml_format)) + " computes its own block scales");
  if (l.granularity != Granularity::kGroup || l.group_size != kGgmlBlock)
    throw Error(std::string(ggml_format_name(ws.ggml_format)) + " needs groups of 32 along K");
  QuantizedMatrix q;
  q.layout = l;
  q.bits = ggml_storage_bits(ws.ggml_format);
  q.codes.resize(static_cast<size_t>(l.rows * l.cols));
  q.scales.resize(static_cast<size_t>(l.num_params()));
  q.zero_points.assign(q.scales.size(), 0);
  ggml_blocks_as_codes(ws.ggml_format, x, l.rows, l.cols, q.codes.data(), q.scales.data());
  return q;
}

void quantize_per_token_s8(const float* x, int64_t rows, int64_t cols, int8_t* codes,
                           float* scales) {
  const QuantRange r = quant_range(8, true);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * cols;
    float amax = 0.0f;
    for (int64_t k = 0; k < cols; ++k) amax = std::fmax(amax, std::fabs(xr[k]));
    const QuantParams p = symmetric_params(amax, r);
    scales[i] = p.scale;
    for (int64_t k = 0; k < cols; ++k) codes[i * cols + k] = static_cast<int8_t>(quantize(xr[k], p, r));
  }
}

void quantize_tensor_u8(const float* x, int64_t n, QuantParams p, QuantRange r, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>(quantize(x[i], p, r));
}

void quantize_tensor_s8(const float* x, int64_t n, QuantParams p, QuantRange r, int8_t* codes) {
  for (int64_t i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(quantize(x[i], p, r));
}

}  // namespace qf
