// Finite-difference gradient checker; see gradcheck.h.
#include "gradcheck.h"

#include <cmath>
#include <sstream>

#include "src/core/rng.h"

namespace mor::testing {
using ad::Var;

Tensor randn64(const Shape& shape, uint64_t seed, double std, double mean) {
  Tensor t = Tensor::empty(shape, DType::F64);
  Rng rng(seed, "randn64");
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * rng.normal();
  return t;
}

namespace {

struct RunResult {
  Tensor out;
  std::vector<Tensor> grads;
};

RunResult run(const GradCase& c, const std::vector<Tensor>& inputs, const Tensor* seed, bool with_grad) {
  std::vector<Var> vars;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bool diff = c.differentiable.empty() || c.differentiable[i];
    vars.push_back(ad::make_var(inputs[i].clone(), with_grad && diff));
  }
  RunResult r;
  if (!with_grad) {
    r.out = c.build(vars)->value;
    return r;
  }
  ad::Tape tape;
  ad::GradScope scope(tape);
  Var out = c.build(vars);
  r.out = out->value;
  tape.backward(out, *seed);
  for (auto& v : vars) r.grads.push_back(v->grad);
  return r;
}

double dot64(const Tensor& a, const Tensor& b) {
  Tensor a64 = a.to_dtype(DType::F64), b64 = b.to_dtype(DType::F64);
  double s = 0;
  for (int64_t i = 0; i < a64.numel(); ++i) s += a64.data<double>()[i] * b64.data<double>()[i];
  return s;
}

}  // namespace

GradReport gradcheck(const GradCase& c, double atol, double rtol) {
  GradReport rep;
  Tensor probe = run(c, c.inputs, nullptr, false).out;
  Tensor R = randn64(probe.shape(), 99);
  RunResult analytic = run(c, c.inputs, &R, true);
  const double eps = 1e-6;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!(c.differentiable.empty() || c.differentiable[i])) continue;
    if (c.inputs[i].dtype() != DType::F64) continue;
    Tensor g = analytic.grads[i].defined() ? analytic.grads[i] : Tensor::zeros(c.inputs[i].shape(), DType::F64);
    std::vector<Tensor> pert = c.inputs;
    for (int64_t j = 0; j < c.inputs[i].numel(); ++j) {
      pert[i] = c.inputs[i].clone();
      double x0 = pert[i].data<double>()[j];
      pert[i].data<double>()[j] = x0 + eps;
      double fp = dot64(run(c, pert, nullptr, false).out, R);
      pert[i].data<double>()[j] = x0 - eps;
      double fm = dot64(run(c, pert, nullptr, false).out, R);
      double numeric = (fp - fm) / (2 * eps);
      double a = g.data<double>()[j];
      double err = std::fabs(a - numeric);
      if (err > rep.max_abs_err) rep.max_abs_err = err;
      if (err > atol + rtol * std::fabs(numeric) && rep.ok) {
        rep.ok = false;
        std::ostringstream os;
        os << "input " << i << ", element " << j << ": analytic " << a << ", numeric " << numeric;
        rep.worst = os.str();
      }
    }
  }
  return rep;
}

GradReport f32_matches_f64(const GradCase& c, double rtol, double atol) {
  GradReport rep;
  Tensor probe = run(c, c.inputs, nullptr, false).out;
  Tensor R = randn64(probe.shape(), 99);
  RunResult ref = run(c, c.inputs, &R, true);
  std::vector<Tensor> in32;
  for (const Tensor& t : c.inputs) in32.push_back(t.dtype() == DType::F64 ? t.to_dtype(DType::F32) : t);
  Tensor R32 = R.to_dtype(DType::F32);
  RunResult got = run(c, in32, &R32, true);
  auto compare = [&](const Tensor& a32, const Tensor& b64, const std::string& what) {
    if (!a32.defined() || !b64.defined()) return;
    Tensor a = a32.to_dtype(DType::F64);
    double scale = 0;
    for (int64_t j = 0; j < b64.numel(); ++j) scale = std::max(scale, std::fabs(b64.data<double>()[j]));
    for (int64_t j = 0; j < a.numel(); ++j) {
      double x = a.data<double>()[j], y = b64.data<double>()[j];
      double err = std::fabs(x - y);
      rep.max_abs_err = std::max(rep.max_abs_err, err);
      if (err > atol * std::max(1.0, scale) + rtol * std::fabs(y) && rep.ok) {
        rep.ok = false;
        std::ostringstream os;
        os << what << " element " << j << ": f32 " << x << ", f64 " << y;
        rep.worst = os.str();
      }
    }
  };
  compare(got.out, ref.out, "output");
  for (size_t i = 0; i < got.grads.size(); ++i) compare(got.grads[i], ref.grads[i], "grad of input " + std::to_string(i));
  return rep;
}

}  // namespace mor::testing
