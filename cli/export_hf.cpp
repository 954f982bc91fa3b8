#include "cli/export_hf.h"

#include <filesystem>
#include <stdexcept>

#include "cli/export_source.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_hf.h"
#include "export/from_torch.h"
#include "export/to_hf.h"
#include "train/trainer.h"
#include "hf/hf_config.h"
#include "train/hf_model.h"

namespace qf::cli {

void export_hf_folder(const std::string& folder, const std::string& output, const std::string& recipe_path,
                      int64_t golden) {
  namespace fs = std::filesystem;
  if (recipe_path.empty()) {
    const hf::HfConfig cfg = hf::load_hf_config(folder);
    auto model = train::make_hf_model(folder, /*load_weights=*/true);
    // Golden sequences of 32 tokens: long enough to cross Gemma-style sliding windows.
    write_checkpoint(output, exporter::checkpoint_from_hf_model(*model, cfg.vocab, std::min<int64_t>(golden, 8), 32,
                                                                fs::absolute(folder).string()));
    return;
  }
  const Recipe recipe = load_recipe(recipe_path);
  if (recipe.model.family != "hf")
    throw std::runtime_error(recipe_path + ": model.family must be hf to export a Hugging Face folder, got '" +
                             recipe.model.family + "'");
  if (fs::weakly_canonical(recipe.model.path) != fs::weakly_canonical(folder))
    throw std::runtime_error(recipe_path + ": model.path '" + recipe.model.path + "' is not the folder being exported ('" +
                             folder + "')");
  RunRequest req;
  req.run_dir = output + ".run";
  req.calibrate_only = true;
  run_recipe(recipe, req);
  exporter::export_run(req.run_dir, output, golden, recipe, make_modifiers(recipe));
}

ExportSource load_export_source(const std::string& source, const char* what_for) {
  namespace fs = std::filesystem;
  ExportSource out;
  std::shared_ptr<train::ZooModel> model;
  if (fs::exists(fs::path(source) / "config.json")) {
    model = train::make_hf_model(source, true);
  } else {
    if (!fs::exists(fs::path(source) / "recipe.yaml"))
      throw std::runtime_error(source + ": neither a Hugging Face folder (config.json) nor a run directory (recipe.yaml)");
    const Recipe recipe = load_recipe((fs::path(source) / "recipe.yaml").string());
    if (recipe.model.family != "hf")
      throw std::runtime_error(source + ": " + what_for + " needs a run of model family hf, this one is '" +
                               recipe.model.family + "'");
    auto task = train::make_task(recipe);
    const auto modifiers = make_modifiers(recipe);
    model = train::load_run_model(source, recipe, *task, modifiers);
    for (auto& m : modifiers) {  // the slots in their end-of-training state, as export_run does
      train::TrainState st{recipe, *model, *task, torch::kCPU};
      st.epochs = std::max<int64_t>(recipe.train.epochs, 1);
      m->train_end(st);
    }
    out.is_run = true;
  }
  model->eval();
  out.model = std::static_pointer_cast<train::HfModel>(model);
  return out;
}

void export_to_hf_format(const std::string& source, const std::string& out_dir) {
  exporter::write_hf_folder(*load_export_source(source, "--format hf").model, out_dir);
}

}  // namespace qf::cli
