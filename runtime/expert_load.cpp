#include "runtime/expert_load.h"

#include <cstdio>

namespace qf {

std::vector<ExpertLoad> expert_load_on_golden(Engine& engine) {
  std::vector<ExpertLoad> out;
  const Checkpoint& ck = engine.checkpoint();
  bool any = false;
  for (const Op& op : ck.graph.ops) any = any || op.kind == "moe_experts";
  if (!any || ck.golden.empty()) return out;
  engine.reset_op_counters();
  engine.run(ck.golden[0].inputs);
  const auto counters = engine.op_counters();
  for (const Op& op : ck.graph.ops) {
    auto it = counters.find(op.name);
    if (op.kind != "moe_experts" || it == counters.end()) continue;
    ExpertLoad l;
    l.op = op.name;
    l.top_k = op.int_attr("top_k", 1);
    for (const auto& [key, v] : it->second) {
      if (key == "tokens") l.tokens = v;
      else if (key == "fallback") l.fallbacks = v;
      else l.per_expert.push_back(v);  // "expert <e>", in order
    }
    out.push_back(std::move(l));
  }
  engine.reset_op_counters();
  return out;
}

std::string expert_load_text(const std::vector<ExpertLoad>& loads) {
  std::string s;
  char buf[256];
  for (const ExpertLoad& l : loads) {
    std::snprintf(buf, sizeof buf, "expert load of %s on golden case 0: %lld tokens, top-%lld, %lld fallback(s) (%.1f%%)\n",
                  l.op.c_str(), static_cast<long long>(l.tokens), static_cast<long long>(l.top_k),
                  static_cast<long long>(l.fallbacks),
                  l.tokens ? 100.0 * static_cast<double>(l.fallbacks) / static_cast<double>(l.tokens) : 0.0);
    s += buf;
    s += "  expert   tokens   share of top-k assignments\n";
    const double assignments = static_cast<double>(l.tokens * l.top_k);
    for (size_t e = 0; e < l.per_expert.size(); ++e) {
      std::snprintf(buf, sizeof buf, "  %6zu %8lld   %5.1f%%\n", e, static_cast<long long>(l.per_expert[e]),
                    assignments > 0 ? 100.0 * static_cast<double>(l.per_expert[e]) / assignments : 0.0);
      s += buf;
    }
  }
  return s;
}

}  // namespace qf
