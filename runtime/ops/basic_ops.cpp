// Elementwise, normalisation, pooling and shape ops: thin shape logic around one kernel each.
#include <cmath>
#include <tuple>

#include "runtime/ops/op.h"

namespace qf {
namespace {

class UnaryOp : public OpImpl {
 public:
  UnaryOp(const OpContext& c, kernels::UnaryFn fn) : OpImpl(c), fn_(fn) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override { fn_(in[0]->f, in[0]->numel(), out.f); }

 private:
  kernels::UnaryFn fn_;
};

class SoftmaxOp : public OpImpl {
 public:
  using OpImpl::OpImpl;
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    if (in[0]->shape.empty()) fail("input must have rank >= 1");
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    const int64_t c = in[0]->shape.back();
    kt_.softmax(in[0]->f, c ? in[0]->numel() / c : 0, c, out.f);
  }
};

class FlattenOp : public OpImpl {
 public:
  using OpImpl::OpImpl;
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    int64_t start = op_.int_attr("start_dim", 1);
    if (start < 0) start += static_cast<int64_t>(s.size());
    if (start < 0 || start >= static_cast<int64_t>(s.size())) fail("start_dim out of range for " + shape_str(s));
    Shape o(s.begin(), s.begin() + start);
    o.push_back(shape_numel(Shape(s.begin() + start, s.end())));
    return o;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    kt_.copy_rows(in[0]->f, 0, 1, in[0]->numel(), out.f, 0);
  }
};

class AddOp : public OpImpl {
 public:
  using OpImpl::OpImpl;
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 2);
    if (in[0]->shape != in[1]->shape)
      fail("input shapes differ: " + shape_str(in[0]->shape) + " vs " + shape_str(in[1]->shape));
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    kt_.add(in[0]->f, in[1]->f, in[0]->numel(), out.f);
  }
};

class LayerNormOp : public OpImpl {
 public:
  explicit LayerNormOp(const OpContext& c) : OpImpl(c) {
    const LayerWeights& L = *c.weights;
    if (L.format != WeightFormat::kFloat32 || L.shape.size() != 1) fail("weight must be float32 [C]");
    c_ = L.shape[0];
    gamma_ = constant(L.f32);
    beta_ = constant(L.extra.at("bias").f32);
    eps_ = static_cast<float>(c.op.float_attr("eps", 1e-5));
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    if (in[0]->shape.empty() || in[0]->shape.back() != c_)
      fail("input " + shape_str(in[0]->shape) + " must end in C = " + std::to_string(c_));
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    kt_.layernorm(in[0]->f, in[0]->numel() / c_, c_, gamma_.f32(), beta_.f32(), eps_, out.f);
  }

 private:
  int64_t c_ = 0;
  Buffer gamma_, beta_;
  float eps_ = 1e-5f;
};

class PoolOp : public OpImpl {
 public:
  PoolOp(const OpContext& c, kernels::Pool2dFn fn) : OpImpl(c), fn_(fn) {
    std::tie(kh_, kw_) = pair_attr("kernel", 1, 1);
    std::tie(sh_, sw_) = pair_attr("stride", kh_, kw_);
    std::tie(ph_, pw_) = pair_attr("padding", 0, 0);
    // PyTorch's constraint; with it every window overlaps the input, so max is never -inf and
    // avg's count_include_pad divisor is well defined.
    if (2 * ph_ > kh_ || 2 * pw_ > kw_) fail("padding must be <= kernel / 2");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 4) fail("input must be NCHW, got " + shape_str(s));
    if (s[2] + 2 * ph_ < kh_ || s[3] + 2 * pw_ < kw_) fail("input " + shape_str(s) + " is smaller than the kernel");
    return {s[0], s[1], (s[2] + 2 * ph_ - kh_) / sh_ + 1, (s[3] + 2 * pw_ - kw_) / sw_ + 1};
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    const Shape& s = in[0]->shape;
    const kernels::Conv2dGeom g{s[1], s[2], s[3], kh_, kw_, sh_, sw_, ph_, pw_, out.shape[2], out.shape[3], s[2] * s[3]};
    fn_(in[0]->f, s[0] * s[1], g, out.f);
  }

 private:
  kernels::Pool2dFn fn_;
  int64_t kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0;
};

}  // namespace

std::unique_ptr<OpImpl> make_relu(const OpContext& c) { return std::make_unique<UnaryOp>(c, c.kt.relu); }
std::unique_ptr<OpImpl> make_gelu(const OpContext& c) { return std::make_unique<UnaryOp>(c, c.kt.gelu); }
std::unique_ptr<OpImpl> make_softmax(const OpContext& c) { return std::make_unique<SoftmaxOp>(c); }
std::unique_ptr<OpImpl> make_flatten(const OpContext& c) { return std::make_unique<FlattenOp>(c); }
std::unique_ptr<OpImpl> make_add(const OpContext& c) { return std::make_unique<AddOp>(c); }
std::unique_ptr<OpImpl> make_layernorm(const OpContext& c) { return std::make_unique<LayerNormOp>(c); }
std::unique_ptr<OpImpl> make_maxpool2d(const OpContext& c) { return std::make_unique<PoolOp>(c, c.kt.maxpool2d); }
std::unique_ptr<OpImpl> make_avgpool2d(const OpContext& c) { return std::make_unique<PoolOp>(c, c.kt.avgpool2d); }

}  // namespace qf
