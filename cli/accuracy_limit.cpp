#include "cli/accuracy_limit.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/measure.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"

namespace qf::cli {
namespace {

namespace fs = std::filesystem;

QualityPoint measure(const std::string& checkpoint, const LimitMeasureOptions& o, bool* language_model = nullptr) {
  MeasureOptions mo;
  mo.threads = o.threads;
  mo.limit = o.eval_limit;
  const CheckpointMeasurement m = measure_checkpoint(checkpoint, mo);
  if (language_model) *language_model = m.language_model;
  QualityPoint q;
  q.checkpoint = checkpoint;
  q.quality = m.values.at(m.language_model ? "perplexity" : "accuracy");
  q.bits_per_weight = m.values.at("bits_per_weight");
  q.validated = m.values.at("validate") != 0;
  return q;
}

// Trains (or only calibrates) `recipe` into `run_dir`, exports it, and measures the checkpoint.
QualityPoint run_and_measure(const Recipe& recipe, const std::string& run_dir, bool calibrate_only,
                             const LimitMeasureOptions& o) {
  RunRequest req;
  req.run_dir = run_dir;
  req.calibrate_only = calibrate_only;
  req.device = o.device;
  req.threads = o.threads;
  req.progress = false;
  run_recipe(recipe, req);
  const std::string out = (fs::path(run_dir) / "model.qf.h5").string();
  exporter::export_run(run_dir, out, 64, recipe, make_modifiers(recipe));
  return measure(out, o);
}

}  // namespace

QualityPoint measure_float_run(const std::string& run_dir, const LimitMeasureOptions& o, bool* language_model) {
  return measure(ensure_exported(run_dir), o, language_model);
}

double quality_drop(const QualityPoint& q, double float_quality, bool language_model) {
  if (!q.validated) return std::nan("");
  return language_model ? 100.0 * (q.quality / float_quality - 1.0) : float_quality - q.quality;
}

CandidateResult measure_candidate(const Recipe& recipe, const std::string& run_base, double float_quality,
                                  bool language_model, const LimitMeasureOptions& o) {
  CandidateResult r;
  r.ptq = run_and_measure(recipe, run_base, /*calibrate_only=*/true, o);
  r.drop = quality_drop(r.ptq, float_quality, language_model);
  r.method = "ptq";
  if (o.train && !(r.drop <= o.max_drop)) {
    // Training where needed: the candidate's own QAT schedule (from the PTQ start its ptq section
    // gives, if any), measured the same way.
    r.trained = true;
    r.qat = run_and_measure(recipe, run_base + "_qat", /*calibrate_only=*/false, o);
    const double d = quality_drop(r.qat, float_quality, language_model);
    if (std::isnan(r.drop) || d < r.drop) r.drop = d, r.method = "qat";
  }
  return r;
}

}  // namespace qf::cli
