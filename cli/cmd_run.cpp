// qforge run RECIPE: the whole job. Trains what the recipe says into a run directory, then
// exports, validates and evaluates the checkpoint and prints a summary (cli/pipeline.h); stages
// whose output is current are skipped, an interrupted run resumes. With --seeds N the recipe runs
// once per seed, in parallel where cores allow (cli/seeds.h).
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/commands.h"
#include "cli/launcher.h"
#include "cli/modifiers.h"
#include "cli/pipeline.h"
#include "cli/run_support.h"
#include "cli/seeds.h"
#include "gate/report_writers.h"
#include "train/distributed.h"
#include "train/trainer.h"

namespace qf::cli {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string recipe, out, device = "cpu", seeds;
  bool resume = false, quiet = false, calibrate = false, train_only = false, fresh = false;
  int threads = 0, jobs = 0;
  int64_t seed = -1, stop_after_epochs = 0, eval_limit = 0;
  int nproc = 1;
};

// Trains the runs a recipe refers to (init_from, a distillation teacher) before seeds start in
// parallel, so that they do not race to train the same teacher.
void prepare_shared_runs(const Recipe& recipe, const RunRequest& req) {
  ensure_init_run(recipe, req);
  for (const ModifierSpec& m : recipe.modifiers)
    if (m.type == "distillation")
      if (const auto teacher = m.node.get_optional<std::string>("teacher"))
        ensure_run_of(*teacher, recipe.file, req, "teacher");
}

void run_seeds(const Options& o, const Recipe& recipe, const std::string& run_dir, RunRequest req) {
  const std::vector<int64_t> seeds = parse_seeds(o.seeds, recipe.seed);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int jobs = o.jobs > 0 ? o.jobs : std::max(1, std::min<int>(static_cast<int>(seeds.size()), cores / std::max(1, o.threads)));
  const int threads = o.threads > 0 ? o.threads : std::max(1, cores / jobs);
  std::fprintf(stderr, "%zu seeds of %s into %s/seed-<s>: %d at a time, %d thread(s) each\n", seeds.size(),
               recipe.name.c_str(), run_dir.c_str(), jobs, threads);
  prepare_shared_runs(recipe, req);
  fs::create_directories(run_dir);
  std::vector<SeedJob> children;
  for (int64_t s : seeds) {
    SeedJob j;
    const std::string dir = run_dir + "/seed-" + std::to_string(s);
    j.args = {"run", o.recipe, "--seed", std::to_string(s), "--threads", std::to_string(threads), "--device", o.device, "-q"};
    if (o.calibrate) j.args.push_back("--calibrate-only");
    if (o.train_only) j.args.push_back("--train-only");
    if (o.fresh) j.args.push_back("--fresh");
    if (o.eval_limit > 0) {
      j.args.push_back("--eval-limit");
      j.args.push_back(std::to_string(o.eval_limit));
    }
    j.args.push_back("-o");
    j.args.push_back(dir);
    j.log = run_dir + "/seed-" + std::to_string(s) + ".log";
    children.push_back(j);
  }
  const std::vector<int> codes = run_children(children, jobs);
  std::vector<Json> summaries;
  int failed = 0;
  for (size_t i = 0; i < seeds.size(); ++i) {
    const fs::path summary = fs::path(run_dir) / ("seed-" + std::to_string(seeds[i])) / "summary.json";
    if (codes[i] != 0 || (!o.train_only && !fs::exists(summary))) {
      std::fprintf(stderr, "seed %lld failed (exit %d): see %s\n", static_cast<long long>(seeds[i]), codes[i],
                   children[i].log.c_str());
      ++failed;
      continue;
    }
    if (o.train_only) continue;
    std::ifstream in(summary);
    std::stringstream ss;
    ss << in.rdbuf();
    summaries.push_back(Json::parse(ss.str()));
  }
  if (!summaries.empty()) {
    for (const Json& s : summaries) std::fputs(summary_table(s).c_str(), stdout);
    const Json stats = seeds_statistics(summaries);
    gate::write_file_atomically(run_dir + "/seeds.json", stats.dump() + "\n");
    std::fputs(seeds_table(stats).c_str(), stdout);
    std::printf("(per-seed values in %s/seeds.json; gate on them: qforge check %s --baseline FILE)\n", run_dir.c_str(),
                run_dir.c_str());
  }
  if (failed > 0) throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(seeds.size()) + " seeds failed");
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Train a recipe (QAT, pruning, distillation included), then export, validate and evaluate the checkpoint and "
      "print a summary; finished stages are skipped, an interrupted run resumes");
  cmd->add_option("recipe", opt->recipe, "Recipe file (YAML), e.g. recipes/fashion_cnn_fp32.yaml")->required();
  cmd->add_option("-o,--out", opt->out, "Run directory (default: runs/<recipe name>)");
  cmd->add_flag("--resume", opt->resume,
                "Continue from the run directory's last checkpoint (the default now when the recipe is unchanged; kept "
                "for scripts)");
  cmd->add_flag("--fresh", opt->fresh, "Train from scratch even when the run directory holds this recipe's run");
  cmd->add_flag("--train-only", opt->train_only, "Stop after training: no export, validate, eval or summary");
  cmd->add_option("--device", opt->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores; with --seeds: cores / parallel seeds)");
  cmd->add_option("--seeds", opt->seeds,
                  "Run the recipe once per seed: a count N (the recipe's seed + 0..N-1) or a list such as 0,3,7; runs "
                  "go to RUN_DIR/seed-<s>/, and the summary adds mean, std and a 95% confidence interval");
  cmd->add_option("--jobs", opt->jobs, "With --seeds: seeds trained at a time (default: cores / threads)");
  cmd->add_option("--seed", opt->seed, "Override the recipe's seed (stored in the run's recipe.yaml)");
  cmd->add_option("--eval-limit", opt->eval_limit, "Evaluate only the first N held-out examples (tests; default all)");
  cmd->add_option("--stop-after-epochs", opt->stop_after_epochs,
                  "Stop after this many epochs in this call (simulates an interruption; tests)")
      ->group("");
  cmd->add_flag("-q,--quiet", opt->quiet, "No progress line");
  cmd->add_option("--nproc", opt->nproc,
                  "Data parallelism: N local worker processes (Gloo on cpu, NCCL on cuda, one GPU each), "
                  "like torchrun; the recipe's batch size is the global batch (docs/DISTRIBUTED.md)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--calibrate-only", opt->calibrate,
                "Post-training quantization: prepare and calibrate the recipe's modifiers on the initial model, "
                "evaluate and save, without training (run directory default: runs/<name>_ptq)");
  cmd->callback([opt] {
    if (opt->nproc > 1) {
      if (!opt->seeds.empty()) throw std::runtime_error("--nproc and --seeds exclude each other");
      return launch_local_workers(opt->nproc);  // re-runs this command as the workers
    }
    join_job_from_environment(opt->device);  // a worker (--nproc or torchrun)
    // Rank 0 alone exports, validates and evaluates; the other workers stop after training.
    const bool secondary_rank = train::current_group() != nullptr && train::current_group()->rank() != 0;
    Recipe recipe = load_recipe(opt->recipe);
    if (opt->seed >= 0) recipe = load_recipe_from_string(recipe_text_with_seed(recipe.text, opt->seed), recipe.file);
    RunRequest req;
    req.run_dir = opt->out.empty() ? default_run_dir(recipe) + (opt->calibrate ? "_ptq" : "") : opt->out;
    req.calibrate_only = opt->calibrate;
    req.resume = opt->resume;
    req.device = opt->device;
    req.threads = opt->threads;
    req.progress = !opt->quiet;
    req.stop_after_epochs = opt->stop_after_epochs;
    if (!opt->seeds.empty()) {
      if (opt->seed >= 0) throw std::runtime_error("--seed and --seeds exclude each other");
      run_seeds(*opt, recipe, req.run_dir, req);
      return;
    }
    PipelineOptions po;
    po.train_only = opt->train_only || secondary_rank;
    po.fresh = opt->fresh;
    po.eval_limit = opt->eval_limit;
    const Json summary = run_pipeline(recipe, req, po);
    if (summary.is_null()) {
      std::printf("%s: %s trained (--train-only)\n", req.run_dir.c_str(), recipe.name.c_str());
      return;
    }
    std::fputs(summary_table(summary).c_str(), stdout);
    if (summary.at("metrics").at("validate").as_double() != 1) {
      std::fflush(stdout);
      std::fprintf(stderr, "qforge run: validate FAILED on %s/model.qf.h5 (qforge validate --trace names the op)\n",
                   req.run_dir.c_str());
      std::exit(1);
    }
  });
}

}  // namespace qf::cli
