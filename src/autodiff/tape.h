// The tape: backward closures recorded in forward order and run in reverse.
// Recording happens only while a Tape is active on this thread (GradScope) and an input of the
// op requires a gradient; otherwise ops run forward-only (evaluation, generation).
#pragma once
#include <functional>
#include <initializer_list>
#include <vector>

#include "var.h"

namespace mor::ad {

class Tape {
 public:
  void push(std::function<void()> fn) { nodes_.push_back(std::move(fn)); }
  // Seeds d(loss)/d(loss) = seed and runs every recorded closure in reverse order, releasing each
  // closure (and the activations it holds) right after it ran. The tape is empty afterwards.
  void backward(const Var& loss, double seed = 1.0);
  // Same, seeding the output's gradient with `grad_out` (any shape; used by gradient checks).
  void backward(const Var& out, const Tensor& grad_out);
  void clear() { nodes_.clear(); }
  size_t size() const { return nodes_.size(); }

 private:
  std::vector<std::function<void()>> nodes_;
};

Tape* active_tape();

// RAII: makes `tape` the active tape of this thread for the scope's lifetime.
class GradScope {
 public:
  explicit GradScope(Tape& tape);
  ~GradScope();
  GradScope(const GradScope&) = delete;
  GradScope& operator=(const GradScope&) = delete;

 private:
  Tape* previous_;
};

// RAII: no recording in this scope (e.g. evaluation inside a training step).
class NoGradScope {
 public:
  NoGradScope();
  ~NoGradScope();

 private:
  Tape* previous_;
};

// Creates an op's output Var; it requires grad iff a tape is active and any input does.
Var make_output(Tensor value, std::initializer_list<const Var*> inputs);

// Records `fn(dout)` to run in backward with the output's gradient (skipped if none arrived).
template <typename Fn>
void record(const Var& out, Fn fn) {
  if (!out->requires_grad) return;
  active_tape()->push([out, fn = std::move(fn)]() {
    if (out->grad.defined()) fn(out->grad);
  });
}

}  // namespace mor::ad
