#include "train/recipe_node.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace qf {

struct RecipeNode::State {
  std::string file, path;
  YAML::Node node;  // a map, or null (empty section)
  int line = 1;
  std::vector<std::string> present;         // keys in document order
  std::map<std::string, int> key_line;      // 1-based
  std::vector<std::string> expected;        // keys asked for, first-asked order
  std::vector<std::shared_ptr<State>> children;
};

std::string recipe_at(const std::string& file, int line) { return file + ":" + std::to_string(line) + ": "; }
int recipe_line(const YAML::Mark& m, int fallback) { return m.line >= 0 ? m.line + 1 : fallback; }

namespace {


std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "an empty value";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return "'" + n.Scalar() + "'";
}

bool plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }

// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
// adjacent letters ('tarin' -> 'train') cost 1 each. Only used to suggest a key for a typo.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// Scalar conversions: nullopt when `n` is not a valid value of the type.
std::optional<bool> to_bool(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  bool v = false;
  if (!YAML::convert<bool>::decode(n, v)) return std::nullopt;
  return v;
}
std::optional<int64_t> to_int(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s.empty()) return std::nullopt;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used, 10);
    if (used != s.size()) return std::nullopt;
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;  // out of range
  }
}
std::optional<double> to_double(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  double v = 0;
  if (!YAML::convert<double>::decode(n, v) || !std::isfinite(v)) return std::nullopt;
  return v;
}
std::optional<std::string> to_string(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;  // null, map or list
  return n.Scalar();
}

template <typename T> const char* type_name();
template <> const char* type_name<bool>() { return "a boolean (true or false)"; }
template <> const char* type_name<int64_t>() { return "an integer"; }
template <> const char* type_name<double>() { return "a number"; }
template <> const char* type_name<std::string>() { return "a string"; }
template <typename T> const char* list_type_name();
template <> const char* list_type_name<int64_t>() { return "a list of integers"; }
template <> const char* list_type_name<double>() { return "a list of numbers"; }
template <> const char* list_type_name<std::string>() { return "a list of strings"; }

template <typename T>
std::optional<T> convert(const YAML::Node& n) {
  if constexpr (std::is_same_v<T, bool>) return to_bool(n);
  else if constexpr (std::is_same_v<T, int64_t>) return to_int(n);
  else if constexpr (std::is_same_v<T, double>) return to_double(n);
  else return to_string(n);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

RecipeNode::RecipeNode(std::shared_ptr<State> s) : s_(std::move(s)) {}

RecipeNode::RecipeNode(std::string file, std::string path, int line)
    : RecipeNode(std::move(file), std::move(path), YAML::Node(YAML::NodeType::Null), line) {}

RecipeNode::RecipeNode(std::string file, std::string path, const YAML::Node& node, int line)
    : s_(std::make_shared<State>()) {
  s_->file = std::move(file);
  s_->path = std::move(path);
  s_->line = line;
  if (!node.IsDefined() || node.IsNull()) {
    s_->node = YAML::Node(YAML::NodeType::Map);
    return;
  }
  if (!node.IsMap())
    throw std::runtime_error(recipe_at(s_->file, recipe_line(node.Mark(), line)) +
                             (s_->path.empty() ? std::string("the recipe") : "'" + s_->path + "'") +
                             " must be a map of keys, got " + describe(node));
  s_->node = node;
  for (const auto& kv : node) {
    const YAML::Node k = kv.first;  // a copy: iterator proxies are temporaries
    const int kl = recipe_line(k.Mark(), line);
    if (!k.IsScalar())
      throw std::runtime_error(recipe_at(s_->file, kl) + "keys " + scope() + " must be plain names, got " +
                               describe(k));
    const std::string name = k.Scalar();
    if (auto f = s_->key_line.find(name); f != s_->key_line.end())
      throw std::runtime_error(recipe_at(s_->file, kl) + "duplicate key '" + name + "' " + scope() +
                               " (first given at line " + std::to_string(f->second) + ")");
    s_->key_line[name] = kl;
    s_->present.push_back(name);
  }
}

RecipeNode RecipeNode::parse(const std::string& text, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(recipe_at(file_name, recipe_line(e.mark, 1)) + "YAML syntax error: " + e.msg);
  }
  return RecipeNode(file_name, "", root, 1);
}

RecipeNode RecipeNode::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open recipe file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

// --- bookkeeping ------------------------------------------------------------------------------

namespace {
void note(RecipeNode::State& s, const std::string& key) {
  if (std::find(s.expected.begin(), s.expected.end(), key) == s.expected.end()) s.expected.push_back(key);
}
}  // namespace

const std::string& RecipeNode::file() const { return s_->file; }
const std::string& RecipeNode::path() const { return s_->path; }
int RecipeNode::line() const { return s_->line; }
int RecipeNode::line_of(const std::string& key) const {
  auto it = s_->key_line.find(key);
  return it == s_->key_line.end() ? s_->line : it->second;
}
std::vector<std::string> RecipeNode::keys() const { return s_->present; }
bool RecipeNode::empty() const { return s_->present.empty(); }
const YAML::Node& RecipeNode::yaml() const { return s_->node; }
std::string RecipeNode::scope() const {
  return s_->path.empty() ? "at top level" : "in '" + s_->path + "'";
}

bool RecipeNode::has(const std::string& key) const {
  note(*s_, key);
  return s_->key_line.count(key) != 0;
}

void RecipeNode::allow(std::initializer_list<const char*> keys) const {
  for (const char* k : keys) note(*s_, k);
}

void RecipeNode::fail(const std::string& key, const std::string& message) const {
  throw std::runtime_error(recipe_at(s_->file, line_of(key)) + "key '" + key + "' " + scope() + " " + message);
}

void RecipeNode::fail_section(const std::string& message) const {
  throw std::runtime_error(recipe_at(s_->file, s_->line) + (s_->path.empty() ? "" : "in '" + s_->path + "': ") +
                           message);
}

void RecipeNode::fail_missing(const std::string& key) const {
  throw std::runtime_error(recipe_at(s_->file, s_->line) + "missing required key '" + key + "' " +
                           (s_->path.empty() ? "at top level" : "in '" + s_->path + "'"));
}

// --- typed reads ------------------------------------------------------------------------------

namespace {

// Value node of `key`, or an undefined node when absent. Throws on an empty value.
YAML::Node value_of(const RecipeNode& rn, const std::string& key, const char* expected) {
  if (rn.yaml().IsNull()) return YAML::Node();
  YAML::Node v = rn.yaml()[key];
  if (!v.IsDefined()) return v;
  if (v.IsNull()) rn.fail(key, std::string("must be ") + expected + ", got an empty value");
  return v;
}

template <typename T>
void read_scalar(const RecipeNode& rn, const std::string& key, std::optional<T>& out) {
  const YAML::Node v = value_of(rn, key, type_name<T>());
  if (!v.IsDefined()) return;
  out = convert<T>(v);
  if (!out) {
    std::string got = describe(v);
    if (v.IsScalar() && v.Tag() == "!") got = "the quoted string " + got;
    rn.fail(key, std::string("must be ") + type_name<T>() + ", got " + got);
  }
}

template <typename T>
void read_list(const RecipeNode& rn, const std::string& key, std::optional<std::vector<T>>& out) {
  const YAML::Node v = value_of(rn, key, list_type_name<T>());
  if (!v.IsDefined()) return;
  if (!v.IsSequence())
    rn.fail(key, std::string("must be ") + list_type_name<T>() + " like [1, 2], got " + describe(v));
  std::vector<T> items;
  for (size_t i = 0; i < v.size(); ++i) {
    const YAML::Node e = v[i];
    std::optional<T> x = convert<T>(e);
    if (!x)
      throw std::runtime_error(recipe_at(rn.file(), recipe_line(e.Mark(), rn.line_of(key))) + "element " +
                               std::to_string(i) + " of key '" + key + "' " + rn.scope() + " must be " +
                               type_name<T>() + ", got " + describe(e));
    items.push_back(std::move(*x));
  }
  out = std::move(items);
}

}  // namespace

void RecipeNode::read(const std::string& key, std::optional<bool>& out) const {
  note(*s_, key);
  read_scalar(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<int64_t>& out) const {
  note(*s_, key);
  read_scalar(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<double>& out) const {
  note(*s_, key);
  read_scalar(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<std::string>& out) const {
  note(*s_, key);
  read_scalar(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<std::vector<int64_t>>& out) const {
  note(*s_, key);
  read_list(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<std::vector<double>>& out) const {
  note(*s_, key);
  read_list(*this, key, out);
}
void RecipeNode::read(const std::string& key, std::optional<std::vector<std::string>>& out) const {
  note(*s_, key);
  read_list(*this, key, out);
}

std::string RecipeNode::one_of(const std::string& key, const std::string& default_value,
                               std::initializer_list<const char*> allowed) const {
  const std::string v = get<std::string>(key, default_value);
  std::vector<std::string> names(allowed.begin(), allowed.end());
  if (std::find(names.begin(), names.end(), v) == names.end())
    fail(key, "must be one of: " + join(names) + "; got '" + v + "'");
  return v;
}

std::string RecipeNode::require_one_of(const std::string& key,
                                       std::initializer_list<const char*> allowed) const {
  if (!has(key)) fail_missing(key);
  return one_of(key, "", allowed);
}

// --- sections ---------------------------------------------------------------------------------

RecipeNode RecipeNode::child(const std::string& key) const {
  note(*s_, key);
  const std::string path = s_->path.empty() ? key : s_->path + "." + key;
  const YAML::Node& map = s_->node;  // const: a non-const operator[] would insert the key
  YAML::Node v = map.IsNull() ? YAML::Node() : map[key];
  if (v.IsDefined() && !v.IsNull() && !v.IsMap())
    fail(key, "must be a map of keys (a section), got " + describe(v));
  RecipeNode c(s_->file, path, v, line_of(key));
  s_->children.push_back(c.s_);
  return c;
}

RecipeNode RecipeNode::require_child(const std::string& key) const {
  if (!has(key)) fail_missing(key);
  return child(key);
}

std::vector<RecipeNode> RecipeNode::list(const std::string& key) const {
  note(*s_, key);
  std::vector<RecipeNode> out;
  const YAML::Node& map = s_->node;  // const: a non-const operator[] would insert the key
  YAML::Node v = map.IsNull() ? YAML::Node() : map[key];
  if (!v.IsDefined() || v.IsNull()) return out;
  if (!v.IsSequence()) fail(key, "must be a list of maps, got " + describe(v));
  const std::string base = s_->path.empty() ? key : s_->path + "." + key;
  for (size_t i = 0; i < v.size(); ++i) {
    const YAML::Node e = v[i];
    const int el = recipe_line(e.Mark(), line_of(key));
    if (!e.IsMap())
      throw std::runtime_error(recipe_at(s_->file, el) + "element " + std::to_string(i) + " of key '" + key +
                               "' " + scope() + " must be a map of keys, got " + describe(e));
    RecipeNode c(s_->file, base + "[" + std::to_string(i) + "]", e, el);
    s_->children.push_back(c.s_);
    out.push_back(c);
  }
  return out;
}

// --- finish -----------------------------------------------------------------------------------

namespace {

struct Unknown {
  int line;
  std::string message;
};

void collect_unknown(const RecipeNode::State& s, std::vector<Unknown>& out) {
  for (const std::string& k : s.present) {
    if (std::find(s.expected.begin(), s.expected.end(), k) != s.expected.end()) continue;
    std::string msg = recipe_at(s.file, s.key_line.at(k)) + "unknown key '" + k + "' " +
                      (s.path.empty() ? "at top level" : "in '" + s.path + "'");
    if (s.expected.empty()) {
      msg += " (this section takes no keys)";
    } else {
      msg += " (expected one of: " + join(s.expected);
      std::string best;
      size_t best_d = 3;  // suggest only close typos
      for (const std::string& e : s.expected) {
        const size_t d = edit_distance(k, e);
        if (d < best_d && d <= std::max<size_t>(1, e.size() / 3)) best_d = d, best = e;
      }
      if (!best.empty()) msg += "; did you mean '" + best + "'?";
      msg += ")";
    }
    out.push_back({s.key_line.at(k), msg});
  }
  for (const auto& c : s.children) collect_unknown(*c, out);
}

}  // namespace

void RecipeNode::finish() const {
  std::vector<Unknown> unknown;
  collect_unknown(*s_, unknown);
  if (unknown.empty()) return;
  const auto first = std::min_element(unknown.begin(), unknown.end(),
                                      [](const Unknown& a, const Unknown& b) { return a.line < b.line; });
  throw std::runtime_error(first->message);
}

}  // namespace qf
