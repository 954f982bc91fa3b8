// The op kinds of the checkpoint format and what each may carry: the one table read by the
// checkpoint writer, the reader, the runtime's op registry, the recipe modifiers' kind lists and
// the recipe-time exportability check. A new op kind or attribute is added here (and in
// export/FORMAT.md, "Ops"), nowhere else. Std-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/quant_scheme.h"

namespace qf {

// What an op's "weight" parameter (/layers/<name>/weight...) may be.
enum class WeightRole {
  kNone,         // no parameters
  kFloat,        // float32 only (layernorm, positional_embedding)
  kQuantizable,  // float32 or any quantized weight format (linear, conv2d, embedding)
};

// One attribute an op kind understands. Ints are lists of `min_len..max_len` values, each in
// [lo, hi]; floats are single numbers in [lo, hi] (finite); strings are free text.
struct AttrSpec {
  enum class Type { kInts, kFloat, kString };
  std::string name;
  Type type = Type::kInts;
  bool required = false;
  int min_len = 1, max_len = 1;  // kInts only
  double lo = 0, hi = 0;         // range of every value
  // The required feature a file whose op carries this attribute must list ("" = base format).
  std::string feature = {};
};

// Whether an op computes identical bits in every correct implementation when given identical
// inputs (FORMAT.md, "Validation"): validate holds such ops to bit equality.
enum class Arithmetic {
  kExact,        // one IEEE operation per element, or data movement
  kIntegerGemm,  // exact when the weight is quantized and the input too (integer sums)
  kFloat,        // float reductions or transcendentals in an order the format does not fix
};

struct OpSchema {
  std::string kind;
  int num_inputs = 1;
  bool takes_ids = false;  // the (single) input is int64 token ids
  WeightRole weight = WeightRole::kNone;
  int weight_rank = 0;     // rank of the weight's original shape
  bool bias_allowed = false, bias_required = false;
  bool act_static = false, act_dynamic = false;  // input activation modes the runtime implements
  bool prunable = false;   // N:M / block masks along K make sense (linear, conv2d)
  Arithmetic arithmetic = Arithmetic::kFloat;
  std::vector<AttrSpec> attrs;
  // The required feature (FORMAT.md, "Versioning") a file using this kind must list; "" for
  // kinds of the base format.
  std::string feature;
};

// Every op kind of the format, in FORMAT.md order.
const std::vector<OpSchema>& op_schemas();
// The schema of `kind`, or null when the kind is not part of the format.
const OpSchema* find_op_schema(const std::string& kind);

// Kinds with a quantizable weight (linear, conv2d, embedding) and kinds that can be pruned.
std::vector<std::string> quantizable_kinds();
std::vector<std::string> prunable_kinds();

// The required features (FORMAT.md, "Versioning") `op` uses: its kind's and those of the
// attributes it carries. Empty for an op of the base format or an unknown kind.
std::vector<std::string> op_features(const Op& op);
// The layers an op owns beyond (or instead of) its own group: for moe_experts, one linear per
// expert projection, named "<op>.<e>.<proj>" (proj: fc1, fc2 for activation gelu_tanh; w1, w3, w2
// for silu_gated, Mixtral's names), each an ordinary `linear` layer group. Returned as linear ops
// without inputs or outputs (their names and kind are what writers, readers and the runtime
// need). Empty for every other kind. The op must have passed check_op.
std::vector<Op> sub_layer_ops(const Op& op);
// The projection names of one moe_experts expert, in the order they are applied ("fc1", "fc2" or
// "w1", "w3", "w2"); empty for an unknown activation.
std::vector<std::string> moe_projections(const std::string& activation);

// Checks an op against its schema: known kind, input count, every attribute known, of the right
// type, length and range, required ones present. Returns "" when valid, else what is wrong
// (without the op's name: callers add where). Unknown attributes are errors: a reader that
// ignored one could compute something else than the writer meant (FORMAT.md, "Versioning"),
// except informational ones named with the "x_" prefix.
std::string check_op(const Op& op);

// Whether a layer of `kind` with this weight scheme (null: float weight) and input activation
// scheme can be exported and run by the runtime. Returns "" when yes, else why not. Training
// calls it when a recipe is prepared, the writer before it writes, the reader on what it reads,
// so a recipe that trains always exports.
std::string check_layer_quantization(const std::string& kind, const WeightScheme* weight,
                                     const ActScheme& act);

}  // namespace qf
