// OpenMP threads per rank from the affinity mask and the ranks sharing it; see runtime.h
// (threads_per_rank, choose_threads). Mask sharers are counted at runtime_init (runtime.cpp).
#include <sched.h>
#include <unistd.h>

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "runtime.h"
#include "runtime_internal.h"

namespace mor::dist {
namespace {

int read_int_file(const std::string& path) {
  std::ifstream f(path);
  int v = -1;
  return (f >> v) ? v : -1;
}

}  // namespace

AffinityMask affinity_mask() {
  AffinityMask m;
  cpu_set_t set;
  CPU_ZERO(&set);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  m.online_cpus = online > 0 ? int(online) : 1;
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    m.cpus = m.cores = m.online_cpus;
    return m;
  }
  std::set<std::pair<int, int>> cores;  // (package, core id) of each CPU in the mask
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the CPU numbers: equal masks, equal hashes
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    ++m.cpus;
    h = (h ^ uint64_t(c)) * 1099511628211ull;
    const std::string topo = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    cores.insert({read_int_file(topo + "physical_package_id"), read_int_file(topo + "core_id")});
  }
  m.cores = cores.empty() ? m.cpus : int(cores.size());
  if (cores.size() == 1 && cores.begin()->second < 0) m.cores = m.cpus;  // no topology in /sys
  m.hash = int64_t(h & 0x7fffffffffffffffull);
  return m;
}

int choose_threads(const ThreadInputs& in, std::string* reason) {
  auto say = [&](const std::string& r) {
    if (reason) *reason = r;
  };
  if (in.configured > 0) {
    say("configured");
    return in.configured;
  }
  if (in.omp_env_threads > 0) {
    say("OMP_NUM_THREADS");
    return in.omp_env_threads;
  }
  if (in.mask_sharers <= 1 && in.mask_cpus < in.online_cpus) {
    say("this rank is bound to " + std::to_string(in.mask_cpus) + " of " + std::to_string(in.online_cpus) + " CPUs");
    return std::max(1, in.mask_cpus);
  }
  const int n = std::max(1, in.mask_cores / std::max(1, in.mask_sharers));
  say(std::to_string(in.mask_cores) + " cores shared by " + std::to_string(std::max(1, in.mask_sharers)) +
      " rank(s) on this node");
  return n;
}

int threads_per_rank(int configured, std::string* reason) {
  const AffinityMask m = affinity_mask();
  ThreadInputs in;
  in.configured = configured;
  const char* omp = std::getenv("OMP_NUM_THREADS");
  in.omp_env_threads = (omp && *omp) ? omp_get_max_threads() : 0;
  in.mask_cpus = m.cpus;
  in.mask_cores = m.cores;
  in.online_cpus = m.online_cpus;
  in.mask_sharers = affinity_mask_sharers();
  return choose_threads(in, reason);
}

}  // namespace mor::dist
