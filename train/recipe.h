// The core recipe schema: typed structs and a strict loader. The full schema, with every key, its
// type, default and meaning, is documented in recipes/README.md; keep the two in step.
//
// Every error is a std::runtime_error of the form "<file>:<line>: <what>", e.g.
//   recipes/x.yaml:12: unknown key 'epohcs' in 'train' (expected one of: epochs, steps, ...)
// Modifier sections (quantization, pruning, distillation) are not interpreted here: each is kept
// as a RecipeNode for its library to parse (and finish()). Std + yaml-cpp only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/recipe_node.h"

namespace qf {

// gpt's optional mixture-of-experts feed-forward (key `moe:` of `model:`); see train/moe.h.
struct MoeSpec {
  bool enabled = false;
  int64_t experts = 8, top_k = 2;
  std::string router = "softmax";   // softmax: one linear; mlp: Linear -> GELU -> Linear (qforge's)
  int64_t router_hidden = 0;        // mlp router width; 0 = model dim
  double fallback_threshold = -1;   // < 0: default (0.7 for the mlp router, 0 = never for softmax)
  double aux_loss_weight = 0.01;    // weight of the load-balancing loss added to the task loss
  int64_t expert_hidden = 0;        // 0: mlp_ratio * dim / top_k (active parameters of the dense MLP)
  int normalize = -1;               // renormalize the top-k weights; < 0: default (top_k > 1)
  int line = 1;
};

struct ModelSpec {
  std::string family;  // mlp | cnn | gpt
  int line = 1;        // line of the `model:` key
  // Start from trained weights: another recipe (.yaml; its run is trained first if missing) or a
  // run directory. Relative paths are resolved against the recipe's folder when that exists.
  std::string init_from;
  int init_from_line = 1;
  // mlp: Linear(in, h) -> ReLU per entry of `hidden`, then Linear(last, classes).
  std::vector<int64_t> mlp_hidden = {256, 128};  // key `hidden` (list)
  // cnn: a conv3x3-BN-ReLU block then maxpool 2 per entry of `channels`; then Linear(., hidden),
  // ReLU, Linear(hidden, classes).
  std::vector<int64_t> channels = {32, 64};
  int64_t cnn_hidden = 128;  // key `hidden` (integer)
  // gpt: byte-level decoder-only transformer (vocab 256).
  int64_t layers = 4, heads = 4, dim = 128, context = 128, mlp_ratio = 4;
  double dropout = 0.0;
  MoeSpec moe;  // gpt only
  static constexpr int64_t kVocab = 256;
  // hf: a Hugging Face model folder (config.json + safetensors), resolved like init_from.
  std::string path;
  int path_line = 1;
  // hf `init: random`: only config.json is read; weights are drawn as transformers initialises a
  // fresh model (normal(0, initializer_range), zero biases, identity norms).
  bool hf_init_random = false;
};

struct DataSpec {
  std::string dataset;  // fashion_mnist | brown | idx
  std::string path;     // resolved: default per dataset when not given ("~/" expanded)
  // idx only (required); relative paths are resolved against `path` when that is given.
  std::string train_images, train_labels, test_images, test_labels;
  int64_t num_classes = 0;  // idx: 0 = max label + 1
  // image datasets (fashion_mnist, idx): 0 = all; else N examples picked by a fixed seeded shuffle
  int64_t train_subset = 0, test_subset = 0;
  int64_t batch_size = 128;
  // brown only
  double val_fraction = 0.05;
  int64_t eval_batches = 0;  // 0 = the whole validation set
  // Seed of the train / validation document split; -1 = the recipe's seed. Fixing it lets seeded
  // runs (--seed) of a model trained elsewhere keep that model's held-out documents held out.
  int64_t split_seed = -1;
  bool is_image() const { return dataset != "brown"; }
};

struct OptimizerSpec {
  std::string type = "adamw";  // adamw | adam | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;   // default 0.01 for adamw, 0 otherwise
  std::vector<double> betas = {0.9, 0.999};  // adam, adamw
  double eps = 1e-8;                          // adam, adamw
  double momentum = 0.9;                      // sgd
  bool nesterov = false;                      // sgd
};

struct ScheduleSpec {
  std::string type = "cosine";  // cosine | step | constant
  int64_t warmup_steps = 0;     // all types: linear warm-up from 0 over this many steps
  double min_lr = 0.0;          // cosine: floor of the decay
  int64_t step_epochs = 5;      // step: multiply lr by gamma every step_epochs epochs
  double gamma = 0.1;           // step
  // cosine: at step restart_step (from `restart_epoch`) the schedule starts again, a linear
  // warm-up from 0 over warmup_steps to restart_lr and a half cosine from there to min_lr at the
  // last step; the steps before are the unrestarted schedule's (the half cosine over the whole run).
  std::optional<double> restart_epoch;
  double restart_lr = 0;  // restart_epoch given: the restart's peak (default: optimizer.lr)
  int restart_line = 0;   // the recipe line of `restart_epoch`, for errors found once the run's length is known
};

// `train.ema`: an exponential moving average of the trained weights, which replaces them when
// training ends (train/weight_ema.h).
struct EmaSpec {
  bool enabled = false;    // the key is present
  double decay = 0.0;      // [0, 1)
  int64_t start_step = 0;  // steps before it copy the weights (the average starts there)
  int line = 1;            // line of the `ema:` key
};

struct TrainSpec {
  int64_t epochs = 0;           // exactly one of epochs / steps is > 0
  int64_t steps = 0;            // total optimizer steps
  int64_t steps_per_epoch = 0;  // brown: resolved (default 1000); image datasets: 0 (one pass)
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  double grad_clip = 0.0;        // max global grad norm; 0 = off
  double label_smoothing = 0.0;  // [0, 1)
  EmaSpec ema;
};

struct ModifierSpec {
  std::string type;  // the item's key; known types are the registry's (cli/modifiers.h)
  int line = 1;      // line of the item's key
  RecipeNode node;   // its section, path "modifiers[i].<type>"; the library calls node.finish()
};

struct Recipe {
  std::string name;
  std::string file;  // as given to load_recipe (used in messages)
  std::string text;  // the raw YAML text (stored in checkpoints)
  int64_t seed = 0;
  ModelSpec model;
  DataSpec data;
  TrainSpec train;
  std::vector<ModifierSpec> modifiers;
};

Recipe load_recipe(const std::string& path);
// `name_for_errors` stands in for the file name in messages and in Recipe::file.
Recipe load_recipe_from_string(const std::string& text, const std::string& name_for_errors);

}  // namespace qf
