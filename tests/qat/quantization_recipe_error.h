// The error a recipe whose `quantization:` section is `quantization_yaml` (its first line is the
// recipe's line 7) raises when the section is parsed, or "(no error)".
#pragma once

#include <exception>
#include <string>

#include "qat/quantization_modifier.h"
#include "train/recipe.h"

namespace qf::test {

inline std::string recipe_error(const std::string& quantization_yaml) {
  const std::string text =
      "name: t\nmodel: {family: mlp}\ndata: {dataset: fashion_mnist}\ntrain: {epochs: 1}\n"
      "modifiers:\n"
      "  - quantization:\n" + quantization_yaml;
  try {
    const Recipe r = load_recipe_from_string(text, "bad.yaml");
    qat::parse_quantization_modifier(r.modifiers.at(0).node);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace qf::test
