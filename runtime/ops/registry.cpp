// Op kind -> op class. The kinds themselves (and their attributes) are core/op_schema.h's; this
// table only says which class runs each, and a test checks that every schema kind has one.
#include <cstring>

#include "core/error.h"
#include "core/op_schema.h"
#include "runtime/ops/op.h"

#include "core/kv_cache_attrs.h"

namespace qf {

namespace {

struct Entry {
  const char* kind;
  std::unique_ptr<OpImpl> (*make)(const OpContext&);
};

constexpr Entry kRegistry[] = {
    {"linear", make_linear},
    {"conv2d", make_conv2d},
    {"relu", make_relu},
    {"gelu", make_gelu},
    {"maxpool2d", make_maxpool2d},
    {"avgpool2d", make_avgpool2d},
    {"flatten", make_flatten},
    {"add", make_add},
    {"layernorm", make_layernorm},
    {"softmax", make_softmax},
    {"embedding", make_embedding},
    {"positional_embedding", make_positional_embedding},
    {"causal_attention", make_causal_attention},
    {"rms_norm", make_rms_norm},
    {"rotary_embedding", make_rotary_embedding},
    {"gqa_attention", make_gqa_attention},
    {"gated_activation", make_gated_activation},
    {"scale", make_scale},
    {"moe_experts", make_moe_experts},
};

// The kernel table entries an op kind calls (a device table may leave some null): checked before
// the op is built, so a missing kernel is a load error naming the table and the entry, never a
// null call mid-run.
std::string missing_kernel(const OpContext& ctx) {
  const kernels::KernelTable& kt = ctx.kt;
  const std::string& kind = ctx.op.kind;
  std::string missing;
  auto need = [&](bool present, const char* entry) {
    if (!present && missing.empty()) missing = entry;
  };
  // The GEMM of a linear / conv2d layer: the float GEMM, or the quantizer of its input scheme and
  // the integer GEMM of its (activation, weight) kinds. FP8 layers: OpImpl::require_fp8_kernels.
  auto need_gemm = [&](const LayerWeights& L) {
    const ActScheme& a = L.input_act;
    if (L.format == WeightFormat::kFloat32 || a.mode == ActMode::kNone || a.e4m3) {
      need(kt.f32_gemm, "f32_gemm");
      return;
    }
    const bool per_token = a.mode == ActMode::kDynamicPerToken;
    need(per_token ? kt.quantize_per_row_s8 != nullptr : a.symmetric ? kt.quantize_s8 != nullptr : kt.quantize_u8 != nullptr,
         per_token ? "quantize_per_row_s8" : a.symmetric ? "quantize_s8" : "quantize_u8");
    int w = 2;  // N:M
    switch (L.format) {
      case WeightFormat::kInt8: w = 0; break;
      case WeightFormat::kInt4: w = 1; break;
      case WeightFormat::kBSInt8: w = 3; break;
      case WeightFormat::kBSInt4: w = 4; break;
      default: break;
    }
    static const char* const names[2][kernels::kNumQWeightKinds] = {
        {"qgemm (qu8 x int8)", "qgemm (qu8 x int4)", "qgemm (qu8 x N:M)", "qgemm (qu8 x bs_int8)", "qgemm (qu8 x bs_int4)"},
        {"qgemm (qs8 x int8)", "qgemm (qs8 x int4)", "qgemm (qs8 x N:M)", "qgemm (qs8 x bs_int8)", "qgemm (qs8 x bs_int4)"}};
    const int act = per_token || a.symmetric ? 1 : 0;
    need(kt.qgemm[act][w], names[act][w]);
  };
  if (kind == "linear" && ctx.weights) {
    need_gemm(*ctx.weights);
  } else if (kind == "conv2d" && ctx.weights) {
    need_gemm(*ctx.weights);
    need(kt.im2col_f32 && kt.im2col_u8 && kt.im2col_s8 && kt.im2col_nhwc_x8, "im2col");
    need(kt.transpose, "transpose");
    need(kt.maxpool2d_nhwc, "maxpool2d_nhwc");
    need(kt.relu, "relu");
    need(kt.quantize_u8 && kt.quantize_s8, "quantize_u8 / quantize_s8");
    need(kt.qgemm[0][0] && kt.qgemm[1][0], "qgemm (int8, channels-last columns)");
  } else if (kind == "relu") {
    need(kt.relu, "relu");
  } else if (kind == "gelu") {
    need(kt.gelu, "gelu");
  } else if (kind == "maxpool2d") {
    need(kt.maxpool2d, "maxpool2d");
  } else if (kind == "avgpool2d") {
    need(kt.avgpool2d, "avgpool2d");
  } else if (kind == "flatten") {
    need(kt.copy_rows, "copy_rows");
  } else if (kind == "add") {
    need(kt.add, "add");
  } else if (kind == "layernorm") {
    need(kt.layernorm, "layernorm");
  } else if (kind == "softmax") {
    need(kt.softmax, "softmax");
  } else if (kind == "embedding") {
    need(kt.gather_rows, "gather_rows");
  } else if (kind == "positional_embedding") {
    need(kt.add_rows, "add_rows");
  } else if (kind == "causal_attention") {
    need(kt.causal_attention, "causal_attention");
    need(kt.copy_rows, "copy_rows");
  } else if (kind == "moe_experts") {
    need(kt.gated_act, "gated_act");
    need(kt.scale, "scale");
    need(kt.add && kt.copy_rows, "add / copy_rows");
  }
  return missing;
}

}  // namespace

void OpImpl::fail(const std::string& msg) const { throw Error("op '" + op_.name + "' (" + op_.kind + "): " + msg); }

std::optional<kernels::KvQuant> OpImpl::kv_quant() const {
  std::optional<KvCacheScheme> s;
  try {
    s = read_kv_cache_attrs(op_);
  } catch (const Error& e) {
    fail(e.what());
  }
  if (!s) return std::nullopt;
  if (!kt_.quantize_kv_rows || !kt_.qkv_causal_attention || !kt_.qkv_gqa_attention)
    fail(std::string("the '") + kt_.name + "' kernel table has no quantized KV cache kernels");
  kernels::KvQuant q;
  q.bits = s->bits;
  q.group = s->group_size;
  q.symmetric = s->symmetric;
  q.clip = s->clip;
  q.int_zero_point = s->int_zero_point;
  return q;
}

void OpImpl::expect_inputs(const std::vector<const Val*>& in, size_t n) const {
  if (in.size() != n) fail("expects " + std::to_string(n) + " input(s), got " + std::to_string(in.size()));
  const OpSchema* s = find_op_schema(op_.kind);
  for (const Val* v : in)
    if ((v->dtype == DType::kInt64) != (s && s->takes_ids))
      fail(s && s->takes_ids ? "expects int64 token ids" : "expects float32 inputs");
}

std::pair<int64_t, int64_t> OpImpl::pair_attr(const std::string& key, int64_t dh, int64_t dw) const {
  auto it = op_.ints.find(key);
  if (it == op_.ints.end() || it->second.empty()) return {dh, dw};
  if (it->second.size() == 1) return {it->second[0], it->second[0]};
  if (it->second.size() == 2) return {it->second[0], it->second[1]};
  fail("attribute '" + key + "' must have 1 or 2 values");
}

std::unique_ptr<OpImpl> make_op(const OpContext& ctx) {
  const std::string problem = check_op(ctx.op);
  if (!problem.empty()) throw Error("op '" + ctx.op.name + "': " + problem);
  const OpSchema& schema = *find_op_schema(ctx.op.kind);
  if (schema.weight != WeightRole::kNone && !ctx.weights)
    throw Error("op '" + ctx.op.name + "' (" + ctx.op.kind + "): no parameters loaded");
  if (const std::string m = missing_kernel(ctx); !m.empty())
    throw Error("op '" + ctx.op.name + "' (" + ctx.op.kind + "): the '" + ctx.kt.name + "' kernel table has no " + m +
                " kernel");
  // conv2d's hand-off into a fused reader (qconv_pool) pads the reader's images with host loops
  // (Conv2dOp::fill_border): a device table must leave qconv_pool null until that moves into a kernel.
  if (ctx.op.kind == "conv2d" && ctx.kt.memory->device.kind != DeviceKind::kHost && ctx.kt.qconv_pool)
    throw Error("op '" + ctx.op.name + "' (conv2d): kernel table '" + ctx.kt.name +
                "' has a fused conv kernel on device memory, but the hand-off padding runs on the host");
  for (const Entry& e : kRegistry)
    if (ctx.op.kind == e.kind) return e.make(ctx);
  throw Error("op '" + ctx.op.name + "': kind '" + ctx.op.kind + "' has no runtime implementation");
}

bool runtime_implements(const std::string& kind) {
  for (const Entry& e : kRegistry)
    if (kind == e.kind) return true;
  return false;
}

}  // namespace qf
