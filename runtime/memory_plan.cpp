#include "runtime/memory_plan.h"

#include <algorithm>

namespace qf {

MemoryPlan plan_memory(const std::vector<PlanStep>& steps, int num_values, const std::vector<int>& keep) {
  const size_t nv = static_cast<size_t>(num_values);
  std::vector<size_t> last_use(nv, 0);
  for (size_t i = 0; i < steps.size(); ++i)
    for (int v : steps[i].inputs) last_use[static_cast<size_t>(v)] = i;
  for (int v : keep) last_use[static_cast<size_t>(v)] = steps.size();

  MemoryPlan plan;
  plan.slot_of.assign(nv, -1);
  std::vector<int> free_slots;
  for (size_t i = 0; i < steps.size(); ++i) {
    int slot;
    if (!free_slots.empty()) {
      auto best = std::max_element(free_slots.begin(), free_slots.end(), [&](int a, int b) {
        return plan.slot_elements[static_cast<size_t>(a)] < plan.slot_elements[static_cast<size_t>(b)];
      });
      slot = *best;
      free_slots.erase(best);
    } else {
      slot = static_cast<int>(plan.slot_elements.size());
      plan.slot_elements.push_back(0);
    }
    int64_t& size = plan.slot_elements[static_cast<size_t>(slot)];
    size = std::max(size, steps[i].elements);
    plan.slot_of[static_cast<size_t>(steps[i].output)] = slot;
    for (int in : steps[i].inputs) {
      const int s = plan.slot_of[static_cast<size_t>(in)];
      if (last_use[static_cast<size_t>(in)] == i && s >= 0 &&
          std::find(free_slots.begin(), free_slots.end(), s) == free_slots.end())
        free_slots.push_back(s);
    }
  }
  return plan;
}

}  // namespace qf
