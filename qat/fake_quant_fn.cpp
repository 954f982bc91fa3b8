#include "qat/fake_quant_fn.h"

#include <ATen/ExpandUtils.h>

namespace qf::qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct FakeQuantizeFn : torch::autograd::Function<FakeQuantizeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& scale,
                               const torch::Tensor& zero_point, int64_t qmin, int64_t qmax, double grad_factor) {
    const torch::Tensor xs = x / scale;
    const torch::Tensor q_unclamped = torch::round(xs) + zero_point;
    const torch::Tensor q = torch::clamp(q_unclamped, static_cast<double>(qmin), static_cast<double>(qmax));
    const torch::Tensor y = (q - zero_point) * scale;
    const torch::Tensor inside = (q_unclamped >= static_cast<double>(qmin)) & (q_unclamped <= static_cast<double>(qmax));
    const bool need_s = scale.requires_grad(), need_z = zero_point.requires_grad();
    // dy/ds per element: round(x/s) - x/s inside; (q - z) outside (q is the clamp bound there).
    const torch::Tensor ds = need_s ? torch::where(inside, (q - zero_point) - xs, q - zero_point) : torch::Tensor();
    ctx->save_for_backward({inside, ds, scale, zero_point});
    ctx->saved_data["grad_factor"] = grad_factor;
    ctx->saved_data["need_s"] = need_s;
    ctx->saved_data["need_z"] = need_z;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& inside = saved[0];
    const torch::Tensor& g = grad_out[0];
    const double factor = ctx->saved_data["grad_factor"].toDouble();
    torch::Tensor gx = g * inside;
    torch::Tensor gs, gz;
    if (ctx->saved_data["need_s"].toBool())
      gs = at::sum_to(g * saved[1], saved[2].sizes()) * factor;
    if (ctx->saved_data["need_z"].toBool())
      gz = at::sum_to(torch::where(inside, torch::zeros_like(g), -g * saved[2]), saved[3].sizes()) * factor;
    return {gx, gs, gz, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fake_quantize(const torch::Tensor& x, const torch::Tensor& scale, const torch::Tensor& zero_point,
                            int64_t qmin, int64_t qmax, double grad_factor) {
  return FakeQuantizeFn::apply(x, scale, zero_point, qmin, qmax, grad_factor);
}

}  // namespace qf::qat
