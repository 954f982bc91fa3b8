// The `pruning` recipe modifier: puts masks into the selected layers' weight_mask slots and moves
// them from dense to the target pattern on a schedule (keys: recipes/README.md, "pruning").
//
// Patterns: unstructured magnitude (per layer or global), N:M along the input dimension (2:4,
// 1:4, 4:8, ...), and blocks. The gradual path to exact N:M enforces the pattern on a growing
// fraction of each layer's groups — the groups where it removes the least magnitude first — with
// the fraction following the cubic schedule; at the end every group is N:M. Compared with SR-STE
// it needs no change to the gradient and no extra hyper-parameter, and unlike one-shot N:M the
// network adapts while the pattern tightens (docs/RESULTS.md compares the two).
#pragma once

#include "core/nm_sparse.h"
#include "core/op_schema.h"
#include "sparsify/schedule.h"
#include "sparsify/weight_mask.h"
#include "train/modifier.h"
#include "train/modifier_window.h"
#include "train/recipe_node.h"

namespace qf::sparsify {

struct PruningConfig {
  std::string pattern = "2:4";        // "unstructured" | "block" | "N:M"
  int64_t n = 2, m = 4;               // N:M (core's NMPattern::parse)
  int64_t block_rows = 4, block_cols = 4;
  bool global = false;                // unstructured: one threshold over all pruned layers
  std::vector<std::string> layers = {"*"};  // glob patterns of layers to prune
  std::optional<std::vector<std::string>> leave_dense;  // default: the first and the last layer
  std::vector<std::string> kinds = prunable_kinds();  // core/op_schema.h
  std::string schedule = "cubic";     // cubic | one_shot | constant
  double initial_sparsity = 0.0, final_sparsity = 0.5;
  train::EpochWindow window{0, 1.0};  // cubic ramp from start to end; fractional epochs allowed
  int64_t update_every = 50;          // steps between mask updates (cubic; ste: default 1)
  std::string method = "magnitude";   // magnitude | ste | sr_ste
  double decay = 2e-4;                // sr_ste: lambda_W of the paper
  bool is_nm() const { return pattern != "unstructured" && pattern != "block"; }
  bool straight_through() const { return method != "magnitude"; }
};

PruningConfig parse_pruning_modifier(const RecipeNode& node);

class PruningModifier : public train::Modifier {
 public:
  explicit PruningModifier(PruningConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "pruning"; }
  void prepare(train::TrainState& st) override;
  int prepare_order() const override { return -1; }  // masks exist before anything calibrates
  void train_start(train::TrainState& st) override;
  void before_forward(train::TrainState& st) override;
  void after_backward(train::TrainState& st) override;
  void after_step(train::TrainState& st) override;
  void epoch_end(train::TrainState& st) override;
  void train_end(train::TrainState& st) override;
  const std::vector<std::string>& pruned_layers() const { return names_; }
  const SparsitySchedule& schedule() const { return schedule_; }
  // Recomputes every mask for target sparsity `s` and enforces it.
  void update_masks(double s, torch::optim::Optimizer* optimizer);
  bool one_shot() const { return one_shot_; }

 private:
  // Every mask at target sparsity `s` from the current (masked) weights; no enforcement.
  void compute_masks(double s);
  void enforce(torch::optim::Optimizer* optimizer);
  // ste / sr_ste: the N:M masks of the current dense weights (no enforcement), broadcast.
  void recompute_nm_masks();
  void freeze(torch::optim::Optimizer* optimizer);
  bool learning_mask(int64_t step) const {
    return config_.straight_through() && !frozen_ && step >= schedule_.start_step;
  }
  PruningConfig config_;
  bool frozen_ = false;  // ste / sr_ste: the mask froze at end_epoch
  bool one_shot_ = false;  // calibrate-only: the final masks were set at prepare
  SparsitySchedule schedule_;
  std::vector<std::shared_ptr<train::QuantizableLayer>> layers_;
  std::vector<WeightMask> masks_;
  std::vector<std::string> names_;
};

}  // namespace qf::sparsify
