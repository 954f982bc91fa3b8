// The LibTorch side of export: reads a trained ZooModel — its graph, its layers' deployed float
// weights (BN folded, masks applied), the schemes and exact scales of its fake-quant slots — and
// fills the std-only CheckpointContent that export/checkpoint_writer.h writes. Golden inputs are
// held-out examples; golden outputs are the quantization contract (FORMAT.md) computed from the
// exported parameters by export/contract_exec.h, with the fake-quant model's own outputs beside
// them (Golden::model_outputs) and every intermediate tensor of a small case (Golden::trace).
#pragma once

#include <string>

#include "export/checkpoint_writer.h"
#include "train/models.h"
#include "train/modifier.h"
#include "train/recipe.h"
#include "train/task.h"

namespace qf::exporter {

struct ExportOptions {
  int64_t golden_examples = 64;  // held-out inputs whose outputs are stored for `validate`
  // Golden examples whose every intermediate tensor is stored (Golden::trace). Traces are large
  // (a GPT's are ~20x its logits), so when this is below golden_examples the trace goes into a
  // second golden case holding the first `trace_examples` examples; 0: no trace.
  int64_t trace_examples = 4;
  std::string metrics_json;      // the run's metrics (JSON array of metrics.jsonl records)
};

CheckpointContent checkpoint_from_model(train::ZooModel& model, train::Task& task, const Recipe& recipe,
                                        const ExportOptions& options);

// Reads RUN_DIR (checkpoint.pt, metrics.jsonl), rebuilds the model of `recipe` (the run's
// recipe.yaml) with its `modifiers` prepared (so their slots exist), and writes `output`.
void export_run(const std::string& run_dir, const std::string& output, int64_t golden_examples,
                const Recipe& recipe, const std::vector<std::shared_ptr<train::Modifier>>& modifiers);

// Torch tensor <-> qf::Tensor (float32 or int64, contiguous copies).
Tensor to_qf(const torch::Tensor& t);
torch::Tensor to_torch(const Tensor& t);

}  // namespace qf::exporter
