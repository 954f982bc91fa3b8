// Trains a small recipe with the modifiers it names, built the way `qforge run` builds them.
// For suites that link qforge_cli_lib.
#pragma once

#include <memory>
#include <string>

#include "cli/modifiers.h"
#include "test_support.h"
#include "train/trainer.h"

namespace qf::test {

inline std::unique_ptr<train::Trainer> train_with_modifiers(const Recipe& recipe, const std::string& tag) {
  train::RunOptions o;
  o.run_dir = temp_dir(tag);
  o.threads = 1;
  o.progress = false;
  auto trainer = std::make_unique<train::Trainer>(recipe, o);
  for (auto& m : cli::make_modifiers(recipe)) trainer->add_modifier(m);
  trainer->run();
  return trainer;
}

}  // namespace qf::test
