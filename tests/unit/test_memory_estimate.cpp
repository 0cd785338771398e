// The memory estimate (src/model/memory_estimate.h): parameter bytes equal the real parameter
// table, parts scale as the formulas say (activations linear in the micro batch, ZeRO and TP
// divisions), the activation walk matches the allocator's measured peak of a real forward +
// backward, largest_micro_batch_that_fits is exact, and the available-memory probe reads limits.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "src/core/available_memory.h"
#include "src/core/rng.h"
#include "src/core/storage.h"
#include "src/model/activation_memory.h"
#include "src/model/flops.h"
#include "src/model/memory_estimate.h"
#include "src/model/model.h"
#include "src/model/sharing.h"

namespace mor {
namespace {

// A small config; `extra` lines go under model: (indented by two spaces).
Config make(const std::string& model_extra, int64_t micro_batch = 4, int64_t seq_len = 64) {
  std::ostringstream y;
  y << "model:\n  vocab_size: 512\n  d_model: 64\n  n_layers: 8\n  n_heads: 4\n  n_kv_heads: 2\n  d_ff: 160\n"
    << model_extra << "train:\n  seq_len: " << seq_len << "\n  micro_batch: " << micro_batch
    << "\n  steps: 1\n  threads: 2\n";
  return load_config_text(y.str(), "test.yaml").config;
}

const char* kExpert = "  recursion:\n    sharing: middle_cycle\n    num_recursions: 3\n  mor:\n    type: expert\n";
const char* kToken =
    "  recursion:\n    sharing: middle_cycle\n    num_recursions: 3\n  mor:\n    type: token\n    bal_warmup_steps: 10\n";
const char* kRecursive = "  recursion:\n    sharing: middle_cycle\n    num_recursions: 3\n";

int64_t block(int64_t bytes) { return int64_t(storage_block_bytes(size_t(bytes))); }

TEST(MemoryEstimate, ParametersAreTheParameterTable) {
  for (const std::string& extra :
       {std::string(), std::string(kExpert), std::string(kToken), std::string("  tie_embeddings: false\n"),
        std::string(kExpert) + "    router_type: mlp\n    sampling: aux_router\n",
        std::string(kToken) + "    balancing: loss_free\n",
        std::string("  recursion:\n    sharing: cycle\n    num_recursions: 2\n    ln_share: false\n")}) {
    const Config c = make(extra);
    Model model(c.model);
    const int64_t arena = block(4 * model.params().total_numel());
    const MemoryEstimate e = estimate_training_memory(c);
    EXPECT_EQ(e.parameters, arena) << extra;
    EXPECT_EQ(e.gradients, arena) << extra;
    EXPECT_EQ(e.optimizer, 2 * arena) << extra;
    EXPECT_EQ(e.checkpoint, 3 * arena) << extra;
  }
}

TEST(MemoryEstimate, ActivationsLinearInMicroBatchParametersNot) {
  for (const char* extra : {"", kExpert, kToken}) {
    auto at = [&](int64_t b) { return estimate_training_memory(make(extra, b, 128)); };
    const MemoryEstimate e8 = at(8), e16 = at(16), e32 = at(32);
    EXPECT_EQ(e8.parameters, e32.parameters);
    EXPECT_EQ(e8.optimizer, e32.optimizer);
    EXPECT_EQ(e8.checkpoint, e32.checkpoint);
    // Doubling the micro batch doubles the activations (up to allocator rounding of small tensors).
    EXPECT_NEAR(double(e32.activations) / double(e16.activations), 2.0, 0.05) << extra;
    EXPECT_NEAR(double(e16.activations) / double(e8.activations), 2.0, 0.08) << extra;
    EXPECT_GT(e32.logits, e16.logits);
  }
}

TEST(MemoryEstimate, ZeroShardsOptimizerThenGradientsThenParameters) {
  const Config c = make(kExpert);
  const MemoryEstimate base = estimate_training_memory(c);
  const MemoryEstimate z1 = estimate_training_memory(c, 4, 1, 1);
  EXPECT_EQ(z1.optimizer, (base.optimizer + 3) / 4);
  EXPECT_EQ(z1.gradients, base.gradients);
  EXPECT_EQ(z1.parameters, base.parameters);
  EXPECT_EQ(z1.activations, base.activations);  // data parallelism does not split a micro batch
  const MemoryEstimate z2 = estimate_training_memory(c, 4, 1, 2);
  EXPECT_EQ(z2.gradients, (base.gradients + 3) / 4);
  EXPECT_EQ(z2.parameters, base.parameters);
  const MemoryEstimate z3 = estimate_training_memory(c, 4, 1, 3);
  EXPECT_EQ(z3.parameters, (base.parameters + 3) / 4);
  EXPECT_EQ(estimate_training_memory(c, 4, 1, 0).total(), base.total());  // plain DP: full replicas
}

TEST(MemoryEstimate, Bf16CountsTheRoundedCopies) {
  // train.precision: bf16 on the CPU keeps bf16 copies of the LM head's weight (plain and two
  // blocked layouts), of a block's h and gradient tile, and of the largest layer GEMM operands;
  // fp32 none, and neither does bf16 on CUDA.
  Config c = make(kExpert);
  const MemoryEstimate fp32 = estimate_training_memory(c);
  c.train.precision = "bf16";
  const MemoryEstimate bf16 = estimate_training_memory(c);
  const ModelConfig& m = c.model;
  const int64_t n = c.train.micro_batch * c.train.seq_len, V = m.vocab_size, d = m.d_model;
  const ActivationMemory a = activation_memory(m, c.train.micro_batch, c.train.seq_len);
  const int64_t added = a.bf16 + 6 * a.bf16_weights;  // MoR-3: the shared weights are used again
  EXPECT_EQ(bf16.logits - fp32.logits, added);
  EXPECT_GE(bf16.total(), fp32.total());  // (the sgemm probe's share of the overhead may absorb part)
  EXPECT_GE(added, 2 * 3 * V * d + 2 * n * 2 * m.d_ff);
  EXPECT_EQ(bf16.activations, fp32.activations);
  c.model.recursion.num_recursions = 1;  // each weight used once per step: none kept
  c.train.grad_accum = 1;
  const ActivationMemory once = activation_memory(c.model, c.train.micro_batch, c.train.seq_len);
  EXPECT_EQ(estimate_training_memory(c).logits - fp32.logits, once.bf16);
  c.train.grad_accum = 2;  // used again by the second micro-batch
  EXPECT_EQ(estimate_training_memory(c).logits - fp32.logits, once.bf16 + 6 * once.bf16_weights);
  c.train.device = "cuda";  // the CUDA GEMMs round into per-call scratch: nothing kept
  EXPECT_EQ(estimate_training_memory(c).logits, fp32.logits);
}

TEST(MemoryEstimate, TensorParallelDividesShardedParameters) {
  const Config c = make(kExpert);
  const ModelConfig& m = c.model;
  // Sharded: embedding and every layer matrix; replicated: norms and routers.
  const SharingPlan plan(m.recursion.sharing, m.n_layers, m.recursion.num_recursions);
  const int64_t d = m.d_model, hq = m.n_heads * m.hdim(), hkv = m.kv_heads() * m.hdim();
  const int64_t sharded = plan.unique_layers() * (2 * d * hq + 2 * d * hkv + 3 * d * m.d_ff) + m.vocab_size * d;
  const int64_t replicated = unique_params(m, true) - sharded;
  ASSERT_GT(replicated, 0);
  const MemoryEstimate t1 = estimate_training_memory(c), t2 = estimate_training_memory(c, 1, 2, 0);
  EXPECT_EQ(t2.parameters, block(4 * (sharded / 2 + replicated)));
  EXPECT_EQ(t2.optimizer, 2 * t2.parameters);
  // Sharded layer widths halve; the residual stream [n, d] stays whole on every rank.
  EXPECT_LT(t2.activations, t1.activations);
  EXPECT_GT(t2.activations, t1.activations / 2);
  EXPECT_LT(t2.logits, t1.logits);
}

TEST(MemoryEstimate, RoutingCapacitiesShrinkActivations) {
  const int64_t rec = activation_memory(make(kRecursive).model, 4, 64).tape;
  const int64_t expert = activation_memory(make(kExpert).model, 4, 64).tape;
  const int64_t token = activation_memory(make(kToken).model, 4, 64).tape;
  EXPECT_LT(expert, rec);   // recursions 2 and 3 see 2/3 and 1/3 of the tokens
  EXPECT_GE(token, rec);    // token-choice is estimated at its worst case: every token runs every step
  const int64_t warm = activation_memory(make(std::string(kExpert) + "    cap_warmup_steps: 5\n").model, 4, 64).tape;
  EXPECT_GT(warm, expert);  // the capacity warm-up starts at capacity 1
}

// The walk against the caching allocator's peak of a real forward + backward of one micro batch.
double measured_over_estimated(const Config& c) {
  Model model(c.model);
  model.initialize(1);
  const int64_t B = c.train.micro_batch, T = c.train.seq_len;
  Rng rng(7, "tokens");
  Tensor tokens = Tensor::empty({B, T + 1}, DType::I32);
  for (int64_t i = 0; i < tokens.numel(); ++i) tokens.data<int32_t>()[i] = int32_t(rng.below(uint64_t(c.model.vocab_size)));
  const int64_t before = memory_stats().in_use_bytes;
  memory_reset_peak();
  {
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardContext ctx;
    ctx.step = 0;
    Rng routing(3, "routing");
    ctx.rng = &routing;
    ForwardResult f = model.forward(tokens, ctx);
    tape.backward(f.loss);
  }
  const double measured = double(memory_stats().peak_in_use_bytes - before);
  const ActivationMemory a = activation_memory(c.model, B, T);
  return measured / double(a.tape + a.backward + a.loss);
}

TEST(MemoryEstimate, ActivationWalkMatchesAllocatorPeak) {
  for (const std::string& extra : {std::string(), std::string(kRecursive), std::string(kExpert), std::string(kToken),
                                  std::string(kExpert) + "  kv_mode: share\n",
                                  std::string(kExpert) + "    router_type: mlp\n    z_coeff: 0.001\n"}) {
    const double r = measured_over_estimated(make(extra, 4, 64));
    // The walk counts every kept tensor; the backward working set and the loss buffers are upper
    // bounds that are not all alive at the same instant.
    EXPECT_GT(r, 0.85) << extra;
    EXPECT_LE(r, 1.0) << extra;
  }
}

TEST(MemoryEstimate, LargestMicroBatchThatFitsIsTheLargest) {
  const Config c = make(kExpert);
  auto need = [&](int64_t b) {
    Config p = c;
    p.train.micro_batch = b;
    return estimate_training_memory(p).total();
  };
  for (int64_t b : {1, 5, 13, 64}) {
    EXPECT_EQ(largest_micro_batch_that_fits(c, need(b)), b);
    EXPECT_EQ(largest_micro_batch_that_fits(c, need(b + 1) - 1), b);
  }
  EXPECT_EQ(largest_micro_batch_that_fits(c, need(1) - 1), 0);
  EXPECT_EQ(largest_micro_batch_that_fits(c, need(100), 1, 1, 0, 37), 37);  // capped by the limit
}

TEST(MemoryEstimate, GenerationKvCacheByMode) {
  const ModelConfig vanilla = make("").model, mor = make(kExpert).model;
  const ModelConfig share = make(std::string(kExpert) + "  kv_mode: share\n").model;
  const int64_t kv_row = 2 * 2 * 16 * 4 + 4;  // K and V of 2 heads x 16 dims in f32, plus the position
  // 8 layers, each caching all 1024 tokens (64 whole pages).
  EXPECT_EQ(estimate_generation_memory(vanilla, 1, 1024).kv_cache, 8 * 1024 * kv_row);
  // Recursion-wise caching, worst case (every token reaches every depth): as many caches as layers.
  EXPECT_EQ(estimate_generation_memory(mor, 1, 1024).kv_cache, 8 * 1024 * kv_row);
  // KV sharing: first and last layer plus the 2 layers of the first recursion.
  EXPECT_EQ(estimate_generation_memory(share, 1, 1024).kv_cache, 4 * 1024 * kv_row);
  EXPECT_EQ(estimate_generation_memory(vanilla, 3, 1024).kv_cache, 3 * 8 * 1024 * kv_row);
  // The engine's pool holds whole pages of 16 rows: 1025 tokens take 65 pages.
  EXPECT_EQ(estimate_generation_memory(vanilla, 1, 1025).kv_cache, 8 * 65 * 16 * kv_row);
}

TEST(AvailableMemory, Parsers) {
  EXPECT_EQ(meminfo_available_bytes("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), 2048 * 1024);
  EXPECT_EQ(meminfo_available_bytes("MemTotal: 100 kB\n"), -1);
  EXPECT_EQ(proc_status_bytes("Name: mor\nVmSize:\t  1000 kB\nVmData: 5 kB\n", "VmSize"), 1000 * 1024);
  EXPECT_EQ(proc_status_bytes("VmSize: 1 kB\n", "VmData"), -1);
  EXPECT_EQ(cgroup_limit_bytes("max\n"), -1);
  EXPECT_EQ(cgroup_limit_bytes("9223372036854771712\n"), -1);  // cgroup v1 "unlimited"
  EXPECT_EQ(cgroup_limit_bytes("8589934592\n"), 8589934592LL);
  EXPECT_EQ(cgroup_limit_bytes(""), -1);
}

TEST(AvailableMemory, SeesMemAvailable) {
  const AvailableMemory a = available_memory();
  ASSERT_TRUE(a.known());
  EXPECT_GT(a.bytes, 0);
  bool meminfo = false;
  for (const MemoryLimit& l : a.limits) meminfo |= l.name == "MemAvailable";
  EXPECT_TRUE(meminfo);
}

// In a forked child (the limit must not constrain the test binary): ulimit -v of VmSize + 300 MB
// leaves at most 300 MB and names RLIMIT_AS.
TEST(AvailableMemory, AddressSpaceLimitMinusWhatIsMapped) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::ifstream f("/proc/self/status");
    std::stringstream s;
    s << f.rdbuf();
    const int64_t vm = proc_status_bytes(s.str(), "VmSize");
    rlimit rl{rlim_t(vm + 300000000), rlim_t(vm + 300000000)};
    setrlimit(RLIMIT_AS, &rl);
    const AvailableMemory a = available_memory();
    const int ok = a.bytes > 0 && a.bytes <= 300000000 && a.limited_by == "ulimit -v (RLIMIT_AS)";
    (void)!write(fds[1], &ok, sizeof ok);
    _exit(0);
  }
  close(fds[1]);
  int ok = 0;
  ASSERT_EQ(read(fds[0], &ok, sizeof ok), ssize_t(sizeof ok));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(ok, 1);
}

}  // namespace
}  // namespace mor
