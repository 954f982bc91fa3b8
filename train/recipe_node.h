// RecipeNode: a strict, typed view of one YAML map section of a recipe, used by the core schema
// (train/recipe.h) and by every modifier library (qat/, sparsify/, distill/) to parse its own
// section. Std + yaml-cpp only.
//
// Every getter records the key it was asked for, so after reading what it understands a parser
// calls finish(), which rejects any key nobody asked for and lists the ones that were:
//
//   recipes/x.yaml:12: unknown key 'epohcs' in 'train' (expected one of: epochs, steps, ...)
//   recipes/x.yaml:7: key 'lr' in 'train.optimizer' must be a number, got 'fast'
//   recipes/x.yaml:3: missing required key 'family' in 'model'
//
// Usage (a modifier library):
//   void parse(const qf::RecipeNode& n) {
//     bits   = n.get<int64_t>("bits", 8);
//     scheme = n.one_of("scheme", "symmetric", {"symmetric", "asymmetric"});
//     if (bits < 2 || bits > 8) n.fail("bits", "must be in [2, 8], got " + std::to_string(bits));
//     auto act = n.child("activations");          // nested map (empty if absent)
//     a_bits = act.get<int64_t>("bits", 8);
//     for (const auto& g : n.list("groups")) ...   // list of maps
//     n.finish();                                   // checks this section and its children
//   }
//
// Value types: bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
// std::vector<std::string>. Numbers and booleans must be plain (unquoted) YAML scalars; an int
// is accepted where a double is expected, never the other way round; doubles must be finite; an
// empty value (`key:`) is an error for every type. Lines in messages are 1-based.
//
// Copies share state: a RecipeNode is a cheap handle, and `const` getters still record keys.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace YAML {
class Node;
struct Mark;
}

namespace qf {

template <typename T>
struct is_recipe_value
    : std::bool_constant<std::is_same_v<T, bool> || std::is_same_v<T, int64_t> ||
                         std::is_same_v<T, double> || std::is_same_v<T, std::string> ||
                         std::is_same_v<T, std::vector<int64_t>> ||
                         std::is_same_v<T, std::vector<double>> ||
                         std::is_same_v<T, std::vector<std::string>>> {};

// "file:line: ", the prefix of every recipe message.
std::string recipe_at(const std::string& file, int line);
// The 1-based line of a yaml-cpp mark, or `fallback` where yaml-cpp has none.
int recipe_line(const YAML::Mark& m, int fallback);

#define QF_RECIPE_TYPE_HELP                                                                  \
  "RecipeNode values are bool, int64_t, double, std::string or std::vector of int64_t, double, " \
  "std::string"

class RecipeNode {
 public:
  // An empty section (no keys) named `path` of `file`, reported at `line`.
  RecipeNode(std::string file = "<recipe>", std::string path = "", int line = 1);
  // A section over `node`, which must be a YAML map or null/undefined (= empty); `line` (1-based)
  // is where errors about the section as a whole point (e.g. the line of its key in the parent).
  RecipeNode(std::string file, std::string path, const YAML::Node& node, int line);

  // Parses YAML text / a file whose top level is a map (YAML syntax errors come out as
  // "file:line: YAML syntax error: ..."). For tests and tools; load_recipe uses these too.
  static RecipeNode parse(const std::string& text, const std::string& file_name);
  static RecipeNode load(const std::string& path);

  // --- Typed getters (all record `key` as expected) ------------------------------------------
  template <typename T>
  T get(const std::string& key, const T& default_value) const {
    static_assert(is_recipe_value<T>::value, QF_RECIPE_TYPE_HELP);
    std::optional<T> v;
    read(key, v);
    return v ? std::move(*v) : default_value;
  }
  template <typename T>
  std::optional<T> get_optional(const std::string& key) const {
    static_assert(is_recipe_value<T>::value, QF_RECIPE_TYPE_HELP);
    std::optional<T> v;
    read(key, v);
    return v;
  }
  template <typename T>
  T require(const std::string& key) const {
    static_assert(is_recipe_value<T>::value, QF_RECIPE_TYPE_HELP);
    std::optional<T> v;
    read(key, v);
    if (!v) fail_missing(key);
    return std::move(*v);
  }
  // A string restricted to `allowed`: "key 'type' in 'train.optimizer' must be one of: adamw,
  // adam, sgd; got 'adamx'".
  std::string one_of(const std::string& key, const std::string& default_value,
                     std::initializer_list<const char*> allowed) const;
  std::string require_one_of(const std::string& key, std::initializer_list<const char*> allowed) const;

  bool has(const std::string& key) const;  // present in the map (records key as expected)
  // Nested map section `key` (path "parent.key"); absent or empty value = empty section.
  RecipeNode child(const std::string& key) const;
  RecipeNode require_child(const std::string& key) const;  // must be present
  // List of maps under `key` (paths "parent.key[i]"); absent = empty list.
  std::vector<RecipeNode> list(const std::string& key) const;
  // Declares keys as expected without reading them (e.g. keys handled elsewhere).
  void allow(std::initializer_list<const char*> keys) const;

  // Throws for the first (by line) key present but never asked for, in this section or in any
  // section obtained from it through child()/require_child()/list().
  void finish() const;

  // Errors pointing at `key` (its line if present, else the section's):
  //   "<file>:<line>: key '<key>' in '<path>' <message>"
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  //   "<file>:<line>: in '<path>': <message>"   (the section's line)
  [[noreturn]] void fail_section(const std::string& message) const;

  // --- Introspection ------------------------------------------------------------------------
  const std::string& file() const;
  const std::string& path() const;          // "" for the top level, else e.g. "train.optimizer"
  int line() const;                         // 1-based line of the section
  int line_of(const std::string& key) const;  // 1-based line of `key`, or line() if absent
  std::vector<std::string> keys() const;    // keys present, in document order
  bool empty() const;                       // no keys present
  const YAML::Node& yaml() const;           // the underlying map (escape hatch)
  std::string scope() const;                // "in 'train.optimizer'" or "at top level"

  struct State;  // implementation detail (shared by copies)

 private:
  explicit RecipeNode(std::shared_ptr<State> s);
  [[noreturn]] void fail_missing(const std::string& key) const;
  void read(const std::string& key, std::optional<bool>& out) const;
  void read(const std::string& key, std::optional<int64_t>& out) const;
  void read(const std::string& key, std::optional<double>& out) const;
  void read(const std::string& key, std::optional<std::string>& out) const;
  void read(const std::string& key, std::optional<std::vector<int64_t>>& out) const;
  void read(const std::string& key, std::optional<std::vector<double>>& out) const;
  void read(const std::string& key, std::optional<std::vector<std::string>>& out) const;

  std::shared_ptr<State> s_;
};

#undef QF_RECIPE_TYPE_HELP

}  // namespace qf
