// qforge export / inspect / validate: write a checkpoint from a run, describe one, and prove that
// the standalone runtime reproduces the trained model on the golden inputs it holds.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "cli/export_gguf.h"
#include "cli/export_hf.h"
#include "cli/modifiers.h"
#include "export/from_torch.h"
#include "runtime/checkpoint_reader.h"
#include "runtime/engine.h"
#include "runtime/kernels/threads.h"
#include "runtime/expert_load.h"
#include "runtime/inspect.h"
#include "runtime/validate.h"

namespace qf::cli {
namespace {

// Loads a checkpoint for the runtime; a malformed file exits 2 (1 is kept for "ran, disagreed").
Engine load_or_exit(const std::string& path, const std::string& device = "cpu") {
  // A bad QFORGE_ISA or an unusable --device is not the file's fault.
  const kernels::KernelTable& table = table_for_device_or_exit(device);
  try {
    return Engine::load(path, &table);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qforge: %s: malformed checkpoint: %s\n", path.c_str(), e.what());
    std::exit(2);
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  struct Options {
    std::string run_dir, output, recipe, format = "qf", quant;
    std::vector<std::string> tensor_types;
    int64_t golden = 64;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write a run's trained model as a quantized .qf.h5 checkpoint; or a Hugging Face folder's model "
      "(float, or post-training quantized with --recipe) without training. --format hf writes a Hugging "
      "Face folder, --format gguf a llama.cpp GGUF (Llama, Qwen2, Qwen3 or Mixtral; a run trained with weights "
      "{format: q4_0 | q8_0} keeps its trained blocks exactly)");
  cmd->add_option("run_dir", opt->run_dir,
                  "Run directory (holds recipe.yaml, checkpoint.pt, metrics.jsonl) or Hugging Face folder (config.json)")
      ->required();
  cmd->add_option("--recipe", opt->recipe,
                  "Hugging Face folder only: a recipe (model.family hf) whose modifiers are calibrated on the float "
                  "model (PTQ, no training) before export");
  cmd->add_option("-o,--output", opt->output, "Checkpoint file to write (default: RUN_DIR/model.qf.h5)");
  cmd->add_option("--golden", opt->golden, "Held-out examples whose outputs are stored for validate")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--format", opt->format,
                  "qf: a .qf.h5 checkpoint (default); hf: a Hugging Face folder (float32 safetensors, quantized "
                  "layers fake-quant folded) from a Hugging Face folder or a run of model family hf")
      ->check(CLI::IsMember({"qf", "hf", "gguf"}))->capture_default_str();
  cmd->add_option("--quant", opt->quant,
                  "gguf only: type of the weight matrices, f32 | f16 | q4_0 | q8_0 (ggml's round-to-nearest, as "
                  "llama.cpp's converter). Default: a run's trained block format (the tensors it kept float stay "
                  "f32), else f32")
      ->check(CLI::IsMember({"f32", "f16", "q4_0", "q8_0"}));
  cmd->add_option("--tensor-type", opt->tensor_types,
                  "gguf only: NAME=TYPE for one GGUF tensor (e.g. token_embd.weight=f32, output.weight=q8_0); "
                  "repeatable");
  cmd->callback([opt] {
    if (opt->format != "gguf" && (!opt->quant.empty() || !opt->tensor_types.empty()))
      throw std::runtime_error("--quant and --tensor-type are for --format gguf");
    if (opt->format == "gguf") {
      if (opt->output.empty()) throw std::runtime_error("--format gguf needs -o FILE.gguf");
      if (!opt->recipe.empty()) throw std::runtime_error("--recipe is not for --format gguf (use --quant)");
      GgufExportOptions g;
      g.quant = opt->quant;
      for (const std::string& nt : opt->tensor_types) {
        const size_t eq = nt.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == nt.size())
          throw std::runtime_error("--tensor-type '" + nt + "': expected NAME=TYPE, e.g. token_embd.weight=f32");
        g.tensor_types[nt.substr(0, eq)] = nt.substr(eq + 1);
      }
      std::printf("%s\n", export_to_gguf(opt->run_dir, opt->output, g).c_str());
      return;
    }
    if (opt->format == "hf") {
      if (opt->output.empty()) throw std::runtime_error("--format hf needs -o DIR");
      export_to_hf_format(opt->run_dir, opt->output);
      std::printf("wrote %s/ (config.json, model.safetensors)\n", opt->output.c_str());
      return;
    }
    if (std::filesystem::exists(std::filesystem::path(opt->run_dir) / "config.json")) {
      if (opt->output.empty()) throw std::runtime_error("exporting a Hugging Face folder needs -o FILE.qf.h5");
      export_hf_folder(opt->run_dir, opt->output, opt->recipe, opt->golden);
      std::printf("wrote %s (%.1f KiB)\n", opt->output.c_str(),
                  static_cast<double>(std::filesystem::file_size(opt->output)) / 1024.0);
      return;
    }
    if (!opt->recipe.empty()) throw std::runtime_error("--recipe is for Hugging Face folders; a run has its own recipe");
    const std::string out = opt->output.empty() ? (std::filesystem::path(opt->run_dir) / "model.qf.h5").string() : opt->output;
    const Recipe recipe = load_recipe((std::filesystem::path(opt->run_dir) / "recipe.yaml").string());
    exporter::export_run(opt->run_dir, out, opt->golden, recipe, make_modifiers(recipe));
    std::printf("wrote %s (%.1f KiB)\n", out.c_str(), static_cast<double>(std::filesystem::file_size(out)) / 1024.0);
  });
}

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto device = std::make_shared<std::string>("cpu");
  auto show_recipe = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Describe a .qf.h5 checkpoint: layers, bits, sizes, metrics, recipe; for mixture-of-experts "
                 "models the expert load (tokens per expert, fallbacks) on the golden inputs");
  cmd->add_option("checkpoint", *path, "Checkpoint file (.qf.h5)")->required()->check(CLI::ExistingFile);
  add_device_option(cmd, *device);
  cmd->callback([path, device] {
    // The same load as validate's (reader + op construction + shape inference), so a file that
    // inspects cleanly is one the runtime can run.
    Engine engine = load_or_exit(*path, *device);
    InspectSummary s = inspect(engine.checkpoint());
    s.kernels = engine.kernel_table().name;
    std::fputs(s.to_text().c_str(), stdout);
    // Mixture-of-experts checkpoints: the experts' load on the golden inputs (one runtime pass).
    std::fputs(expert_load_text(expert_load_on_golden(engine)).c_str(), stdout);
  });
}

void add_validate_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto opt = std::make_shared<ValidateOptions>();
  auto trace = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  auto device = std::make_shared<std::string>("cpu");
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Run the checkpoint's golden inputs through the standalone runtime and compare with the stored outputs: "
      "bit-identical on integer paths, within agreement limits behind float reductions, and op by op against "
      "the stored trace; exits 1 on a mismatch, 2 on a malformed checkpoint");
  cmd->add_option("checkpoint", *path, "Checkpoint file (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--min-agreement", opt->min_top1_agreement, "Minimum top-1 agreement (fraction)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-diff", opt->max_diff_units,
                  "Maximum difference for outputs behind float reductions, in units of max|output|/127 (one int8 "
                  "step; max|output|/16 behind FP8 activations)")
      ->capture_default_str();
  cmd->add_flag("--trace", *trace, "Print the per-op comparison (run alone on the traced inputs) for every op");
  cmd->add_option("--threads", *threads, "CPU threads for the runtime's kernels (default: all cores)");
  add_device_option(cmd, *device);
  cmd->callback([path, opt, trace, threads, device] {
    kernels::set_num_threads(*threads);
    Engine engine = load_or_exit(*path, *device);
    std::printf("kernels: %s, %d thread(s)\n", engine.kernel_table().name, kernels::num_threads());
    const ValidationReport report = validate(engine, *opt);
    std::fputs(report.summary(*trace).c_str(), stdout);
    if (!report.passed) std::exit(1);
  });
}

}  // namespace qf::cli
