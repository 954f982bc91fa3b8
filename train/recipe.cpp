#include "train/recipe.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>

#include "train/data_paths.h"

namespace qf {
namespace {


std::string expand_home(const std::string& p) {
  if (p.rfind("~/", 0) == 0) {
    const char* h = std::getenv("HOME");
    if (h != nullptr && *h != '\0') return std::string(h) + p.substr(1);
  }
  return p;
}

void check_positive(const RecipeNode& n, const std::string& key, int64_t v) {
  if (v <= 0) n.fail(key, "must be > 0, got " + std::to_string(v));
}
void check_non_negative(const RecipeNode& n, const std::string& key, int64_t v) {
  if (v < 0) n.fail(key, "must be >= 0, got " + std::to_string(v));
}
void check_range(const RecipeNode& n, const std::string& key, double v, double lo, bool lo_open,
                 double hi, bool hi_open) {
  const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::ostringstream s;
    s << "must be in " << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]") << ", got " << v;
    n.fail(key, s.str());
  }
}
void check_all_positive(const RecipeNode& n, const std::string& key, const std::vector<int64_t>& v,
                        bool allow_empty) {
  if (v.empty() && !allow_empty) n.fail(key, "must not be empty");
  for (int64_t x : v)
    if (x <= 0) n.fail(key, "must hold positive sizes, got " + std::to_string(x));
}

// Declares a section's valid keys and rejects the others before any value is checked, so that a
// typo ('epohcs') is reported as such rather than as a consequence ("epochs or steps required").
void expect_keys(const RecipeNode& n, std::initializer_list<const char*> keys) {
  n.allow(keys);
  n.finish();
}

ModelSpec parse_model(const RecipeNode& m) {
  ModelSpec s;
  s.line = m.line();
  s.family = m.require_one_of("family", {"mlp", "cnn", "gpt", "hf"});
  s.init_from = m.get<std::string>("init_from", "");
  s.init_from_line = m.line_of("init_from");
  if (s.family == "mlp") expect_keys(m, {"hidden", "init_from"});
  if (s.family == "cnn") expect_keys(m, {"channels", "hidden", "init_from"});
  if (s.family == "gpt")
    expect_keys(m, {"layers", "heads", "dim", "context", "mlp_ratio", "dropout", "init_from", "moe"});
  if (s.family == "hf") {
    expect_keys(m, {"path", "context", "init", "init_from"});
    // init: pretrained (the folder's safetensors) | random (config.json only: train from scratch).
    s.hf_init_random = m.one_of("init", "pretrained", {"pretrained", "random"}) == "random";
    if (s.hf_init_random && !s.init_from.empty())
      m.fail("init", "is 'random' but init_from is set too: init_from's weights would replace the random ones");
    s.context = m.get<int64_t>("context", s.context);  // training / evaluation window in tokens
    check_positive(m, "context", s.context);
    s.path = expand_home(m.require<std::string>("path"));
    s.path_line = m.line_of("path");
    if (s.path.empty()) m.fail("path", "must name a Hugging Face model folder");
    // Relative to the recipe's folder when the model is found there (like init_from).
    const std::string file = m.file();
    const size_t slash = file.rfind('/');
    if (s.path[0] != '/' && slash != std::string::npos) {
      const std::string beside = file.substr(0, slash + 1) + s.path;
      if (std::ifstream(beside + "/config.json").good()) s.path = beside;
    }
  } else if (s.family == "mlp") {
    s.mlp_hidden = m.get<std::vector<int64_t>>("hidden", s.mlp_hidden);
    check_all_positive(m, "hidden", s.mlp_hidden, /*allow_empty=*/true);  // [] = linear classifier
  } else if (s.family == "cnn") {
    s.channels = m.get<std::vector<int64_t>>("channels", s.channels);
    check_all_positive(m, "channels", s.channels, false);
    s.cnn_hidden = m.get<int64_t>("hidden", s.cnn_hidden);
    check_positive(m, "hidden", s.cnn_hidden);
  } else {
    s.layers = m.get<int64_t>("layers", s.layers);
    s.heads = m.get<int64_t>("heads", s.heads);
    s.dim = m.get<int64_t>("dim", s.dim);
    s.context = m.get<int64_t>("context", s.context);
    s.mlp_ratio = m.get<int64_t>("mlp_ratio", s.mlp_ratio);
    s.dropout = m.get<double>("dropout", s.dropout);
    check_positive(m, "layers", s.layers);
    check_positive(m, "heads", s.heads);
    check_positive(m, "dim", s.dim);
    check_positive(m, "context", s.context);
    check_positive(m, "mlp_ratio", s.mlp_ratio);
    check_range(m, "dropout", s.dropout, 0.0, false, 1.0, true);
    if (s.dim % s.heads != 0)
      m.fail("dim", "(" + std::to_string(s.dim) + ") must be divisible by heads (" +
                        std::to_string(s.heads) + ")");
    if (m.has("moe")) {
      const RecipeNode moe = m.child("moe");
      MoeSpec& e = s.moe;
      e.enabled = true;
      e.line = m.line_of("moe");
      expect_keys(moe, {"experts", "top_k", "router", "router_hidden", "fallback_threshold", "aux_loss_weight",
                        "expert_hidden", "normalize"});
      e.experts = moe.get<int64_t>("experts", e.experts);
      e.top_k = moe.get<int64_t>("top_k", e.top_k);
      e.router = moe.has("router") ? moe.require_one_of("router", {"softmax", "mlp"}) : e.router;
      e.router_hidden = moe.get<int64_t>("router_hidden", e.router_hidden);
      e.aux_loss_weight = moe.get<double>("aux_loss_weight", e.aux_loss_weight);
      e.expert_hidden = moe.get<int64_t>("expert_hidden", e.expert_hidden);
      check_range(moe, "experts", static_cast<double>(e.experts), 1.0, false, 1024.0, false);
      if (e.top_k != 1 && e.top_k != 2) moe.fail("top_k", "must be 1 or 2");
      if (e.top_k > e.experts) moe.fail("top_k", "must not exceed experts");
      if (moe.has("fallback_threshold")) {
        e.fallback_threshold = moe.get<double>("fallback_threshold", 0.0);
        check_range(moe, "fallback_threshold", e.fallback_threshold, 0.0, false, 1.0, false);
      }
      if (moe.has("normalize")) e.normalize = moe.get<bool>("normalize", true) ? 1 : 0;
      check_range(moe, "aux_loss_weight", e.aux_loss_weight, 0.0, false, 1e6, false);
      if (e.router_hidden < 0) moe.fail("router_hidden", "must be >= 0");
      if (e.expert_hidden < 0) moe.fail("expert_hidden", "must be >= 0");
      if (e.fallback_threshold < 0) e.fallback_threshold = e.router == "mlp" ? 0.7 : 0.0;
      if (e.normalize < 0) e.normalize = e.top_k > 1 ? 1 : 0;
      if (e.router_hidden == 0) e.router_hidden = s.dim;
      if (e.expert_hidden == 0) e.expert_hidden = std::max<int64_t>(1, s.mlp_ratio * s.dim / e.top_k);
    }
  }
  return s;
}

DataSpec parse_data(const RecipeNode& d) {
  DataSpec s;
  s.dataset = d.require_one_of("dataset", {"fashion_mnist", "brown", "idx"});
  d.allow({"path", "batch_size"});
  if (s.dataset == "idx")
    d.allow({"train_images", "train_labels", "test_images", "test_labels", "num_classes"});
  if (s.dataset == "brown")
    expect_keys(d, {"val_fraction", "eval_batches", "split_seed"});
  else
    expect_keys(d, {"train_subset", "test_subset"});
  const bool given_path = d.has("path");
  s.path = expand_home(d.get<std::string>("path", ""));
  if (!given_path) {
    if (s.dataset == "fashion_mnist") s.path = kFashionMnistDefaultDir;
    if (s.dataset == "brown") s.path = default_brown_dir();
  } else if (s.path.empty()) {
    d.fail("path", "must not be empty");
  }
  s.batch_size = d.get<int64_t>("batch_size", s.batch_size);
  check_positive(d, "batch_size", s.batch_size);
  if (s.dataset == "idx") {
    auto resolve = [&](const char* key) {
      std::string p = expand_home(d.require<std::string>(key));
      if (p.empty()) d.fail(key, "must not be empty");
      if (!s.path.empty() && p[0] != '/') p = s.path + "/" + p;
      return p;
    };
    s.train_images = resolve("train_images");
    s.train_labels = resolve("train_labels");
    s.test_images = resolve("test_images");
    s.test_labels = resolve("test_labels");
    s.num_classes = d.get<int64_t>("num_classes", 0);
    check_non_negative(d, "num_classes", s.num_classes);
  }
  if (s.dataset == "brown") {
    s.val_fraction = d.get<double>("val_fraction", s.val_fraction);
    check_range(d, "val_fraction", s.val_fraction, 0.0, true, 1.0, true);
    s.eval_batches = d.get<int64_t>("eval_batches", s.eval_batches);
    check_non_negative(d, "eval_batches", s.eval_batches);
    s.split_seed = d.get<int64_t>("split_seed", s.split_seed);
    if (d.has("split_seed")) check_non_negative(d, "split_seed", s.split_seed);
  } else {
    s.train_subset = d.get<int64_t>("train_subset", 0);
    s.test_subset = d.get<int64_t>("test_subset", 0);
    check_non_negative(d, "train_subset", s.train_subset);
    check_non_negative(d, "test_subset", s.test_subset);
  }
  return s;
}

OptimizerSpec parse_optimizer(const RecipeNode& o) {
  OptimizerSpec s;
  s.type = o.one_of("type", s.type, {"adamw", "adam", "sgd"});
  o.allow({"lr", "weight_decay"});
  if (s.type == "sgd") expect_keys(o, {"momentum", "nesterov"});
  else expect_keys(o, {"betas", "eps"});
  s.lr = o.get<double>("lr", s.lr);
  if (!(s.lr > 0)) o.fail("lr", "must be > 0, got " + std::to_string(s.lr));
  s.weight_decay = o.get<double>("weight_decay", s.type == "adamw" ? 0.01 : 0.0);
  if (s.weight_decay < 0) o.fail("weight_decay", "must be >= 0");
  if (s.type == "sgd") {
    s.momentum = o.get<double>("momentum", s.momentum);
    check_range(o, "momentum", s.momentum, 0.0, false, 1.0, true);
    s.nesterov = o.get<bool>("nesterov", s.nesterov);
    if (s.nesterov && s.momentum == 0.0) o.fail("nesterov", "needs momentum > 0");
  } else {
    s.betas = o.get<std::vector<double>>("betas", s.betas);
    if (s.betas.size() != 2) o.fail("betas", "must hold 2 numbers [beta1, beta2]");
    for (double b : s.betas) check_range(o, "betas", b, 0.0, false, 1.0, true);
    s.eps = o.get<double>("eps", s.eps);
    if (!(s.eps > 0)) o.fail("eps", "must be > 0");
  }
  return s;
}

ScheduleSpec parse_schedule(const RecipeNode& c, double lr) {
  ScheduleSpec s;
  s.type = c.one_of("type", s.type, {"cosine", "step", "constant"});
  c.allow({"warmup_steps"});
  if (s.type == "cosine") expect_keys(c, {"min_lr", "restart_epoch", "restart_lr"});
  if (s.type == "step") expect_keys(c, {"step_epochs", "gamma"});
  if (s.type == "constant") expect_keys(c, {});
  s.warmup_steps = c.get<int64_t>("warmup_steps", 0);
  check_non_negative(c, "warmup_steps", s.warmup_steps);
  if (s.type == "cosine") {
    s.min_lr = c.get<double>("min_lr", 0.0);
    if (s.min_lr < 0 || s.min_lr > lr)
      c.fail("min_lr", "must be in [0, lr = " + std::to_string(lr) + "], got " + std::to_string(s.min_lr));
    if (c.has("restart_epoch")) {
      s.restart_epoch = c.get<double>("restart_epoch", 0.0);
      s.restart_line = c.line_of("restart_epoch");
      if (!(*s.restart_epoch > 0)) c.fail("restart_epoch", "must be > 0 (epochs, fractions allowed)");
      s.restart_lr = c.get<double>("restart_lr", lr);
      if (!(s.restart_lr > 0) || s.restart_lr < s.min_lr)
        c.fail("restart_lr",
               "must be > 0 and >= min_lr = " + std::to_string(s.min_lr) + ", got " + std::to_string(s.restart_lr));
    } else if (c.has("restart_lr")) {
      c.fail("restart_lr", "applies with restart_epoch only");
    }
  } else if (s.type == "step") {
    s.step_epochs = c.get<int64_t>("step_epochs", s.step_epochs);
    check_positive(c, "step_epochs", s.step_epochs);
    s.gamma = c.get<double>("gamma", s.gamma);
    check_range(c, "gamma", s.gamma, 0.0, true, 1.0, false);
  }
  return s;
}

// `steps`: train.steps, 0 when the run is given in epochs (then the trainer checks start_step).
EmaSpec parse_ema(const RecipeNode& e, int line, int64_t steps) {
  EmaSpec s;
  s.enabled = true;
  s.line = line;
  expect_keys(e, {"decay", "start_step"});
  s.decay = e.require<double>("decay");
  // decay 1 would keep the starting weights forever.
  check_range(e, "decay", s.decay, 0.0, false, 1.0, true);
  s.start_step = e.get<int64_t>("start_step", 0);
  check_non_negative(e, "start_step", s.start_step);
  if (steps > 0 && s.start_step >= steps)
    e.fail("start_step", "must be < train.steps (" + std::to_string(steps) + "), got " + std::to_string(s.start_step) +
                             ": the average would never start");
  return s;
}

TrainSpec parse_train(const RecipeNode& t, const DataSpec& data) {
  TrainSpec s;
  expect_keys(t,
              {"epochs", "steps", "steps_per_epoch", "optimizer", "schedule", "grad_clip", "label_smoothing", "ema"});
  s.epochs = t.get<int64_t>("epochs", 0);
  s.steps = t.get<int64_t>("steps", 0);
  check_non_negative(t, "epochs", s.epochs);
  check_non_negative(t, "steps", s.steps);
  const bool has_epochs = t.has("epochs"), has_steps = t.has("steps");
  if (has_epochs && has_steps && s.epochs > 0 && s.steps > 0)
    t.fail("steps", "cannot be given together with 'epochs' (line " + std::to_string(t.line_of("epochs")) +
                        "): use exactly one of them");
  if (s.epochs == 0 && s.steps == 0) {
    if (has_epochs) t.fail("epochs", "must be > 0");
    if (has_steps) t.fail("steps", "must be > 0");
    t.fail_section("exactly one of 'epochs' or 'steps' is required");
  }
  s.steps_per_epoch = t.get<int64_t>("steps_per_epoch", 0);
  check_non_negative(t, "steps_per_epoch", s.steps_per_epoch);
  if (data.is_image() && s.steps_per_epoch != 0)
    t.fail("steps_per_epoch", "applies to dataset brown only (an image epoch is one pass over the data)");
  if (!data.is_image() && s.steps_per_epoch == 0) s.steps_per_epoch = 1000;
  s.optimizer = parse_optimizer(t.child("optimizer"));
  s.schedule = parse_schedule(t.child("schedule"), s.optimizer.lr);
  s.grad_clip = t.get<double>("grad_clip", 0.0);
  if (s.grad_clip < 0) t.fail("grad_clip", "must be >= 0 (0 = off)");
  s.label_smoothing = t.get<double>("label_smoothing", 0.0);
  check_range(t, "label_smoothing", s.label_smoothing, 0.0, false, 1.0, true);
  if (t.has("ema")) s.ema = parse_ema(t.child("ema"), t.line_of("ema"), s.steps);
  return s;
}

std::vector<ModifierSpec> parse_modifiers(const RecipeNode& root) {
  std::vector<ModifierSpec> out;
  if (!root.has("modifiers")) return out;
  const YAML::Node& map = root.yaml();
  const YAML::Node list = map["modifiers"];
  if (list.IsNull()) return out;
  if (!list.IsSequence())
    root.fail("modifiers", "must be a list of one-key maps, e.g. '- quantization: {...}'");
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const int il = recipe_line(item.Mark(), root.line_of("modifiers"));
    if (!item.IsMap() || item.size() != 1)
      throw std::runtime_error(
          recipe_at(root.file(), il) + "element " + std::to_string(i) +
          " of 'modifiers' must be a map with exactly one key, the modifier type, e.g. "
          "'- pruning: {...}'" +
          (item.IsMap() ? ", got " + std::to_string(item.size()) + " keys" : ""));
    const YAML::Node key = item.begin()->first, value = item.begin()->second;
    const int kl = recipe_line(key.Mark(), il);
    // Whether the type exists is the modifier registry's to say (cli/modifiers.h), the one list.
    const std::string type = key.IsScalar() ? key.Scalar() : std::string("?");
    const std::string path = "modifiers[" + std::to_string(i) + "]." + type;
    out.push_back({type, kl, RecipeNode(root.file(), path, value, kl)});
  }
  return out;
}

Recipe build(const RecipeNode& root, const std::string& text) {
  expect_keys(root, {"name", "seed", "model", "data", "train", "modifiers"});
  Recipe r;
  r.file = root.file();
  r.text = text;
  r.name = root.require<std::string>("name");
  if (r.name.empty()) root.fail("name", "must not be empty");
  for (char c : r.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      root.fail("name", "must contain only letters, digits, '_', '-' and '.' (it names run folders), got '" +
                            r.name + "'");
  r.seed = root.get<int64_t>("seed", 0);
  const RecipeNode model = root.require_child("model");
  const RecipeNode data = root.require_child("data");
  r.model = parse_model(model);
  r.data = parse_data(data);
  r.train = parse_train(root.require_child("train"), r.data);
  r.modifiers = parse_modifiers(root);

  if ((r.model.family == "gpt" || r.model.family == "hf") && r.data.dataset != "brown")
    model.fail("family", "is '" + r.model.family + "', a language model: it needs dataset 'brown', got '" +
                             r.data.dataset + "' (line " + std::to_string(data.line_of("dataset")) + ")");
  if (r.model.family != "gpt" && r.model.family != "hf" && r.data.dataset == "brown")
    model.fail("family", "is '" + r.model.family + "', an image classifier: dataset 'brown' needs family 'gpt' or 'hf'");

  root.finish();  // unknown keys anywhere in the core schema (modifier sections are their libraries')
  return r;
}

}  // namespace

Recipe load_recipe_from_string(const std::string& text, const std::string& name_for_errors) {
  return build(RecipeNode::parse(text, name_for_errors), text);
}

Recipe load_recipe(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open recipe file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return load_recipe_from_string(ss.str(), path);
}

}  // namespace qf
