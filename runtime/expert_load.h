// Expert load of a checkpoint's moe_experts ops on its golden inputs: how many tokens each expert
// received and how many tokens fell back to every expert (`qforge inspect` prints it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace qf {

struct ExpertLoad {
  std::string op;
  int64_t top_k = 0;
  int64_t tokens = 0, fallbacks = 0;
  std::vector<int64_t> per_expert;  // tokens routed to expert e (a fallback token counts for every expert)
};

// Runs golden case 0's inputs once and reads the moe_experts ops' counters. Empty when the graph
// has no moe_experts op or the file has no golden case.
std::vector<ExpertLoad> expert_load_on_golden(Engine& engine);
// A table: one row per op, one column per expert (tokens and share of the top-k assignments).
std::string expert_load_text(const std::vector<ExpertLoad>& loads);

}  // namespace qf
