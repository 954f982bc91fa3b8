// What `qforge check` and the run pipeline measure on a checkpoint, all through the standalone
// runtime: quality on the recipe's held-out data, agreement with the golden outputs (validate),
// size and bits per weight, and evaluation speed. And how a target (a .qf.h5, a run directory or
// a multi-seed run directory) becomes the checkpoints to measure.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace qf::cli {

// Thrown for input that cannot be measured (missing or malformed target, unfinished run):
// `qforge check` exits 2 on it, 1 being kept for "measured, and it regressed".
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MeasureOptions {
  int threads = 0;       // runtime kernel threads (0 = all cores)
  int64_t limit = 0;     // evaluate only the first N held-out examples (0 = all)
  std::string data;      // dataset location, if not the recipe's
  bool progress = false;
};

struct CheckpointMeasurement {
  std::string path, recipe_name, kernels;
  bool language_model = false;
  int64_t examples = 0;
  double eval_seconds = 0;
  std::map<std::string, double> values;  // keys: gate/metrics.h names
  std::string validate_summary;          // the validate report's last line
};

CheckpointMeasurement measure_checkpoint(const std::string& path, const MeasureOptions& options);

// The checkpoints a target stands for: the file itself; RUN_DIR/model.qf.h5 (exported first when
// missing or older than the run's checkpoint.pt); for a directory of seed-<s>/ runs (qforge run
// --seeds), one per seed. Throws BadInput for a missing target or an unfinished run.
std::vector<std::string> target_checkpoints(const std::string& target);

// Exports RUN_DIR/model.qf.h5 unless it is newer than RUN_DIR/checkpoint.pt; returns its path.
std::string ensure_exported(const std::string& run_dir, int64_t golden_examples = 64);

}  // namespace qf::cli
