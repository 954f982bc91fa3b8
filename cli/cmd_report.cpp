// qforge report RUN... -o report.md: a Markdown report across runs — a table of quality, delta vs
// the float teacher, bits per weight, size and agreement, a PNG of quality against bits per weight
// with the teacher marked, and each run's training curves. Reads each run's summary.json (written
// by `qforge run`); a multi-seed run directory contributes each seed.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/plots.h"
#include "core/json.h"
#include "gate/report_writers.h"

namespace qf::cli {

namespace fs = std::filesystem;

namespace {

Json read_summary(const fs::path& dir) {
  const fs::path p = dir / "summary.json";
  if (!fs::exists(p))
    throw std::runtime_error(dir.string() + ": no summary.json (run `qforge run RECIPE -o " + dir.string() +
                             "` to train, export, validate and evaluate it first)");
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string link_from(const fs::path& target, const fs::path& from_dir) {
  return fs::relative(fs::absolute(target), fs::absolute(from_dir)).string();
}

}  // namespace

void add_report_command(CLI::App& app) {
  struct Options {
    std::vector<std::string> runs;
    std::string output = "report.md";
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Markdown report across runs: quality vs bits per weight (PNG, float teacher marked), a results table and each "
      "run's training curves (PNG); needs gnuplot");
  cmd->add_option("runs", opt->runs, "Run directories (each with summary.json from qforge run), or multi-seed run directories")
      ->required();
  cmd->add_option("-o,--output", opt->output, "Report file (Markdown); PNGs are written beside it")->capture_default_str();
  cmd->callback([opt] {
    require_gnuplot();
    std::vector<std::pair<fs::path, Json>> rows;
    for (const std::string& r : opt->runs) {
      if (!fs::is_directory(r)) throw std::runtime_error(r + ": not a run directory");
      std::vector<fs::path> seeds;
      for (const auto& e : fs::directory_iterator(r))
        if (e.is_directory() && e.path().filename().string().rfind("seed-", 0) == 0) seeds.push_back(e.path());
      std::sort(seeds.begin(), seeds.end());
      if (seeds.empty()) rows.push_back({fs::path(r), read_summary(r)});
      for (const fs::path& s : seeds) rows.push_back({s, read_summary(s)});
    }
    const fs::path out(opt->output);
    const fs::path out_dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    fs::create_directories(out_dir);
    const bool lm = rows.front().second.at("metrics").contains("perplexity");
    const std::string qkey = lm ? "perplexity" : "accuracy", qname = lm ? "perplexity" : "accuracy (%)";
    std::vector<ReportPoint> points;
    std::set<std::string> teachers_done;
    std::string table = "| run | recipe | seed | " + qname + " | Δ vs float teacher | bits/weight | size (KiB) | agreement | validate |\n"
                        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for (const auto& [dir, s] : rows) {
      const Json& m = s.at("metrics");
      if (!m.contains(qkey)) throw std::runtime_error(dir.string() + ": summary has no " + qkey + " (mixing classifiers and language models?)");
      const double q = m.at(qkey).as_double(), bpw = m.at("bits_per_weight").as_double();
      const bool is_float = bpw > 31.5;
      const std::string label = dir.parent_path().filename().string().rfind("seed-", 0) == 0 || dir.filename().string().rfind("seed-", 0) == 0
                                    ? dir.parent_path().filename().string() + "/" + dir.filename().string()
                                    : dir.filename().string();
      points.push_back({label, bpw, q, is_float});
      std::string delta = "—";
      const std::string tkey = "teacher_" + qkey;
      if (s.contains(tkey)) {
        delta = fmt(lm ? "%+.4f" : "%+.2f", q - s.at(tkey).as_double());
        const std::string trun = s.at("teacher_run").as_string();
        if (teachers_done.insert(trun).second)
          points.push_back({fs::path(trun).filename().string() + " (teacher)", 32.0, s.at(tkey).as_double(), true});
      }
      table += "| " + dir.string() + " | " + s.at("recipe").as_string() + " | " + std::to_string(s.at("seed").as_int()) + " | " +
               fmt(lm ? "%.4f" : "%.2f", q) + " | " + delta + " | " + fmt("%.2f", bpw) + " | " +
               fmt("%.1f", m.at("size_bytes").as_double() / 1024) + " | " + fmt("%.4f", m.at("agreement").as_double()) + " | " +
               (m.at("validate").as_double() == 1 ? "PASS" : "FAIL") + " |\n";
    }
    const fs::path qpng = out_dir / (out.stem().string() + "_quality_vs_bits.png");
    plot_quality_vs_bits(points, qname, qpng.string());
    std::string md = "# qforge report\n\n" + std::to_string(rows.size()) +
                     " run(s). Quality is measured through the standalone runtime on each checkpoint (`qforge run`'s "
                     "summary.json); the float teacher's is its own LibTorch evaluation, drawn at 32 bits per weight.\n\n";
    md += "![" + qname + " against bits per weight](" + link_from(qpng, out_dir) + ")\n\n" + table + "\n## Training curves\n\n";
    for (const auto& [dir, s] : rows) {
      std::string png;
      try {
        png = plot_training_curves(dir.string());
      } catch (const std::exception& e) {
        md += "- " + dir.string() + ": no curves (" + e.what() + ")\n";
        continue;
      }
      md += "### " + dir.string() + "\n\n![training curves of " + dir.string() + "](" + link_from(png, out_dir) + ")\n\n";
    }
    gate::write_file_atomically(out.string(), md);
    std::printf("wrote %s (%zu runs, %s)\n", out.string().c_str(), rows.size(), qpng.string().c_str());
  });
}

}  // namespace qf::cli
