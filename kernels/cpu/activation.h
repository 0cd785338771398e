// Elementwise and row-wise activations with their backward passes.
// Backward functions take the upstream gradient and write (accumulate=false) or add (true).
#pragma once
#include <cstdint>

namespace mor::kernels {

// SwiGLU on a fused [n, 2f] input (gate = columns [0, f), up = [f, 2f)): y[n, f] = silu(gate) * up.
template <typename T>
void swiglu_forward(int64_t n, int64_t f, const T* gu, T* y);
template <typename T>
void swiglu_backward(int64_t n, int64_t f, const T* gu, const T* dy, T* dgu, bool accumulate);

// y = sigmoid(x); backward uses y.
template <typename T>
void sigmoid_forward(int64_t n, const T* x, T* y);
template <typename T>
void sigmoid_backward(int64_t n, const T* y, const T* dy, T* dx, bool accumulate);

// y = tanh(x); backward uses y.
template <typename T>
void tanh_forward(int64_t n, const T* x, T* y);
template <typename T>
void tanh_backward(int64_t n, const T* y, const T* dy, T* dx, bool accumulate);

// GELU, exact (erf) form: y = x * Phi(x); backward from x.
template <typename T>
void gelu_forward(int64_t n, const T* x, T* y);
template <typename T>
void gelu_backward(int64_t n, const T* x, const T* dy, T* dx, bool accumulate);

// Row softmax over the last dim c: x, y [n, c]; backward uses y.
template <typename T>
void softmax_forward(int64_t n, int64_t c, const T* x, T* y);
template <typename T>
void softmax_backward(int64_t n, int64_t c, const T* y, const T* dy, T* dx, bool accumulate);

// Row log-sum-exp: x [n, c] -> y [n]; backward: dx = dy * softmax(x).
template <typename T>
void logsumexp_forward(int64_t n, int64_t c, const T* x, T* y);
template <typename T>
void logsumexp_backward(int64_t n, int64_t c, const T* x, const T* y, const T* dy, T* dx, bool accumulate);

// Binary cross-entropy with logits, elementwise: loss[i] = softplus(x) - t*x (stable form).
// Returns sum_i loss[i]; backward: dx = scale * (sigmoid(x) - t).
template <typename T>
double bce_with_logits_sum(int64_t n, const T* x, const T* target);
template <typename T>
void bce_with_logits_backward(int64_t n, const T* x, const T* target, T scale, T* dx, bool accumulate);

}  // namespace mor::kernels
