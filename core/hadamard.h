// Orthonormal (randomized) Hadamard matrices: the rotation that spreads a vector's outlier channels
// over all channels before it is quantized (QuaRot, QuIP#). Torch-free, so the runtime could apply
// the same matrix online; training folds it into weights (train/models.h rotate_attention_heads).
#pragma once

#include <cstdint>
#include <vector>

namespace qf {

// The Sylvester Hadamard matrix of order d (a power of two) scaled by 1/sqrt(d), its columns
// multiplied by random signs: R = H * diag(s), s[j] in {-1, +1} from `seed` (seed 0: no signs, the
// plain symmetric H). R is orthogonal (R R^T = I) for every seed. Row-major [d, d] doubles.
// The signs matter: the plain H maps a vector's common offset (all channels equal) onto channel 0,
// creating the outlier it is meant to remove. Throws qf::Error if d is not a power of two >= 1.
std::vector<double> randomized_hadamard(int64_t d, uint64_t seed);

}  // namespace qf
