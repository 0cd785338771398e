// Row movement: embedding lookup, row gather and row scatter-add, and their backward passes.
// Index arrays are int32 row numbers.
#pragma once
#include <cstdint>

namespace mor::kernels {

// out[i, :] = table[ids[i], :]                      table [V, d], out [n, d]
template <typename T>
void gather_rows(int64_t n, int64_t d, const T* table, const int32_t* ids, T* out);

// dtable[ids[i], :] += dout[i, :]   (ids may repeat; deterministic: columns split across threads)
template <typename T>
void scatter_add_rows(int64_t n, int64_t d, const T* dout, const int32_t* ids, T* dtable);

// dst[ids[i], :] = src[i, :]   (ids distinct)
template <typename T>
void scatter_rows(int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst);
// x[ids[i], :] = 0
template <typename T>
void zero_rows(int64_t n, int64_t d, const int32_t* ids, T* x);

// Checks 0 <= ids[i] < limit; returns the first bad position or -1.
int64_t find_bad_index(int64_t n, const int32_t* ids, int64_t limit);

}  // namespace mor::kernels
