// Executed-FLOP counter for tests and diagnostics: linear and attention ops add the useful FLOPs
// they execute (2 n in out per GEMM; attention counts only visible query-key pairs) under the
// current label ("model" unless a FlopLabel scope says otherwise, e.g. "router").
#pragma once
#include <map>
#include <string>

namespace mor::ad {

void flops_add(double flops);  // under the current label
std::map<std::string, double> flops_counted();
// Clears the counts and turns counting on (it is off until the first call): while it is off, ops
// skip work done only for the count (attention's visible query-key pairs).
void flops_reset();
bool flops_counting();

class FlopLabel {
 public:
  explicit FlopLabel(const char* label);
  ~FlopLabel();

 private:
  const char* previous_;
};

}  // namespace mor::ad
