#include "qat/fp8_fake_quant.h"

#include "core/fp8_e4m3.h"
#include "core/quant.h"

namespace qf::qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct E4M3FakeQuantFn : torch::autograd::Function<E4M3FakeQuantFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& scale) {
    torch::NoGradGuard no_grad;
    const torch::Tensor xf = x.to(torch::kFloat);
    const torch::Tensor s = scale.to(torch::kFloat);
    const torch::Tensor v = xf / s;
    ctx->save_for_backward({v.abs() <= static_cast<double>(kE4M3Max)});
    return (e4m3_round(v) * s).to(x.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const torch::Tensor inside = ctx->get_saved_variables()[0];
    return {grad_out[0] * inside, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor e4m3_round(const torch::Tensor& v) {
  // |v| saturated to 448, then rounded on its binade's grid 2^(e-3), e = max(floor(log2|v|), -6)
  // (-6: below the smallest normal the grid stays the subnormals' 2^-9). frexp gives floor(log2)
  // exactly (a = m 2^E, m in [0.5, 1)); the grid step is a power of two built from its bits, so
  // a / step and round(.) * step are exact and the only rounding is torch::round's (half even).
  const torch::Tensor a = v.abs().clamp_max(static_cast<double>(kE4M3Max));
  const torch::Tensor e = std::get<1>(torch::frexp(a)).to(torch::kInt) - 1;
  const torch::Tensor step = ((torch::clamp_min(e, -6) - 3 + 127) * (1 << 23)).to(torch::kInt).view(torch::kFloat);
  return torch::copysign(torch::round(a / step) * step, v);
}

torch::Tensor e4m3_fake_quantize(const torch::Tensor& x, const torch::Tensor& scale) {
  return E4M3FakeQuantFn::apply(x, scale);
}

torch::Tensor e4m3_scale(const torch::Tensor& absmax) {
  const torch::Tensor s = absmax / kE4M3Max;
  const torch::Tensor fallback = torch::where(absmax > 0, torch::full_like(s, kMinScale), torch::ones_like(s));
  return torch::where(s > kMinScale, s, fallback);
}

}  // namespace qf::qat
