#include "train/kv_fake_quant.h"

#include <stdexcept>

#include "core/quant.h"

namespace qf::train {

torch::Tensor kv_fake_quantize(const torch::Tensor& x, const KvCacheScheme& s, int64_t head_dim) {
  const std::string why = kv_scheme_error(s, head_dim);
  if (!why.empty()) throw std::invalid_argument("kv cache quantization: " + why);
  const int64_t c = x.size(-1), g = kv_group(s, head_dim);
  if (c % g != 0) throw std::invalid_argument("kv cache quantization: group does not divide the row");
  const QuantRange r = quant_range(s.bits, s.symmetric);
  const double qmax = r.qmax;
  const double fp16_max = 65504.0;
  torch::Tensor xf = x.detach().to(torch::kFloat);
  auto shape = xf.sizes().vec();
  shape.back() = c / g;
  shape.push_back(g);
  const torch::Tensor v = xf.reshape(shape);
  // The scale rounded to fp16 before use (torch's Half conversion rounds to nearest even like
  // core/fp16.h), exactly as stored by the runtime.
  auto to_fp16 = [](const torch::Tensor& t) { return t.to(torch::kHalf).to(torch::kFloat); };
  torch::Tensor y;
  if (s.symmetric) {
    const torch::Tensor absmax = v.abs().amax(-1, true);
    torch::Tensor scale = to_fp16(((absmax * s.clip) / qmax).clamp_max(fp16_max));
    const torch::Tensor fallback = torch::where(absmax > 0, torch::full_like(absmax, 5.9604644775390625e-08),
                                                torch::ones_like(absmax));
    scale = torch::where(scale == 0, fallback, scale);
    y = torch::round(v / scale).clamp(r.qmin, r.qmax) * scale;
  } else if (s.int_zero_point) {
    // The range widened to hold 0; z = round(-lo / s), codes round(x / s) + z, x' = (q - z) * s.
    const torch::Tensor lo = v.amin(-1, true).clamp_max(0.0), hi = v.amax(-1, true).clamp_min(0.0);
    torch::Tensor scale = to_fp16(((hi - lo) / qmax).clamp_max(fp16_max));
    const torch::Tensor fallback =
        torch::where(hi > lo, torch::full_like(hi, 5.9604644775390625e-08), torch::ones_like(hi));
    scale = torch::where(scale == 0, fallback, scale);
    const torch::Tensor z = torch::round(-lo / scale).clamp(0.0, qmax);
    y = ((torch::round(v / scale) + z).clamp(r.qmin, r.qmax) - z) * scale;
  } else {
    const torch::Tensor lo = v.amin(-1, true), hi = v.amax(-1, true);
    const torch::Tensor m = to_fp16(lo.clamp(-fp16_max, fp16_max));
    torch::Tensor scale = to_fp16(((hi - m) / qmax).clamp(0.0, fp16_max));
    scale = torch::where(scale == 0, torch::ones_like(scale), scale);
    y = torch::round((v - m) / scale).clamp(r.qmin, r.qmax) * scale + m;
  }
  y = y.reshape(x.sizes()).to(x.scalar_type());
  // Straight-through: forward exactly y, gradient 1 to x (x - x.detach() is exactly 0).
  return y + (x - x.detach());
}

}  // namespace qf::train
