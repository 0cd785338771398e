// The number of CPUs this process may run on (its affinity mask: what `nproc` prints, which is
// what a container or `taskset` grants), for warnings about thread counts above it.
#pragma once
#include <sched.h>

#include <thread>

namespace mor {

inline int available_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? int(h) : 1;
}

}  // namespace mor
