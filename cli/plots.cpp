#include "cli/plots.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "train/metrics_log.h"

namespace qf::cli {

namespace fs = std::filesystem;

void require_gnuplot() {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0)
    throw std::runtime_error("gnuplot not found on PATH: plots need it (apt-get install -y gnuplot-nox; scripts/setup.sh does)");
}

namespace {

// Runs `script` with gnuplot, writing `png` through a temporary name (no half-written image).
void run_gnuplot(std::string script, const std::string& png) {
  require_gnuplot();
  const std::string tmp_png = png + ".tmp.png";
  // noenhanced: series names such as train_loss are text, not subscripts
  script = "set terminal pngcairo size 1200,800 font 'DejaVu Sans,10' noenhanced\nset output '" + tmp_png + "'\n" + script;
  char tmpl[] = "/tmp/qforge-plot-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("cannot create a temporary gnuplot script");
  ::close(fd);
  std::ofstream(tmpl) << script;
  const std::string cmd = "gnuplot '" + std::string(tmpl) + "' 2> '" + std::string(tmpl) + ".err'";
  const int rc = std::system(cmd.c_str());
  std::string err;
  {
    std::ifstream in(std::string(tmpl) + ".err");
    std::getline(in, err, '\0');
  }
  std::remove(tmpl);
  std::remove((std::string(tmpl) + ".err").c_str());
  if (rc != 0 || !fs::exists(tmp_png)) throw std::runtime_error("gnuplot failed for " + png + ": " + err);
  fs::rename(tmp_png, png);
}

std::string quote(const std::string& s) {
  std::string o;
  for (char c : s) o += (c == '\'' || c == '"') ? ' ' : c;
  return o;
}

}  // namespace

std::string plot_training_curves(const std::string& run_dir) {
  // series name -> (step, value)
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  for (const Json& r : train::MetricsLog::read((fs::path(run_dir) / "metrics.jsonl").string())) {
    if (!r.contains("event")) continue;
    const std::string ev = r.at("event").as_string();
    if (ev != "epoch" && ev != "start") continue;
    const double step = ev == "start" ? 0 : (r.contains("step") ? r.at("step").as_double() : 0);
    for (const auto& [k, v] : r.as_object())
      if (v.is_number() && k != "step" && k != "epoch" && k != "seconds") series[k].push_back({step, v.as_double()});
  }
  if (series.empty()) throw std::runtime_error(run_dir + ": no epoch records in metrics.jsonl to plot");
  auto group_of = [](const std::string& k) -> std::string {
    if (k.find("loss") != std::string::npos || k == "ce" || k == "kd") return "loss";
    if (k == "lr") return "learning rate";
    if (k.find("sparsity") != std::string::npos) return "sparsity";
    if (k.find("scale") != std::string::npos) return "scales";
    return "quality";  // accuracy, perplexity, bits_per_byte, ...
  };
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [k, v] : series) groups[group_of(k)].push_back(k);
  // Data blocks inline, one per series.
  std::string script;
  for (const auto& [k, pts] : series) {
    script += "$" + k + " << EOD\n";
    for (const auto& [x, y] : pts) script += std::to_string(x) + " " + std::to_string(y) + "\n";
    script += "EOD\n";
  }
  const int n = static_cast<int>(groups.size());
  const int cols = n > 1 ? 2 : 1, rows = (n + cols - 1) / cols;
  script += "set multiplot layout " + std::to_string(rows) + "," + std::to_string(cols) + " title '" +
            quote(fs::path(run_dir).filename().string()) + ": training curves (per epoch)'\n";
  script += "set grid\nset xlabel 'optimizer step'\nset key outside right\n";
  for (const auto& [g, keys] : groups) {
    script += "set title '" + g + "'\nplot ";
    for (size_t i = 0; i < keys.size(); ++i)
      script += (i ? ", " : "") + std::string("$") + keys[i] + " using 1:2 with linespoints title '" + quote(keys[i]) + "'";
    script += "\n";
  }
  script += "unset multiplot\n";
  const std::string png = (fs::path(run_dir) / "curves.png").string();
  run_gnuplot(script, png);
  return png;
}

void plot_quality_vs_bits(const std::vector<ReportPoint>& points, const std::string& quality_name, const std::string& png) {
  std::string script = "$runs << EOD\n", teach = "$teacher << EOD\n";
  for (const ReportPoint& p : points)
    (p.teacher ? teach : script) += std::to_string(p.bits_per_weight) + " " + std::to_string(p.quality) + " \"" + quote(p.label) + "\"\n";
  script += "EOD\n" + teach + "EOD\n";
  script += "set grid\nset logscale x 2\nset xlabel 'bits per weight (stored layer bytes x 8 / weights)'\nset ylabel '" +
            quote(quality_name) + "'\nset title '" + quote(quality_name) + " against bits per weight'\nset key top left box\n"
            "set offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1\n";
  const bool any_teacher = std::any_of(points.begin(), points.end(), [](const ReportPoint& p) { return p.teacher; });
  const bool any_run = std::any_of(points.begin(), points.end(), [](const ReportPoint& p) { return !p.teacher; });
  std::string plot = "plot ";
  if (any_run)
    plot += "$runs using 1:2 with points pt 7 ps 1.5 title 'compressed runs', $runs using 1:2:3 with labels offset 0,1 notitle";
  if (any_teacher)
    plot += std::string(any_run ? ", " : "") +
            "$teacher using 1:2 with points pt 5 ps 2 lc rgb 'red' title 'float teacher', $teacher using 1:2:3 with labels offset 0,-1 tc rgb 'red' notitle";
  script += plot + "\n";
  run_gnuplot(script, png);
}

}  // namespace qf::cli
