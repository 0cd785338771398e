// How much more memory this process may use before the system or a limit stops it: the minimum of
//   - MemAvailable from /proc/meminfo (free + reclaimable page cache, the kernel's own estimate);
//   - the memory cgroup's limit minus its usage, reclaimable file cache (inactive_file) not counted
//     as used, taken over this process's cgroup and its ancestors (v2: memory.max, memory.current;
//     v1: memory.limit_in_bytes, memory.usage_in_bytes);
//   - RLIMIT_AS (ulimit -v) minus the address space in use now (VmSize of /proc/self/status);
//   - RLIMIT_DATA (ulimit -d) minus the data segment in use now (VmData).
// A limit that is not set (or unreadable) does not count. The probe reads a handful of small files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mor {

struct MemoryLimit {
  std::string name;  // e.g. "MemAvailable", "cgroup memory.max", "ulimit -v (RLIMIT_AS)"
  int64_t bytes = 0;  // what is left under this limit
};

struct AvailableMemory {
  int64_t bytes = -1;               // the smallest of `limits`; -1 when none could be read
  std::string limited_by;           // the name of that limit
  std::vector<MemoryLimit> limits;  // every limit found
  bool known() const { return bytes >= 0; }
};

AvailableMemory available_memory();

// Pure parsers behind available_memory() (unit-tested on sample text).
// "MemAvailable:   23612000 kB" -> bytes; -1 when absent.
int64_t meminfo_available_bytes(const std::string& meminfo_text);
// A "Key:  123 kB" line of /proc/self/status -> bytes; -1 when absent.
int64_t proc_status_bytes(const std::string& status_text, const std::string& key);
// A cgroup limit file's content ("max", "9223372036854771712" or a number) -> bytes; -1 for no limit.
int64_t cgroup_limit_bytes(const std::string& text);

}  // namespace mor
