#include "core/kv_cache_attrs.h"

#include "core/error.h"

namespace qf {

void set_kv_cache_attrs(Op& op, const KvCacheScheme& s, int64_t head_dim) {
  op.ints[kKvBitsAttr] = {s.bits};
  op.ints[kKvGroupSizeAttr] = {kv_group(s, head_dim)};
  op.ints[kKvSymmetricAttr] = {s.symmetric ? 1 : 0};
  op.floats[kKvClipAttr] = s.clip;
  if (s.int_zero_point) op.ints[kKvZeroPointAttr] = {1};
  else op.ints.erase(kKvZeroPointAttr);
}

std::optional<KvCacheScheme> read_kv_cache_attrs(const Op& op) {
  const bool any = op.ints.count(kKvBitsAttr) || op.ints.count(kKvGroupSizeAttr) || op.ints.count(kKvSymmetricAttr) ||
                   op.floats.count(kKvClipAttr) || op.ints.count(kKvZeroPointAttr);
  if (!any) return std::nullopt;
  for (const char* a : {kKvBitsAttr, kKvGroupSizeAttr, kKvSymmetricAttr})
    if (!op.ints.count(a)) throw Error(std::string("a quantized KV cache needs attribute '") + a + "'");
  KvCacheScheme s;
  s.bits = static_cast<int>(op.int_attr(kKvBitsAttr, 0));
  s.group_size = op.int_attr(kKvGroupSizeAttr, 0);
  s.symmetric = op.int_attr(kKvSymmetricAttr, 1) != 0;
  s.clip = static_cast<float>(op.float_attr(kKvClipAttr, 1.0));
  s.int_zero_point = op.int_attr(kKvZeroPointAttr, 0) != 0;
  if (s.group_size < 1) throw Error("kv_group_size must be >= 1");
  const std::string why = kv_scheme_error(s, 0);
  if (!why.empty()) throw Error("KV cache scheme: " + why);
  return s;
}

}  // namespace qf
