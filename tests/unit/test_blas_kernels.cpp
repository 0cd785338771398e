// OpenBLAS kernel selection: which detected kernel families are replaced, and by what.
#include <gtest/gtest.h>

#include <cstdlib>

#include "src/core/blas_kernels.h"
#include "src/core/threads.h"

namespace mor {

TEST(BlasKernels, ReplacesLegacyFallbacksWithTheBestSupportedFamily) {
  EXPECT_EQ(better_blas_core("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(better_blas_core("Prescott", true, false), "Haswell");
  EXPECT_EQ(better_blas_core("Nehalem", true, false), "Haswell");
  EXPECT_EQ(better_blas_core("Sandybridge", true, false), "Haswell");
  EXPECT_EQ(better_blas_core("PRESCOTT", true, true), "SkylakeX");  // case-insensitive
  EXPECT_EQ(better_blas_core("Prescott", false, false), "");        // nothing better to run
}

TEST(BlasKernels, KeepsFamiliesThatHaveAvx2Kernels) {
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"})
    EXPECT_EQ(better_blas_core(core, true, true), "") << core;
}

TEST(BlasKernels, NamesAUserSettingNarrowerThanTheCpu) {
  // Haswell or Zen (256-bit kernels) on an AVX-512 CPU: half the GEMM width; said, with the fix.
  for (const char* core : {"Haswell", "zen", "Prescott"}) {
    const std::string n = narrow_user_blas_core_note(core, true, true);
    EXPECT_NE(n.find(std::string("OPENBLAS_CORETYPE=") + core), std::string::npos) << n;
    EXPECT_NE(n.find("unset it to get AVX-512 kernels"), std::string::npos) << n;
  }
  EXPECT_NE(narrow_user_blas_core_note("Prescott", true, false).find("AVX2"), std::string::npos);
  // Settings as wide as the CPU, or a CPU with nothing wider: no note.
  for (const char* core : {"SkylakeX", "Cooperlake", "SapphireRapids"}) EXPECT_EQ(narrow_user_blas_core_note(core, true, true), "") << core;
  EXPECT_EQ(narrow_user_blas_core_note("Haswell", true, false), "");
  EXPECT_EQ(narrow_user_blas_core_note("Prescott", false, false), "");
}

TEST(BlasKernels, DescriptionSaysWhenMorChoseTheKernels) {
  // This binary ran ensure_fast_blas_kernels in main(): either OpenBLAS's choice stood, or the note
  // names what it had detected.
  const std::string d = blas_description();
  if (std::getenv("MOR_BLAS_DETECTED"))
    EXPECT_NE(d.find(std::string("chosen by mor: OpenBLAS detected ") + std::getenv("MOR_BLAS_DETECTED")), std::string::npos) << d;
  else
    EXPECT_EQ(d.find("chosen by mor"), std::string::npos) << d;
}

}  // namespace mor
