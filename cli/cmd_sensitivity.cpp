// qforge sensitivity RECIPE: the per-layer sensitivity table of a float run (the recipe's
// model.init_from) to weight quantization — one layer at a time at int4 per group, int8 per
// channel and float — printed, written as CSV, plotted as PNG (gnuplot), and optionally turned into
// a mixed-precision recipe under a bits-per-weight budget (exact knapsack, calibrate/precision_budget.h),
// or, with --max-drop, the most compressed mix whose accuracy measured through the runtime stays
// within a limit (calibrate/accuracy_search.h, cli/accuracy_limit.h).
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/json.h"

#include "calibrate/accuracy_search.h"
#include "calibrate/precision_budget.h"
#include "calibrate/sensitivity.h"
#include "cli/accuracy_limit.h"
#include "cli/commands.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "qat/quantization_modifier.h"
#include "train/trainer.h"

namespace qf::cli {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<qat::QuantizationModifier> quantization_modifier(const Recipe& recipe) {
  for (auto& m : make_modifiers(recipe))
    if (auto q = std::dynamic_pointer_cast<qat::QuantizationModifier>(m)) return q;
  throw std::runtime_error(recipe.file + ": qforge sensitivity needs a quantization modifier (it selects the layers)");
}

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

void plot_png(const calibrate::SensitivityResult& r, const std::vector<calibrate::SensitivityFormat>& formats,
              const std::string& png) {
  const fs::path dat = png + ".dat", gp = png + ".gp";
  {
    std::ofstream d(dat);
    for (const auto& l : r.layers) {
      d << l.name;
      for (size_t f = 0; f < formats.size(); ++f)
        if (formats[f].scheme) d << ' ' << std::max(l.kl[f], 1e-7);
      d << '\n';
    }
  }
  std::ofstream g(gp);
  g << "set terminal pngcairo size 1000,520 noenhanced\nset output '" << png << "'\n"
    << "set title 'Per-layer sensitivity: KL(float || one layer quantized)'\n"
    << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
    << "set logscale y\nset ylabel 'KL to float (nats per output row)'\nset xtics rotate by -35\n"
    << "set key top right\nset grid ytics\nplot ";
  int col = 2;
  bool first = true;
  for (const auto& f : formats)
    if (f.scheme) {
      g << (first ? "" : ", ") << "'" << dat.string() << "' using " << col++ << ":xtic(1) title '" << f.name << "'";
      first = false;
    }
  g << "\n";
  g.close();
  const std::string cmd = "gnuplot '" + gp.string() + "'";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("gnuplot failed on " + gp.string() + " (install it with scripts/setup.sh: gnuplot-nox)");
  fs::remove(dat);
  fs::remove(gp);
}

// The recipe with one quantization override per layer giving its chosen format (float layers:
// weights and inputs float), starting from the float run directory itself.
std::string mixed_recipe(const Recipe& recipe, const std::string& init_run, const std::string& name,
                         const calibrate::SensitivityResult& r, const std::vector<calibrate::SensitivityFormat>& formats,
                         const calibrate::PrecisionChoice& choice, const std::string& comment) {
  YAML::Node root = YAML::Load(recipe.text);
  root["name"] = name;
  root["model"]["init_from"] = fs::absolute(init_run).lexically_normal().string();
  for (YAML::Node item : root["modifiers"]) {
    if (!item["quantization"]) continue;
    YAML::Node q = item["quantization"];
    YAML::Node overrides = q["overrides"] ? q["overrides"] : YAML::Node(YAML::NodeType::Sequence);
    for (size_t l = 0; l < r.layers.size(); ++l) {
      const auto f = calibrate::format_for_layer(formats[static_cast<size_t>(choice.option[l])], r.layers[l].cols);
      YAML::Node o;
      o["pattern"] = r.layers[l].name;
      if (!f.scheme) {
        o["weights"]["enabled"] = false;
        o["inputs"]["mode"] = "none";
      } else if (f.scheme->e4m3) {
        // FP8 weights take FP8 inputs (the exact FP8 GEMM): the section's input mode, in E4M3.
        o["weights"]["format"] = "fp8_e4m3";
        o["weights"]["granularity"] = granularity_name(f.scheme->granularity);
        if (q["inputs"] && q["inputs"]["mode"] && q["inputs"]["mode"].as<std::string>() != "none") {
          o["inputs"]["mode"] = q["inputs"]["mode"].as<std::string>();
          o["inputs"]["format"] = "fp8_e4m3";
        }
      } else {
        o["weights"]["bits"] = f.scheme->bits;
        o["weights"]["granularity"] = granularity_name(f.scheme->granularity);
        if (f.scheme->granularity == Granularity::kGroup) o["weights"]["group_size"] = f.scheme->group_size;
      }
      o.SetStyle(YAML::EmitterStyle::Flow);
      overrides.push_back(o);
    }
    q["overrides"] = overrides;
    break;
  }
  YAML::Emitter e;
  e << root;
  return comment + e.c_str() + "\n";
}

// "float", "wB" (B bits, per channel), "wBgG" (per group of G), e.g. w4g32, or "fp8" / "fp8t"
// (FP8 E4M3 per channel / per tensor: 8 bits a weight plus the scales).
calibrate::SensitivityFormat parse_format(const std::string& t) {
  calibrate::SensitivityFormat f;
  f.name = t;
  if (t == "float") return f;
  if (t == "fp8" || t == "fp8t") {
    WeightScheme s{8, t == "fp8" ? Granularity::kChannel : Granularity::kTensor, 0, true};
    s.e4m3 = true;
    f.scheme = s;
    return f;
  }
  int bits = 0;
  long long group = 0;
  char tail = 0;
  WeightScheme s;
  if (std::sscanf(t.c_str(), "w%dg%lld%c", &bits, &group, &tail) == 2 && group > 0) {
    s = WeightScheme{bits, Granularity::kGroup, group, true};
  } else if (std::sscanf(t.c_str(), "w%d%c", &bits, &tail) == 1) {
    s = WeightScheme{bits, Granularity::kChannel, 0, true};
  } else {
    throw std::runtime_error("--formats: '" + t + "' is not float, wB, wBgG (e.g. w4g32), fp8 or fp8t");
  }
  if (bits < 2 || bits > 8) throw std::runtime_error("--formats: '" + t + "': bits must be in 2..8");
  f.scheme = s;
  return f;
}

}  // namespace

void add_sensitivity_command(CLI::App& app) {
  struct Options {
    std::string recipe, csv, png, write_recipe, device = "cpu";
    std::vector<std::string> formats;
    std::string objective = "kl";
    int64_t batches = 8, group_size = 0;
    double budget = 0, max_drop = -1;
    int threads = 0;
    int64_t max_candidates = 16, eval_limit = 0;
    bool train = false;
    std::string search_dir;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "sensitivity",
      "Per-layer sensitivity of a float run to weight quantization (one layer at a time at int4 per group, int8, "
      "float): table, CSV, PNG plot, and a mixed-precision recipe under a bits-per-weight budget");
  cmd->add_option("recipe", opt->recipe,
                  "Recipe with model.init_from (the float run) and a quantization modifier (selects the layers; its "
                  "ptq observer, default minmax, picks the scales)")
      ->required();
  cmd->add_option("--batches", opt->batches, "Calibration batches (training data)")->check(CLI::Range(1, 100000));
  cmd->add_option("--group-size", opt->group_size,
                  "int4 group size (default: the recipe's, else 32; layers it does not divide get per-channel)");
  cmd->add_option("--formats", opt->formats,
                  "Candidate formats: float, wB (per channel), wBgG (per group of G), fp8 / fp8t (FP8 E4M3 per channel / "
                  "per tensor); default w4gG w8 float")
      ->delimiter(',');
  cmd->add_option("--csv", opt->csv, "Write the table as CSV");
  cmd->add_option("--png", opt->png, "Plot KL to float per layer and format (gnuplot)");
  cmd->add_option("--budget", opt->budget, "Bits per weight (codes and scales) for the mixed-precision choice");
  cmd->add_option("--objective", opt->objective,
                  "What the budgeted choice minimises: the summed per-layer KL to float (default; never negative, "
                  "so less noisy) or the summed loss increase")
      ->check(CLI::IsMember({"kl", "loss"}));
  cmd->add_option("--write-recipe", opt->write_recipe,
                  "With --budget: write the mixed-precision recipe here; with --max-drop: the chosen one");
  cmd->add_option("--max-drop", opt->max_drop,
                  "Accuracy-limited search: the most compressed mix (on the sensitivity frontier) whose accuracy drop "
                  "from the float run (points; % perplexity for a language model), measured through the runtime on the "
                  "exported checkpoint, stays within this")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-candidates", opt->max_candidates,
                  "--max-drop: thin the frontier to at most this many candidates (a binary search measures about "
                  "log2 of them)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--train", opt->train,
                "--max-drop: where PTQ misses the limit, train the candidate with the recipe's QAT schedule and "
                "measure that");
  cmd->add_option("--search-dir", opt->search_dir,
                  "--max-drop: candidate recipes, runs, search.csv and search.json (default runs/<name>_maxdrop)");
  cmd->add_option("--eval-limit", opt->eval_limit, "--max-drop: evaluate only the first N held-out examples (tests)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", opt->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores)");
  cmd->callback([opt] {
    const Recipe recipe = load_recipe(opt->recipe);
    if (recipe.model.init_from.empty())
      throw std::runtime_error(recipe.file + ": qforge sensitivity needs model.init_from (the float run)");
    if (!opt->write_recipe.empty() && !(opt->budget > 0) && opt->max_drop < 0)
      throw std::runtime_error("--write-recipe needs --budget BITS_PER_WEIGHT or --max-drop X");
    if (opt->budget > 0 && opt->max_drop >= 0)
      throw std::runtime_error("--budget and --max-drop are two different searches: give one");
    if (opt->train && opt->max_drop < 0) throw std::runtime_error("--train applies to --max-drop only");
    const auto qmod = quantization_modifier(recipe);
    const qat::QatConfig& qcfg = qmod->config().qat;
    calibrate::WeightObserverOptions observer;
    if (qmod->config().ptq) observer = qmod->config().ptq->observer;
    int64_t group = opt->group_size;
    if (group <= 0)
      group = qcfg.defaults.weights && qcfg.defaults.weights->scheme.granularity == Granularity::kGroup
                  ? qcfg.defaults.weights->scheme.group_size
                  : 32;

    RunRequest req;
    req.device = opt->device;
    const std::string init_run = ensure_init_run(recipe, req);
    torch::set_num_threads(opt->threads > 0 ? opt->threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    torch::manual_seed(static_cast<uint64_t>(recipe.seed));
    auto task = train::make_task(recipe);
    auto model = train::make_model(recipe.model, task->input_shape());
    train::load_model_weights(*model, (fs::path(init_run) / "checkpoint.pt").string());
    const torch::Device device = parse_device(opt->device);
    model->to(device);

    std::vector<std::shared_ptr<train::QuantizableLayer>> layers;
    for (auto& layer : model->layers()) {
      const auto s = qat::scheme_for(qcfg, layer->layer_name(), layer->kind());
      if (s && s->weights) layers.push_back(layer);
    }
    std::vector<calibrate::SensitivityFormat> formats;
    if (opt->formats.empty()) opt->formats = {"w4g" + std::to_string(group), "w8", "float"};
    for (const std::string& t : opt->formats) formats.push_back(parse_format(t));
    const auto r = calibrate::measure_sensitivity(*model, *task, layers, formats, observer, opt->batches, device, true);

    std::printf("float calibration loss %.5f  (%lld batches; weights only, one layer at a time; observer %s)\n",
                r.float_loss, static_cast<long long>(opt->batches), calibrate::weight_observer_name(observer.kind));
    std::printf("%-24s %12s", "layer", "weights");
    for (const auto& f : formats)
      if (f.scheme) std::printf("  %10s %10s", ("dloss " + f.name).c_str(), ("KL " + f.name).c_str());
    std::printf("\n");
    std::string csv = "layer,kind,rows,cols";
    for (const auto& f : formats) csv += ",format_" + f.name + ",bits_" + f.name + ",dloss_" + f.name + ",kl_" + f.name;
    csv += "\n";
    for (const auto& l : r.layers) {
      std::printf("%-24s %12lld", l.name.c_str(), static_cast<long long>(l.rows * l.cols));
      for (size_t f = 0; f < formats.size(); ++f)
        if (formats[f].scheme) std::printf("  %+10.5f %10.3e", l.delta_loss[f], l.kl[f]);
      std::printf("\n");
      csv += l.name + "," + l.kind + "," + std::to_string(l.rows) + "," + std::to_string(l.cols);
      for (size_t f = 0; f < formats.size(); ++f)
        csv += "," + l.format[f] + "," + std::to_string(l.bits[f]) + "," + std::to_string(l.delta_loss[f]) + "," +
               std::to_string(l.kl[f]);
      csv += "\n";
    }
    if (!opt->csv.empty()) write_atomically(opt->csv, csv);
    if (!opt->png.empty()) {
      plot_png(r, formats, opt->png);
      std::printf("plotted %s\n", opt->png.c_str());
    }
    int64_t weights = 0;
    std::vector<std::vector<calibrate::PrecisionOption>> options;
    for (const auto& l : r.layers) {
      weights += l.rows * l.cols;
      std::vector<calibrate::PrecisionOption> o;
      for (size_t f = 0; f < formats.size(); ++f)
        o.push_back({l.format[f], l.bits[f], opt->objective == "kl" ? l.kl[f] : l.delta_loss[f]});
      options.push_back(o);
    }
    auto choice_formats = [&](const calibrate::PrecisionChoice& c) {
      std::string s;
      for (size_t l = 0; l < r.layers.size(); ++l)
        s += (l ? " " : "") + r.layers[l].name + "=" + r.layers[l].format[static_cast<size_t>(c.option[l])];
      return s;
    };
    if (opt->budget > 0) {
      const auto budget_bits = static_cast<int64_t>(std::floor(opt->budget * static_cast<double>(weights)));
      const auto choice = calibrate::choose_precision(options, budget_bits);
      if (!choice.feasible)
        throw std::runtime_error("--budget " + std::to_string(opt->budget) +
                                 " bits per weight is below the smallest format of every layer");
      const double bpw = static_cast<double>(choice.bits) / static_cast<double>(weights);
      std::printf("mixed precision under %.4g bits/weight: %.4f bits/weight (%lld of %lld bits), summed %s %.5g\n",
                  opt->budget, bpw, static_cast<long long>(choice.bits), static_cast<long long>(budget_bits),
                  opt->objective == "kl" ? "KL" : "dloss", choice.loss);
      for (size_t l = 0; l < r.layers.size(); ++l)
        std::printf("  %-24s %s\n", r.layers[l].name.c_str(), r.layers[l].format[static_cast<size_t>(choice.option[l])].c_str());
      if (!opt->write_recipe.empty()) {
        char head[512];
        std::snprintf(head, sizeof head,
                      "# Mixed precision from `qforge sensitivity %s --budget %.4g`: %.4f bits per weight (budget %.4g),\n"
                      "# summed per-layer sensitivity %.5g (qforge sensitivity --objective).\n",
                      recipe.file.c_str(), opt->budget, bpw, opt->budget, choice.loss);
        const std::string text =
            mixed_recipe(recipe, init_run, fs::path(opt->write_recipe).stem().string(), r, formats, choice, head);
        load_recipe_from_string(text, opt->write_recipe);  // what we write must parse
        write_atomically(opt->write_recipe, text);
        std::printf("wrote %s\n", opt->write_recipe.c_str());
      }
    }
    if (opt->max_drop >= 0) {
      // The accuracy-limited search: candidates are the frontier of the table (least estimated
      // loss for each size), each calibrated, exported, validated and evaluated through the runtime.
      const auto front = calibrate::precision_frontier(options, static_cast<size_t>(opt->max_candidates));
      const fs::path dir = opt->search_dir.empty() ? fs::path(default_run_dir(recipe) + "_maxdrop") : fs::path(opt->search_dir);
      fs::create_directories(dir);
      LimitMeasureOptions mo;
      mo.device = opt->device;
      mo.threads = opt->threads;
      mo.eval_limit = opt->eval_limit;
      mo.train = opt->train;
      mo.max_drop = opt->max_drop;
      bool lm = false;
      const QualityPoint fl = measure_float_run(init_run, mo, &lm);
      const char* unit = lm ? "% perplexity" : "points";
      const char* qname = lm ? "perplexity" : "accuracy";
      std::printf("\naccuracy-limited search: max drop %.4g %s from the float run (%s %.4f through the runtime, %.3f "
                  "bits/weight); %zu candidates on the frontier, from %.4f to %.4f estimated bits/weight\n",
                  opt->max_drop, unit, qname, fl.quality, fl.bits_per_weight, front.size(),
                  static_cast<double>(front.front().bits) / static_cast<double>(weights),
                  static_cast<double>(front.back().bits) / static_cast<double>(weights));
      std::vector<CandidateResult> results(front.size());
      std::vector<std::string> names(front.size());
      auto candidate_text = [&](size_t i, const std::string& name, const std::string& why) {
        char head[512];
        std::snprintf(head, sizeof head,
                      "# Candidate %zu of `qforge sensitivity %s --max-drop %.4g` (%s): %.4f estimated bits per\n"
                      "# weight, summed per-layer sensitivity %.5g.\n",
                      i, recipe.file.c_str(), opt->max_drop, why.c_str(),
                      static_cast<double>(front[i].bits) / static_cast<double>(weights), front[i].loss);
        return mixed_recipe(recipe, init_run, name, r, formats, front[i], head);
      };
      std::printf("%4s %10s %10s %10s %10s %10s %6s %s\n", "cand", "est.bpw", "ckpt.bpw", ("ptq " + std::string(qname).substr(0, 6)).c_str(),
                  opt->train ? "qat" : "-", "drop", "within", "formats");
      const calibrate::SearchOutcome outcome = calibrate::search_accuracy_limit(front.size(), opt->max_drop, [&](size_t i) {
        names[i] = recipe.name + "_maxdrop_c" + std::to_string(i);
        const fs::path yaml = dir / (names[i] + ".yaml");
        write_atomically(yaml, candidate_text(i, names[i], "tried"));
        const Recipe cand = load_recipe(yaml.string());
        results[i] = measure_candidate(cand, (dir / names[i]).string(), fl.quality, lm, mo);
        const CandidateResult& c = results[i];
        std::printf("%4zu %10.4f %10.4f %10.4f %10s %10.4f %6s %s\n", i,
                    static_cast<double>(front[i].bits) / static_cast<double>(weights), c.ptq.bits_per_weight, c.ptq.quality,
                    c.trained ? std::to_string(c.qat.quality).substr(0, 7).c_str() : "-", c.drop,
                    c.drop <= opt->max_drop ? "yes" : "no", choice_formats(front[i]).c_str());
        std::fflush(stdout);
        return c.drop;
      });
      Json report = Json::object();
      report["max_drop"] = opt->max_drop;
      report["unit"] = std::string(unit);
      report["metric"] = std::string(qname);
      report["float_quality"] = fl.quality;
      report["float_bits_per_weight"] = fl.bits_per_weight;
      report["candidates"] = static_cast<int64_t>(front.size());
      report["chosen"] = static_cast<int64_t>(outcome.chosen);
      Json trials = Json::array();
      std::string csv = "candidate,est_bits_per_weight,est_loss,checkpoint_bits_per_weight,ptq_" + std::string(qname) +
                        ",qat_" + qname + ",drop,method,within,formats\n";
      for (const auto& t : outcome.trials) {
        const CandidateResult& c = results[t.candidate];
        const double est = static_cast<double>(front[t.candidate].bits) / static_cast<double>(weights);
        Json j = Json::object();
        j["candidate"] = static_cast<int64_t>(t.candidate);
        j["est_bits_per_weight"] = est;
        j["est_loss"] = front[t.candidate].loss;
        j["checkpoint_bits_per_weight"] = c.ptq.bits_per_weight;
        j["ptq_quality"] = c.ptq.quality;
        j["ptq_validated"] = c.ptq.validated;
        if (c.trained) j["qat_quality"] = c.qat.quality;
        j["drop"] = std::isfinite(t.drop) ? Json(t.drop) : Json();
        j["method"] = c.method;
        j["within"] = t.within;
        j["formats"] = choice_formats(front[t.candidate]);
        j["checkpoint"] = c.method == "qat" ? c.qat.checkpoint : c.ptq.checkpoint;
        trials.push_back(j);
        char line[256];
        std::snprintf(line, sizeof line, "%zu,%.6f,%.6g,%.6f,%.6f,%s,%.6f,%s,%d,", t.candidate, est, front[t.candidate].loss,
                      c.ptq.bits_per_weight, c.ptq.quality, c.trained ? std::to_string(c.qat.quality).c_str() : "",
                      t.drop, c.method.c_str(), t.within ? 1 : 0);
        csv += line + choice_formats(front[t.candidate]) + "\n";
      }
      report["trials"] = trials;
      write_atomically(dir / "search.csv", csv);
      write_atomically(dir / "search.json", report.dump() + "\n");
      if (outcome.chosen < 0) {
        std::printf("no candidate is within %.4g %s (even the least compressed, %s); table in %s\n", opt->max_drop, unit,
                    choice_formats(front.back()).c_str(), (dir / "search.csv").c_str());
        std::exit(1);
      }
      const auto ci = static_cast<size_t>(outcome.chosen);
      const CandidateResult& c = results[ci];
      const QualityPoint& best = c.method == "qat" ? c.qat : c.ptq;
      std::printf("chosen: candidate %zu (%s), %.4f bits/weight in the checkpoint, %s %.4f through the runtime, drop "
                  "%.4f %s (limit %.4g), %zu of %zu candidates measured\n  %s\n  checkpoint %s\n",
                  ci, c.method.c_str(), best.bits_per_weight, qname, best.quality, c.drop, unit, opt->max_drop,
                  outcome.trials.size(), front.size(), choice_formats(front[ci]).c_str(), best.checkpoint.c_str());
      if (!opt->write_recipe.empty()) {
        const std::string text = candidate_text(ci, fs::path(opt->write_recipe).stem().string(), "chosen");
        load_recipe_from_string(text, opt->write_recipe);
        write_atomically(opt->write_recipe, text);
        std::printf("wrote %s\n", opt->write_recipe.c_str());
      }
    }
  });
}

}  // namespace qf::cli
