#include "qat/ggml_fake_quant.h"

#include <stdexcept>

namespace qf::qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// x: [blocks, 32] float32. Returns (dequantized values, fp32 d) without autograd.
std::pair<torch::Tensor, torch::Tensor> ggml_blocks(const torch::Tensor& x, GgmlFormat f) {
  torch::Tensor d;
  if (f == GgmlFormat::kQ4_0) {
    // The first element of largest magnitude. argmax's choice among equal maxima is not
    // guaranteed (LibTorch 1.13's vectorized CPU reduction does not return the first), so rank
    // the maximal positions 32, 31, ..., 1 and take the unique largest.
    const torch::Tensor a = x.abs();
    const torch::Tensor amax = a.amax(-1, /*keepdim=*/true);
    const torch::Tensor rank = torch::arange(32, 0, -1, x.options().dtype(torch::kLong));
    const torch::Tensor first = x.gather(-1, ((a == amax).to(torch::kLong) * rank).argmax(-1, /*keepdim=*/true));
    // An all-zero block keeps ggml's initial max = +0 (a -0 element would flip the sign of d,
    // and so of the zeros it dequantizes to).
    const torch::Tensor m = torch::where(amax > 0, first, torch::zeros_like(first));
    d = m / -8.0;
  } else {
    d = x.abs().amax(-1, /*keepdim=*/true) / 127.0;
  }
  const torch::Tensor id = torch::where(d != 0, d.reciprocal(), torch::zeros_like(d));
  const torch::Tensor v = x * id;
  torch::Tensor c;
  if (f == GgmlFormat::kQ4_0) {
    c = torch::trunc(v + 8.5).clamp_max(15.0) - 8.0;  // codes as values in [-8, 7]
  } else {
    // roundf (half away from zero), exactly: trunc plus one step where |frac| >= 0.5 (frac is
    // exact; floor(|v| + 0.5) would double-round values just below a half).
    const torch::Tensor t = torch::trunc(v);
    c = t + torch::where((v - t).abs() >= 0.5, torch::sign(v), torch::zeros_like(v));
  }
  const torch::Tensor dh = d.to(torch::kHalf).to(torch::kFloat);  // round to nearest even
  return {c * dh, dh};
}

torch::Tensor as_blocks(const torch::Tensor& w) {
  if (w.dim() == 0 || w.size(-1) % 32 != 0)
    throw std::invalid_argument("ggml block formats need K (the last dimension) to be a multiple of 32, got " +
                                (w.dim() ? std::to_string(w.size(-1)) : std::string("a scalar")));
  return w.to(torch::kFloat).contiguous().reshape({-1, 32});
}

struct GgmlFakeQuantFn : torch::autograd::Function<GgmlFakeQuantFn> {
  static torch::Tensor forward(AutogradContext*, const torch::Tensor& w, int64_t format) {
    torch::NoGradGuard no_grad;
    return ggml_blocks(as_blocks(w), static_cast<GgmlFormat>(format)).first.reshape(w.sizes()).to(w.scalar_type());
  }
  static variable_list backward(AutogradContext*, variable_list grad_out) {
    return {grad_out[0], torch::Tensor()};  // straight-through
  }
};

}  // namespace

torch::Tensor ggml_fake_quantize(const torch::Tensor& w, GgmlFormat format) {
  if (format == GgmlFormat::kNone) throw std::invalid_argument("ggml_fake_quantize: no format");
  return GgmlFakeQuantFn::apply(w, static_cast<int64_t>(format));
}

torch::Tensor ggml_block_scales(const torch::Tensor& w, GgmlFormat format) {
  torch::NoGradGuard no_grad;
  const int64_t k = w.size(-1);
  return ggml_blocks(as_blocks(w.detach()), format).second.reshape({-1, k / 32});
}

}  // namespace qf::qat
