#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace qf {

int64_t argmax(const float* logits, int64_t n) { return std::max_element(logits, logits + n) - logits; }

std::vector<double> softmax(const float* logits, int64_t n, double temperature) {
  if (!(temperature > 0)) throw Error("softmax: temperature must be > 0, got " + std::to_string(temperature));
  const float mx = *std::max_element(logits, logits + n);
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t v = 0; v < n; ++v) sum += (p[v] = std::exp((static_cast<double>(logits[v]) - mx) / temperature));
  for (double& x : p) x /= sum;
  return p;
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int64_t sample(const std::vector<double>& p, double u) {
  double total = 0;
  for (double x : p) total += x;
  const double target = u * total;
  double acc = 0;
  int64_t last = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    acc += p[i];
    last = static_cast<int64_t>(i);
    if (target < acc) return last;
  }
  if (last < 0) throw Error("sample: no entry with positive probability");
  return last;  // u * total rounded up to the full sum
}

SpeculativeVerdict speculative_verdict(const std::vector<double>& p, const std::vector<double>& q, int64_t drafted,
                                       double u_accept, double u_resample) {
  if (p.size() != q.size() || drafted < 0 || drafted >= static_cast<int64_t>(p.size()))
    throw Error("speculative_verdict: vocabularies differ or the drafted token is out of range");
  const double pd = p[static_cast<size_t>(drafted)], qd = q[static_cast<size_t>(drafted)];
  // q(drafted) > 0 since it was drawn from q; p >= q accepts with certainty.
  if (qd <= 0 || u_accept * qd < pd) return {true, drafted};
  std::vector<double> residual(p.size());
  double mass = 0;
  for (size_t i = 0; i < p.size(); ++i) mass += (residual[i] = std::max(0.0, p[i] - q[i]));
  // Rejection implies p(drafted) < q(drafted), hence some p(x) > q(x) and mass > 0 in exact
  // arithmetic; if rounding left nothing, p itself is the right fallback.
  return {false, sample(mass > 0 ? residual : p, u_resample)};
}

}  // namespace qf
