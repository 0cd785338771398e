// Causal grouped-query attention over packed variable-length sequences with explicit positions.
//
// Rows of all sequences are packed: sequence s owns query rows [q_off[s], q_off[s+1]) and key/value
// rows [k_off[s], k_off[s+1]). Query i may attend to key j of the same sequence iff
// k_pos[j] <= q_pos[i]. Positions are ascending within a sequence. This one rule covers plain
// causal attention, MoR's compacted token subsets (attention only among active tokens, by
// original position) and KV sharing (queries from a subset, keys from the full sequence).
//
// Each row of q holds Hq heads of D values at stride q_stride elements between rows (likewise
// k, v, out), so q/k/v can be head slices of one fused qkv tensor. Query head h uses key/value
// head h / (Hq / Hkv).
#pragma once
#include <cstdint>

namespace mor::kernels {

struct AttentionLayout {
  int64_t n_seq = 0;
  const int64_t* q_off = nullptr;  // [n_seq + 1]
  const int64_t* k_off = nullptr;  // [n_seq + 1]
  const int32_t* q_pos = nullptr;  // [Nq]
  const int32_t* k_pos = nullptr;  // [Nk]
  int64_t hq = 0, hkv = 0, d = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0, o_stride = 0;
};

// out [Nq, Hq, D] (stride o_stride); lse [Nq, Hq] log-sum-exp of the scaled scores (for backward).
// A query with no visible key gets out = 0 and lse = -inf.
template <typename T>
void attention_forward(const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                       T* lse);

// Accumulates dq, dk, dv (+=). Any of them may be null when not needed.
template <typename T>
void attention_backward(const AttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv);

}  // namespace mor::kernels
