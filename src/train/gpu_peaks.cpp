// Published GPU peaks; see gpu_peaks.h.
#include "gpu_peaks.h"

namespace mor {
namespace {

struct Row {
  const char* must_contain;  // in the CUDA device name
  GpuPeak peak;
};

// Most specific first: "H100 PCIe" and "H100 NVL" before the SXM part, whose name says neither.
const Row kRows[] = {
    {"H100 PCIe", {"H100 PCIe", 756.0, 378.0, 51.2}},
    {"H100 NVL", {"H100 NVL", 835.0, 417.5, 60.0}},
    {"H100", {"H100 SXM5", 989.4, 494.7, 66.9}},
    {"H200", {"H200 SXM", 989.4, 494.7, 66.9}},
    {"A100", {"A100", 312.0, 156.0, 19.5}},
};

}  // namespace

const GpuPeak* published_gpu_peak(const std::string& name) {
  for (const Row& r : kRows)
    if (name.find(r.must_contain) != std::string::npos) return &r.peak;
  return nullptr;
}

}  // namespace mor
