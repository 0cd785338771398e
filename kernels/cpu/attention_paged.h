// Causal grouped-query attention whose keys/values live in pages of a cache (the inference
// engine's KV memory), forward only.
//
// Query rows are packed as in attention.h: sequence s owns rows [q_off[s], q_off[s+1]). Its keys
// are the pages pg_off[s] .. pg_off[s+1]-1 in order; page g covers the rows [pages[2g],
// pages[2g] + pages[2g+1]) of k/v (row stride k_stride / v_stride elements) with positions
// k_pos[row], ascending along the sequence. Query i attends to key j iff k_pos[j] <= q_pos[i].
// One pass per (query, head) with an online softmax (running max and sum), so nothing of size
// [queries, keys] is formed: decode queries are few and their keys many.
#pragma once
#include <cstdint>

namespace mor::kernels {

struct PagedAttentionLayout {
  int64_t n_seq = 0;
  const int64_t* q_off = nullptr;   // [n_seq + 1]
  const int32_t* q_pos = nullptr;   // [Nq]
  const int64_t* pg_off = nullptr;  // [n_seq + 1] into the page list
  const int64_t* pages = nullptr;   // [G, 2]: first row, rows
  const int32_t* k_pos = nullptr;   // positions of the cache rows
  int64_t hq = 0, hkv = 0, d = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0, o_stride = 0;
};

// out [Nq, Hq, D] (stride o_stride); lse [Nq, Hq]. A query with no visible key gets out = 0 and
// lse = -inf.
template <typename T>
void attention_forward_paged(const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                             T* lse);

}  // namespace mor::kernels
