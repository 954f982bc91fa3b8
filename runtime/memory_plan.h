// Liveness-based activation memory planning: which op outputs may share a buffer. Pure
// arithmetic on value ids and sizes, no memory is touched; the executor allocates the slots.
#pragma once

#include <cstdint>
#include <vector>

namespace qf {

struct PlanStep {
  std::vector<int> inputs;  // value ids read
  int output = -1;          // value id written
  int64_t elements = 0;     // size of the output
};

struct MemoryPlan {
  std::vector<int> slot_of;         // value id -> slot (-1: not an op output, e.g. a graph input)
  std::vector<int64_t> slot_elements;  // size of each slot
};

// Greedy: each op's output takes the largest free slot (grown if needed) or a new one; then the
// inputs whose last reader is this op free theirs. An output never shares a slot with one of its
// op's inputs, and values in `keep` (graph outputs) are never freed.
MemoryPlan plan_memory(const std::vector<PlanStep>& steps, int num_values, const std::vector<int>& keep);

}  // namespace qf
