// The sequence ops of decoder models: token embedding, learned positions and causal attention
// with the session's KV cache.
#include "runtime/ops/op.h"
#include "runtime/weight_prep.h"

namespace qf {
namespace {

class EmbeddingOp : public OpImpl {
 public:
  explicit EmbeddingOp(const OpContext& c) : OpImpl(c) {
    const LayerWeights& L = *c.weights;
    if (L.shape.size() != 2) fail("weight must be [V, D]");
    v_ = L.shape[0];
    d_ = L.shape[1];
    host_ = dequantized_weight(L);  // output row = codes * scale, exactly
    table_ = constant(host_);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    Shape s = in[0]->shape;
    s.push_back(d_);
    return s;
  }
  void check_state(const std::vector<const Val*>& in, const RunState&) const override {
    const int64_t* ids = in[0]->host_ids;
    for (int64_t i = 0; ids && i < in[0]->numel(); ++i)
      if (ids[i] < 0 || ids[i] >= v_)
        fail("token id " + std::to_string(ids[i]) + " out of range [0, " + std::to_string(v_) + ")");
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    kt_.gather_rows(table_.f32(), d_, in[0]->ids, in[0]->numel(), out.f);
  }

 private:
  int64_t v_ = 0, d_ = 0;
  std::vector<float> host_;
  Buffer table_;
};

class PositionalOp : public OpImpl {
 public:
  explicit PositionalOp(const OpContext& c) : OpImpl(c) {
    const LayerWeights& L = *c.weights;
    if (L.format != WeightFormat::kFloat32 || L.shape.size() != 2) fail("weight must be float32 [Tmax, D]");
    tmax_ = L.shape[0];
    d_ = L.shape[1];
    table_ = constant(L.f32);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 3 || s[2] != d_) fail("input must be [B, T, " + std::to_string(d_) + "], got " + shape_str(s));
    return s;
  }
  void check_state(const std::vector<const Val*>& in, const RunState& st) const override {
    const int64_t t = in[0]->shape[1];
    for (int64_t b = 0; b < (st.row_pos.empty() ? 1 : in[0]->shape[0]); ++b)
      if (st.position(b) + t > tmax_)
        fail("sequence position " + std::to_string(st.position(b) + t) + " exceeds the positional table (" +
             std::to_string(tmax_) + " positions)");
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState& st) override {
    const Shape& s = in[0]->shape;
    if (st.row_pos.empty()) {
      kt_.add_rows(in[0]->f, s[0] * s[1], s[1], d_, table_.f32() + st.pos * d_, out.f);
    } else {  // ragged: each row from its own position
      const int64_t row = s[1] * d_;
      for (int64_t b = 0; b < s[0]; ++b)
        kt_.add_rows(in[0]->f + b * row, s[1], s[1], d_, table_.f32() + st.position(b) * d_, out.f + b * row);
    }
    st.step_tokens = s[1];
  }

 private:
  int64_t tmax_ = 0, d_ = 0;
  Buffer table_;
};

class AttentionOp : public OpImpl {
 public:
  explicit AttentionOp(const OpContext& c)
      : OpImpl(c), heads_(c.op.int_attr("heads", 1)), kv_(kv_quant()), scratch_(*c.kt.memory) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 3 || s[2] % 3 != 0 || (s[2] / 3) % heads_ != 0)
      fail("input must be [B, T, 3C] with C divisible by heads = " + std::to_string(heads_) + ", got " + shape_str(s));
    if (kv_ && (s[2] / 3 / heads_) % kv_->group != 0)
      fail("kv_group_size " + std::to_string(kv_->group) + " does not divide the head dimension " +
           std::to_string(s[2] / 3 / heads_));
    return {s[0], s[1], s[2] / 3};
  }
  void check_state(const std::vector<const Val*>& in, const RunState& st) const override {
    if (st.batch >= 0 && st.batch != in[0]->shape[0])
      fail("batch size " + std::to_string(in[0]->shape[0]) + " differs from the session's " + std::to_string(st.batch));
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState& st) override {
    const int64_t b_n = in[0]->shape[0], t = in[0]->shape[1], c = in[0]->shape[2] / 3;
    KvCache& cache = st.kv[index_];
    if (kv_) cache.set_quantization(*kv_);
    const float* x = in[0]->f;
    cache.append(kt_, b_n, t, c, x + c, x + 2 * c, 3 * c, t * 3 * c);
    scratch_.reserve(static_cast<size_t>(cache.longest()) * sizeof(float));
    for (int64_t b = 0; b < b_n; ++b)
      if (const int64_t l = cache.length(b); kv_)
        kt_.qkv_causal_attention(x + b * t * 3 * c, 3 * c, cache.qk(b), cache.qv(b), t, l, c, heads_, scratch_.f32(),
                                 out.f + b * t * c);
      else
        kt_.causal_attention(x + b * t * 3 * c, 3 * c, cache.k(b), cache.v(b), c, t, l, c, heads_, scratch_.f32(),
                             out.f + b * t * c);
    st.step_tokens = t;
  }

 private:
  int64_t heads_;
  std::optional<kernels::KvQuant> kv_;  // a quantized cache (feature kv_cache_int4)
  Buffer scratch_;
};

}  // namespace

std::unique_ptr<OpImpl> make_embedding(const OpContext& c) { return std::make_unique<EmbeddingOp>(c); }
std::unique_ptr<OpImpl> make_positional_embedding(const OpContext& c) { return std::make_unique<PositionalOp>(c); }
std::unique_ptr<OpImpl> make_causal_attention(const OpContext& c) { return std::make_unique<AttentionOp>(c); }

}  // namespace qf
