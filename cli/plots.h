// PNG plots through gnuplot (installed by scripts/setup.sh, Debian's gnuplot-nox), run as an
// external process on a temporary script: training curves of a run, and quality against bits per
// weight across runs. No plotting library is linked into qforge.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"

namespace qf::cli {

// Throws std::runtime_error with what to install when gnuplot is not on PATH.
void require_gnuplot();

// RUN_DIR/curves.png from RUN_DIR/metrics.jsonl: one panel per group of logged series (losses,
// accuracy or perplexity, learning rate, sparsity, any *scale* series) against the optimizer step.
// Returns the PNG's path.
std::string plot_training_curves(const std::string& run_dir);

struct ReportPoint {
  std::string label;
  double bits_per_weight = 0;
  double quality = 0;
  bool teacher = false;
};

// Quality (accuracy %, or perplexity) against bits per weight, the float teacher(s) marked.
void plot_quality_vs_bits(const std::vector<ReportPoint>& points, const std::string& quality_name,
                          const std::string& png);

}  // namespace qf::cli
