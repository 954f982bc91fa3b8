// Accuracy (or perplexity) of a .qf.h5 checkpoint through the standalone runtime, on the
// recipe's held-out data: what `qforge eval FILE`, `qforge check` and the run pipeline report.
#pragma once

#include <cstdint>

#include "runtime/engine.h"
#include "train/task.h"

namespace qf::cli {

// The held-out examples in the order the LibTorch evaluation uses (the first `limit` when > 0).
train::Metrics evaluate_checkpoint(Engine& engine, train::Task& task, bool language_model, int64_t limit);

}  // namespace qf::cli
