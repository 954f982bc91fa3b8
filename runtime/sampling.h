// Token choice from logits: greedy, temperature sampling, and the accept/reject rule of
// speculative sampling (Leviathan et al. 2023, "Fast Inference from Transformers via
// Speculative Decoding"; Chen et al. 2023) that makes a draft's proposals come out distributed
// exactly as the target's own samples.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace qf {

// Index of the largest logit; ties go to the lowest index (std::max_element), which every greedy
// path uses, so speculative and plain greedy decoding pick the same token from the same logits.
int64_t argmax(const float* logits, int64_t n);

// softmax(logits / temperature) in double (temperature > 0).
std::vector<double> softmax(const float* logits, int64_t n, double temperature);

// A uniform double in [0, 1) from the top 53 bits of one draw (the same on every platform,
// unlike std::uniform_real_distribution).
double uniform01(std::mt19937_64& rng);

// The index whose cumulative probability first exceeds u * sum(p) (p need not be normalized;
// zero entries are never chosen).
int64_t sample(const std::vector<double>& p, double u);

// One verification step of speculative sampling. `drafted` was drawn from q (the draft's
// distribution at this position), p is the target's. It is accepted when u_accept < p/q at
// `drafted`; otherwise the token is drawn (with u_resample) from the residual max(0, p - q),
// renormalized. Either way the returned token is distributed as p.
struct SpeculativeVerdict {
  bool accepted = false;
  int64_t token = 0;
};
SpeculativeVerdict speculative_verdict(const std::vector<double>& p, const std::vector<double>& q, int64_t drafted,
                                       double u_accept, double u_resample);

}  // namespace qf
