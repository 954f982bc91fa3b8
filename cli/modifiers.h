// The recipe's modifier list turned into Modifier objects: the one place that knows every kind.
#pragma once

#include <memory>
#include <vector>

#include "train/modifier.h"
#include "train/recipe.h"

namespace qf::cli {

std::vector<std::shared_ptr<train::Modifier>> make_modifiers(const Recipe& recipe);

}  // namespace qf::cli
