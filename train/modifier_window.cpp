#include "train/modifier_window.h"

#include <cmath>
#include <sstream>

namespace qf::train {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

int64_t epoch_to_step(double epoch, int64_t steps_per_epoch) {
  return static_cast<int64_t>(std::llround(epoch * static_cast<double>(steps_per_epoch)));
}

std::optional<double> parse_epoch_point(const RecipeNode& node, const std::string& key) {
  const std::optional<double> v = node.get_optional<double>(key);
  // -1 used to mean "never"; absent means that now, so a negative value is a mistake to report.
  if (v && *v < 0) node.fail(key, "must be >= 0 (an epoch, fractions allowed; omit the key for never), got " + num(*v));
  return v;
}

EpochWindow parse_epoch_window(const RecipeNode& node, const char* no_end_reason) {
  EpochWindow w;
  w.start = parse_epoch_point(node, "start_epoch").value_or(0.0);
  if (no_end_reason != nullptr) {
    if (node.has("end_epoch")) node.fail("end_epoch", std::string("is not a key of this modifier: ") + no_end_reason);
    return w;
  }
  w.end = node.get_optional<double>("end_epoch");
  if (w.end && !(*w.end > w.start))
    node.fail("end_epoch", "must be > start_epoch (" + num(w.start) + "), got " + num(*w.end) +
                               " (omit it to act until the end of training)");
  return w;
}

}  // namespace qf::train
