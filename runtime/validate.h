// `qforge validate`: rerun the checkpoint's golden inputs through the runtime and compare with
// the stored outputs (export/FORMAT.md, "Validation").
//
// Where every op from the golden inputs to an output is integer-deterministic (quantized GEMMs
// with quantized inputs, relu, maxpool, flatten, add, embedding) and the golden outputs are the
// contract's (format >= 1.2, golden reference "contract"), the output must be bit-identical.
// Elsewhere float reductions make the result depend on summation order, and the check is
// agreement: top-1 and a difference in int8 units of the output. When the checkpoint stores a
// trace (every op's output), each op is also run alone on its traced inputs: integer ops must
// reproduce their traced output exactly, float ops within a bound derived from their arithmetic
// (length of the reduction, magnitudes, float32 rounding); the first op that fails is named.
#pragma once

#include <string>
#include <vector>

#include "runtime/engine.h"

namespace qf {

struct ValidateOptions {
  double min_top1_agreement = 0.99;  // fraction of rows whose argmax over the last dim agrees
  // For outputs behind float reductions: |y - golden| in units of max|golden| / steps, steps = 127
  // (int8) or that of the coarsest activation format upstream (16 for FP8 E4M3; FORMAT.md).
  double max_diff_units = 2.0;
};

struct OutputCheck {
  int golden_case = 0;
  std::string output;
  bool exact_required = false;  // integer-deterministic path and a contract golden
  int64_t rows = 0;             // rows compared for top-1 (all dims but the last)
  int64_t top1_matches = 0;
  double top1_agreement = 0;    // top1_matches / rows
  double max_abs_diff = 0;
  double unit = 1;              // max|golden| / unit_steps (1 when the golden output is all zeros)
  double unit_steps = 127;      // steps per max|value| of the coarsest activation quantizer upstream
  double max_diff_units = 0;    // max_abs_diff / unit
  // Rows left out of the max-diff rule (not of top-1): at or after a near-tie routing decision of a
  // mixture-of-experts op in their sequence (runtime/routing_divergence.h).
  int64_t rerouted_rows = 0;
  bool passed = false;
};

// One op of the trace run alone on its traced inputs.
struct OpCheck {
  int golden_case = 0;
  size_t index = 0;
  std::string name, kind;
  bool exact_required = false;
  double max_abs_diff = 0;
  double bound = 0;  // allowed max |diff| (0 when exact)
  bool passed = false;
};

struct ValidationReport {
  std::vector<OutputCheck> checks;
  std::vector<OpCheck> op_checks;  // empty when the checkpoint has no trace
  int first_failing_op = -1;       // index into op_checks of the first op (graph order) that failed
  double top1_agreement = 1;       // over all rows of all checks
  double max_diff_units = 0;       // worst over all checks
  bool golden_is_contract = false;
  // The trained model's own outputs (if stored) against the contract's: float order only.
  bool has_model_outputs = false;
  double model_top1_agreement = 1, model_max_diff_units = 0;
  // Mixture-of-experts routing, runtime vs golden trace, over all cases (runtime/routing_divergence.h).
  int64_t routing_decisions = 0, rerouted_tokens = 0, routing_unexplained = 0;
  double routing_drift = 0;  // the largest router-logit drift of tokens that routed alike
  bool passed = false;
  ValidateOptions options;
  std::string summary(bool per_op = false) const;  // human-readable lines + verdict
};

// Throws qf::Error when the checkpoint has no golden cases or an output's shape differs from the
// golden one (that is a broken checkpoint, not a numerical disagreement).
ValidationReport validate(Engine& engine, const ValidateOptions& options = {});

// The comparison itself, for callers that ran outputs themselves.
OutputCheck compare_outputs(const Tensor& got, const Tensor& golden);

// Which graph tensors (graph inputs and op outputs, by name) are integer-deterministic functions
// of the graph inputs under the contract. fp8_rel > 0: FP8 GEMMs run on tensor cores within that
// bound (KernelTable::qf8_gemm_rel_bound), so they and what follows them are not.
std::map<std::string, bool> exact_tensors(const Checkpoint& ck, double fp8_rel = 0);

}  // namespace qf
