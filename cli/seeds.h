// `qforge run RECIPE --seeds N`: the same recipe with N seeds, in parallel where cores allow,
// each a full pipeline into RUN_DIR/seed-<s>/, then mean, standard deviation and a t-based 95%
// confidence interval of every summary metric (RUN_DIR/seeds.json). The teacher a recipe starts
// from or distills from is trained once, first, and shared by the seeds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"

namespace qf::cli {

// "5" -> {base, ..., base + 4}; "0,3,7" -> {0, 3, 7}. Throws std::runtime_error on anything else.
std::vector<int64_t> parse_seeds(const std::string& spec, int64_t base_seed);

// The recipe text with its top-level `seed:` set to `seed` (added when absent).
std::string recipe_text_with_seed(const std::string& text, int64_t seed);

struct SeedJob {
  std::vector<std::string> args;  // qforge arguments of one child run
  std::string log;                // its stdout + stderr go here
};

// Runs the child `qforge` processes, at most `jobs` at a time; returns their exit codes.
std::vector<int> run_children(const std::vector<SeedJob>& children, int jobs);

// Mean, std and 95% CI per metric over the seeds' summary.json records.
Json seeds_statistics(const std::vector<Json>& summaries);
std::string seeds_table(const Json& stats);

}  // namespace qf::cli
