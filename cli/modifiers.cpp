#include "cli/modifiers.h"

#include <stdexcept>

#include "qat/quantization_modifier.h"
#include "sparsify/pruning_modifier.h"
#include "distill/distillation_modifier.h"
#include "cli/run_support.h"
#include <filesystem>

namespace qf::cli {

std::vector<std::shared_ptr<train::Modifier>> make_modifiers(const Recipe& recipe) {
  std::vector<std::shared_ptr<train::Modifier>> out;
  for (const ModifierSpec& m : recipe.modifiers) {
    if (m.type == "quantization") {
      out.push_back(std::make_shared<qat::QuantizationModifier>(qat::parse_quantization_modifier(m.node)));
    } else if (m.type == "pruning") {
      out.push_back(std::make_shared<sparsify::PruningModifier>(sparsify::parse_pruning_modifier(m.node)));
    } else if (m.type == "distillation") {
      // The teacher run is found (or trained) and loaded when training starts, not here: eval and
      // export rebuild a KD student without needing its teacher.
      auto cfg = distill::parse_distillation_modifier(m.node);
      auto loader = [teacher = cfg.teacher, file = recipe.file](train::TrainState& st) {
        RunRequest req;
        req.device = st.device.is_cuda() ? "cuda" : "cpu";
        const std::string run_dir = ensure_run_of(teacher, file, req, "teacher");
        const Recipe tr = load_recipe((std::filesystem::path(run_dir) / "recipe.yaml").string());
        std::vector<std::shared_ptr<train::Modifier>> mods;  // its own modifiers (QAT slots), not its teacher
        for (auto& tm : make_modifiers(tr))
          if (tm->name() != "distillation") mods.push_back(tm);
        return train::load_run_model(run_dir, tr, st.task, mods);
      };
      out.push_back(std::make_shared<distill::DistillationModifier>(std::move(cfg), loader));
    } else {
      throw std::runtime_error(recipe.file + ":" + std::to_string(m.line) + ": the '" + m.type +
                               "' modifier is not available in this version of qforge yet");
    }
  }
  return out;
}

}  // namespace qf::cli
