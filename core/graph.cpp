#include "core/graph.h"

namespace qf {

std::string check_input(const TensorSpec& spec, const Tensor& t) {
  if (dtype_name(t.dtype) != spec.dtype)
    return std::string("is ") + dtype_name(t.dtype) + ", the graph input is " + spec.dtype;
  bool ok = t.shape.size() == spec.shape.size();
  for (size_t d = 0; ok && d < t.shape.size(); ++d)
    ok = t.shape[d] > 0 && (spec.shape[d] == -1 || spec.shape[d] == t.shape[d]);
  if (!ok) return "has shape " + shape_str(t.shape) + ", the graph input is " + shape_str(spec.shape);
  const size_t have = t.dtype == DType::kFloat32 ? t.f32.size() : t.i64.size();
  if (static_cast<int64_t>(have) != t.numel())
    return "has " + std::to_string(have) + " values for shape " + shape_str(t.shape);
  return "";
}

}  // namespace qf
