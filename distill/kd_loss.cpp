#include "distill/kd_loss.h"

#include <stdexcept>
#include <string>

namespace qf::distill {
namespace {

namespace F = torch::nn::functional;

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// [..., V] -> [N, V], computed in at least float32 (log_softmax of half logits loses the tail).
torch::Tensor rows(const torch::Tensor& logits) {
  torch::Tensor x = logits.reshape({-1, logits.size(-1)});
  return x.scalar_type() == torch::kDouble ? x : x.to(torch::kFloat);
}

void check_temperature(double temperature) {
  if (!(temperature > 0)) throw std::invalid_argument("distillation temperature must be > 0, got " + std::to_string(temperature));
}

}  // namespace

torch::Tensor kd_kl_divergence(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                               double temperature) {
  check_temperature(temperature);
  if (student_logits.sizes() != teacher_logits.sizes())
    throw std::invalid_argument("distillation: student logits " + shape_of(student_logits) +
                                " and teacher logits " + shape_of(teacher_logits) + " differ in shape");
  if (student_logits.dim() < 1 || student_logits.size(-1) < 1)
    throw std::invalid_argument("distillation: logits need a class dimension, got " + shape_of(student_logits));
  const torch::Tensor log_ps = F::log_softmax(rows(student_logits) / temperature, F::LogSoftmaxFuncOptions(1));
  const torch::Tensor log_pt =
      F::log_softmax(rows(teacher_logits.detach()) / temperature, F::LogSoftmaxFuncOptions(1)).to(log_ps.scalar_type());
  // p_t * (log p_t - log p_s); where p_t underflows to 0 the term is 0 (exp(-inf) * finite).
  return (log_pt.exp() * (log_pt - log_ps)).sum(1).mean();
}

KdLossParts kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                    const torch::Tensor& target, double temperature, double alpha) {
  if (!(alpha >= 0 && alpha <= 1)) throw std::invalid_argument("distillation alpha must be in [0, 1], got " + std::to_string(alpha));
  if (target.numel() * student_logits.size(-1) != student_logits.numel())
    throw std::invalid_argument("distillation: target " + shape_of(target) + " does not match logits " +
                                shape_of(student_logits));
  KdLossParts p;
  p.ce = F::cross_entropy(rows(student_logits), target.reshape({-1}));
  p.kd = kd_kl_divergence(student_logits, teacher_logits, temperature) * (temperature * temperature);
  p.total = alpha * p.ce + (1.0 - alpha) * p.kd;
  return p;
}

}  // namespace qf::distill
