#include "cli/modifiers.h"

#include <stdexcept>

#include "qat/quantization_modifier.h"

namespace qf::cli {

std::vector<std::shared_ptr<train::Modifier>> make_modifiers(const Recipe& recipe) {
  std::vector<std::shared_ptr<train::Modifier>> out;
  for (const ModifierSpec& m : recipe.modifiers) {
    if (m.type == "quantization") {
      out.push_back(std::make_shared<qat::QuantizationModifier>(qat::parse_quantization_modifier(m.node)));
    } else {
      throw std::runtime_error(recipe.file + ":" + std::to_string(m.line) + ": the '" + m.type +
                               "' modifier is not available in this version of qforge yet");
    }
  }
  return out;
}

}  // namespace qf::cli
