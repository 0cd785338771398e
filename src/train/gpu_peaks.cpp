// Published GPU peaks; see gpu_peaks.h.
#include "gpu_peaks.h"

#include <cstdio>

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

MfuPeak gpu_mfu_peak(Device d, bool bf16, bool tf32) {
  const std::string name = device_name(d);
  MfuPeak m;
  const GpuPeak* p = published_gpu_peak(name);
  if (!p) {
    m.what = name + ": not in the table of published peaks (src/train/gpu_peaks.cpp), MFU not computed";
    return m;
  }
  const double tflops = bf16 ? p->bf16_tflops : tf32 ? p->tf32_tflops : p->fp32_tflops;
  m.gflops = tflops * 1e3;
  char b[256];
  std::snprintf(b, sizeof b, "%s: %.1f TFLOP/s dense %s (published, %s)", name.c_str(), tflops,
                bf16 ? "bf16" : tf32 ? "tf32" : "fp32", p->device);
  m.what = b;
  return m;
}

const GpuPeak* published_gpu_peak(const std::string& name) {
  for (const Row& r : kRows)
    if (name.find(r.must_contain) != std::string::npos) return &r.peak;
  return nullptr;
}

}  // namespace mor
