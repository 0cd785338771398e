// The switch of the bf16 tensor-core attention and the f32 table entries that consult it
// (attention_tc.h). The kernels: attention_tc_forward.cu, attention_tc_backward.cu.
#include "kernels/cuda/attention_tc.h"

#include <atomic>

#include "kernels/cpu/gemm.h"  // gemm_precision()
#include "kernels/cuda/ops.h"

namespace mor::kernels {

namespace {
std::atomic<bool> g_attention_tc{false};
}
void set_cuda_attention_tc(bool on) { g_attention_tc.store(on); }
bool cuda_attention_tc() { return g_attention_tc.load(std::memory_order_relaxed); }

namespace cu {

bool attention_tc_supports(int64_t d) { return d == 64 || d == 128; }

bool attention_tc_applies(int64_t d) {
  return cuda_attention_tc() && gemm_precision() == GemmPrecision::BF16 && attention_tc_supports(d);
}

void attention_forward_f32(Stream s, const AttentionLayout& L, float scale, const float* q, const float* k,
                           const float* v, float* out, float* lse) {
  if (attention_tc_applies(L.d)) attention_forward_tc(s, L, scale, q, k, v, out, lse);
  else attention_forward<float>(s, L, scale, q, k, v, out, lse);
}

void attention_backward_f32(Stream s, const AttentionLayout& L, float scale, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const float* dout, float* dq,
                            float* dk, float* dv) {
  if (attention_tc_applies(L.d)) attention_backward_tc(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
  else attention_backward<float>(s, L, scale, q, k, v, out, lse, dout, dq, dk, dv);
}

}  // namespace cu
}  // namespace mor::kernels
