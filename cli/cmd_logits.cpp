// qforge logits MODEL --ids ids.npy -o logits.npy: the float32 [T, V] logits of one token sequence,
// from whichever implementation MODEL names — the tool for when two implementations disagree.
//   MODEL a Hugging Face folder (config.json): the LibTorch model built from it;
//   MODEL a run directory (recipe.yaml): the trained LibTorch model, fake quantization included;
//   MODEL a .qf.h5 checkpoint: the standalone runtime.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/modifiers.h"
#include "export/from_torch.h"
#include "hf/npy.h"
#include "runtime/engine.h"
#include "runtime/kernels/threads.h"
#include "train/hf_model.h"
#include "train/trainer.h"

namespace qf::cli {
namespace {

namespace fs = std::filesystem;

torch::Tensor torch_logits(train::ZooModel& model, const std::vector<int64_t>& ids) {
  torch::NoGradGuard ng;
  model.eval();
  const torch::Tensor x = torch::tensor(ids, torch::kLong).unsqueeze(0);
  return model.forward(x)[0].contiguous();
}

}  // namespace

void add_logits_command(CLI::App& app) {
  struct Options {
    std::string model, ids, output;
    int threads = 0;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Write the float32 [T, V] logits of one token sequence (.npy) from a Hugging Face folder "
                "(LibTorch), a run directory (LibTorch, fake quantization included) or a .qf.h5 (runtime)");
  cmd->add_option("model", opt->model, "Hugging Face folder, run directory or .qf.h5 checkpoint")->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--ids", opt->ids, "Token ids: .npy, int32 or int64, shape [T]")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", opt->output, "Logits to write (.npy float32 [T, V])")->required();
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores)");
  cmd->callback([opt] {
    const hf::NpyArray a = hf::read_npy(opt->ids);
    if (a.i64.empty() || a.shape.size() != 1)
      throw std::runtime_error(opt->ids + ": token ids must be a 1-D int32 or int64 array, got " + a.descr + " of rank " +
                               std::to_string(a.shape.size()));
    const std::vector<int64_t>& ids = a.i64;
    std::vector<int64_t> shape;
    std::vector<float> data;
    const fs::path m(opt->model);
    if (fs::is_directory(m) && fs::exists(m / "config.json")) {
      if (opt->threads > 0) torch::set_num_threads(opt->threads);
      auto model = train::make_hf_model(opt->model, true);
      const torch::Tensor l = torch_logits(*model, ids);
      shape = l.sizes().vec();
      data.assign(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
    } else if (fs::is_directory(m) && fs::exists(m / "recipe.yaml")) {
      if (opt->threads > 0) torch::set_num_threads(opt->threads);
      const Recipe recipe = load_recipe((m / "recipe.yaml").string());
      auto task = train::make_task(recipe);
      auto model = train::load_run_model(opt->model, recipe, *task, make_modifiers(recipe));
      if (!model->is_language_model()) throw std::runtime_error(opt->model + " is not a language model run");
      const torch::Tensor l = torch_logits(*model, ids);
      shape = l.sizes().vec();
      data.assign(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
    } else if (fs::is_regular_file(m)) {
      kernels::set_num_threads(opt->threads);
      Engine engine = Engine::load(opt->model);
      const Graph& g = engine.checkpoint().graph;
      if (g.inputs.size() != 1 || g.inputs[0].dtype != "int64")
        throw std::runtime_error(opt->model + " is not a language model checkpoint (its input is not token ids)");
      Tensor out = engine.run({{g.inputs[0].name, Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at(g.outputs.at(0));
      shape = {out.shape.at(1), out.shape.at(2)};
      data = std::move(out.f32);
    } else {
      throw std::runtime_error(opt->model + ": neither a Hugging Face folder (config.json), a run directory (recipe.yaml) "
                                            "nor a checkpoint file");
    }
    hf::write_npy_f32(opt->output, shape, data.data());
    std::printf("wrote %s [%lld, %lld]\n", opt->output.c_str(), static_cast<long long>(shape[0]),
                static_cast<long long>(shape[1]));
  });
}

}  // namespace qf::cli
