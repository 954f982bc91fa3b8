#include "cli/seeds.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <regex>
#include <stdexcept>

#include "gate/statistics.h"

namespace qf::cli {

std::vector<int64_t> parse_seeds(const std::string& spec, int64_t base) {
  const auto bad = [&] {
    return std::runtime_error("--seeds: expected a count (e.g. 5) or a comma-separated list (e.g. 0,3,7), got '" + spec + "'");
  };
  if (spec.empty()) throw bad();
  std::vector<int64_t> out;
  if (spec.find(',') == std::string::npos) {
    if (spec.find_first_not_of("0123456789") != std::string::npos) throw bad();
    const int64_t n = std::stoll(spec);
    if (n < 1 || n > 1000) throw std::runtime_error("--seeds: the count must be in [1, 1000], got " + spec);
    for (int64_t i = 0; i < n; ++i) out.push_back(base + i);
    return out;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = spec.find(',', start);
    const std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) throw bad();
    const int64_t s = std::stoll(item);
    for (int64_t o : out)
      if (o == s) throw std::runtime_error("--seeds: seed " + item + " is listed twice");
    out.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string recipe_text_with_seed(const std::string& text, int64_t seed) {
  static const std::regex top_seed(R"((^|\n)seed:[^\n#]*)");
  std::smatch m;
  if (std::regex_search(text, m, top_seed))
    return m.prefix().str() + m[1].str() + "seed: " + std::to_string(seed) + m.suffix().str();
  return "seed: " + std::to_string(seed) + "\n" + text;
}

std::vector<int> run_children(const std::vector<SeedJob>& children, int jobs) {
  std::vector<int> codes(children.size(), -1);
  std::map<pid_t, size_t> running;
  size_t next = 0;
  while (next < children.size() || !running.empty()) {
    while (next < children.size() && static_cast<int>(running.size()) < std::max(1, jobs)) {
      const SeedJob& job = children[next];
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        const int fd = ::open(job.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          ::dup2(fd, 1);
          ::dup2(fd, 2);
          ::close(fd);
        }
        std::vector<char*> argv;
        std::string self = "/proc/self/exe";
        argv.push_back(self.data());
        std::vector<std::string> args = job.args;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv("/proc/self/exe", argv.data());
        std::perror("execv /proc/self/exe");
        ::_exit(127);
      }
      std::fprintf(stderr, "started %s (log %s)\n", job.args.size() > 1 ? job.args.back().c_str() : "", job.log.c_str());
      running[pid] = next++;
    }
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, 0);
    if (done < 0) break;
    const auto it = running.find(done);
    if (it == running.end()) continue;
    codes[it->second] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::fprintf(stderr, "finished %s: exit %d\n", children[it->second].log.c_str(), codes[it->second]);
    running.erase(it);
  }
  return codes;
}

Json seeds_statistics(const std::vector<Json>& summaries) {
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> order = {"accuracy", "perplexity", "bits_per_byte", "agreement", "validate", "size_bytes",
                                    "bits_per_weight", "samples_per_s", "train_seconds", "train_samples_per_s"};
  Json seeds = Json::array();
  for (const Json& s : summaries) {
    seeds.push_back(s.at("seed"));
    for (const auto& [k, v] : s.at("metrics").as_object()) values[k].push_back(v.as_double());
    values["train_seconds"].push_back(s.at("train_seconds").as_double());
    values["train_samples_per_s"].push_back(s.at("train_samples_per_s").as_double());
    for (const char* t : {"teacher_accuracy", "teacher_perplexity"})
      if (s.contains(t)) values[t].push_back(s.at(t).as_double());
  }
  order.push_back("teacher_accuracy");
  order.push_back("teacher_perplexity");
  Json out = Json::object();
  out["seeds"] = seeds;
  Json metrics = Json::array();
  for (const std::string& k : order) {
    const auto it = values.find(k);
    if (it == values.end()) continue;
    const gate::Summary g = gate::summarize(it->second);
    Json j = Json::object();
    j["metric"] = k;
    Json vals = Json::array();
    for (double v : it->second) vals.push_back(v);
    j["values"] = vals;
    j["mean"] = g.mean;
    j["std"] = g.std;
    j["ci95_low"] = g.ci_low;
    j["ci95_high"] = g.ci_high;
    metrics.push_back(j);
  }
  out["metrics"] = metrics;
  return out;
}

std::string seeds_table(const Json& stats) {
  std::string out = "\nacross " + std::to_string(stats.at("seeds").as_array().size()) +
                    " seeds (mean, sample std, 95% t confidence interval of the mean):\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-22s %14s %12s %30s\n", "metric", "mean", "std", "95% CI");
  out += buf;
  for (const Json& m : stats.at("metrics").as_array()) {
    std::snprintf(buf, sizeof buf, "  %-22s %14.6g %12.4g %14.6g .. %-14.6g\n", m.at("metric").as_string().c_str(),
                  m.at("mean").as_double(), m.at("std").as_double(), m.at("ci95_low").as_double(),
                  m.at("ci95_high").as_double());
    out += buf;
  }
  return out;
}

}  // namespace qf::cli
