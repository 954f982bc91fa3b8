#include "gate/baseline.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "gate/metrics.h"
#include "train/recipe_node.h"

namespace qf::gate {

std::string format_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

std::string known_names() {
  std::string s;
  for (const MetricInfo& m : known_metrics()) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s;
}

}  // namespace

Baseline parse_baseline(const std::string& text, const std::string& file) {
  const RecipeNode root = RecipeNode::parse(text, file);
  Baseline b;
  b.file = file;
  const int64_t schema = root.get<int64_t>("schema", 1);
  if (schema != 1) root.fail("schema", "must be 1 (the version this qforge reads), got " + std::to_string(schema));
  b.recipe = root.require<std::string>("recipe");
  if (b.recipe.empty()) root.fail("recipe", "must name the recipe the baseline is for");
  b.alpha = root.get<double>("alpha", 0.01);
  if (!(b.alpha > 0 && b.alpha < 0.5)) root.fail("alpha", "must be in (0, 0.5), got " + format_number(b.alpha));
  const RecipeNode metrics = root.require_child("metrics");
  if (metrics.empty()) metrics.fail_section("lists no metrics (known: " + known_names() + ")");
  for (const std::string& key : metrics.keys()) {
    if (!find_metric(key)) metrics.fail(key, "is not a metric qforge check knows (known: " + known_names() + ")");
    if (!metrics.yaml()[key].IsMap())
      metrics.fail(key, "must be a map such as {value: 1.0, tolerance: 0.1}");
    const RecipeNode m = metrics.child(key);
    MetricBaseline mb;
    mb.name = key;
    mb.line = metrics.line_of(key);
    mb.value = m.get_optional<double>("value");
    mb.seeds = m.get<std::vector<double>>("seeds", {});
    mb.tolerance = m.get<double>("tolerance", 0.0);
    mb.tolerance_pct = m.get<double>("tolerance_pct", 0.0);
    if (mb.tolerance < 0) m.fail("tolerance", "must be >= 0 (an allowed worsening, in the metric's units)");
    if (mb.tolerance_pct < 0) m.fail("tolerance_pct", "must be >= 0 (an allowed worsening, in % of the value)");
    if (mb.seeds.size() == 1) m.fail("seeds", "needs at least 2 per-seed values (a single run goes in 'value')");
    if (!mb.value && mb.seeds.empty()) m.fail_section("needs 'value' or 'seeds' (per-seed values)");
    b.metrics.push_back(mb);
  }
  root.finish();
  return b;
}

Baseline load_baseline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read the baseline file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_baseline(ss.str(), path);
}

namespace {

struct Edit {
  size_t begin, end;  // replaced range [begin, end)
  std::string text;
};

// End of the plain scalar starting at `pos`: before ',', '}', ']', a comment or the line end.
size_t scalar_end(const std::string& t, size_t pos) {
  size_t e = pos;
  while (e < t.size() && t[e] != '\n' && t[e] != '\r' && t[e] != ',' && t[e] != '}' && t[e] != ']' &&
         !(t[e] == '#' && e > pos && (t[e - 1] == ' ' || t[e - 1] == '\t')))
    ++e;
  while (e > pos && (t[e - 1] == ' ' || t[e - 1] == '\t')) --e;
  return e;
}

// The position just past the bracket matching the one at `pos` ('[' or '{'), skipping quotes.
size_t matching_close(const std::string& t, size_t pos) {
  int depth = 0;
  char quote = 0;
  for (size_t i = pos; i < t.size(); ++i) {
    const char c = t[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    else if (c == '[' || c == '{') ++depth;
    else if ((c == ']' || c == '}') && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

std::string flow_list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + format_number(v[i]);
  return s + "]";
}

size_t line_start(const std::string& t, size_t pos) {
  const size_t nl = t.rfind('\n', pos == 0 ? 0 : pos - 1);
  return (nl == std::string::npos || pos == 0) ? 0 : nl + 1;
}
size_t next_line(const std::string& t, size_t pos) {
  const size_t nl = t.find('\n', pos);
  return nl == std::string::npos ? t.size() : nl + 1;
}

std::string where(const std::string& file, const YAML::Mark& m) { return file + ":" + std::to_string(m.line + 1) + ": "; }

// Lines of a block map for a new metric entry, indented by `indent`.
std::string metric_block(const MetricUpdate& u, const std::string& indent, bool with_tolerance);

}  // namespace

namespace {

std::string default_tolerance_line(const std::string& name, bool has_seeds) {
  // Defaults for a new entry: the statistical rule decides where there are seeds; otherwise a
  // margin of about the metric's run-to-run noise (see recipes/baselines/README.md).
  if (has_seeds) return "tolerance: 0          # the statistical rule decides (seeds)";
  if (name == "accuracy") return "tolerance: 0.5        # points of accuracy";
  if (name == "perplexity") return "tolerance_pct: 2";
  if (name == "bits_per_byte") return "tolerance_pct: 1";
  if (name == "agreement") return "tolerance: 0         # the runtime is deterministic on the stored inputs";
  if (name == "validate") return "tolerance: 0";
  if (name == "size_bytes") return "tolerance_pct: 0.5";
  if (name == "bits_per_weight") return "tolerance: 0.01";
  if (name == "samples_per_s") return "tolerance_pct: 50    # shared machines: only gross slow-downs";
  return "tolerance: 0";
}

std::string metric_block(const MetricUpdate& u, const std::string& indent, bool with_tolerance) {
  std::string s = indent + u.name + ":\n" + indent + "  value: " + format_number(u.value) + "\n";
  if (!u.seeds.empty()) s += indent + "  seeds: " + flow_list(u.seeds) + "\n";
  if (with_tolerance) s += indent + "  " + default_tolerance_line(u.name, !u.seeds.empty()) + "\n";
  return s;
}

}  // namespace

std::string update_baseline_text(const std::string& text, const std::string& file,
                                 const std::vector<MetricUpdate>& updates) {
  parse_baseline(text, file);  // validates, with file:line messages
  const YAML::Node root = YAML::Load(text);
  const YAML::Node metrics = root["metrics"];
  std::vector<Edit> edits;
  std::string appended;  // new metric entries
  int metric_indent = -1;
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    metric_indent = it->first.Mark().column;
    break;
  }
  for (const MetricUpdate& u : updates) {
    const YAML::Node m = metrics[u.name];
    if (!m) {
      appended += metric_block(u, std::string(static_cast<size_t>(std::max(metric_indent, 2)), ' '), true);
      continue;
    }
    const bool flow = m.Style() == YAML::EmitterStyle::Flow;
    // Where a new key goes: before the '}' of a flow map, or on a new line after the metric's key.
    int child_indent = -1;
    for (auto c = m.begin(); c != m.end(); ++c) {
      child_indent = c->first.Mark().column;
      break;
    }
    auto add_key = [&](const std::string& key, const std::string& value) {
      if (flow) {
        const size_t close = matching_close(text, static_cast<size_t>(m.Mark().pos));
        if (close == std::string::npos) throw std::runtime_error(where(file, m.Mark()) + "cannot find the end of '" + u.name + "'");
        edits.push_back({close - 1, close - 1, ", " + key + ": " + value});
      } else {
        const size_t at = line_start(text, static_cast<size_t>(m.Mark().pos));
        edits.push_back({at, at, std::string(static_cast<size_t>(child_indent), ' ') + key + ": " + value + "\n"});
      }
    };
    if (const YAML::Node v = m["value"]) {
      const size_t b = static_cast<size_t>(v.Mark().pos);
      edits.push_back({b, scalar_end(text, b), format_number(u.value)});
    } else {
      add_key("value", format_number(u.value));
    }
    const YAML::Node s = m["seeds"];
    if (u.seeds.empty()) {
      if (s)
        throw std::runtime_error(where(file, s.Mark()) + "metric '" + u.name +
                                 "' holds per-seed values, but the target is a single run: update it from a "
                                 "multi-seed run directory (qforge run --seeds N), or delete 'seeds' first");
    } else if (s) {
      if (s.Style() != YAML::EmitterStyle::Flow)
        throw std::runtime_error(where(file, s.Mark()) + "key 'seeds' in 'metrics." + u.name +
                                 "': write the list in flow style ([a, b, c]) so it can be rewritten in place");
      const size_t b = static_cast<size_t>(s.Mark().pos);
      const size_t e = matching_close(text, b);
      if (e == std::string::npos) throw std::runtime_error(where(file, s.Mark()) + "cannot find the end of 'seeds'");
      edits.push_back({b, e, flow_list(u.seeds)});
    } else {
      add_key("seeds", flow_list(u.seeds));
    }
  }
  if (!appended.empty()) {
    // After the last line of the `metrics:` block (the first later line, not blank or a comment,
    // indented no deeper than `metrics:` itself ends it).
    size_t key_pos = 0;
    for (auto it = root.begin(); it != root.end(); ++it)
      if (it->first.as<std::string>() == "metrics") key_pos = static_cast<size_t>(it->first.Mark().pos);
    const size_t key_col = key_pos - line_start(text, key_pos);
    size_t end = next_line(text, key_pos), last_content = end;
    for (size_t p = end; p < text.size(); p = next_line(text, p)) {
      size_t q = p;
      while (q < text.size() && text[q] == ' ') ++q;
      if (q >= text.size() || text[q] == '\n' || text[q] == '#') continue;
      if (q - p <= key_col) break;
      last_content = next_line(text, p);
    }
    end = last_content;
    std::string ins = appended;
    if (end > 0 && text[end - 1] != '\n') ins = "\n" + ins;
    edits.push_back({end, end, ins});
  }
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.begin > b.begin; });
  std::string out = text;
  for (const Edit& e : edits) out.replace(e.begin, e.end - e.begin, e.text);
  parse_baseline(out, file);  // what we wrote must read back
  return out;
}

std::string new_baseline_text(const std::string& recipe, const std::vector<MetricUpdate>& updates) {
  std::string s =
      "# Baseline for recipe '" + recipe + "': what `qforge check` compares a target with.\n"
      "# Schema, units and the rule: recipes/baselines/README.md. Rewrite the values on purpose with\n"
      "#   qforge check TARGET --baseline THIS_FILE --update-baseline   (comments are kept)\n"
      "schema: 1\nrecipe: " + recipe + "\nalpha: 0.01           # false-alarm rate of the statistical rule\nmetrics:\n";
  for (const MetricUpdate& u : updates) s += metric_block(u, "  ", true);
  return s;
}

}  // namespace qf::gate
