// Softmax cross-entropy over rows of logits, fused with its gradient; and the same in three
// stages for a vocabulary split across ranks (the caller combines each stage's row values
// across the ranks between the calls).
#pragma once
#include <cstdint>

namespace mor::kernels {

// logits [n, V] row-major (row stride V). For each row with target >= 0:
//   loss[i] = logsumexp(logits[i]) - logits[i, target[i]]
// Rows with target < 0 are ignored (loss 0). When `grad_scale` is non-zero the logits are
// overwritten with grad_scale * (softmax(logits[i]) - onehot(target[i])) (zero for ignored rows);
// this is the fused forward+backward used by the classifier loss. Returns the sum of losses.
template <typename T>
double softmax_xent_rows(int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale,
                         T* row_loss);

// Vocabulary-sharded stages. `logits` [n, V] holds the columns [first, first + V) of each row's
// full logits; `target` holds full-vocabulary ids (< 0: ignored row).
// 1. row_max[i] = max_j logits[i, j] (V >= 1).
template <typename T>
void xent_shard_max(int64_t n, int64_t V, const T* logits, T* row_max);
// 2. With row_max the maximum over all shards: sum_exp[i] = sum_j exp(logits[i, j] - row_max[i])
//    and target_logit[i] = logits[i, target[i] - first] when this shard holds the target, else 0.
//    store_exp: the logits are overwritten with those exponentials (for stage 3).
template <typename T>
void xent_shard_exp(int64_t n, int64_t V, T* logits, const T* row_max, const int32_t* target, int64_t first,
                    bool store_exp, T* sum_exp, T* target_logit);
// 3. With sum_exp the sum over all shards: exps <- grad_scale * (exps / sum_exp - onehot(target)),
//    zero for ignored rows: this shard's columns of d(loss)/d(logits).
template <typename T>
void xent_shard_grad(int64_t n, int64_t V, T* exps, const T* sum_exp, const int32_t* target, int64_t first, T grad_scale);

}  // namespace mor::kernels
