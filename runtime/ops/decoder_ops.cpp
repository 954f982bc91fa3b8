// The decoder ops of Hugging Face models (format feature `decoder_ops`): RMSNorm (plain or
// (1 + w)), rotary embeddings from stored inverse frequencies, grouped-query causal attention
// with an optional sliding window and the session's KV cache, gated activations, a scalar scale.
// Shape logic around one kernel each; the arithmetic is the kernel table's.
#include <cmath>

#include "core/error.h"
#include "runtime/ops/op.h"

namespace qf {
namespace {

// A float32 parameter vector of the checkpoint ("weight" of rms_norm / rotary_embedding).
const std::vector<float>& float_weight(const OpImpl& op, const LayerWeights& L) {
  if (L.format != WeightFormat::kFloat32 || L.shape.size() != 1)
    throw Error("op '" + op.op().name + "' (" + op.op().kind + "): weight must be float32 [n]");
  return L.f32;
}

// Fails at load when the backend's table lacks a kernel (a table written before these ops).
template <typename Fn>
Fn need(const OpImpl& op, Fn fn, const char* name, const kernels::KernelTable& kt) {
  if (!fn)
    throw Error("op '" + op.op().name + "' (" + op.op().kind + "): the '" + kt.name + "' kernel table has no " + name +
                " kernel");
  return fn;
}

class RmsNormOp : public OpImpl {
 public:
  explicit RmsNormOp(const OpContext& c)
      : OpImpl(c), d_(float_weight(*this, *c.weights).size()), eps_(static_cast<float>(c.op.float_attr("eps", 1e-6))),
        plus_one_(static_cast<int>(c.op.int_attr("plus_one", 0))), fn_(need(*this, c.kt.rms_norm, "rms_norm", c.kt)) {
    w_ = constant(c.weights->f32);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.empty() || s.back() % d_ != 0)
      fail("input must end in a multiple of the weight's " + std::to_string(d_) + " values, got " + shape_str(s));
    return s;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    fn_(in[0]->f, in[0]->numel() / d_, d_, w_.f32(), eps_, plus_one_, out.f);
  }

 private:
  int64_t d_;
  float eps_;
  int plus_one_;
  kernels::RmsNormFn fn_;
  Buffer w_;
};

class RopeOp : public OpImpl {
 public:
  explicit RopeOp(const OpContext& c)
      : OpImpl(c), h2_(float_weight(*this, *c.weights).size()), fn_(need(*this, c.kt.rope, "rope", c.kt)) {
    if (h2_ < 1) fail("needs at least one frequency");
    for (float f : c.weights->f32)
      if (!std::isfinite(f)) fail("inverse frequencies must be finite");
    freq_ = constant(c.weights->f32);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 3 || s[2] % (2 * h2_) != 0)
      fail("input must be [B, T, heads * " + std::to_string(2 * h2_) + "], got " + shape_str(s));
    return s;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState& st) override {
    const Shape& s = in[0]->shape;
    if (st.row_pos.empty()) {
      fn_(in[0]->f, s[0] * s[1], s[1], st.pos, s[2] / (2 * h2_), h2_, freq_.f32(), out.f);
    } else {  // ragged: each row from its own position
      for (int64_t b = 0; b < s[0]; ++b)
        fn_(in[0]->f + b * s[1] * s[2], s[1], s[1], st.position(b), s[2] / (2 * h2_), h2_, freq_.f32(),
            out.f + b * s[1] * s[2]);
    }
    st.step_tokens = s[1];
  }

 private:
  int64_t h2_;
  kernels::RopeFn fn_;
  Buffer freq_;
};

class GqaAttentionOp : public OpImpl {
 public:
  explicit GqaAttentionOp(const OpContext& c)
      : OpImpl(c), heads_(c.op.int_attr("heads", 1)), kv_heads_(c.op.int_attr("kv_heads", heads_)),
        window_(c.op.int_attr("window", 0)), scale_(static_cast<float>(c.op.float_attr("scale", 1.0))),
        fn_(need(*this, c.kt.gqa_attention, "gqa_attention", c.kt)), kv_(kv_quant()),
        scratch_(*c.kt.memory) {
    if (heads_ % kv_heads_ != 0) fail("heads must be a multiple of kv_heads");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 3);
    const Shape &q = in[0]->shape, &k = in[1]->shape, &v = in[2]->shape;
    if (q.size() != 3 || q[2] % heads_ != 0) fail("q must be [B, T, heads * d], got " + shape_str(q));
    const int64_t d = q[2] / heads_;
    const Shape kv = {q[0], q[1], kv_heads_ * d};
    if (k != kv || v != kv) fail("k and v must be " + shape_str(kv) + ", got " + shape_str(k) + " and " + shape_str(v));
    if (kv_ && d % kv_->group != 0)
      fail("kv_group_size " + std::to_string(kv_->group) + " does not divide the head dimension " + std::to_string(d));
    return q;
  }
  void check_state(const std::vector<const Val*>& in, const RunState& st) const override {
    if (st.batch >= 0 && st.batch != in[0]->shape[0])
      fail("batch size " + std::to_string(in[0]->shape[0]) + " differs from the session's " + std::to_string(st.batch));
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState& st) override {
    const int64_t b_n = in[0]->shape[0], t = in[0]->shape[1], c = in[0]->shape[2], ckv = in[1]->shape[2];
    KvCache& cache = st.kv[index_];
    if (kv_) cache.set_quantization(*kv_);
    cache.append(kt_, b_n, t, ckv, in[1]->f, in[2]->f, ckv, t * ckv);
    scratch_.reserve(static_cast<size_t>(cache.longest()) * sizeof(float));
    for (int64_t b = 0; b < b_n; ++b)
      if (const int64_t l = cache.length(b); kv_)
        kt_.qkv_gqa_attention(in[0]->f + b * t * c, c, cache.qk(b), cache.qv(b), t, l, heads_, kv_heads_, c / heads_,
                              window_, scale_, scratch_.f32(), out.f + b * t * c);
      else
        fn_(in[0]->f + b * t * c, c, cache.k(b), cache.v(b), ckv, t, l, heads_, kv_heads_, c / heads_, window_,
            scale_, scratch_.f32(), out.f + b * t * c);
    st.step_tokens = t;
  }

 private:
  int64_t heads_, kv_heads_, window_;
  float scale_;
  kernels::GqaAttentionFn fn_;
  std::optional<kernels::KvQuant> kv_;  // a quantized cache (feature kv_cache_int4)
  Buffer scratch_;
};

class GatedActOp : public OpImpl {
 public:
  explicit GatedActOp(const OpContext& c) : OpImpl(c), fn_(need(*this, c.kt.gated_act, "gated_act", c.kt)) {
    auto it = c.op.strings.find("activation");
    const std::string a = it == c.op.strings.end() ? "" : it->second;
    if (a == "silu") act_ = 0;
    else if (a == "gelu_tanh") act_ = 1;
    else fail("activation must be 'silu' or 'gelu_tanh', got '" + a + "'");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 2);
    if (in[0]->shape != in[1]->shape)
      fail("gate and up differ in shape: " + shape_str(in[0]->shape) + " vs " + shape_str(in[1]->shape));
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    fn_(in[0]->f, in[1]->f, in[0]->numel(), act_, out.f);
  }

 private:
  kernels::GatedActFn fn_;
  int act_ = 0;
};

class ScaleOp : public OpImpl {
 public:
  explicit ScaleOp(const OpContext& c)
      : OpImpl(c), s_(static_cast<float>(c.op.float_attr("factor", 1.0))), fn_(need(*this, c.kt.scale, "scale", c.kt)) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override { fn_(in[0]->f, in[0]->numel(), s_, out.f); }

 private:
  float s_;
  kernels::ScaleFn fn_;
};

}  // namespace

std::unique_ptr<OpImpl> make_rms_norm(const OpContext& c) { return std::make_unique<RmsNormOp>(c); }
std::unique_ptr<OpImpl> make_rotary_embedding(const OpContext& c) { return std::make_unique<RopeOp>(c); }
std::unique_ptr<OpImpl> make_gqa_attention(const OpContext& c) { return std::make_unique<GqaAttentionOp>(c); }
std::unique_ptr<OpImpl> make_gated_activation(const OpContext& c) { return std::make_unique<GatedActOp>(c); }
std::unique_ptr<OpImpl> make_scale(const OpContext& c) { return std::make_unique<ScaleOp>(c); }

}  // namespace qf
