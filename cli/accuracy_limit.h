// One candidate of the accuracy-limited search (qforge sensitivity --max-drop), measured the way a
// user would deploy it: the candidate recipe is calibrated (PTQ, no training) — or, with `train`,
// trained by its own QAT schedule when PTQ misses the limit — then exported, validated and
// evaluated through the standalone runtime. The drop is against the float run measured the same
// way: accuracy points for a classifier, % perplexity for a language model.
#pragma once

#include <cstdint>
#include <string>

#include "train/recipe.h"

namespace qf::cli {

struct LimitMeasureOptions {
  std::string device = "cpu";
  int threads = 0;
  int64_t eval_limit = 0;  // evaluate only the first N held-out examples (tests)
  bool train = false;      // train (the recipe's QAT) where PTQ alone misses max_drop
  double max_drop = 0;
};

struct QualityPoint {
  std::string checkpoint;
  double quality = 0;          // accuracy (%) or perplexity
  double bits_per_weight = 0;  // of the checkpoint (inspect): codes, scales and float layers
  bool validated = false;
};

struct CandidateResult {
  QualityPoint ptq, qat;  // qat: only when trained
  bool trained = false;
  double drop = 0;        // of the better of the two; NaN when the checkpoint did not validate
  std::string method;     // "ptq" or "qat": what `drop` measures
};

// The float run's checkpoint through the runtime (exported first when missing).
QualityPoint measure_float_run(const std::string& run_dir, const LimitMeasureOptions& options, bool* language_model);

// Drop of `q` from `float_quality`: points for accuracy, % for perplexity; NaN when not validated.
double quality_drop(const QualityPoint& q, double float_quality, bool language_model);

// Calibrates `recipe` into RUN_BASE (and, training, RUN_BASE_qat), exports, validates, evaluates.
CandidateResult measure_candidate(const Recipe& recipe, const std::string& run_base, double float_quality,
                                  bool language_model, const LimitMeasureOptions& options);

}  // namespace qf::cli
