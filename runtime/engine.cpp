#include "runtime/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "core/quantize_rows.h"
#include "runtime/checkpoint_reader.h"

namespace qf {

using Shape = std::vector<int64_t>;

// Per-session state: tokens seen and each attention layer's KV cache, per batch element.
struct Session::State {
  int64_t pos = 0;
  int64_t batch = -1;
  int64_t step_tokens = -1;  // T of the current step, set by attention / positional ops
  std::vector<std::vector<std::vector<float>>> k, v;  // [attention op][b] -> [L, C]
};

namespace {

// A tensor as seen by an op during a run.
struct Val {
  DType dtype = DType::kFloat32;
  Shape shape;
  float* f = nullptr;            // float data (op outputs, float graph inputs)
  const int64_t* ids = nullptr;  // int64 graph inputs
  int64_t numel() const { return shape_numel(shape); }
};

using State = Session::State;

class OpImpl {
 public:
  explicit OpImpl(const Op& op) : op_(op) {}
  virtual ~OpImpl() = default;
  // Output shape from input shapes (and dtypes); throws qf::Error naming the op.
  virtual Shape infer(const std::vector<const Val*>& in) const = 0;
  // Checks the session state before anything runs (positional range, batch size).
  virtual void check_state(const std::vector<const Val*>& in, const State& st) const {}
  virtual void run(const std::vector<const Val*>& in, Val& out, State& st) = 0;
  virtual bool wants_int64_input() const { return false; }
  const Op& op() const { return op_; }

 protected:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error("op '" + op_.name + "' (" + op_.kind + "): " + msg);
  }
  void expect_inputs(const std::vector<const Val*>& in, size_t n) const {
    if (in.size() != n) fail("expects " + std::to_string(n) + " input(s), got " + std::to_string(in.size()));
    for (const Val* v : in)
      if (v->dtype != DType::kFloat32 && !wants_int64_input()) fail("expects float32 inputs");
  }
  // 1- or 2-element int list attribute -> (h, w).
  std::pair<int64_t, int64_t> pair_attr(const std::string& key, int64_t dh, int64_t dw) const {
    auto it = op_.ints.find(key);
    if (it == op_.ints.end() || it->second.empty()) return {dh, dw};
    if (it->second.size() == 1) return {it->second[0], it->second[0]};
    if (it->second.size() == 2) return {it->second[0], it->second[1]};
    fail("attribute '" + key + "' must have 1 or 2 values");
  }
  const Op& op_;
};

// ---- weights prepared for the kernels ----

// A layer's weight as the GEMM kernels want it: quantized views into the checkpoint's arrays
// (used when the input is quantized) or a float copy (float weights, weight-only quantization).
struct GemmWeight {
  int64_t o = 0, k = 0;
  bool quantized_path = false;  // integer GEMM
  kernels::QWeights q;
  std::vector<float> expanded_scales;  // per-tensor scale repeated per row
  std::vector<float> f32;              // [O, K] float weight
  ActScheme act;
  const float* bias = nullptr;

  static std::vector<float> dequantized(const LayerWeights& L) {
    std::vector<int32_t> codes;
    switch (L.format) {
      case WeightFormat::kInt8: codes.assign(L.codes.begin(), L.codes.end()); break;
      case WeightFormat::kInt4: codes = unpack_int4_rows(L.packed.data(), L.rows, L.cols); break;
      case WeightFormat::kNMInt8:
      case WeightFormat::kNMInt4: {
        NMCompressed<int8_t> c;
        c.rows = L.rows;
        c.cols = L.cols;
        c.pattern = L.nm;
        c.values = L.codes;
        c.indices = L.packed;
        auto dense = nm_decompress(c);
        codes.assign(dense.begin(), dense.end());
        break;
      }
      default: return L.f32;
    }
    std::vector<float> w(codes.size());
    const QuantLayout layout = QuantLayout::make(L.rows, L.cols, L.granularity, L.group_size);
    dequantize_with_params(codes.data(), layout, L.scales.data(), nullptr, w.data());
    return w;
  }

  void init(const LayerWeights& L) {
    o = L.rows;
    k = L.cols;
    act = L.input_act;
    auto b = L.extra.find("bias");
    bias = b == L.extra.end() ? nullptr : b->second.f32.data();
    quantized_path = L.format != WeightFormat::kFloat32 && act.mode != ActMode::kNone;
    if (!quantized_path) {
      f32 = dequantized(L);
      return;
    }
    q.n = o;
    q.k = k;
    q.per_group = L.granularity == Granularity::kGroup;
    q.group_size = L.group_size;
    if (L.granularity == Granularity::kTensor) {
      expanded_scales.assign(static_cast<size_t>(o), L.scales[0]);
      q.scales = expanded_scales.data();
    } else {
      q.scales = L.scales.data();
    }
    switch (L.format) {
      case WeightFormat::kInt8: q.kind = kernels::QWeightKind::kInt8; q.codes = L.codes.data(); break;
      case WeightFormat::kInt4: q.kind = kernels::QWeightKind::kInt4; q.packed = L.packed.data(); break;
      default:
        q.kind = kernels::QWeightKind::kNM;
        q.codes = L.codes.data();
        q.packed = L.packed.data();
        q.nm_n = L.nm.n;
        q.nm_m = L.nm.m;
    }
  }
};

// Quantizes a float activation tensor per the layer's input scheme into 8-bit codes.
struct ActQuantizer {
  std::vector<uint8_t> codes;  // uint8 or int8 storage (reinterpreted)
  std::vector<float> scales;
  kernels::QActs acts;
  bool is_unsigned = false;

  void quantize(const ActScheme& a, const float* x, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    if (static_cast<int64_t>(codes.size()) < n) codes.resize(static_cast<size_t>(n));
    if (a.mode == ActMode::kDynamicPerToken) {
      if (static_cast<int64_t>(scales.size()) < rows) scales.resize(static_cast<size_t>(rows));
      quantize_per_token_s8(x, rows, cols, reinterpret_cast<int8_t*>(codes.data()), scales.data());
      is_unsigned = false;
      acts = {codes.data(), 0, scales.data(), 1};
      return;
    }
    scales.assign(1, a.scale);
    const QuantRange r = quant_range(a.bits, a.symmetric);
    const QuantParams p{a.scale, a.symmetric ? 0 : a.zero_point};
    is_unsigned = !a.symmetric;
    if (is_unsigned) quantize_tensor_u8(x, n, p, r, codes.data());
    else quantize_tensor_s8(x, n, p, r, reinterpret_cast<int8_t*>(codes.data()));
    acts = {codes.data(), p.zero_point, scales.data(), 0};
  }
};

// ---- ops ----

class LinearOp : public OpImpl {
 public:
  LinearOp(const Op& op, const LayerWeights& L, const kernels::KernelTable& kt) : OpImpl(op), kt_(kt) {
    if (L.shape.size() != 2) fail("weight must be [O, K]");
    w_.init(L);
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    Shape s = in[0]->shape;
    if (s.empty() || s.back() != w_.k)
      fail("input " + shape_str(s) + " must end in K = " + std::to_string(w_.k));
    s.back() = w_.o;
    return s;
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const int64_t m = in[0]->numel() / w_.k;
    if (!w_.quantized_path) {
      kt_.f32_gemm(m, w_.o, w_.k, in[0]->f, w_.f32.data(), w_.bias, out.f);
      return;
    }
    aq_.quantize(w_.act, in[0]->f, m, w_.k);
    kt_.qgemm[aq_.is_unsigned ? 0 : 1][static_cast<int>(w_.q.kind)](m, aq_.acts, w_.q, w_.bias, out.f);
  }

 private:
  const kernels::KernelTable& kt_;
  GemmWeight w_;
  ActQuantizer aq_;
};

class Conv2dOp : public OpImpl {
 public:
  Conv2dOp(const Op& op, const LayerWeights& L, const kernels::KernelTable& kt) : OpImpl(op), kt_(kt) {
    if (L.shape.size() != 4) fail("weight must be [O, C/groups, kh, kw]");
    w_.init(L);
    cg_ = L.shape[1];
    kh_ = L.shape[2];
    kw_ = L.shape[3];
    auto [ah, aw] = pair_attr("kernel", kh_, kw_);
    if (ah != kh_ || aw != kw_) fail("attribute kernel [" + std::to_string(ah) + ", " + std::to_string(aw) +
                                     "] does not match the weight " + shape_str(L.shape));
    std::tie(sh_, sw_) = pair_attr("stride", 1, 1);
    std::tie(ph_, pw_) = pair_attr("padding", 0, 0);
    groups_ = op.int_attr("groups", 1);
    if (sh_ <= 0 || sw_ <= 0 || ph_ < 0 || pw_ < 0 || groups_ <= 0) fail("invalid stride/padding/groups");
    if (w_.o % groups_ != 0) fail("output channels not divisible by groups");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 4) fail("input must be NCHW, got " + shape_str(s));
    if (s[1] != cg_ * groups_)
      fail("input has " + std::to_string(s[1]) + " channels, weight expects " + std::to_string(cg_ * groups_));
    const int64_t oh = (s[2] + 2 * ph_ - kh_) / sh_ + 1, ow = (s[3] + 2 * pw_ - kw_) / sw_ + 1;
    if (s[2] + 2 * ph_ < kh_ || s[3] + 2 * pw_ < kw_ || oh <= 0 || ow <= 0)
      fail("input " + shape_str(s) + " is smaller than the kernel");
    return {s[0], w_.o, oh, ow};
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const Shape& s = in[0]->shape;
    const int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    const int64_t oh = out.shape[2], ow = out.shape[3], p = oh * ow, og = w_.o / groups_;
    const int64_t kdim = cg_ * kh_ * kw_;
    kernels::Conv2dGeom g{cg_, h, w, kh_, kw_, sh_, sw_, ph_, pw_, oh, ow, h * w};
    tmp_.resize(static_cast<size_t>(p * og));
    if (w_.quantized_path) {
      // Quantize the whole input once; padding then takes the zero point, i.e. exactly 0.
      aq_.quantize(w_.act, in[0]->f, 1, in[0]->numel());
      col8_.resize(static_cast<size_t>(p * kdim));
    } else {
      colf_.resize(static_cast<size_t>(p * kdim));
    }
    for (int64_t b = 0; b < n; ++b)
      for (int64_t gi = 0; gi < groups_; ++gi) {
        const int64_t in_off = (b * c + gi * cg_) * h * w;
        const float* bias = w_.bias ? w_.bias + gi * og : nullptr;
        if (w_.quantized_path) {
          kernels::QActs acts = aq_.acts;
          if (aq_.is_unsigned)
            kt_.im2col_u8(aq_.codes.data() + in_off, g, static_cast<uint8_t>(acts.zero_point), col8_.data());
          else
            kt_.im2col_s8(reinterpret_cast<const int8_t*>(aq_.codes.data()) + in_off, g, 0,
                          reinterpret_cast<int8_t*>(col8_.data()));
          acts.codes = col8_.data();
          const kernels::QWeights wq = w_.q.rows_slice(gi * og, og);
          kt_.qgemm[aq_.is_unsigned ? 0 : 1][static_cast<int>(wq.kind)](p, acts, wq, bias, tmp_.data());
        } else {
          kt_.im2col_f32(in[0]->f + in_off, g, 0.0f, colf_.data());
          kt_.f32_gemm(p, og, kdim, colf_.data(), w_.f32.data() + gi * og * kdim, bias, tmp_.data());
        }
        // [P, Og] -> NCHW
        float* dst = out.f + (b * w_.o + gi * og) * p;
        for (int64_t pi = 0; pi < p; ++pi)
          for (int64_t o = 0; o < og; ++o) dst[o * p + pi] = tmp_[static_cast<size_t>(pi * og + o)];
      }
  }

 private:
  const kernels::KernelTable& kt_;
  GemmWeight w_;
  ActQuantizer aq_;
  int64_t cg_, kh_, kw_, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0, groups_ = 1;
  std::vector<uint8_t> col8_;
  std::vector<float> colf_, tmp_;
};

class PoolOp : public OpImpl {
 public:
  PoolOp(const Op& op, const kernels::KernelTable& kt, bool is_max) : OpImpl(op), kt_(kt), max_(is_max) {
    if (!op.ints.count("kernel")) fail("missing attribute 'kernel'");
    std::tie(kh_, kw_) = pair_attr("kernel", 1, 1);
    std::tie(sh_, sw_) = pair_attr("stride", kh_, kw_);
    std::tie(ph_, pw_) = pair_attr("padding", 0, 0);
    if (kh_ <= 0 || kw_ <= 0 || sh_ <= 0 || sw_ <= 0 || ph_ < 0 || pw_ < 0 || 2 * ph_ > kh_ || 2 * pw_ > kw_)
      fail("invalid kernel/stride/padding (padding must be <= kernel/2)");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 4) fail("input must be NCHW, got " + shape_str(s));
    if (s[2] + 2 * ph_ < kh_ || s[3] + 2 * pw_ < kw_) fail("input " + shape_str(s) + " is smaller than the kernel");
    return {s[0], s[1], (s[2] + 2 * ph_ - kh_) / sh_ + 1, (s[3] + 2 * pw_ - kw_) / sw_ + 1};
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const Shape& s = in[0]->shape;
    kernels::Conv2dGeom g{s[1], s[2], s[3], kh_, kw_, sh_, sw_, ph_, pw_, out.shape[2], out.shape[3], s[2] * s[3]};
    (max_ ? kt_.maxpool2d : kt_.avgpool2d)(in[0]->f, s[0] * s[1], g, out.f);
  }

 private:
  const kernels::KernelTable& kt_;
  bool max_;
  int64_t kh_, kw_, sh_, sw_, ph_, pw_;
};

class UnaryOp : public OpImpl {
 public:
  UnaryOp(const Op& op, kernels::UnaryFn fn) : OpImpl(op), fn_(fn) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override { fn_(in[0]->f, in[0]->numel(), out.f); }

 private:
  kernels::UnaryFn fn_;
};

class SoftmaxOp : public OpImpl {
 public:
  SoftmaxOp(const Op& op, const kernels::KernelTable& kt) : OpImpl(op), kt_(kt) {}
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    if (in[0]->shape.empty()) fail("input must have rank >= 1");
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const int64_t c = in[0]->shape.back();
    kt_.softmax(in[0]->f, c ? in[0]->numel() / c : 0, c, out.f);
  }

 private:
  const kernels::KernelTable& kt_;
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
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    std::memcpy(out.f, in[0]->f, static_cast<size_t>(in[0]->numel()) * sizeof(float));
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
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const int64_t n = in[0]->numel();
    for (int64_t i = 0; i < n; ++i) out.f[i] = in[0]->f[i] + in[1]->f[i];
  }
};

class LayerNormOp : public OpImpl {
 public:
  LayerNormOp(const Op& op, const LayerWeights& L, const kernels::KernelTable& kt) : OpImpl(op), kt_(kt) {
    if (L.format != WeightFormat::kFloat32 || L.shape.size() != 1) fail("weight must be float32 [C]");
    c_ = L.shape[0];
    gamma_ = L.f32.data();
    beta_ = L.extra.at("bias").f32.data();
    eps_ = static_cast<float>(op.float_attr("eps", 1e-5));
    if (!(eps_ > 0) || !std::isfinite(eps_)) fail("eps must be finite and > 0");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    if (in[0]->shape.empty() || in[0]->shape.back() != c_)
      fail("input " + shape_str(in[0]->shape) + " must end in C = " + std::to_string(c_));
    return in[0]->shape;
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    kt_.layernorm(in[0]->f, in[0]->numel() / c_, c_, gamma_, beta_, eps_, out.f);
  }

 private:
  const kernels::KernelTable& kt_;
  int64_t c_;
  const float *gamma_, *beta_;
  float eps_;
};

class EmbeddingOp : public OpImpl {
 public:
  EmbeddingOp(const Op& op, const LayerWeights& L) : OpImpl(op) {
    if (L.shape.size() != 2) fail("weight must be [V, D]");
    v_ = L.shape[0];
    d_ = L.shape[1];
    table_ = GemmWeight::dequantized(L);  // output row = codes * scale, exactly
  }
  bool wants_int64_input() const override { return true; }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    if (in[0]->dtype != DType::kInt64) fail("input must be int64 token ids");
    Shape s = in[0]->shape;
    s.push_back(d_);
    return s;
  }
  void run(const std::vector<const Val*>& in, Val& out, State&) override {
    const int64_t n = in[0]->numel();
    for (int64_t i = 0; i < n; ++i)
      if (in[0]->ids[i] < 0 || in[0]->ids[i] >= v_)
        fail("token id " + std::to_string(in[0]->ids[i]) + " out of range [0, " + std::to_string(v_) + ")");
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(out.f + i * d_, table_.data() + in[0]->ids[i] * d_, static_cast<size_t>(d_) * sizeof(float));
  }

 private:
  int64_t v_, d_;
  std::vector<float> table_;
};

class PositionalOp : public OpImpl {
 public:
  PositionalOp(const Op& op, const LayerWeights& L) : OpImpl(op), w_(L.f32) {
    if (L.format != WeightFormat::kFloat32 || L.shape.size() != 2) fail("weight must be float32 [Tmax, D]");
    tmax_ = L.shape[0];
    d_ = L.shape[1];
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 3 || s[2] != d_) fail("input must be [B, T, " + std::to_string(d_) + "], got " + shape_str(s));
    return s;
  }
  void check_state(const std::vector<const Val*>& in, const State& st) const override {
    const int64_t t = in[0]->shape[1];
    if (st.pos + t > tmax_)
      fail("sequence position " + std::to_string(st.pos + t) + " exceeds the positional table (" +
           std::to_string(tmax_) + " positions)");
  }
  void run(const std::vector<const Val*>& in, Val& out, State& st) override {
    const Shape& s = in[0]->shape;
    for (int64_t b = 0; b < s[0]; ++b)
      for (int64_t t = 0; t < s[1]; ++t) {
        const float* x = in[0]->f + (b * s[1] + t) * d_;
        const float* p = w_.data() + (st.pos + t) * d_;
        float* y = out.f + (b * s[1] + t) * d_;
        for (int64_t e = 0; e < d_; ++e) y[e] = x[e] + p[e];
      }
    st.step_tokens = s[1];
  }

 private:
  const std::vector<float>& w_;
  int64_t tmax_, d_;
};

class AttentionOp : public OpImpl {
 public:
  AttentionOp(const Op& op, const kernels::KernelTable& kt, int slot) : OpImpl(op), kt_(kt), slot_(slot) {
    heads_ = op.int_attr("heads", 0);
    if (heads_ <= 0) fail("attribute 'heads' must be > 0");
  }
  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 1);
    const Shape& s = in[0]->shape;
    if (s.size() != 3 || s[2] % 3 != 0 || (s[2] / 3) % heads_ != 0)
      fail("input must be [B, T, 3C] with C divisible by heads = " + std::to_string(heads_) + ", got " + shape_str(s));
    return {s[0], s[1], s[2] / 3};
  }
  void check_state(const std::vector<const Val*>& in, const State& st) const override {
    if (st.batch >= 0 && st.batch != in[0]->shape[0])
      fail("batch size " + std::to_string(in[0]->shape[0]) + " differs from the session's " + std::to_string(st.batch));
  }
  void run(const std::vector<const Val*>& in, Val& out, State& st) override {
    const int64_t b_n = in[0]->shape[0], t = in[0]->shape[1], c = in[0]->shape[2] / 3;
    auto& kc = st.k[static_cast<size_t>(slot_)];
    auto& vc = st.v[static_cast<size_t>(slot_)];
    kc.resize(static_cast<size_t>(b_n));
    vc.resize(static_cast<size_t>(b_n));
    for (int64_t b = 0; b < b_n; ++b) {
      const float* x = in[0]->f + b * t * 3 * c;
      auto& kb = kc[static_cast<size_t>(b)];
      auto& vb = vc[static_cast<size_t>(b)];
      for (int64_t i = 0; i < t; ++i) {
        kb.insert(kb.end(), x + i * 3 * c + c, x + i * 3 * c + 2 * c);
        vb.insert(vb.end(), x + i * 3 * c + 2 * c, x + i * 3 * c + 3 * c);
      }
      const int64_t l = static_cast<int64_t>(kb.size()) / c;
      scratch_.resize(static_cast<size_t>(l));
      kt_.causal_attention(x, 3 * c, kb.data(), vb.data(), c, t, l, c, heads_, scratch_.data(), out.f + b * t * c);
    }
    st.step_tokens = t;
  }

 private:
  const kernels::KernelTable& kt_;
  int slot_;
  int64_t heads_;
  std::vector<float> scratch_;
};

}  // namespace

// ---- the engine ----

struct Engine::Impl {
  Checkpoint ck;
  const kernels::KernelTable* kt;
  std::vector<std::unique_ptr<OpImpl>> ops;
  std::map<std::string, int> value_index;
  std::vector<std::vector<int>> op_inputs, op_outputs;
  std::vector<int> graph_inputs, graph_outputs;  // value ids
  std::vector<DType> value_dtype;
  int num_attention = 0;

  // Memory plan for one set of input shapes.
  std::vector<Shape> plan_key;
  std::vector<Val> vals;
  std::vector<int> slot_of;  // value -> arena slot (-1: graph input)
  std::vector<std::vector<float>> arena;

  void build() {
    int next = 0;
    for (const TensorSpec& t : ck.graph.inputs) {
      value_index[t.name] = next++;
      value_dtype.push_back(t.dtype == "int64" ? DType::kInt64 : DType::kFloat32);
      graph_inputs.push_back(value_index[t.name]);
    }
    for (const Op& op : ck.graph.ops) {
      std::unique_ptr<OpImpl> impl;
      const auto layer = ck.layers.find(op.name);
      auto weights = [&]() -> const LayerWeights& {
        if (layer == ck.layers.end()) throw Error("op '" + op.name + "' (" + op.kind + "): no parameters loaded");
        return layer->second;
      };
      if (op.kind == "linear") impl = std::make_unique<LinearOp>(op, weights(), *kt);
      else if (op.kind == "conv2d") impl = std::make_unique<Conv2dOp>(op, weights(), *kt);
      else if (op.kind == "relu") impl = std::make_unique<UnaryOp>(op, kt->relu);
      else if (op.kind == "gelu") impl = std::make_unique<UnaryOp>(op, kt->gelu);
      else if (op.kind == "maxpool2d") impl = std::make_unique<PoolOp>(op, *kt, true);
      else if (op.kind == "avgpool2d") impl = std::make_unique<PoolOp>(op, *kt, false);
      else if (op.kind == "flatten") impl = std::make_unique<FlattenOp>(op);
      else if (op.kind == "add") impl = std::make_unique<AddOp>(op);
      else if (op.kind == "layernorm") impl = std::make_unique<LayerNormOp>(op, weights(), *kt);
      else if (op.kind == "softmax") impl = std::make_unique<SoftmaxOp>(op, *kt);
      else if (op.kind == "embedding") impl = std::make_unique<EmbeddingOp>(op, weights());
      else if (op.kind == "positional_embedding") impl = std::make_unique<PositionalOp>(op, weights());
      else if (op.kind == "causal_attention") impl = std::make_unique<AttentionOp>(op, *kt, num_attention++);
      else throw Error("op '" + op.name + "': unknown op kind '" + op.kind + "'");
      if (op.outputs.size() != 1) throw Error("op '" + op.name + "' (" + op.kind + "): expects exactly one output");
      std::vector<int> ins;
      for (const std::string& n : op.inputs) ins.push_back(value_index.at(n));  // validated by the graph
      for (int v : ins)
        if (value_dtype[static_cast<size_t>(v)] == DType::kInt64 && !impl->wants_int64_input())
          throw Error("op '" + op.name + "' (" + op.kind + "): cannot take int64 input");
      value_index[op.outputs[0]] = next++;
      value_dtype.push_back(DType::kFloat32);
      op_inputs.push_back(ins);
      op_outputs.push_back({value_index[op.outputs[0]]});
      ops.push_back(std::move(impl));
    }
    for (const std::string& o : ck.graph.outputs) graph_outputs.push_back(value_index.at(o));
    // Load-time validation of weights against the graph: infer shapes with dynamic dims = 1.
    std::vector<Shape> shapes;
    for (const TensorSpec& t : ck.graph.inputs) {
      Shape s = t.shape;
      for (int64_t& d : s)
        if (d == -1) d = 1;
      shapes.push_back(s);
    }
    plan(shapes);
  }

  void plan(const std::vector<Shape>& input_shapes) {
    if (!plan_key.empty() && input_shapes == plan_key) return;
    const size_t nv = value_dtype.size();
    vals.assign(nv, Val{});
    for (size_t i = 0; i < graph_inputs.size(); ++i) {
      Val& v = vals[static_cast<size_t>(graph_inputs[i])];
      v.dtype = value_dtype[static_cast<size_t>(graph_inputs[i])];
      v.shape = input_shapes[i];
    }
    // Shapes, and each value's last use (graph outputs live to the end).
    std::vector<size_t> last_use(nv, 0);
    for (size_t oi = 0; oi < ops.size(); ++oi) {
      std::vector<const Val*> in;
      for (int v : op_inputs[oi]) {
        in.push_back(&vals[static_cast<size_t>(v)]);
        last_use[static_cast<size_t>(v)] = oi;
      }
      vals[static_cast<size_t>(op_outputs[oi][0])].shape = ops[oi]->infer(in);
    }
    for (int v : graph_outputs) last_use[static_cast<size_t>(v)] = ops.size();
    // Greedy buffer assignment: an op's output takes a free slot (largest first), then the
    // inputs whose last use is this op release theirs. Outputs never alias inputs.
    slot_of.assign(nv, -1);
    std::vector<int64_t> slot_size;
    std::vector<int> free_slots;
    for (size_t oi = 0; oi < ops.size(); ++oi) {
      const int v = op_outputs[oi][0];
      const int64_t need = vals[static_cast<size_t>(v)].numel();
      int slot;
      if (!free_slots.empty()) {
        auto best = std::max_element(free_slots.begin(), free_slots.end(),
                                     [&](int a, int b) { return slot_size[static_cast<size_t>(a)] < slot_size[static_cast<size_t>(b)]; });
        slot = *best;
        free_slots.erase(best);
      } else {
        slot = static_cast<int>(slot_size.size());
        slot_size.push_back(0);
      }
      slot_size[static_cast<size_t>(slot)] = std::max(slot_size[static_cast<size_t>(slot)], need);
      slot_of[static_cast<size_t>(v)] = slot;
      for (int in : op_inputs[oi])
        if (last_use[static_cast<size_t>(in)] == oi && slot_of[static_cast<size_t>(in)] >= 0 &&
            std::find(free_slots.begin(), free_slots.end(), slot_of[static_cast<size_t>(in)]) == free_slots.end())
          free_slots.push_back(slot_of[static_cast<size_t>(in)]);
    }
    arena.resize(slot_size.size());
    for (size_t s = 0; s < slot_size.size(); ++s)
      if (static_cast<int64_t>(arena[s].size()) < slot_size[s]) arena[s].resize(static_cast<size_t>(slot_size[s]));
    for (size_t v = 0; v < nv; ++v)
      if (slot_of[v] >= 0) vals[v].f = arena[static_cast<size_t>(slot_of[v])].data();
    plan_key = input_shapes;
  }

  std::map<std::string, Tensor> execute(const std::map<std::string, Tensor>& inputs, State& st) {
    std::vector<Shape> shapes;
    for (const TensorSpec& spec : ck.graph.inputs) {
      auto it = inputs.find(spec.name);
      if (it == inputs.end()) throw Error("run: missing input '" + spec.name + "'");
      const Tensor& t = it->second;
      if (dtype_name(t.dtype) != spec.dtype)
        throw Error("run: input '" + spec.name + "' is " + dtype_name(t.dtype) + ", the graph wants " + spec.dtype);
      if (t.shape.size() != spec.shape.size())
        throw Error("run: input '" + spec.name + "' has shape " + shape_str(t.shape) + ", the graph wants " +
                    shape_str(spec.shape));
      for (size_t d = 0; d < t.shape.size(); ++d)
        if (t.shape[d] <= 0 || (spec.shape[d] != -1 && spec.shape[d] != t.shape[d]))
          throw Error("run: input '" + spec.name + "' has shape " + shape_str(t.shape) + ", the graph wants " +
                      shape_str(spec.shape));
      const size_t have = t.dtype == DType::kFloat32 ? t.f32.size() : t.i64.size();
      if (static_cast<int64_t>(have) != t.numel())
        throw Error("run: input '" + spec.name + "' has " + std::to_string(have) + " values for shape " + shape_str(t.shape));
      shapes.push_back(t.shape);
    }
    if (inputs.size() != ck.graph.inputs.size()) throw Error("run: unexpected extra inputs");
    plan(shapes);
    for (size_t i = 0; i < graph_inputs.size(); ++i) {
      const Tensor& t = inputs.at(ck.graph.inputs[i].name);
      Val& v = vals[static_cast<size_t>(graph_inputs[i])];
      if (t.dtype == DType::kFloat32) v.f = const_cast<float*>(t.f32.data());  // read-only use
      else v.ids = t.i64.data();
    }
    std::vector<std::vector<const Val*>> ins(ops.size());
    for (size_t oi = 0; oi < ops.size(); ++oi) {
      for (int v : op_inputs[oi]) ins[oi].push_back(&vals[static_cast<size_t>(v)]);
      ops[oi]->check_state(ins[oi], st);  // before anything mutates the session
    }
    st.k.resize(static_cast<size_t>(num_attention));
    st.v.resize(static_cast<size_t>(num_attention));
    st.step_tokens = -1;
    for (size_t oi = 0; oi < ops.size(); ++oi) ops[oi]->run(ins[oi], vals[static_cast<size_t>(op_outputs[oi][0])], st);
    if (num_attention > 0 && !inputs.empty()) st.batch = inputs.begin()->second.shape[0];
    if (st.step_tokens > 0) st.pos += st.step_tokens;
    std::map<std::string, Tensor> out;
    for (size_t i = 0; i < graph_outputs.size(); ++i) {
      const Val& v = vals[static_cast<size_t>(graph_outputs[i])];
      out[ck.graph.outputs[i]] = Tensor::floats(v.shape, std::vector<float>(v.f, v.f + v.numel()));
    }
    return out;
  }
};

Engine::Engine(Checkpoint checkpoint, const kernels::KernelTable* table) : impl_(std::make_unique<Impl>()) {
  impl_->ck = std::move(checkpoint);
  impl_->kt = table ? table : &kernels::select_kernels();
  impl_->build();
}
Engine Engine::load(const std::string& path) { return Engine(read_checkpoint(path)); }
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;
const Checkpoint& Engine::checkpoint() const { return impl_->ck; }
const kernels::KernelTable& Engine::kernel_table() const { return *impl_->kt; }

std::map<std::string, Tensor> Engine::run(const std::map<std::string, Tensor>& inputs) {
  State st;
  return impl_->execute(inputs, st);
}

Session Engine::start_session() { return Session(this); }

Session::Session(Engine* engine) : engine_(engine), state_(std::make_unique<State>()) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;
std::map<std::string, Tensor> Session::step(const std::map<std::string, Tensor>& inputs) {
  return engine_->impl_->execute(inputs, *state_);
}
int64_t Session::position() const { return state_->pos; }
void Session::reset() { *state_ = State(); }

}  // namespace qf
