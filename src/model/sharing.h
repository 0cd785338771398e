// The sharing plan: which unique layer's weights each effective (unrolled) layer uses, and how
// effective layers group into recursion steps (MOR.md section 2).
//
//   none            u(l) = l                                   (vanilla)
//   cycle           u(l) = l mod B                             B = L / N_r
//   sequence        u(l) = floor(l / N_r)
//   middle_cycle    l = 0 -> 0, l = L-1 -> B+1, else 1 + (l-1) mod B      B = (L-2) / N_r
//   middle_sequence l = 0 -> 0, l = L-1 -> B+1, else 1 + floor((l-1) / N_r)
//
// Recursion step r (0-based) covers effective layers [first + r*B, first + (r+1)*B), where
// first = 1 for Middle-* (after the unshared first layer) and 0 otherwise.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mor {

class SharingPlan {
 public:
  SharingPlan(const std::string& strategy, int64_t n_layers, int64_t num_recursions);

  int64_t effective_layers() const { return L_; }
  int64_t unique_layers() const { return U_; }
  int64_t base_depth() const { return B_; }        // layers per recursion step
  int64_t num_recursions() const { return Nr_; }
  bool has_middle() const { return middle_; }      // unshared first and last layers
  int64_t unique_of(int64_t l) const { return map_[size_t(l)]; }
  // Effective layers of recursion step r in order.
  std::vector<int64_t> step_layers(int64_t r) const;
  int64_t first_step_layer() const { return middle_ ? 1 : 0; }
  const std::string& strategy() const { return strategy_; }

 private:
  std::string strategy_;
  int64_t L_, Nr_, B_, U_;
  bool middle_;
  std::vector<int64_t> map_;
};

}  // namespace mor
