// Benchmarks; see bench.h.
#include "bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "format.h"
#include "metrics.h"
#include "optimizer.h"
#include "peak.h"
#include "precision.h"
#include "schedule.h"
#include "src/autodiff/profiler.h"
#include "src/core/rng.h"
#include "src/core/storage.h"
#include "src/core/threads.h"
#include "src/model/flops.h"
#include "src/model/memory_estimate.h"
#include "src/model/model.h"

namespace mor {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

}  // namespace

int run_bench_train(const BenchTrainOptions& o) {
  std::vector<std::string> overrides = o.overrides;
  LoadedConfig lc = load_config(o.config, overrides);
  const Config& c = lc.config;
  set_num_threads(o.threads);
  apply_train_precision(lc.source, c.train);
  const int64_t B = c.train.micro_batch, T = c.train.seq_len, GA = c.train.grad_accum;
  Model model(c.model);
  model.initialize(uint64_t(c.train.seed));
  AdamW optim(model.params(), c.train);
  Rng rng(uint64_t(c.train.seed), "bench-tokens");
  Tensor tokens = Tensor::empty({B, T + 1}, DType::I32);
  for (int64_t i = 0; i < tokens.numel(); ++i) tokens.data<int32_t>()[i] = int32_t(rng.below(uint64_t(c.model.vocab_size)));

  const FmaPeak fma = measure_fma_peak(0.3);
  const SgemmPeak peak = measure_sgemm_peak(0.5);
  auto one_step = [&]() {
    model.params().zero_grads();
    for (int64_t m = 0; m < GA; ++m) {
      ad::Tape tape;
      ad::GradScope scope(tape);
      ForwardContext ctx;
      ctx.loss_normalizer = double(B * T * GA);
      ctx.micro_batches = GA;
      ForwardResult f = model.forward(tokens, ctx);
      tape.backward(f.loss);
    }
    optim.step(c.train.lr, optim.grad_norm(), c.train.grad_clip);
  };
  using clock = std::chrono::steady_clock;
  one_step();  // warm-up: allocator cache, BLAS buffers
  memory_reset_peak();
  if (o.profile) ad::set_profiling(true);
  ad::profile_reset();
  std::vector<double> wall, cpu;
  for (int s = 0; s < o.steps; ++s) {
    double c0 = process_cpu_seconds();
    auto t0 = clock::now();
    one_step();
    wall.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    cpu.push_back(process_cpu_seconds() - c0);
  }
  const double step_s = median(wall);
  const double tokens_per_step = double(B * T * GA);
  const double tps = tokens_per_step / step_s;
  const double fpt = executed_flops_per_token(c.model, T);
  const double gflops = fpt * tps / 1e9;
  const double mfu = gflops / fma.gflops;  // against the hardware's peak
  const double sgemm_util = gflops / peak.gflops;
  MetricRecord r;
  r.strings["config"] = o.config;
  r.strings["blas"] = blas_description();
  r.strings["precision"] = c.train.precision;
  r.integers["threads"] = num_threads();
  r.integers["steps"] = o.steps;
  r.integers["tokens_per_step"] = int64_t(tokens_per_step);
  r.numbers["tokens_per_s"] = tps;
  r.numbers["step_s_median"] = step_s;
  r.numbers["step_s_min"] = *std::min_element(wall.begin(), wall.end());
  r.numbers["step_s_max"] = *std::max_element(wall.begin(), wall.end());
  r.numbers["cpu_s_per_step_median"] = median(cpu);
  r.numbers["flops_per_token"] = fpt;
  r.numbers["gflops"] = gflops;
  r.numbers["fma_peak_gflops"] = fma.gflops;
  r.numbers["sgemm_gflops"] = peak.gflops;
  r.numbers["mfu"] = mfu;
  r.numbers["sgemm_util"] = sgemm_util;
  r.numbers["peak_rss_mb"] = peak_rss_mb();
  r.numbers["peak_tensor_mb"] = double(memory_stats().peak_in_use_bytes) / 1e6;
  // Blocks the caching allocator holds (in use + cached free ones), and the start-up estimate of
  // the same run (src/model/memory_estimate.h) less the checkpoint snapshot a benchmark never takes.
  r.numbers["allocator_reserved_mb"] = double(memory_stats().in_use_bytes + memory_stats().cached_bytes) / 1e6;
  const MemoryEstimate est = estimate_training_memory(c);
  r.numbers["estimated_peak_mb"] = double(est.total() - est.checkpoint) / 1e6;
  r.lists["step_s"] = wall;
  if (o.json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    std::printf("bench train %s | %s | precision %s\n", o.config.c_str(), blas_description().c_str(),
                train_precision_description().c_str());
    std::printf("  %lld tokens/step | step %.3fs median (min %.3f, max %.3f) | cpu %.3fs/step\n",
                (long long)tokens_per_step, step_s, r.numbers["step_s_min"], r.numbers["step_s_max"], median(cpu));
    std::printf("  %s tokens/s | %.1f GFLOP/s executed (%s FLOP/token) | MFU %.1f%% of the FP32 FMA peak %.1f GFLOP/s "
                "(%d threads, %s) | sgemm_util %.1f%% of sgemm %.1f GFLOP/s (%dx%dx%d); both measured in this run\n",
                format_si(tps).c_str(), gflops, format_si(fpt, 2).c_str(), 100 * mfu, fma.gflops, fma.threads,
                fma.isa.c_str(), 100 * sgemm_util, peak.gflops, peak.size, peak.size, peak.size);
    std::printf("  peak RSS %.0f MB | peak tensors %.0f MB | allocator reserved %.0f MB | estimated peak %.0f MB\n",
                r.numbers["peak_rss_mb"], r.numbers["peak_tensor_mb"], r.numbers["allocator_reserved_mb"],
                r.numbers["estimated_peak_mb"]);
  }
  if (ad::profiling_enabled()) std::fprintf(stderr, "%s", ad::profile_report().c_str());
  return 0;
}

int run_bench_checkpoint(const BenchCheckpointOptions& o) {
  namespace fs = std::filesystem;
  LoadedConfig lc = load_config(o.config, o.overrides);
  const Config& c = lc.config;
  Model model(c.model);
  model.initialize(uint64_t(c.train.seed));
  AdamW optim(model.params(), c.train);
  using clock = std::chrono::steady_clock;
  // 1. Snapshot: what the training loop waits for. The first one page-faults fresh memory; later
  // ones reuse the allocator's cached blocks (the steady state of a run that saves periodically).
  const ParamTable& p = model.params();
  auto snapshot = [&](ckpt::Checkpoint& ck) {
    auto t0 = clock::now();
    for (size_t i = 0; i < p.size(); ++i) {
      const ParamSpec& spec = p.spec(int(i));
      ckpt::NamedTensor t{spec.name, p.var(int(i))->value.clone(), {}, {}};
      if (spec.trainable) {
        t.m = optim.exp_avg().view(p.offset(int(i)), spec.shape).clone();
        t.v = optim.exp_avg_sq().view(p.offset(int(i)), spec.shape).clone();
      }
      ck.tensors.push_back(std::move(t));
    }
    ck.config_yaml = dump_config(c);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  double first_snapshot_s = 0;
  {
    ckpt::Checkpoint cold;
    first_snapshot_s = snapshot(cold);
  }
  ckpt::Checkpoint ck;
  const double snapshot_s = snapshot(ck);
  auto t0 = clock::now();
  // 2. Write (in training this runs on a background thread) and 3. load.
  fs::create_directories(o.dir);
  const std::string path = (fs::path(o.dir) / "bench.h5").string();
  ckpt::write_checkpoint(path, ck);
  const double write_s = std::chrono::duration<double>(clock::now() - t0).count();
  const double mb = double(fs::file_size(path)) / 1e6;
  t0 = clock::now();
  ckpt::Checkpoint back = ckpt::read_checkpoint(path, true);
  const double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  fs::remove(path);
  MetricRecord r;
  r.strings["config"] = o.config;
  r.integers["params"] = p.total_numel();
  r.numbers["file_mb"] = mb;
  r.numbers["snapshot_stall_s"] = snapshot_s;
  r.numbers["first_snapshot_stall_s"] = first_snapshot_s;
  r.numbers["write_s"] = write_s;
  r.numbers["load_s"] = load_s;
  r.numbers["write_mb_per_s"] = mb / write_s;
  r.numbers["load_mb_per_s"] = mb / load_s;
  if (o.json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    std::printf("bench checkpoint %s: %s parameters (+ AdamW m, v) -> %.0f MB\n", o.config.c_str(),
                format_si(double(p.total_numel()), 2).c_str(), mb);
    std::printf("  snapshot (training stall) %.2fs (first save of a run: %.2fs, page faults) | background write %.2fs "
                "(%.0f MB/s) | load %.2fs (%.0f MB/s)\n",
                snapshot_s, first_snapshot_s, write_s, mb / write_s, load_s, mb / load_s);
  }
  return 0;
}

int run_bench_sgemm(const BenchSgemmOptions& o) {
  set_num_threads(o.threads);
  const FmaPeak f = measure_fma_peak(std::min(o.seconds, 1.0));
  SgemmPeak p = measure_sgemm_peak(o.seconds, o.size);
  if (o.json)
    std::printf("{\"sgemm_gflops\": %.3f, \"size\": %d, \"threads\": %d, \"fma_peak_gflops\": %.3f, \"fma_isa\": \"%s\"}\n",
                p.gflops, p.size, num_threads(), f.gflops, f.isa.c_str());
  else
    std::printf("sgemm %dx%dx%d: %.1f GFLOP/s (best of %.1fs) | FP32 FMA peak %.1f GFLOP/s (%s, registers only; %.0f%% "
                "reached by sgemm) | %s\n", p.size, p.size, p.size, p.gflops, o.seconds, f.gflops, f.isa.c_str(),
                100 * p.gflops / f.gflops, blas_description().c_str());
  return 0;
}

}  // namespace mor
