// linear and conv2d: the GEMM ops. Both quantize their input per the layer's scheme (integer
// path) or run the float GEMM (float or weight-only-quantized weights); see FORMAT.md, "The
// quantization contract".
#include <algorithm>
#include <memory>
#include <tuple>

#include "core/error.h"
#include "core/quant.h"
#include "runtime/kernels/threads.h"
#include "runtime/ops/op.h"
#include "runtime/weight_prep.h"

namespace qf {
namespace {

int act_index(bool is_unsigned) { return is_unsigned ? 0 : 1; }

class LinearOp : public OpImpl {
 public:
  explicit LinearOp(const OpContext& c)
      : OpImpl(c), w_(*c.weights, c.kt), weights_(c.weights), aq_(c.kt), act_scale_(*c.kt.memory) {
    if (w_.fp8_path()) require_fp8_kernels();
  }
  // conv2d -> flatten -> linear hand-off (Conv2dOp::hand_off_to): the producer writes our input
  // codes in its channels-last order ([N, H, W, C] instead of flatten's [N, C, H, W]); we run a
  // copy of our weight with K permuted from (c, hw) to (hw, c), as dense int8. Exact: the codes
  // are the ones we would compute from the NCHW floats (same values, same static scheme, same
  // quantize rule), and the int32 sum does not depend on the order of k. The producer then
  // skips its transpose to NCHW and we skip the quantize pass. Only a static 8-bit input scheme
  // (the producer quantizes with it); `c` = the producer's channels.
  bool accept_channels_last_codes(int64_t c) {
    const ActScheme& a = w_.input_scheme();
    if (!w_.integer_path() || w_.fp8_path() || a.mode != ActMode::kStatic || a.e4m3 || a.bits > 8 || c <= 0 ||
        w_.cols() % c != 0)
      return false;
    cl_weights_ = channels_last_int8(*weights_, c, w_.cols() / c, 1, w_.cols());
    if (!cl_weights_) return false;
    w_cl_ = std::make_unique<GemmWeight>(*cl_weights_, kt_);
    act_scale_.reserve(sizeof(float));
    kt_.memory->to_device(act_scale_.data(), &a.scale, sizeof(float));
    codes_in_ = true;
    return true;
  }
  const ActScheme& input_scheme() const { return w_.input_scheme(); }
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
    quantized_from_ = in[0]->f;  // for the ops that share our input codes (share_input_codes)
    quantized_rows_ = m;
    quantized_ = acts;
    const kernels::QWeights& q = w_.q();
    if (w_.fp8_path()) {
      kt_.qf8_gemm(m, acts, q, w_.bias(), out.f);
      return;
    }
    kt_.qgemm[act_index(aq_.is_unsigned())][static_cast<int>(q.kind)](m, acts, q, w_.bias(), out.f);
  }
  // A following relu runs in place on the GEMM output while it is still in cache.
  bool absorb(const OpImpl& next) override {
    if (next.op().kind != "relu" || relu_) return false;
    relu_ = true;
    return true;
  }
  void run_fused(const std::vector<const Val*>& in, Val& out, RunState& st) override {
    const int64_t m = in[0]->numel() / w_.cols();
    if (codes_in_) {  // in[0] holds our input codes, channels-last (accept_channels_last_codes)
      const ActScheme& a = w_.input_scheme();
      const kernels::QActs acts{in[0]->f, a.symmetric ? 0 : a.zero_point, act_scale_.f32(), 0};
      const kernels::QWeights& q = w_cl_->q();
      kt_.qgemm[act_index(!a.symmetric)][static_cast<int>(q.kind)](m, acts, q, w_.bias(), out.f);
    } else if (codes_source_ && codes_source_->quantized_from_ == in[0]->f && codes_source_->quantized_rows_ == m) {
      // The source quantized this very input earlier in the step (share_input_codes).
      const kernels::QWeights& q = w_.q();
      kt_.qgemm[act_index(codes_source_->aq_.is_unsigned())][static_cast<int>(q.kind)](
          m, codes_source_->quantized_, q, w_.bias(), out.f);
      shared_last_run_ = true;
    } else {
      run(in, out, st);
      shared_last_run_ = false;
    }
    if (relu_) kt_.relu(out.f, out.numel(), out.f);
  }
  // Another linear op reading the same value with the same input scheme has made our codes
  // (OpImpl::share_input_codes): the q / k / v and gate / up projections of a decoder layer
  // quantize their one input once instead of three times / twice. Same scheme, same rule, same
  // input: the same codes and scales, so the outputs are the same bits.
  bool share_input_codes(const OpImpl& earlier) override {
    const auto* src = dynamic_cast<const LinearOp*>(&earlier);
    if (!src || codes_in_ || src->codes_in_ || codes_source_) return false;
    if (!w_.integer_path() || w_.fp8_path() || !src->w_.integer_path() || src->w_.fp8_path()) return false;
    const ActScheme &a = w_.input_scheme(), &b = src->w_.input_scheme();
    if (w_.cols() != src->w_.cols() || a.mode != b.mode || a.bits != b.bits || a.symmetric != b.symmetric ||
        a.scale != b.scale || a.zero_point != b.zero_point || a.e4m3 != b.e4m3)
      return false;
    codes_source_ = src;
    return true;
  }
  std::string kernel() const override {
    return shared_last_run_ ? "input codes of '" + codes_source_->op().name + "'" : std::string();
  }

 private:
  bool relu_ = false;
  GemmWeight w_;
  const LayerWeights* weights_;
  ActQuantizer aq_;
  // Our last quantized input (run), and the op whose quantized input we use (share_input_codes).
  const float* quantized_from_ = nullptr;
  int64_t quantized_rows_ = -1;
  kernels::QActs quantized_{};
  const LinearOp* codes_source_ = nullptr;
  bool shared_last_run_ = false;
  // Hand-off reader: our weight with K permuted for channels-last codes, and the static scale.
  bool codes_in_ = false;
  std::unique_ptr<LayerWeights> cl_weights_;
  std::unique_ptr<GemmWeight> w_cl_;
  Buffer act_scale_;
};

// An int attribute of another op as (h, w) (OpImpl::pair_attr reads only this op's).
std::pair<int64_t, int64_t> attr_pair(const Op& op, const std::string& key, int64_t dh, int64_t dw) {
  auto it = op.ints.find(key);
  if (it == op.ints.end() || it->second.empty()) return {dh, dw};
  if (it->second.size() == 1) return {it->second[0], it->second[0]};
  return {it->second[0], it->second[1]};
}

// conv2d as one GEMM over a chunk of images: the chunk's input quantized once, im2col of every
// image into rows of one column buffer, one GEMM with M = images * OH * OW (the output comes out
// channels-last, [pixels, O]), then -- while that output is still in cache -- the absorbed ops
// (relu, maxpool2d, relu, flatten) on the channels-last rows, and one transpose per image into
// the graph's NCHW layout. Chunks are sized to stay in L2 and are spread over the threads; each
// kernel inside a chunk then runs on the calling thread. A batch of one image is one chunk, whose
// kernels use the threads themselves.
class Conv2dOp : public OpImpl {
 public:
  explicit Conv2dOp(const OpContext& c)
      : OpImpl(c),
        groups_(c.op.int_attr("groups", 1)),
        w_(checked(c), c.kt, groups_),
        weights_(c.weights),
        act_scale_(*c.kt.memory),
        codes_(*c.kt.memory) {
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
    if (w_.fp8_path()) {  // E4M3 codes of the float im2col columns (padding 0.0 -> code 0)
      require_fp8_kernels();
      if (w_.input_scheme().mode != ActMode::kStatic) fail("a quantized conv2d input must be static");
      act_scale_.reserve(sizeof(float));
      kt_.memory->to_device(act_scale_.data(), &w_.input_scheme().scale, sizeof(float));
    } else if (w_.integer_path()) {
      // conv2d inputs are quantized statically (FORMAT.md): one scale, on the device once.
      const ActScheme& a = w_.input_scheme();
      if (a.mode != ActMode::kStatic) fail("a quantized conv2d input must be static");
      act_scale_.reserve(sizeof(float));
      kt_.memory->to_device(act_scale_.data(), &a.scale, sizeof(float));
      // One input channel (a first conv): NCHW is channels-last, so the channels-last im2col
      // applies as is, and its rows padded to a whole k-block go to the GEMM without a copy.
      if (groups_ == 1 && cg_ == 1) use_channels_last();
    }
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
  bool absorb(const OpImpl& next) override {
    const Op& o = next.op();
    if (flatten_) return false;
    if (o.kind == "relu") {
      bool& flag = pool_ ? relu_post_ : relu_pre_;
      if (flag) return false;
      flag = true;
      return true;
    }
    if (o.kind == "maxpool2d" && !pool_ && !relu_post_) {
      std::tie(pkh_, pkw_) = attr_pair(o, "kernel", 1, 1);
      std::tie(psh_, psw_) = attr_pair(o, "stride", pkh_, pkw_);
      std::tie(pph_, ppw_) = attr_pair(o, "padding", 0, 0);
      pool_ = true;
      return true;
    }
    if (o.kind == "flatten") {  // NCHW [N, C, H, W] -> [N, C*H*W] is the same memory
      const int64_t start = o.int_attr("start_dim", 1);
      if (start != 1 && start != -3) return false;
      flatten_ = true;
      return true;
    }
    return false;
  }
  void run(const std::vector<const Val*>& in, Val& out, RunState&) override { forward(*in[0], out, false); }
  void run_fused(const std::vector<const Val*>& in, Val& out, RunState&) override { forward(*in[0], out, true); }
  std::string kernel() const override { return path_; }  // (copied only when reported)
  // conv2d -> conv2d: this op writes the reader's quantized input codes, channels-last
  // ([N, H, W, C] bytes), straight from its own channels-last output; the reader im2cols them
  // with its weight's K permuted to match. Exact: the codes are the ones the reader would have
  // computed from the NCHW floats (same values, same quantize kernel), and the integer sum does
  // not depend on the order of k.
  bool hand_off_to(OpImpl& reader) override {
    // conv2d -> [relu, maxpool2d, relu] -> flatten -> linear: our channels-last output rows are
    // the linear's input with K in (hw, c) order; it permutes its weight to match.
    if (auto* lin = dynamic_cast<LinearOp*>(&reader)) {
      if (!flatten_ || groups_ != 1 || !lin->accept_channels_last_codes(w_.rows())) return false;
      out_codes_ = &lin->input_scheme();
      return true;
    }
    auto* next = dynamic_cast<Conv2dOp*>(&reader);
    if (!next || flatten_ || groups_ != 1 || !next->accept_channels_last_codes(w_.rows())) return false;
    out_codes_ = &next->w_.input_scheme();
    // A reader that runs the fused kernel on our codes reads them in place (implicit GEMM) from
    // images padded with its zero point, which we write: its im2col disappears. The padded
    // codes must fit the float buffer planned for our output.
    if (next->implicit_in_) {
      implicit_out_ = true;
      out_pad_h_ = next->ph_;
      out_pad_w_ = next->pw_;
      out_pad_code_ = out_codes_->symmetric ? 0 : static_cast<uint8_t>(out_codes_->zero_point);
    }
    return true;
  }

 private:
  bool accept_channels_last_codes(int64_t channels) {
    if (groups_ != 1 || !w_.integer_path() || channels != cg_ || w_.input_scheme().bits > 8) return false;
    if (!w_cl_ && !use_channels_last()) return false;
    codes_in_ = true;
    // Implicit GEMM on padded channels-last codes: stride 1, window rows of whole k-blocks
    // (kw * c codes, a multiple of 4, so ldcol = K), and the fused epilogue (the kernel that
    // reads by runs); padded images fit the producer's float-sized output buffer while
    // (h + 2 ph) (w + 2 pw) <= 4 h w, which forward() checks.
    implicit_in_ = fused_pool() && sh_ == 1 && sw_ == 1 && (kw_ * cg_) % 4 == 0 && ldcol_ == cg_ * kh_ * kw_;
    // The table's 2:4 convolution, if it has one for this weight: it reads the same padded codes
    // with K in the checkpoint's (c, i, j) order, where the 2:4 groups are intact, so it keeps
    // the weight's own (prepared) codes instead of the dense channels-last copy.
    if (implicit_in_ && kt_.prepare_qconv_pool) {
      sp_prepared_ = kt_.prepare_qconv_pool(w_.q(), cg_, kh_, kw_);
      if (sp_prepared_) {
        w_sp_ = w_.q();
        w_sp_.prepared = sp_prepared_.get();
      }
    }
    return true;
  }
  // Padded codes ((h + 2 ph)(w + 2 pw) bytes per channel) fit the float buffer of h w planned
  // for the producer's output.
  static bool padded_fits(int64_t h, int64_t w, int64_t ph, int64_t pw) { return (h + 2 * ph) * (w + 2 * pw) <= 4 * h * w; }
  bool fused_pool() const {
    return kt_.qconv_pool && groups_ == 1 && pool_ && pkh_ == 2 && pkw_ == 2 && psh_ == 2 && psw_ == 2 && pph_ == 0 &&
           ppw_ == 0;
  }
  // Pad value and geometry of the padded channels-last images this op writes for its reader.
  void fill_border(uint8_t* img, int64_t qh, int64_t qw, int64_t ch) const {
    const int64_t wp = qw + 2 * out_pad_w_, hp = qh + 2 * out_pad_h_;
    for (int64_t y = 0; y < hp; ++y) {
      uint8_t* row = img + y * wp * ch;
      if (y < out_pad_h_ || y >= hp - out_pad_h_) {
        std::fill(row, row + wp * ch, out_pad_code_);
      } else {
        std::fill(row, row + out_pad_w_ * ch, out_pad_code_);
        std::fill(row + (wp - out_pad_w_) * ch, row + wp * ch, out_pad_code_);
      }
    }
  }
  // The weight for channels-last columns, K permuted to (i, j, c) and padded to a multiple of 4.
  bool use_channels_last() {
    const int64_t kdim = cg_ * kh_ * kw_, ld = (kdim + 3) / 4 * 4;
    cl_weights_ = channels_last_int8(*weights_, cg_, kh_, kw_, ld);
    if (!cl_weights_) return false;
    w_cl_ = std::make_unique<GemmWeight>(*cl_weights_, kt_);
    ldcol_ = ld;
    return true;
  }

  // Reusable memory of one chunk in flight.
  struct Slot {
    explicit Slot(const MemoryOps& m) : col(m), tmp(m), pooled(m), codes8(m) {}
    Buffer col, tmp, pooled, codes8;  // codes8: E4M3 codes of col (fp8 path)
  };

  void forward(const Val& x, Val& out, bool chain) {
    const Shape& s = x.shape;
    const int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    const int64_t oh = (h + 2 * ph_ - kh_) / sh_ + 1, ow = (w + 2 * pw_ - kw_) / sw_ + 1, p = oh * ow;
    const int64_t og = w_.rows() / groups_, kdim = cg_ * kh_ * kw_;
    const bool pool = chain && pool_;
    const kernels::Conv2dGeom pg{0, oh, ow, pkh_, pkw_, psh_, psw_, pph_, ppw_,
                                 pool ? (oh + 2 * pph_ - pkh_) / psh_ + 1 : oh,
                                 pool ? (ow + 2 * ppw_ - pkw_) / psw_ + 1 : ow, 0};
    const int64_t q = pg.oh * pg.ow;  // output pixels per image per channel
    if (n <= 0) return;
    const bool fp8 = w_.fp8_path();  // float columns, then E4M3 codes of them
    const bool integer = w_.integer_path() && !fp8;
    const bool u8 = integer && !w_.input_scheme().symmetric;
    const bool codes_in = chain && codes_in_;      // x holds our input codes, channels-last
    const bool cl = integer && w_cl_ && (codes_in || cg_ == 1);  // channels-last columns
    const int64_t ld = cl ? ldcol_ : kdim;         // bytes (elements) per column row
    const ActScheme* codes_out = chain ? out_codes_ : nullptr;  // write the reader's codes
    // relu -> 2x2/2 max pool -> relu -> quantize in the GEMM's epilogue (one kernel, pooled
    // outputs only) where the table has it; the int8 channels-last weight is what it runs on.
    const bool fused = cl && pool && fused_pool();
    // Our input: padded channels-last codes written by the producer (hand_off_to), read in place.
    // (Producer and reader evaluate padded_fits on the same numbers, so they agree.)
    const bool implicit = fused && codes_in && implicit_in_ && padded_fits(h, w, ph_, pw_);
    const bool sparse = implicit && sp_prepared_;  // the 2:4 conv on the checkpoint's K order
    path_ = !integer ? (fp8 ? "qf8_gemm" : "f32_gemm")
            : sparse ? "qconv_pool 2:4 (c,i,j)"
            : fused  ? (implicit ? "qconv_pool implicit" : "qconv_pool")
                     : "qgemm";
    const int64_t in_img = implicit ? (h + 2 * ph_) * (w + 2 * pw_) * c : c * h * w;  // bytes per input image
    // Our output: padded channels-last codes for an implicit reader.
    const bool pad_out = codes_out && implicit_out_ && padded_fits(pg.oh, pg.ow, out_pad_h_, out_pad_w_);
    const int64_t out_img = pad_out ? (pg.oh + 2 * out_pad_h_) * (pg.ow + 2 * out_pad_w_) * og : q * og;
    if (integer && !codes_in) codes_.reserve(static_cast<size_t>(x.numel()));
    // Images per chunk: its column buffer and GEMM output within ~384 KiB (L2).
    const int64_t per_image = (implicit ? 0 : p * (integer ? ld : 4 * kdim)) + (fused ? q : p) * og * 4;
    const int64_t ipc = std::max<int64_t>(1, std::min<int64_t>(n, (384 << 10) / std::max<int64_t>(1, per_image)));
    const int64_t chunks = (n + ipc - 1) / ipc;
    const int64_t nslots = std::min<int64_t>(chunks, 2 * static_cast<int64_t>(kernels::num_threads()));
    while (static_cast<int64_t>(slots_.size()) < nslots) slots_.push_back(std::make_unique<Slot>(*kt_.memory));
    const kernels::Conv2dGeom g{cg_, h, w, kh_, kw_, sh_, sw_, ph_, pw_, oh, ow, h * w};

    auto run_chunk = [&](Slot& sl, int64_t b0, int64_t b1) {
      const int64_t imgs = b1 - b0, rows = imgs * p;
      if (!fused) sl.tmp.reserve(static_cast<size_t>(rows * og) * sizeof(float));
      kernels::QActs acts;
      uint8_t* codes = nullptr;
      if (integer) {
        const ActScheme& a = w_.input_scheme();
        const QuantRange r = quant_range(a.bits, a.symmetric);
        const int64_t off = b0 * c * h * w, cnt = imgs * c * h * w;
        if (codes_in) {
          codes = reinterpret_cast<uint8_t*>(x.f);
        } else {
          codes = codes_.as<uint8_t>();
          // Quantized whole, padding then takes the zero point: it contributes exactly 0.
          if (u8) kt_.quantize_u8(x.f + off, cnt, a.scale, a.zero_point, r.qmin, r.qmax, codes + off);
          else kt_.quantize_s8(x.f + off, cnt, a.scale, r.qmin, r.qmax, reinterpret_cast<int8_t*>(codes + off));
        }
        acts = {nullptr, u8 ? a.zero_point : 0, act_scale_.f32(), 0};
        if (!implicit) sl.col.reserve(static_cast<size_t>(rows * ld));
      } else {
        sl.col.reserve(static_cast<size_t>(rows * kdim) * sizeof(float));
        if (fp8) sl.codes8.reserve(static_cast<size_t>(rows * kdim));
      }
      for (int64_t gi = 0; gi < groups_; ++gi) {
        const float* bias = w_.bias() ? w_.bias() + gi * og : nullptr;
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t in_off = (b * c + gi * cg_) * h * w, row0 = (b - b0) * p;
          if (implicit) break;
          if (!integer) kt_.im2col_f32(x.f + in_off, g, 0.0f, sl.col.f32() + row0 * kdim);
          else if (cl)  // groups == 1: image b's [h, w, c] codes
            kt_.im2col_nhwc_x8(codes + b * c * h * w, g, u8 ? static_cast<uint8_t>(acts.zero_point) : uint8_t{0}, ld,
                               sl.col.as<uint8_t>() + row0 * ld);
          else if (u8)
            kt_.im2col_u8(codes + in_off, g, static_cast<uint8_t>(acts.zero_point), sl.col.as<uint8_t>() + row0 * kdim);
          else
            kt_.im2col_s8(reinterpret_cast<const int8_t*>(codes) + in_off, g, 0, sl.col.as<int8_t>() + row0 * kdim);
        }
        if (fused) {
          kernels::QConvPoolArgs fa;
          fa.x = implicit ? codes + b0 * in_img : sl.col.as<uint8_t>();
          fa.x_unsigned = u8;
          fa.zero_point = acts.zero_point;
          fa.sx = w_.input_scheme().scale;  // the value act_scale_ holds
          fa.images = imgs;
          fa.pooled_h = pg.oh;
          fa.pooled_w = pg.ow;
          fa.x_image = p * ld;
          fa.x_row = ow * ld;
          fa.x_pixel = ld;
          if (implicit) {  // window row i of pixel (oy, ox): kw * c codes at padded (oy + i, ox)
            fa.x_image = in_img;
            fa.x_row = fa.x_seg = (w + 2 * pw_) * c;
            fa.x_pixel = c;
            fa.segs = kh_;
            if (sparse) fa.cij_channels = c;
          }
          const kernels::QWeights& fw = sparse ? w_sp_ : w_cl_->q();
          fa.relu_before = relu_pre_;
          fa.relu_after = relu_post_;
          fa.y_image = q * og;
          fa.y_row = pg.ow * og;
          if (codes_out) {
            const QuantRange r = quant_range(codes_out->bits, codes_out->symmetric);
            fa.y = reinterpret_cast<uint8_t*>(out.f) + b0 * q * og;
            if (pad_out) {
              uint8_t* o = reinterpret_cast<uint8_t*>(out.f);
              for (int64_t b = b0; b < b1; ++b) fill_border(o + b * out_img, pg.oh, pg.ow, og);
              fa.y = o + b0 * out_img + (out_pad_h_ * (pg.ow + 2 * out_pad_w_) + out_pad_w_) * og;
              fa.y_image = out_img;
              fa.y_row = (pg.ow + 2 * out_pad_w_) * og;
            }
            fa.out_codes = true;
            fa.out_unsigned = !codes_out->symmetric;
            fa.out_scale = codes_out->scale;
            fa.out_zero_point = codes_out->symmetric ? 0 : codes_out->zero_point;
            fa.out_qmin = r.qmin;
            fa.out_qmax = r.qmax;
            kt_.qconv_pool(fa, fw, bias);
            continue;
          }
          sl.pooled.reserve(static_cast<size_t>(imgs * q * og) * sizeof(float));
          fa.y = sl.pooled.f32();
          kt_.qconv_pool(fa, fw, bias);
          for (int64_t b = b0; b < b1; ++b)
            kt_.transpose(sl.pooled.f32() + (b - b0) * q * og, q, og, out.f + (b * w_.rows() + gi * og) * q);
          continue;
        }
        if (integer) {
          acts.codes = sl.col.data();
          const kernels::QWeights& qw = cl ? w_cl_->q() : w_.q(gi);
          kt_.qgemm[act_index(u8)][static_cast<int>(qw.kind)](rows, acts, qw, bias, sl.tmp.f32());
        } else if (fp8) {
          // Quantizing the columns equals quantizing the input then padding with code 0: the
          // padding's 0.0 encodes to 0, and every column element is one input element.
          kt_.quantize_e4m3(sl.col.f32(), rows * kdim, w_.input_scheme().scale, sl.codes8.as<uint8_t>());
          const kernels::QActs a8{sl.codes8.data(), 0, act_scale_.f32(), 0};
          kt_.qf8_gemm(rows, a8, w_.q(gi), bias, sl.tmp.f32());
        } else {
          kt_.f32_gemm(rows, og, kdim, sl.col.f32(), w_.f32() + gi * og * kdim, bias, sl.tmp.f32());
        }
        // The absorbed ops, in graph order, on channels-last rows (each channel pooled as its
        // NCHW plane would be), then [pixels, Og] -> the image's NCHW planes.
        float* src = sl.tmp.f32();
        if (chain && relu_pre_ && !pool) kt_.relu(src, rows * og, src);
        if (pool) {  // relu -> maxpool in one pass
          sl.pooled.reserve(static_cast<size_t>(imgs * q * og) * sizeof(float));
          kt_.maxpool2d_nhwc(src, imgs, og, pg, relu_pre_, sl.pooled.f32());
          src = sl.pooled.f32();
        }
        if (chain && relu_post_) kt_.relu(src, imgs * q * og, src);
        if (codes_out) {  // groups == 1: the chunk's [imgs, q, O] rows are the reader's NHWC input
          const QuantRange r = quant_range(codes_out->bits, codes_out->symmetric);
          uint8_t* dst = reinterpret_cast<uint8_t*>(out.f) + b0 * q * og;
          // Rows of pixels, into padded images when the reader reads them in place.
          const int64_t runs = pad_out ? imgs * pg.oh : 1, run = pad_out ? pg.ow * og : imgs * q * og;
          for (int64_t t = 0; t < runs; ++t) {
            const float* s = src + t * run;
            uint8_t* d = dst + t * run;
            if (pad_out) {
              const int64_t b = b0 + t / pg.oh, y = t % pg.oh;
              d = reinterpret_cast<uint8_t*>(out.f) + b * out_img + ((y + out_pad_h_) * (pg.ow + 2 * out_pad_w_) + out_pad_w_) * og;
              if (y == 0) fill_border(reinterpret_cast<uint8_t*>(out.f) + b * out_img, pg.oh, pg.ow, og);
            }
            if (!codes_out->symmetric)
              kt_.quantize_u8(s, run, codes_out->scale, codes_out->zero_point, r.qmin, r.qmax, d);
            else
              kt_.quantize_s8(s, run, codes_out->scale, r.qmin, r.qmax, reinterpret_cast<int8_t*>(d));
          }
          continue;
        }
        for (int64_t b = b0; b < b1; ++b)
          kt_.transpose(src + (b - b0) * q * og, q, og, out.f + (b * w_.rows() + gi * og) * q);
      }
    };
    if (chunks == 1) {
      run_chunk(*slots_[0], 0, n);
      return;
    }
    const double work = static_cast<double>(ipc * p * og * kdim);
    kernels::parallel_for(nslots, work * static_cast<double>(chunks) / static_cast<double>(nslots),
                          [&](int64_t s0, int64_t s1) {
                            for (int64_t sl = s0; sl < s1; ++sl)
                              for (int64_t ch = sl; ch < chunks; ch += nslots)
                                run_chunk(*slots_[static_cast<size_t>(sl)], ch * ipc, std::min(n, (ch + 1) * ipc));
                          });
  }

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
  const LayerWeights* weights_;
  // Hand-off: out_codes_ = the reader's input scheme (this op writes its codes); w_cl_ = this
  // op's weight for channels-last codes in (its reader role).
  const ActScheme* out_codes_ = nullptr;
  std::unique_ptr<LayerWeights> cl_weights_;
  std::unique_ptr<GemmWeight> w_cl_;
  int64_t ldcol_ = 0;
  bool codes_in_ = false;
  bool implicit_in_ = false;           // reader: our input codes are padded images, read in place
  bool implicit_out_ = false;          // producer: we write padded images (when they fit)
  // Reader with implicit input: the table's 2:4 conv packing of our own weight (null: none).
  std::unique_ptr<kernels::PreparedQWeights> sp_prepared_;
  kernels::QWeights w_sp_;
  const char* path_ = "";  // which kernel path the last run took (kernel()); no allocation per run
  int64_t out_pad_h_ = 0, out_pad_w_ = 0;
  uint8_t out_pad_code_ = 0;
  Buffer act_scale_;
  Buffer codes_;  // the whole input's codes (chunks write disjoint parts)
  std::vector<std::unique_ptr<Slot>> slots_;
  int64_t cg_ = 0, kh_ = 0, kw_ = 0, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0;
  // The absorbed chain: [relu] [maxpool2d (geometry)] [relu] [flatten].
  bool relu_pre_ = false, pool_ = false, relu_post_ = false, flatten_ = false;
  int64_t pkh_ = 1, pkw_ = 1, psh_ = 1, psw_ = 1, pph_ = 0, ppw_ = 0;
};

}  // namespace

std::unique_ptr<OpImpl> make_linear(const OpContext& c) { return std::make_unique<LinearOp>(c); }
std::unique_ptr<OpImpl> make_conv2d(const OpContext& c) { return std::make_unique<Conv2dOp>(c); }

}  // namespace qf
