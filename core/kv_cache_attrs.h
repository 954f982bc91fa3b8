// The KV cache scheme as attributes of an attention op (`causal_attention`, `gqa_attention`),
// format feature `kv_cache_int4` (export/FORMAT.md, "KV cache quantization"):
//   ints kv_bits [4 | 8] (its presence means a quantized cache), kv_group_size [g] (values per
//   scale, divides the head dimension; the writer stores the resolved size, never 0),
//   kv_symmetric [0 | 1]; floats kv_clip (symmetric clipping ratio in (0, 1]); and, feature
//   `kv_cache_zero_point`, ints kv_zero_point [1] (asymmetric with an integer zero point; written
//   only then, so that files without it stay readable by older readers).
// Written by the exporter, read by the contract and by the runtime's attention ops. Std-only.
#pragma once

#include <optional>

#include "core/graph.h"
#include "core/kv_quant.h"

namespace qf {

inline constexpr const char* kKvBitsAttr = "kv_bits";
inline constexpr const char* kKvGroupSizeAttr = "kv_group_size";
inline constexpr const char* kKvSymmetricAttr = "kv_symmetric";
inline constexpr const char* kKvClipAttr = "kv_clip";
inline constexpr const char* kKvZeroPointAttr = "kv_zero_point";

// Sets the attributes of `s` on `op`, the group resolved for heads of `head_dim` values.
void set_kv_cache_attrs(Op& op, const KvCacheScheme& s, int64_t head_dim);
// The op's scheme, or none when it has no kv_bits. Throws qf::Error (saying which attribute is
// wrong, without the op's name) for a partial or invalid set.
std::optional<KvCacheScheme> read_kv_cache_attrs(const Op& op);

}  // namespace qf
