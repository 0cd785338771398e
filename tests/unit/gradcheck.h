// Finite-difference gradient checking for autodiff ops.
// A case builds its output from input Vars; the checker seeds backward with a fixed random
// upstream gradient R and compares d<R, out>/d(input) against central differences in f64.
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "src/autodiff/ops.h"

namespace mor::testing {

struct GradCase {
  std::string op;     // registered op name this case covers
  std::string label;  // variant description
  std::vector<Tensor> inputs;           // f64 tensors; each becomes a Var requiring grad
  std::vector<bool> differentiable;     // per input (default: all)
  std::function<ad::Var(const std::vector<ad::Var>&)> build;
};

inline void PrintTo(const GradCase& c, std::ostream* os) { *os << c.op << " (" << c.label << ")"; }

struct GradReport {
  double max_abs_err = 0;  // analytic vs numeric
  std::string worst;       // "input i, element j: analytic a, numeric b"
  bool ok = true;
};

// Checks all differentiable inputs in f64 (eps 1e-6; |a - n| <= atol + rtol * |n|).
GradReport gradcheck(const GradCase& c, double atol = 1e-7, double rtol = 1e-5);

// Runs the case in f32 and compares output and input gradients to the f64 run.
GradReport f32_matches_f64(const GradCase& c, double rtol = 2e-4, double atol = 2e-5);

// Random f64 tensor with entries ~ N(0, std^2) + mean.
Tensor randn64(const Shape& shape, uint64_t seed, double std = 1.0, double mean = 0.0);

}  // namespace mor::testing
