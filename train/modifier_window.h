// When a recipe modifier acts: the one vocabulary of every modifier (recipes/README.md, "When a
// modifier acts"). Points in training are numbers of epochs counted from the start, 0-based and
// fractional (1.5 = half-way through the second epoch). A point becomes the optimizer step
// round(epoch * steps_per_epoch), so a modifier that acts per step (pruning, distillation,
// quantization) starts and stops mid-epoch exactly where the recipe says. Std + RecipeNode only.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include "train/recipe_node.h"

namespace qf::train {

// The optimizer step (0-based, global) at which `epoch` begins.
int64_t epoch_to_step(double epoch, int64_t steps_per_epoch);

// [start_epoch, end_epoch): the steps during which a modifier is active.
struct EpochWindow {
  double start = 0;
  std::optional<double> end;  // none: to the end of training
  int64_t start_step(int64_t steps_per_epoch) const { return epoch_to_step(start, steps_per_epoch); }
  int64_t end_step(int64_t steps_per_epoch) const {
    return end ? epoch_to_step(*end, steps_per_epoch) : std::numeric_limits<int64_t>::max();
  }
  bool contains(int64_t step, int64_t steps_per_epoch) const {
    return step >= start_step(steps_per_epoch) && step < end_step(steps_per_epoch);
  }
};

// Reads `start_epoch` (number >= 0, default 0) and `end_epoch` (number > start_epoch; absent = to
// the end) from a modifier's section. A modifier that cannot end (quantization: the exported model
// is quantized) passes `no_end_reason`, and its `end_epoch` is then an error that says why.
EpochWindow parse_epoch_window(const RecipeNode& node, const char* no_end_reason = nullptr);

// An optional point in training (e.g. `freeze_bn_epoch`): a number >= 0 of epochs, absent = never.
std::optional<double> parse_epoch_point(const RecipeNode& node, const std::string& key);

}  // namespace qf::train
