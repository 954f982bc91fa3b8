// RUN_DIR/metrics.jsonl: one JSON object per line, appended as training goes. Each record has an
// "event" ("epoch" or "final"); epoch records carry "epoch" (1-based), the step, the train loss,
// the learning rate and the evaluation metrics.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"

namespace qf::train {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  void append(const Json& record);
  // Drops the records a run will write again: epoch records past `epochs_done`, any "final"
  // record, and the "start" record when starting over (epochs_done == 0). Rewritten atomically.
  void truncate_after_epoch(int64_t epochs_done);
  // Every record of a metrics.jsonl file (empty when it does not exist).
  static std::vector<Json> read(const std::string& path);

 private:
  std::string path_;
};

}  // namespace qf::train
