// Internals shared by the runtime's files (not part of the public API): this process's CPU
// affinity mask and how many ranks on the node share it.
#pragma once
#include <cstdint>

namespace mor::dist {

struct AffinityMask {
  int cpus = 0;         // logical CPUs in the mask
  int cores = 0;        // distinct physical cores among them
  int online_cpus = 1;
  int64_t hash = 0;     // equal masks have equal hashes
};
AffinityMask affinity_mask();

// Ranks on this node with this process's affinity mask (counted at runtime_init; 1 without MPI).
int affinity_mask_sharers();

}  // namespace mor::dist
