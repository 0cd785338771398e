// ProcessGrid: the DP x TP layout of the world's ranks and one communicator per axis.
//
// Axis order is fixed, TP innermost (neighbouring ranks share a TP group, so TP traffic stays
// on a node when ranks are placed node by node):
//
//   world rank = dp_rank * tp + tp_rank        dp = world / tp
//
//   world 8, tp 2:   tp groups {0,1} {2,3} {4,5} {6,7}   (same dp_rank)
//                    dp groups {0,2,4,6} {1,3,5,7}       (same tp_rank)
//
// tp() and dp() are sub-communicators of the given world (MPI_Comm_split under MPI; size-1 local
// communicators in a run without MPI). Building a grid is collective over the world.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "communicator.h"

namespace mor::dist {

// Fails with a BadInput error when tp does not divide the world size, the query heads, the KV
// heads, d_ff or the vocabulary; the message names every failing quantity and lists the tp
// values that would work for this model on this many ranks.
void validate_layout(int world, int tp, int64_t n_heads, int64_t n_kv_heads, int64_t d_ff, int64_t vocab);

// The tp values that divide world and every model quantity (ascending; always contains 1).
std::vector<int> valid_tp_values(int world, int64_t n_heads, int64_t n_kv_heads, int64_t d_ff, int64_t vocab);

class ProcessGrid {
 public:
  // Splits `world` into DP x TP (collective). Fails (BadInput) when tp < 1 or tp does not divide
  // world.size(); the model checks are validate_layout's.
  ProcessGrid(Communicator& world, int tp);

  int tp_size() const { return tp_; }
  int dp_size() const { return dp_; }
  int tp_rank() const { return world_.rank() % tp_; }
  int dp_rank() const { return world_.rank() / tp_; }
  // World rank of grid coordinate (dp_rank, tp_rank).
  int world_rank_of(int dp_rank, int tp_rank) const { return dp_rank * tp_ + tp_rank; }

  Communicator& world() const { return world_; }
  Communicator& tp() const { return *tp_group_; }  // ranks with this dp_rank, ordered by tp_rank
  Communicator& dp() const { return *dp_group_; }  // ranks with this tp_rank, ordered by dp_rank

  // "dp 2 x tp 2 (4 ranks)"
  std::string describe() const;

 private:
  Communicator& world_;
  int tp_;
  int dp_;
  std::unique_ptr<Communicator> tp_group_;
  std::unique_ptr<Communicator> dp_group_;
};

}  // namespace mor::dist
