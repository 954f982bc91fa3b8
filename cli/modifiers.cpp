#include "cli/modifiers.h"

#include <filesystem>
#include <stdexcept>

#include "cli/run_support.h"
#include "distill/distillation_modifier.h"
#include "qat/quantization_modifier.h"
#include "sparsify/pruning_modifier.h"
#include "train/models.h"

namespace qf::cli {
namespace {

std::shared_ptr<train::Modifier> make_quantization(const ModifierSpec& m, const Recipe&) {
  return std::make_shared<qat::QuantizationModifier>(qat::parse_quantization_modifier(m.node));
}

std::shared_ptr<train::Modifier> make_pruning(const ModifierSpec& m, const Recipe&) {
  return std::make_shared<sparsify::PruningModifier>(sparsify::parse_pruning_modifier(m.node));
}

std::shared_ptr<train::Modifier> make_distillation(const ModifierSpec& m, const Recipe& recipe) {
  // The teacher run is found (or trained) and loaded when training starts, not here: eval and
  // export rebuild a KD student without needing its teacher.
  auto cfg = distill::parse_distillation_modifier(m.node);
  auto loader = [teacher = cfg.teacher, file = recipe.file, model = recipe.model](train::TrainState& st) {
    // Self-distillation: the float model the recipe starts from is its own teacher (the Gemma 3
    // QAT recipe). For a Hugging Face model that is the folder's weights, loaded once more.
    if (teacher == "self") {
      if (model.family != "hf")
        throw std::runtime_error(file + ": teacher 'self' needs model.family hf (the float folder is the teacher)");
      if (model.hf_init_random)
        throw std::runtime_error(file + ": teacher 'self' needs trained weights, but model.init is 'random' (export the "
                                 "float run with `qforge export RUN --format hf -o DIR` and point model.path at DIR)");
      return train::make_model(model, st.task.input_shape());
    }
    RunRequest req;
    req.device = st.device.is_cuda() ? "cuda" : "cpu";
    const std::string run_dir = ensure_run_of(teacher, file, req, "teacher");
    const Recipe tr = load_recipe((std::filesystem::path(run_dir) / "recipe.yaml").string());
    std::vector<std::shared_ptr<train::Modifier>> mods;  // its own modifiers (QAT slots), not its teacher
    for (auto& tm : make_modifiers(tr))
      if (tm->name() != "distillation") mods.push_back(tm);
    return train::load_run_model(run_dir, tr, st.task, mods);
  };
  return std::make_shared<distill::DistillationModifier>(std::move(cfg), loader);
}

}  // namespace

const std::vector<ModifierFactory>& modifier_registry() {
  static const std::vector<ModifierFactory> table = {
      {"quantization", make_quantization},
      {"pruning", make_pruning},
      {"distillation", make_distillation},
  };
  return table;
}

std::vector<std::shared_ptr<train::Modifier>> make_modifiers(const Recipe& recipe) {
  std::vector<std::shared_ptr<train::Modifier>> out;
  for (const ModifierSpec& m : recipe.modifiers) {
    const ModifierFactory* factory = nullptr;
    std::string known;
    for (const ModifierFactory& f : modifier_registry()) {
      if (f.type == m.type) factory = &f;
      known += (known.empty() ? "" : ", ") + f.type;
    }
    if (!factory)
      throw std::runtime_error(recipe.file + ":" + std::to_string(m.line) + ": unknown modifier type '" + m.type +
                               "' in 'modifiers' (expected one of: " + known + ")");
    out.push_back(factory->make(m, recipe));
  }
  return out;
}

}  // namespace qf::cli
