// Helpers shared by the expert- and token-choice forward passes: row subsets of a packed batch
// and their attention layouts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/autodiff/ops.h"

namespace mor {
struct ForwardContext;  // model.h

// Layout of the rows `rows` (global row numbers into `full`, on its device, sorted within each
// sequence, grouped by sequence with counts[s] rows for sequence s): positions are the rows'
// original positions (gathered on the device; the offsets come from the host counts).
ad::SeqLayout subset_layout(const Tensor& rows, const std::vector<int64_t>& counts, const ad::SeqLayout& full);

// Rows per sequence of a layout (its offsets are on the host).
std::vector<int64_t> layout_counts(const ad::SeqLayout& l);

// "training step 12, recursion 2" (step = ctx_step + 1 while training; "evaluation" otherwise):
// names a routing decision in the tensor-parallel selection check.
std::string routing_context(const ForwardContext& ctx, int64_t r);

}  // namespace mor
