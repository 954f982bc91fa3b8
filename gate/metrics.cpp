#include "gate/metrics.h"

namespace qf::gate {

const std::vector<MetricInfo>& known_metrics() {
  static const std::vector<MetricInfo> m = {
      {"accuracy", "%", true, "top-1 accuracy on the recipe's held-out set, through the runtime on the checkpoint"},
      {"perplexity", "", false, "perplexity on the recipe's held-out text, through the runtime on the checkpoint"},
      {"bits_per_byte", "bits", false, "cross-entropy per byte of held-out text, through the runtime"},
      {"agreement", "fraction", true, "validate: top-1 agreement of the runtime with the checkpoint's golden outputs"},
      {"validate", "pass=1", true, "validate: 1 when the runtime reproduces the golden outputs (bit-exact on integer paths)"},
      {"size_bytes", "bytes", false, "bytes stored for the layers (weights, scales, indices, biases)"},
      {"bits_per_weight", "bits", false, "8 * stored layer bytes / weight count"},
      {"samples_per_s", "samples/s", true, "held-out samples evaluated per second through the runtime (noisy)"},
  };
  return m;
}

const MetricInfo* find_metric(const std::string& name) {
  for (const MetricInfo& m : known_metrics())
    if (name == m.name) return &m;
  return nullptr;
}

}  // namespace qf::gate
