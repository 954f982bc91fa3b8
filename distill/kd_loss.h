// The knowledge-distillation loss (Hinton et al. 2015), pure math:
//
//   total = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL( softmax(t/T) || softmax(s/T) )
//
// computed in log space (log_softmax of both sides; KL = sum_c p_t (log p_t - log p_s)), summed
// over classes and averaged over examples. The T^2 factor keeps the soft term's gradient of the
// same size as the hard term's when T changes: for large T the gradient of the softened KL w.r.t.
// the student's logits scales as 1/T^2 (Hinton et al., section 2). Logits of language models, [B,T,V], are per token: they are
// flattened to [B*T, V] and targets [B,T] to [B*T], so every token is one example.
// Teacher logits are treated as constants (detached): no gradient reaches the teacher.
#pragma once

#include <torch/torch.h>

namespace qf::distill {

struct KdLossParts {
  torch::Tensor total;  // the loss to minimise (scalar, differentiable w.r.t. the student)
  torch::Tensor ce;     // hard-label cross-entropy (mean over examples), unweighted
  torch::Tensor kd;     // T^2 * KL(teacher || student) at temperature T (mean over examples), unweighted
};

// Mean over examples (rows after flattening all but the last dimension) of
// KL(softmax(teacher/T) || softmax(student/T)), summed over the last dimension; not scaled by T^2.
torch::Tensor kd_kl_divergence(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                               double temperature);

// The combined loss. `target` holds class indices with the shape of the logits minus the last
// dimension. temperature > 0, alpha in [0, 1] (checked: std::invalid_argument).
KdLossParts kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                    const torch::Tensor& target, double temperature, double alpha);

}  // namespace qf::distill
