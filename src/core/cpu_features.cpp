// CPU feature detection and the kernel-build report; see cpu_features.h.
#include "cpu_features.h"

#include <cpuid.h>

#include <fstream>

#include "kernels/cpu/isa_level.h"

namespace mor {
namespace {

// XCR0 (which register states the OS saves), or 0 when XGETBV is not available.
unsigned long long xcr0() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = f.avx512 && (a & (1u << 5));
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
    const unsigned long long tile_state = (1ull << 17) | (1ull << 18);  // XTILECFG | XTILEDATA
    f.amx_bf16 = tile && bf16 && (xcr0() & tile_state) == tile_state;
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown CPU" : line.substr(start);
  }
  return "unknown CPU";
}

std::string cpu_kernels_description() {
  const CpuFeatures& f = cpu_features();
  std::string s = std::string("kernels ") + kernels::isa_level() + " (CPU:";
  if (!f.avx2_fma && !f.avx512) s += " no avx2";
  if (f.avx2_fma) s += " avx2+fma";
  if (f.avx512) s += " avx512";
  if (f.avx512_bf16) s += " avx512-bf16";
  if (f.amx_bf16) s += " amx-bf16";
  return s + ")";
}

}  // namespace mor
