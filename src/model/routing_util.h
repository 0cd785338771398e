// Helpers shared by the expert- and token-choice forward passes: row subsets of a packed batch
// and their attention layouts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/autodiff/ops.h"

namespace mor {
struct ForwardContext;  // model.h

// Layout of the rows `rows` (global row numbers into `full`, sorted within each sequence, grouped
// by sequence with counts[s] rows for sequence s): positions are the rows' original positions.
ad::SeqLayout subset_layout(const Tensor& rows, const std::vector<int64_t>& counts, const ad::SeqLayout& full);

// Rows per sequence of a layout.
std::vector<int64_t> layout_counts(const ad::SeqLayout& l);

// out[i] = table[idx[i]] for i32 tensors.
Tensor take_i32(const Tensor& table, const Tensor& idx);

// "training step 12, recursion 2" (step = ctx_step + 1 while training; "evaluation" otherwise):
// names a routing decision in the tensor-parallel selection check.
std::string routing_context(const ForwardContext& ctx, int64_t r);

// i32 tensor from a vector.
Tensor to_i32(const std::vector<int32_t>& v);
// i32 [0, 1, ..., n-1].
Tensor all_rows(int64_t n);
// Rows per sequence of `layout` of the local rows `local` (ascending indices into the layout).
std::vector<int64_t> counts_of(const Tensor& local, const ad::SeqLayout& layout);

}  // namespace mor
