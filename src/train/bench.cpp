// Benchmarks; see bench.h.
#include "bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "format.h"
#include "gpu_peaks.h"
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

namespace {

// One optimizer step of `GA` micro-batches of `tokens`, then a device synchronisation (timing).
void bench_step(Model& model, AdamW& optim, const Config& c, const Tensor& tokens) {
  const int64_t B = tokens.dim(0), T = tokens.dim(1) - 1, GA = c.train.grad_accum;
  model.params().zero_grads();
  {
    ConstantParamsScope constant_params(model.params(), weights_reused(c));  // as the trainer does
    for (int64_t m = 0; m < GA; ++m) {
      ad::Tape tape;
      ad::GradScope scope(tape);
      ForwardContext ctx;
      ctx.loss_normalizer = double(B * T * GA);
      ctx.micro_batches = GA;
      ForwardResult f = model.forward(tokens, ctx);
      tape.backward(f.loss);
    }
    constant_params.close();
  }
  optim.step(c.train.lr, optim.grad_norm(), c.train.grad_clip);
  device_synchronize(model.device());
}

Tensor bench_tokens(const Config& c, int64_t B) {
  Rng rng(uint64_t(c.train.seed), "bench-tokens");
  Tensor tokens = Tensor::empty({B, c.train.seq_len + 1}, DType::I32);
  for (int64_t i = 0; i < tokens.numel(); ++i) tokens.data<int32_t>()[i] = int32_t(rng.below(uint64_t(c.model.vocab_size)));
  return tokens;
}

// Whether one training step at micro batch B fits the device (a fresh model and optimizer).
bool step_fits(const Config& c, Device dev, int64_t B) {
  try {
    Model model(c.model, DType::F32, nullptr, dev);
    model.initialize(uint64_t(c.train.seed));
    AdamW optim(model.params(), c.train);
    bench_step(model, optim, c, bench_tokens(c, B));
    return true;
  } catch (const OutOfMemoryError&) {
    memory_release_cached(dev);
    return false;
  }
}

// The largest micro batch whose step fits: doubling from `from`, then bisecting.
int64_t largest_micro_batch(const Config& c, Device dev, int64_t from) {
  int64_t ok = 0, bad = 0;
  for (int64_t b = std::max<int64_t>(1, from);; b *= 2) {
    if (!step_fits(c, dev, b)) {
      bad = b;
      break;
    }
    ok = b;
    if (b >= (int64_t(1) << 16)) return ok;
  }
  while (bad - ok > 1) {
    const int64_t mid = ok + (bad - ok) / 2;
    (step_fits(c, dev, mid) ? ok : bad) = mid;
  }
  return ok;
}

}  // namespace

int run_bench_train(const BenchTrainOptions& o) {
  std::vector<std::string> overrides = o.overrides;
  LoadedConfig lc = load_config(o.config, overrides);
  const Config& c = lc.config;
  const Device dev = parse_device(o.device.empty() ? c.train.device : o.device);
  if (o.max_batch && dev.host_memory())
    fail_input("--max-batch searches the largest micro batch that fits a GPU's memory. Hint: on ", dev.str(),
               ", `mor train` prints the memory estimate of a config before it allocates (src/model/memory_estimate.h).");
  set_num_threads(o.threads);
  device_activate(dev);
  apply_train_precision(lc.source, c.train, dev);
  const int64_t B = c.train.micro_batch, T = c.train.seq_len, GA = c.train.grad_accum;
  Model model(c.model, DType::F32, nullptr, dev);
  model.initialize(uint64_t(c.train.seed));
  AdamW optim(model.params(), c.train);
  const Tensor tokens = bench_tokens(c, B);

  // The MFU denominator: the CPU's FMA peak measured now, or the GPU's published dense peak.
  const bool bf16 = c.train.precision == "bf16";
  const FmaPeak fma = dev.is_cuda() ? FmaPeak{} : measure_fma_peak(0.3);
  const SgemmPeak peak = dev.is_cuda() ? SgemmPeak{} : measure_sgemm_peak(0.5);
  const MfuPeak gpu = dev.is_cuda() ? gpu_mfu_peak(dev, bf16, c.train.tf32) : MfuPeak{};
  const double peak_gflops = dev.is_cuda() ? gpu.gflops : fma.gflops;
  using clock = std::chrono::steady_clock;
  bench_step(model, optim, c, tokens);  // warm-up: allocator cache, BLAS buffers, cuBLASLt plans
  memory_reset_peak(dev);
  if (o.profile) ad::set_profiling(true);
  ad::profile_reset();
  std::vector<double> wall, cpu;
  for (int s = 0; s < o.steps; ++s) {
    double c0 = process_cpu_seconds();
    auto t0 = clock::now();
    bench_step(model, optim, c, tokens);
    wall.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    cpu.push_back(process_cpu_seconds() - c0);
  }
  const MemoryStats mem = memory_stats(dev);
  const double step_s = median(wall);
  const double tokens_per_step = double(B * T * GA);
  const double tps = tokens_per_step / step_s;
  const double fpt = executed_flops_per_token(c.model, T);
  const double gflops = fpt * tps / 1e9;
  const double mfu = peak_gflops > 0 ? gflops / peak_gflops : 0;  // against the hardware's peak
  const double sgemm_util = peak.gflops > 0 ? gflops / peak.gflops : 0;
  MetricRecord r;
  r.strings["config"] = o.config;
  r.strings["device"] = device_name(dev);
  r.strings["blas"] = dev.is_cuda() ? "cuBLASLt" : blas_description();
  r.strings["precision"] = c.train.precision;
  r.integers["threads"] = num_threads();
  r.integers["steps"] = o.steps;
  r.integers["micro_batch"] = B;
  r.integers["tokens_per_step"] = int64_t(tokens_per_step);
  r.numbers["tokens_per_s"] = tps;
  r.numbers["step_s_median"] = step_s;
  r.numbers["step_s_min"] = *std::min_element(wall.begin(), wall.end());
  r.numbers["step_s_max"] = *std::max_element(wall.begin(), wall.end());
  r.numbers["cpu_s_per_step_median"] = median(cpu);
  r.numbers["flops_per_token"] = fpt;
  r.numbers["gflops"] = gflops;
  r.numbers["peak_gflops"] = peak_gflops;
  if (!dev.is_cuda()) {
    r.numbers["fma_peak_gflops"] = fma.gflops;
    r.numbers["sgemm_gflops"] = peak.gflops;
    r.numbers["sgemm_util"] = sgemm_util;
  }
  r.numbers["mfu"] = mfu;
  r.numbers["peak_rss_mb"] = peak_rss_mb();
  r.numbers["peak_tensor_mb"] = double(mem.peak_in_use_bytes) / 1e6;
  // Blocks the caching allocator holds (in use + cached free ones), and the start-up estimate of
  // the same run (src/model/memory_estimate.h) less the checkpoint snapshot a benchmark never takes.
  r.numbers["allocator_reserved_mb"] = double(mem.in_use_bytes + mem.cached_bytes) / 1e6;
  const MemoryEstimate est = estimate_training_memory(c);
  r.numbers["estimated_peak_mb"] = double(est.total() - est.checkpoint) / 1e6;
  r.lists["step_s"] = wall;
  if (o.max_batch) r.integers["max_micro_batch"] = largest_micro_batch(c, dev, B);
  if (o.json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    std::printf("bench train %s | %s | %s | precision %s\n", o.config.c_str(), device_name(dev).c_str(),
                r.strings["blas"].c_str(), train_precision_description(dev).c_str());
    std::printf("  %lld tokens/step | step %.3fs median (min %.3f, max %.3f) | cpu %.3fs/step\n",
                (long long)tokens_per_step, step_s, r.numbers["step_s_min"], r.numbers["step_s_max"], median(cpu));
    if (dev.is_cuda())
      std::printf("  %s tokens/s | %.1f GFLOP/s executed (%s FLOP/token) | MFU %.1f%% of %s\n", format_si(tps).c_str(),
                  gflops, format_si(fpt, 2).c_str(), 100 * mfu, gpu.what.c_str());
    else
      std::printf("  %s tokens/s | %.1f GFLOP/s executed (%s FLOP/token) | MFU %.1f%% of the FP32 FMA peak %.1f GFLOP/s "
                  "(%d threads, %s) | sgemm_util %.1f%% of sgemm %.1f GFLOP/s (%dx%dx%d); both measured in this run\n",
                  format_si(tps).c_str(), gflops, format_si(fpt, 2).c_str(), 100 * mfu, fma.gflops, fma.threads,
                  fma.isa.c_str(), 100 * sgemm_util, peak.gflops, peak.size, peak.size, peak.size);
    std::printf("  peak RSS %.0f MB | peak tensors on %s %.0f MB | allocator reserved %.0f MB | estimated peak %.0f MB\n",
                r.numbers["peak_rss_mb"], dev.str().c_str(), r.numbers["peak_tensor_mb"],
                r.numbers["allocator_reserved_mb"], r.numbers["estimated_peak_mb"]);
    if (o.max_batch)
      std::printf("  largest micro batch that fits %s at seq_len %lld: %lld\n", dev.str().c_str(), (long long)T,
                  (long long)r.integers["max_micro_batch"]);
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
