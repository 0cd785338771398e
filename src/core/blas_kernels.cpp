// OpenBLAS kernel selection; see blas_kernels.h.
#include "blas_kernels.h"

#include "cpu_features.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);

namespace mor {
namespace {

constexpr const char* kDetectedVar = "MOR_BLAS_DETECTED";  // set for the re-executed process

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// Kernel families without AVX2 GEMM kernels: what OpenBLAS falls back to on a CPU it does not know.
const char* const kLegacy[] = {"unknown", "katmai",  "coppermine", "northwood", "prescott",
                               "banias",  "atom",    "core2",      "penryn",    "dunnington",
                               "nehalem", "sandybridge", "athlon",  "opteron",   "opteron(sse3)",
                               "barcelona", "nano"};
// Families with 256-bit (AVX2 / AVX) GEMM kernels only.
const char* const k256[] = {"haswell", "zen", "excavator", "steamroller", "piledriver", "bulldozer", "skylake"};

template <size_t N>
bool in(const char* const (&set)[N], const std::string& d) {
  return std::find(std::begin(set), std::end(set), d) != std::end(set);
}

}  // namespace

std::string better_blas_core(const std::string& detected, bool avx2_fma, bool avx512) {
  const std::string d = lower(detected);
  if (!in(kLegacy, d)) return "";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

void ensure_fast_blas_kernels(char** argv) {
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  if ((user && *user) || std::getenv(kDetectedVar)) return;  // the user's choice, or already re-executed
  const char* name = openblas_get_corename();
  const std::string detected = name ? name : "unknown";
  const CpuFeatures& cpu = cpu_features();
  const std::string better = better_blas_core(detected, cpu.avx2_fma, cpu.avx512);
  if (better.empty()) return;
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
  setenv(kDetectedVar, detected.c_str(), 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  // Only reached when exec failed: keep going with OpenBLAS's own choice.
  std::fprintf(stderr, "warning: OpenBLAS chose its slow '%s' kernels and re-executing with OPENBLAS_CORETYPE=%s failed (%s). "
               "Hint: run with OPENBLAS_CORETYPE=%s set.\n", detected.c_str(), better.c_str(), std::strerror(errno), better.c_str());
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kDetectedVar);
}

std::string blas_kernel_note() {
  const char* d = std::getenv(kDetectedVar);
  if (d) return std::string("chosen by mor: OpenBLAS detected ") + d;
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  const CpuFeatures& cpu = cpu_features();
  return user && *user ? narrow_user_blas_core_note(user, cpu.avx2_fma, cpu.avx512) : "";
}

std::string narrow_user_blas_core_note(const std::string& user, bool avx2_fma, bool avx512) {
  const std::string u = lower(user);
  const bool narrow = (avx512 && (in(kLegacy, u) || in(k256, u))) || (avx2_fma && in(kLegacy, u));
  if (!narrow) return "";
  return "OPENBLAS_CORETYPE=" + user + " from the environment: narrower kernels than this CPU's " +
         (avx512 ? "AVX-512" : "AVX2") + "; unset it to get " + (avx512 ? "AVX-512" : "AVX2") + " kernels";
}

}  // namespace mor
