// How closely an output agrees with a reference output: the measures of FORMAT.md "Validation",
// shared by `qforge validate` (runtime vs golden) and the exporter (trained model vs contract).
// Std-only.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace qf {

struct Agreement {
  int64_t rows = 0;           // all dims but the last
  int64_t top1_matches = 0;   // rows whose argmax over the last dim agrees (first maximum wins)
  double top1 = 1;            // top1_matches / rows (1 with no rows)
  double max_abs_diff = 0;    // NaN anywhere counts as infinite
  double unit = 1;            // max|reference| / 127, one int8 step of the output (1 if all zero)
  double max_diff_units = 0;  // max_abs_diff / unit
  // Disagreeing rows that are near ties rounding flipped: the reference's argmax leads by at most
  // twice the row's largest difference (each logit moved by at most that), and that difference is
  // at most kNearTieMaxUnits. A bug moves rows by more; these rows only say the order was close.
  int64_t near_tie_flips = 0;
};

// The largest row difference (output units) a disagreeing row may have and still count as a near
// tie: the end-to-end limit of FORMAT.md "Validation".
inline constexpr double kNearTieMaxUnits = 2.0;

// Throws qf::Error when the shapes differ.
Agreement measure_agreement(const Tensor& got, const Tensor& reference);

// Where the argmaxes differ: how many rows, how strongly the reference prefers its argmax over
// got's (median and max), and how far those rows differ anywhere, all in output units
// (max|reference| / 127). A near-tie flipped by a small perturbation reads as small margins
// beside a small row difference; a bug as large ones. "" when every argmax agrees. Same shapes
// as measure_agreement.
std::string describe_disagreement(const Tensor& got, const Tensor& reference);

}  // namespace qf
