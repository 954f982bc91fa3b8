// The recipe's modifier list turned into Modifier objects: one registry from a modifier `type`
// (the key of a `modifiers:` item) to the factory that parses its section and builds it. The
// only place that knows every type; a new modifier is one row of the table in modifiers.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "train/modifier.h"
#include "train/recipe.h"

namespace qf::cli {

struct ModifierFactory {
  std::string type;  // "quantization", "pruning", "distillation"
  // Parses `spec.node` strictly (file:line:key errors) and builds the modifier.
  std::shared_ptr<train::Modifier> (*make)(const ModifierSpec& spec, const Recipe& recipe);
};

// Every known modifier type, in the order recipes/README.md documents them.
const std::vector<ModifierFactory>& modifier_registry();

// One modifier per recipe item. An unknown type is an error naming the file, the line and the
// known types; a section's own mistakes are reported by its parser.
std::vector<std::shared_ptr<train::Modifier>> make_modifiers(const Recipe& recipe);

}  // namespace qf::cli
