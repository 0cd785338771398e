// Softmax cross-entropy over rows of logits, fused with its gradient (the cross_entropy op; the
// LM head's fused version, for a whole or a split vocabulary, is lmhead_xent.h).
#pragma once
#include <cstdint>

namespace mor::kernels {

// logits [n, V] row-major (row stride V). For each row with target >= 0:
//   loss[i] = logsumexp(logits[i]) - logits[i, target[i]]
// Rows with target < 0 are ignored (loss 0). When `grad_scale` is non-zero the logits are
// overwritten with grad_scale * (softmax(logits[i]) - onehot(target[i])) (zero for ignored rows);
// the fused forward+backward of cross_entropy (and of lmhead_lab's pre-issue-15 baseline). Returns
// the sum of losses.
template <typename T>
double softmax_xent_rows(int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale,
                         T* row_loss);

}  // namespace mor::kernels
