// moe_experts (feature moe_experts, FORMAT.md "Mixture of experts"): routed expert MLPs. The
// router's logits are an input (computed by ordinary linear ops, so the router has its own
// quantization); each token is routed by core/moe_routing.h's rule; then, expert by expert, the
// tokens routed to it are gathered into one [n_e, C] block, the expert's linears run as GEMMs with
// M = n_e through the kernel table (int8 / int4 / N:M / float, exactly like a linear op: the
// per-token and static input quantizers are row-independent, so a gathered row gives the bits
// it would give in the full batch), and the expert's rows are added into the output weighted by
// the router weight, experts in increasing order. No per-token GEMV loop.
#include <algorithm>
#include <memory>

#include "core/moe_routing.h"
#include "core/op_schema.h"
#include "runtime/ops/op.h"
#include "runtime/weight_prep.h"

namespace qf {
namespace {

class MoeExpertsOp : public OpImpl {
 public:
  explicit MoeExpertsOp(const OpContext& c)
      : OpImpl(c),
        aq_(c.kt),
        xe_(*c.kt.memory), h1_(*c.kt.memory), h3_(*c.kt.memory), h_(*c.kt.memory), ye_(*c.kt.memory),
        row_(*c.kt.memory), ones_(*c.kt.memory) {
    experts_ = op_.int_attr("experts", 1);
    routing_ = moe_routing_of(op_);
    gated_ = op_.strings.at("activation") == "silu_gated";
    if (!kt_.gated_act || !kt_.scale)
      fail(std::string("kernel table '") + kt_.name + "' has no gated-activation / scale kernels");
    if (!c.layers) fail("no expert layers given");
    const std::vector<Op> subs = sub_layer_ops(op_);
    const size_t per = gated_ ? 3 : 2;
    for (size_t i = 0; i < subs.size(); ++i) {
      auto it = c.layers->find(subs[i].name);
      if (it == c.layers->end()) fail("expert linear '" + subs[i].name + "' not loaded");
      if (i % per == 0) experts_w_.emplace_back();
      experts_w_.back().push_back(std::make_unique<GemmWeight>(it->second, kt_));
    }
    // Shapes: first [F, C], (gated: second [F, C]), last [C, F]; one C for all experts.
    c_ = experts_w_.at(0).front()->cols();
    for (auto& ex : experts_w_) {
      const GemmWeight &first = *ex.front(), &last = *ex.back();
      if (first.cols() != c_ || last.rows() != c_ || last.cols() != first.rows() ||
          (gated_ && (ex[1]->cols() != c_ || ex[1]->rows() != first.rows())))
        fail("expert linears must be [F, C]" + std::string(gated_ ? " (w1, w3)" : " (fc1)") + " and [C, F]" +
             (gated_ ? " (w2)" : " (fc2)") + " with one C for every expert");
      f_max_ = std::max(f_max_, first.rows());
    }
    load_.assign(static_cast<size_t>(experts_), 0);
  }

  Shape infer(const std::vector<const Val*>& in) const override {
    expect_inputs(in, 2);
    const Shape &x = in[0]->shape, &l = in[1]->shape;
    if (x.empty() || x.back() != c_) fail("input " + shape_str(x) + " must end in C = " + std::to_string(c_));
    if (l.size() != x.size() || !std::equal(x.begin(), x.end() - 1, l.begin()) || l.back() != experts_)
      fail("router logits " + shape_str(l) + " must be the input's shape with " + std::to_string(experts_) +
           " experts last");
    return x;
  }

  void run(const std::vector<const Val*>& in, Val& out, RunState&) override {
    const int64_t n = in[0]->numel() / c_;
    std::vector<float> logits(static_cast<size_t>(n * experts_));
    kt_.memory->to_host(logits.data(), in[1]->f, logits.size() * sizeof(float));
    // Route every token, then list each expert's tokens (increasing) and weights.
    std::vector<std::vector<int64_t>> rows(static_cast<size_t>(experts_));
    std::vector<std::vector<float>> weights(static_cast<size_t>(experts_));
    TokenRoute r;
    for (int64_t t = 0; t < n; ++t) {
      route_token(logits.data() + t * experts_, experts_, routing_, r);
      fallbacks_ += r.fallback ? 1 : 0;
      for (size_t j = 0; j < r.experts.size(); ++j) {
        rows[static_cast<size_t>(r.experts[j])].push_back(t);
        weights[static_cast<size_t>(r.experts[j])].push_back(r.weights[j]);
      }
    }
    tokens_ += n;
    // out = +0, then out[t] = out[t] + float32(w * y_e[t]) for the token's experts in increasing order.
    const size_t out_bytes = static_cast<size_t>(n * c_) * sizeof(float);
    if (zeros_host_.size() < static_cast<size_t>(n * c_)) zeros_host_.assign(static_cast<size_t>(n * c_), 0.0f);
    kt_.memory->to_device(out.f, zeros_host_.data(), out_bytes);
    row_.reserve(static_cast<size_t>(c_) * sizeof(float));
    for (int64_t e = 0; e < experts_; ++e) {
      const std::vector<int64_t>& tok = rows[static_cast<size_t>(e)];
      const int64_t m = static_cast<int64_t>(tok.size());
      load_[static_cast<size_t>(e)] += m;
      if (m == 0) continue;
      auto& ex = experts_w_[static_cast<size_t>(e)];
      const int64_t f = ex.front()->rows();
      reserve(xe_, m * c_);
      reserve(h1_, m * f);
      reserve(h_, m * f);
      reserve(ye_, m * c_);
      // Gather: runs of consecutive tokens are one copy each.
      for (int64_t i = 0; i < m;) {
        int64_t j = i + 1;
        while (j < m && tok[static_cast<size_t>(j)] == tok[static_cast<size_t>(j - 1)] + 1) ++j;
        kt_.copy_rows(in[0]->f + tok[static_cast<size_t>(i)] * c_, c_, j - i, c_, xe_.f32() + i * c_, c_);
        i = j;
      }
      gemm(*ex[0], xe_.f32(), m, h1_.f32());
      if (gated_) {
        reserve(h3_, m * f);
        gemm(*ex[1], xe_.f32(), m, h3_.f32());
        kt_.gated_act(h1_.f32(), h3_.f32(), m * f, /*silu*/ 0, h_.f32());
      } else {
        // gelu_tanh computed in double and rounded once, times exactly 1: float32(gelu_tanh(h1)).
        ensure_ones(m * f);
        kt_.gated_act(h1_.f32(), ones_.f32(), m * f, /*gelu_tanh*/ 1, h_.f32());
      }
      gemm(*ex.back(), h_.f32(), m, ye_.f32());
      // Scatter-add, weighted: two float32 operations per element (a product, then a sum).
      const std::vector<float>& w = weights[static_cast<size_t>(e)];
      for (int64_t i = 0; i < m; ++i) {
        float* dst = out.f + tok[static_cast<size_t>(i)] * c_;
        kt_.scale(ye_.f32() + i * c_, c_, w[static_cast<size_t>(i)], row_.f32());
        kt_.add(dst, row_.f32(), c_, dst);
      }
    }
  }

  std::vector<std::pair<std::string, int64_t>> counters() const override {
    std::vector<std::pair<std::string, int64_t>> c = {{"tokens", tokens_}, {"fallback", fallbacks_}};
    for (int64_t e = 0; e < experts_; ++e) c.push_back({"expert " + std::to_string(e), load_[static_cast<size_t>(e)]});
    return c;
  }
  void reset_counters() override {
    tokens_ = fallbacks_ = 0;
    load_.assign(static_cast<size_t>(experts_), 0);
  }

 private:
  static int act_index(bool is_unsigned) { return is_unsigned ? 0 : 1; }
  static void reserve(Buffer& b, int64_t floats) { b.reserve(static_cast<size_t>(floats) * sizeof(float)); }

  // y[m, O] = the linear contract of one expert projection, as LinearOp computes it.
  void gemm(const GemmWeight& w, const float* x, int64_t m, float* y) {
    if (!w.integer_path()) {
      kt_.f32_gemm(m, w.rows(), w.cols(), x, w.f32(), w.bias(), y);
      return;
    }
    const kernels::QActs acts = aq_.quantize(w.input_scheme(), x, m, w.cols());
    const kernels::QWeights& q = w.q();
    kt_.qgemm[act_index(aq_.is_unsigned())][static_cast<int>(q.kind)](m, acts, q, w.bias(), y);
  }

  void ensure_ones(int64_t n) {
    if (ones_count_ >= n) return;
    const std::vector<float> host(static_cast<size_t>(n), 1.0f);
    reserve(ones_, n);
    kt_.memory->to_device(ones_.data(), host.data(), host.size() * sizeof(float));
    ones_count_ = n;
  }

  int64_t experts_ = 0, c_ = 0, f_max_ = 0;
  bool gated_ = false;
  MoeRouting routing_;
  std::vector<std::vector<std::unique_ptr<GemmWeight>>> experts_w_;
  ActQuantizer aq_;
  Buffer xe_, h1_, h3_, h_, ye_, row_, ones_;
  int64_t ones_count_ = 0;
  std::vector<float> zeros_host_;
  int64_t tokens_ = 0, fallbacks_ = 0;
  std::vector<int64_t> load_;
};

}  // namespace

std::unique_ptr<OpImpl> make_moe_experts(const OpContext& c) { return std::make_unique<MoeExpertsOp>(c); }

}  // namespace qf
