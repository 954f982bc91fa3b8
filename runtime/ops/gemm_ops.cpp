// linear and conv2d: the GEMM ops. Both quantize their input per the layer's scheme (integer
// path) or run the float GEMM (float or weight-only-quantized weights); see FORMAT.md, "The
// quantization contract".
#include <tuple>

#include "core/error.h"
#include "runtime/ops/op.h"
#include "runtime/weight_prep.h"

namespace qf {
namespace {

int act_index(bool is_unsigned) { return is_unsigned ? 0 : 1; }

class LinearOp : public OpImpl {
 public:
  explicit LinearOp(const OpContext& c) : OpImpl(c), w_(*c.weights, c.kt), aq_(c.kt) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    Shape s = in[0]->shape;
    if (s.empty() || s.back() != w_.cols())
      fail("input " + shape_str(s) + " must end in K = " + std::to_string(w_.cols()));
    s.back() = w_.rows();
    return s;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    const int64_t m = in[0]->numel() / w_.cols();
    if (!w_.integer_path()) {
      kt_.f32_gemm(m, w_.rows(), w_.cols(), in[0]->f, w_.f32(), w_.bias(), out.f);
      return;
    }
    const kernels::QActs acts = aq_.quantize(w_.input_scheme(), in[0]->f, m, w_.cols());
    const kernels::QWeights& q = w_.q();
    kt_.qgemm[act_index(aq_.is_unsigned())][static_cast<int>(q.kind)](m, acts, q, w_.bias(), out.f);
  }

 private:
  GemmWeight w_;
  ActQuantizer aq_;
};

class Conv2dOp : public OpImpl {
 public:
  explicit Conv2dOp(const OpContext& c)
      : OpImpl(c),
        groups_(c.op.int_attr("groups", 1)),
        w_(checked(c), c.kt, groups_),
        aq_(c.kt),
        col_(*c.kt.memory),
        tmp_(*c.kt.memory) {
    const std::vector<int64_t>& shape = c.weights->shape;
    cg_ = shape[1];
    kh_ = shape[2];
    kw_ = shape[3];
    auto [ah, aw] = pair_attr("kernel", kh_, kw_);
    if (ah != kh_ || aw != kw_)
      fail("attribute kernel [" + std::to_string(ah) + ", " + std::to_string(aw) + "] does not match the weight " +
           shape_str(shape));
    std::tie(sh_, sw_) = pair_attr("stride", 1, 1);
    std::tie(ph_, pw_) = pair_attr("padding", 0, 0);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 4) fail("input must be NCHW, got " + shape_str(s));
    if (s[1] != cg_ * groups_)
      fail("input has " + std::to_string(s[1]) + " channels, weight expects " + std::to_string(cg_ * groups_));
    if (s[2] + 2 * ph_ < kh_ || s[3] + 2 * pw_ < kw_) fail("input " + shape_str(s) + " is smaller than the kernel");
    return {s[0], w_.rows(), (s[2] + 2 * ph_ - kh_) / sh_ + 1, (s[3] + 2 * pw_ - kw_) / sw_ + 1};
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    const Shape& s = in[0]->shape;
    const int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    const int64_t p = out.shape[2] * out.shape[3], og = w_.rows() / groups_, kdim = cg_ * kh_ * kw_;
    const kernels::Conv2dGeom g{cg_, h, w, kh_, kw_, sh_, sw_, ph_, pw_, out.shape[2], out.shape[3], h * w};
    tmp_.reserve(static_cast<size_t>(p * og) * sizeof(float));
    kernels::QActs acts;
    if (w_.integer_path()) {
      // Quantize the whole input once; padding then takes the zero point, i.e. exactly 0.
      acts = aq_.quantize(w_.input_scheme(), in[0]->f, 1, in[0]->numel());
      col_.reserve(static_cast<size_t>(p * kdim));
    } else {
      col_.reserve(static_cast<size_t>(p * kdim) * sizeof(float));
    }
    for (int64_t b = 0; b < n; ++b)
      for (int64_t gi = 0; gi < groups_; ++gi) {
        const int64_t in_off = (b * c + gi * cg_) * h * w;
        const float* bias = w_.bias() ? w_.bias() + gi * og : nullptr;
        if (w_.integer_path()) {
          if (aq_.is_unsigned())
            kt_.im2col_u8(static_cast<const uint8_t*>(aq_.codes()) + in_off, g, static_cast<uint8_t>(acts.zero_point),
                          col_.as<uint8_t>());
          else
            kt_.im2col_s8(static_cast<const int8_t*>(aq_.codes()) + in_off, g, 0, col_.as<int8_t>());
          kernels::QActs cols = acts;
          cols.codes = col_.data();
          const kernels::QWeights& q = w_.q(gi);
          kt_.qgemm[act_index(aq_.is_unsigned())][static_cast<int>(q.kind)](p, cols, q, bias, tmp_.f32());
        } else {
          kt_.im2col_f32(in[0]->f + in_off, g, 0.0f, col_.f32());
          kt_.f32_gemm(p, og, kdim, col_.f32(), w_.f32() + gi * og * kdim, bias, tmp_.f32());
        }
        kt_.transpose(tmp_.f32(), p, og, out.f + (b * w_.rows() + gi * og) * p);  // [P, Og] -> NCHW
      }
  }

 private:
  // The weight must be [O, C/groups, kh, kw] with O divisible by groups before it is sliced.
  static const LayerWeights& checked(const OpContext& c) {
    const int64_t groups = c.op.int_attr("groups", 1);
    if (c.weights->shape.size() != 4 || c.weights->rows % groups != 0)
      throw Error("op '" + c.op.name + "' (conv2d): weight " + shape_str(c.weights->shape) +
                  " must be [O, C/groups, kh, kw] with O divisible by groups = " + std::to_string(groups));
    return *c.weights;
  }
  int64_t groups_;
  GemmWeight w_;
  ActQuantizer aq_;
  Buffer col_, tmp_;
  int64_t cg_ = 0, kh_ = 0, kw_ = 0, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0;
};

}  // namespace

std::unique_ptr<OpImpl> make_linear(const OpContext& c) { return std::make_unique<LinearOp>(c); }
std::unique_ptr<OpImpl> make_conv2d(const OpContext& c) { return std::make_unique<Conv2dOp>(c); }

}  // namespace qf
