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
