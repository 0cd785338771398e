// Memory this process may still use; see available_memory.h.
#include "available_memory.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace mor {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return "";
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// "key value" lines (memory.stat) -> value of `key`, -1 when absent.
int64_t stat_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  long long v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}

// A memory cgroup hierarchy mounted at `mount` whose root is `root`.
struct CgroupMount {
  std::string mount, root;
  bool v2 = false;
};

// The memory hierarchies from /proc/self/mountinfo:
// "id parent maj:min root mountpoint options... - fstype source superoptions".
std::vector<CgroupMount> memory_mounts() {
  std::vector<CgroupMount> out;
  std::istringstream in(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, dev, root, mount, fstype, source, super;
    head >> id >> parent >> dev >> root >> mount;
    tail >> fstype >> source >> super;
    if (fstype == "cgroup2") out.push_back({mount, root, true});
    if (fstype == "cgroup" && ("," + super + ",").find(",memory,") != std::string::npos)
      out.push_back({mount, root, false});
  }
  return out;
}

// The limit left in the cgroup at `dir` and its ancestors up to `top` (-1: no limit found).
int64_t cgroup_headroom(std::string dir, const std::string& top, bool v2) {
  int64_t best = -1;
  for (;;) {
    const int64_t limit = cgroup_limit_bytes(read_text(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes")));
    if (limit >= 0) {
      int64_t usage = std::max<int64_t>(0, cgroup_limit_bytes(read_text(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"))));
      const int64_t inactive = stat_value(read_text(dir + "/memory.stat"), v2 ? "inactive_file" : "total_inactive_file");
      if (inactive > 0) usage = std::max<int64_t>(0, usage - inactive);  // reclaimable page cache
      const int64_t left = std::max<int64_t>(0, limit - usage);
      best = best < 0 ? left : std::min(best, left);
    }
    if (dir.size() <= top.size()) break;
    const auto slash = dir.find_last_of('/');
    if (slash == std::string::npos || slash < top.size()) break;
    dir = dir.substr(0, slash);
  }
  return best;
}

// This process's memory cgroups (one per hierarchy) from /proc/self/cgroup:
// "0::/path" (v2) or "4:memory:/path" (v1).
void add_cgroup_limits(std::vector<MemoryLimit>& out) {
  std::istringstream in(read_text("/proc/self/cgroup"));
  const auto mounts = memory_mounts();
  for (std::string line; std::getline(in, line);) {
    const auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    const bool v2 = controllers.empty();
    if (!v2 && ("," + controllers + ",").find(",memory,") == std::string::npos) continue;
    for (const CgroupMount& m : mounts) {
      if (m.v2 != v2) continue;
      // The path is relative to the hierarchy's root; a container sees only its own subtree.
      std::string rel = path;
      if (m.root != "/" && rel.rfind(m.root, 0) == 0) rel = rel.substr(m.root.size());
      if (rel == "/") rel.clear();
      const int64_t left = cgroup_headroom(m.mount + rel, m.mount, v2);
      if (left >= 0) out.push_back({v2 ? "cgroup memory.max" : "cgroup memory.limit_in_bytes", left});
    }
  }
}

void add_rlimit(std::vector<MemoryLimit>& out, int resource, const std::string& name, const std::string& status_key) {
  rlimit rl{};
  if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
  const int64_t used = std::max<int64_t>(0, proc_status_bytes(read_text("/proc/self/status"), status_key));
  const int64_t limit = rl.rlim_cur > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                                       : int64_t(rl.rlim_cur);
  out.push_back({name, std::max<int64_t>(0, limit - used)});
}

}  // namespace

int64_t meminfo_available_bytes(const std::string& text) { return proc_status_bytes(text, "MemAvailable"); }

int64_t proc_status_bytes(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream v(line.substr(key.size() + 1));
    long long n = 0;
    std::string unit;
    if (!(v >> n)) return -1;
    v >> unit;
    return unit == "kB" ? int64_t(n) * 1024 : int64_t(n);
  }
  return -1;
}

int64_t cgroup_limit_bytes(const std::string& text) {
  std::istringstream in(text);
  std::string word;
  if (!(in >> word) || word == "max") return -1;
  long double v = 0;
  try {
    v = std::stold(word);
  } catch (const std::exception&) {
    return -1;
  }
  // cgroup v1 reports "no limit" as the largest page-aligned signed 64-bit value.
  if (v >= (long double)(std::numeric_limits<int64_t>::max() / 2)) return -1;
  return int64_t(v);
}

AvailableMemory available_memory() {
  AvailableMemory a;
  const int64_t avail = meminfo_available_bytes(read_text("/proc/meminfo"));
  if (avail >= 0) a.limits.push_back({"MemAvailable", avail});
  add_cgroup_limits(a.limits);
  add_rlimit(a.limits, RLIMIT_AS, "ulimit -v (RLIMIT_AS)", "VmSize");
  add_rlimit(a.limits, RLIMIT_DATA, "ulimit -d (RLIMIT_DATA)", "VmData");
  for (const MemoryLimit& l : a.limits)
    if (a.bytes < 0 || l.bytes < a.bytes) a.bytes = l.bytes, a.limited_by = l.name;
  return a;
}

}  // namespace mor
