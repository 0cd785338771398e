// The training loop; see trainer.h.
#include "trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "evaluate.h"
#include "format.h"
#include "memory_check.h"
#include "gpu_peaks.h"
#include "precision.h"
#include "metrics.h"
#include "peak.h"
#include "signals.h"
#include "dist/process_grid.h"
#include "dist/runtime.h"
#ifdef MOR_HAVE_NCCL
#include "dist/comm_nccl.h"
#endif
#include "dist/watchdog.h"
#include "src/core/output_guard.h"
#include "src/core/threads.h"
#include "src/model/flops.h"
#include "src/config/routing_spec.h"

namespace mor {
namespace fs = std::filesystem;

void accumulate_routing(RoutingStats& acc, RoutingStats& r, double micro_batches) {
  if (r.tokens_per_step.empty()) return;
  r.resolve();  // the scores and dead ratio, read from the device after the micro-batch's backward
  if (acc.tokens_per_step.empty()) {
    acc.tokens_per_step.assign(r.tokens_per_step.size(), 0);
    acc.mean_score.assign(r.mean_score.size(), 0.0);
    acc.depth_histogram.assign(r.depth_histogram.size(), 0);
  }
  for (size_t i = 0; i < r.tokens_per_step.size(); ++i) acc.tokens_per_step[i] += r.tokens_per_step[i];
  for (size_t i = 0; i < r.mean_score.size(); ++i) acc.mean_score[i] += r.mean_score[i] / micro_batches;
  for (size_t i = 0; i < r.depth_histogram.size(); ++i) acc.depth_histogram[i] += r.depth_histogram[i];
  acc.total_tokens += r.total_tokens;
  acc.dead_ratio += r.dead_ratio / micro_batches;
  acc.maxvio += r.maxvio / micro_batches;
}

namespace {

// Settings of the process itself, which may differ between ranks: its threads, its watchdog and
// start-up check, printing (rank 0 prints), and where its host keeps the dataset (a node-local
// copy, another mount point: the data itself is compared once loaded, check_same_data_on_every_rank).
const std::set<std::string> kProcessLocal = {"train.threads", "dist.collective_timeout_s", "train.memory_check",
                                              "train.log_every", "data.path"};

// After every rank compared its value with rank 0's (`same`): true when all agree. A rank that
// agrees while another does not waits here for good: the differing rank's error (false here, then
// fail_input) ends the job, which names that rank and its values.
bool agrees_with_rank0(dist::Communicator& w, bool same) {
  int64_t differs = same ? 0 : 1;
  w.all_reduce(&differs, 1, DType::I64, dist::ReduceOp::Max);
  if (differs == 0) return true;
  if (same) w.barrier();  // never completes
  return false;
}

// Every rank must train the same config: one started with other --set values (an MPMD mpirun
// line, a per-node script) would apply other updates unnoticed, or fail in a collective with an
// unrelated message. Rank 0's resolved config goes to every rank; a rank whose own differs fails
// naming the keys (which aborts the job), the others wait for that.
void check_same_config_on_every_rank(const Config& config) {
  dist::Communicator& w = dist::world();
  if (w.size() == 1) return;
  const std::string ours = dump_config(config);
  int64_t n = int64_t(ours.size());
  w.broadcast(&n, 1, DType::I64, 0);
  std::vector<int32_t> words(size_t((n + 3) / 4), 0);
  if (w.rank() == 0) std::memcpy(words.data(), ours.data(), ours.size());
  w.broadcast(words.data(), int64_t(words.size()), DType::I32, 0);
  const std::string root(reinterpret_cast<const char*>(words.data()), size_t(n));
  // Ranks that differ only in process settings count as agreeing.
  std::string keys;
  if (root != ours) {
    const auto theirs = flatten_config(load_config_text(root, "rank 0's config").config), mine = flatten_config(config);
    for (const auto& [k, v] : mine)
      if (!kProcessLocal.count(k) && theirs.count(k) && theirs.at(k) != v)
        keys += " " + k + " (rank 0: " + theirs.at(k) + ", here: " + v + ")";
  }
  if (agrees_with_rank0(w, keys.empty())) return;
  fail_input("rank ", w.rank(), " was started with another config than rank 0:", keys,
             ". Hint: give every rank the same --config file and --set values.");
}

// Every rank must read the same dataset (wherever its host keeps it): the same tokenizer and the
// same number of windows, or the ranks would train on different data unnoticed.
void check_same_data_on_every_rank(const std::string& path, uint64_t tokenizer_hash, uint64_t windows) {
  dist::Communicator& w = dist::world();
  if (w.size() == 1) return;
  int64_t root[2] = {int64_t(tokenizer_hash), int64_t(windows)};
  w.broadcast(root, 2, DType::I64, 0);
  if (agrees_with_rank0(w, root[0] == int64_t(tokenizer_hash) && root[1] == int64_t(windows))) return;
  fail_input("rank ", w.rank(), ": data.path ", path, " holds another dataset than rank 0's (tokenizer hash ", tokenizer_hash,
             " vs ", uint64_t(root[0]), ", ", windows, " vs ", root[1], " training windows). Hint: give every rank the same "
             "dataset (a copy per host is fine).");
}

}  // namespace

int64_t resolve_total_steps(const LoadedConfig& lc, int64_t dp) {
  const Config& c = lc.config;
  const TrainConfig& t = c.train;
  if (t.budget_flops <= 0) return t.steps;
  const double tokens_per_step = global_tokens_per_step(t, dp);
  const int64_t budget_steps = steps_for_budget(t.budget_flops, budget_flops_per_token(c.model, t.seq_len), tokens_per_step);
  if (t.steps > 0 && t.steps != budget_steps) {
    fail_input(lc.where("train.budget_flops"), ": train.budget_flops ", t.budget_flops, " buys ", budget_steps, " steps of ",
               int64_t(tokens_per_step), " tokens, but train.steps (", lc.where("train.steps"), ") says ", t.steps,
               "; only one can decide the run's length. Hint: --set train.steps=0 to train on the FLOP budget, or "
               "--set train.budget_flops=0 to train ", t.steps, " steps.");
  }
  return budget_steps;
}

Trainer::Trainer(const LoadedConfig& cfg, const TrainOptions& opts) : cfg_(cfg), opts_(opts), guard_(cfg.config.train.guard) {
  const Config& c = cfg_.config;
  install_stop_handlers();  // from here on, SIGINT/SIGTERM ask for a clean stop
  // The parallel layout: DP x TP, TP innermost (dist/process_grid.h).
  if (!dist::runtime_initialized()) dist::runtime_init(nullptr, nullptr);  // used as a library
  if (!std::getenv("MOR_COLLECTIVE_TIMEOUT")) dist::watchdog_set_timeout(c.dist.collective_timeout_s);
  check_same_config_on_every_rank(c);
  dist::validate_layout(dist::world().size(), int(c.dist.tp), c.model.n_heads, c.model.kv_heads(), c.model.d_ff,
                        c.model.vocab_size);
  grid_ = std::make_unique<dist::ProcessGrid>(dist::world(), int(c.dist.tp));
  root_ = dist::world().rank() == 0;
  if (!root_ && !std::freopen("/dev/null", "w", stdout)) {
  }  // rank 0 prints the step lines; every rank's errors go to stderr
  set_num_threads(dist::threads_per_rank(int(c.train.threads), &threads_reason_));
  device_ = parse_device(c.train.device);  // fails with a hint where the build or machine lacks it
  if (device_.is_cuda() && grid_->world().size() > 1) open_gpu_collectives();
  device_activate(device_);
  tp_ = std::make_unique<TensorParallel>(*grid_, c.dist.check_tp_selection, tp_device_comm_.get());
  apply_train_precision(cfg_.source, c.train, device_);
  run_dir_ = opts.run_dir.empty() ? "runs/" + c.name : opts.run_dir;
  // Checkpoints, metrics and --fresh's clean-up must never land in (or delete from) the dataset.
  check_output_apart(run_dir_, "--run-dir", {{"data.path", c.data.path}}, true);
  if (fs::exists(run_dir_) && !fs::is_directory(run_dir_))
    fail_input(run_dir_, ": the run directory exists and is not a directory. Hint: pass --run-dir a new or existing directory.");
  if (opts.resume && opts.fresh)
    fail_input("--resume and --fresh contradict each other. Hint: --resume continues the run in ", run_dir_,
               "; --fresh deletes its checkpoints and starts over; pass one.");
  if (opts.resume && !fs::exists(run_dir_))
    fail_input(run_dir_, ": --resume but the run directory does not exist. Hint: check --run-dir, or drop --resume to start fresh.");

  data::LoaderOptions lo;
  lo.split_dir = (fs::path(c.data.path) / "train").string();
  lo.batch = c.train.micro_batch;
  lo.seq_len = c.train.seq_len;
  lo.seed = uint64_t(c.train.seed);
  lo.shuffle = c.data.shuffle;
  lo.prefetch = int(c.data.prefetch);
  lo.expect_vocab = c.model.vocab_size;
  lo.dp_rank = grid_->dp_rank();
  lo.dp_size = grid_->dp_size();
  loader_ = std::make_unique<data::BatchLoader>(lo);
  check_same_data_on_every_rank(c.data.path, loader_->tokenizer_hash(), loader_->windows_per_epoch());
  check_val_split();

  // Prints the per-rank estimate; refuses before allocating if it cannot fit.
  check_training_memory(c, cfg_.source, grid_->dp_size(), grid_->tp_size(), int(c.dist.zero), dist::rank_info().local_size,
                        device_);
  model_ = std::make_unique<Model>(c.model, DType::F32, tp_->group(), device_);  // this rank's TP shard
  model_->initialize(uint64_t(c.train.seed));
  dp_ = std::make_unique<DataParallel>(grid_->dp(), model_->params(), int(c.dist.zero), arena_comm_.get());
  optim_ = std::make_unique<AdamW>(model_->params(), c.train, dp_->shard_begin(), dp_->shard_end());
  total_steps_ = resolve_total_steps(cfg_, dp_->size());
  schedule_ = make_schedule(c, total_steps_, dp_->size());
  check_schedule_fits(schedule_, cfg_);
  budget_flops_per_token_ = budget_flops_per_token(c.model, c.train.seq_len);
  executed_flops_per_token_ = executed_flops_per_token(c.model, c.train.seq_len);
  routing_rng_ = Rng(uint64_t(c.train.seed), "routing");
  state_.rng = routing_rng_.state();
  optim_->set_lr_mult("aux_router", c.model.mor.aux_router_lr_mult);
  // Everything above validated the config, data and budget; only now does the run directory change,
  // only on rank 0, and only under its lock (a second trainer on the same directory is refused).
  if (root_) {
    fs::create_directories(run_dir_);
    lock_ = PathLock::acquire((fs::path(run_dir_) / ".lock").string(), "run directory " + run_dir_, true);
    if (!lock_.stale_holder().empty())
      std::fprintf(stderr, "note: %s was locked by %s, which is no longer running; taking it over.\n", run_dir_.c_str(),
                   lock_.stale_holder().c_str());
    check_writable();
    ckpts_ = std::make_unique<CheckpointManager>(run_dir_, c.train.keep_last);
    const std::string metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
    if (opts.fresh) {
      ckpts_->clear();
      std::filesystem::remove(metrics_path);
    } else if (auto found = ckpts_->find_newest_valid(true)) {
      for (const std::string& n : found->notes) std::fprintf(stderr, "note: %s\n", n.c_str());
      restore(found->path, found->checkpoint);
      if (const int64_t dropped = truncate_metrics(metrics_path, state_.step))
        std::fprintf(stderr, "note: %s: dropped %lld line%s cut short or unreadable (a crash mid-write, or an edit); "
                     "%s step%s missing from the record.\n", metrics_path.c_str(), (long long)dropped,
                     dropped == 1 ? "" : "s", dropped == 1 ? "its" : "their", dropped == 1 ? " is" : "s are");
    } else if (opts.resume) {
      fail_input(run_dir_, ": --resume but the run directory holds no checkpoint (no ckpt-*.h5). Hint: drop --resume to start fresh.");
    } else if (fs::exists(metrics_path)) {
      std::filesystem::remove(metrics_path);  // a run that never checkpointed starts over
    }
  }
  // The other ranks resume from the checkpoint rank 0 chose (it repaired `latest` to name it); the
  // run directory must be on a file system every rank sees.
  dist::world().barrier();
  if (!root_ && !opts.fresh)
    if (const std::string path = newest_checkpoint(run_dir_); !path.empty()) restore(path, ckpt::read_checkpoint(path, true));
  if (opts.stop_at_step > 0 && opts.stop_at_step <= state_.step && state_.step < total_steps_)
    fail_input("--stop-at-step ", opts.stop_at_step, ": the run in ", run_dir_, " is already at step ", state_.step,
               ". Hint: pass a later step, or drop --stop-at-step.");
  session_start_step_ = state_.step;
  if (root_) metrics_ = std::make_unique<MetricsWriter>((fs::path(run_dir_) / "metrics.jsonl").string());
}

void Trainer::open_gpu_collectives() {
  const Config& c = cfg_.config;
  const int gpu = dist::rank_info().cuda_device;  // local rank modulo the visible GPUs
  if (gpu < 0) fail_input(cfg_.source, ": train.device '", c.train.device, "': rank ", grid_->world().rank(), " sees no CUDA device. Hint: run the ranks on GPU nodes.");
  device_ = Device::cuda(gpu);
#ifdef MOR_HAVE_NCCL
  // Collective over each group: the DP arenas' collectives and the TP ops' go over NCCL; host
  // values (statistics, selection hashes) keep the MPI groups.
  if (grid_->dp_size() > 1) arena_comm_ = std::make_unique<dist::NcclCommunicator>(grid_->dp(), gpu, "dp-nccl");
  if (grid_->tp_size() > 1) tp_device_comm_ = std::make_unique<dist::NcclCommunicator>(grid_->tp(), gpu, "tp-nccl");
#else
  fail_input(cfg_.source, ": train.device '", c.train.device, "' with ", grid_->world().size(),
             " ranks needs NCCL to move the GPU arenas, and this build has none. Hint: install NCCL where nvcc is and rebuild, or run one process.");
#endif
}

void Trainer::check_val_split() {
  const Config& c = cfg_.config;
  if (!c.train.eval) return;
  const std::string val = (fs::path(c.data.path) / "val").string();
  const char* hint = " (checked at start-up: train.eval is true. Hint: fix the val split, or set train.eval=false to train without validation.)";
  try {
    data::EvalStream probe(val, c.train.micro_batch, c.train.seq_len, uint64_t(c.train.eval_windows), c.model.vocab_size,
                           loader_->tokenizer_hash());
    if (probe.windows() == 0)
      fail_input(val, ": no validation window of ", c.train.seq_len + 1, " tokens (train.seq_len + 1). Hint: lower ",
                 "train.seq_len, hold out more text (mor prepare --val-fraction), or set train.eval=false.");
  } catch (const Error& e) {
    if (std::string(e.what()).find("train.eval") != std::string::npos) throw;
    throw Error(e.kind(), std::string(e.what()) + hint);
  }
}

Trainer::~Trainer() = default;

namespace {

// Settings that train but are known to collapse (README, "Models and FLOPs").
void warn_known_collapses(const ModelConfig& m) {
  const RoutingSpec rr = resolve_routing(m);
  if (rr.token() && rr.router_func == RouterFunc::Sigmoid && rr.balancing == Balancing::Loss && rr.bal_coeff > 0)
    std::fprintf(stderr, "warning: model.mor.type token with router_func sigmoid and balancing loss collapses: the "
                 "balancing loss sum_j f_j P_j is minimised by pushing every sigmoid output towards 0, so the depth is "
                 "decided by the rounding of near-zero scores (as upstream, whose released token config uses softmax). "
                 "Hint: use router_func softmax, or balancing loss_free.\n");
}

}  // namespace

void Trainer::print_header() {
  const Config& c = cfg_.config;
  if (!resumed_from_.empty())
    std::printf("resumed from %s at step %lld (loader epoch %llu, window %llu)\n", resumed_from_.c_str(),
                (long long)state_.step, (unsigned long long)state_.loader.epoch, (unsigned long long)state_.loader.consumed);
  if (!opts_.quiet) std::printf("# resolved config (%s)\n%s", cfg_.source.c_str(), dump_config(c).c_str());
  std::fflush(stdout);  // shown before the sgemm measurement below
  if (!root_) return;
  warn_known_collapses(c.model);
  const FmaPeak fma = device_.is_cuda() ? FmaPeak{} : measure_fma_peak();
  const MfuPeak gpu = device_.is_cuda() ? gpu_mfu_peak(device_, c.train.precision == "bf16", c.train.tf32) : MfuPeak{};
  fma_gflops_ = device_.is_cuda() ? gpu.gflops : fma.gflops;  // the MFU denominator
  sgemm_gflops_ = device_.is_cuda() ? 0 : measure_sgemm_peak().gflops;
  const int64_t tokens_per_step = c.train.micro_batch * c.train.grad_accum * c.train.seq_len * dp_->size();
  std::printf("model: %s | unique params %s (non-embedding %s) | effective layers %lld | %s\n", c.name.c_str(),
              format_si(double(unique_params(c.model, true)), 2).c_str(),
              format_si(double(unique_params(c.model, false)), 2).c_str(), (long long)c.model.n_layers,
              !model_->routing().routed() ? (c.model.recursion.sharing == "none" ? "vanilla" : "recursive")
                                          : ("MoR " + std::string(name_of(model_->routing().type)) + "-choice").c_str());
  std::printf("data: %s | %llu windows/epoch | %s tokens/step | %lld steps\n", c.data.path.c_str(),
              (unsigned long long)loader_->windows_per_epoch(), format_si(double(tokens_per_step)).c_str(),
              (long long)total_steps_);
  std::printf("flops: %s/token (budget formula, MOR.md 6) | %s/token executed in training (routed, 3 x forward, "
              "lm_head included) | budget %s\n",
              format_si(budget_flops_per_token_, 2).c_str(), format_si(executed_flops_per_token_, 2).c_str(),
              c.train.budget_flops > 0 ? format_si(c.train.budget_flops, 2).c_str() : "none (train.steps)");
  if (device_.is_cuda())
    std::printf("compute: %s | cuBLASLt | precision %s | peak %s (the MFU denominator)\n", device_.str().c_str(),
                train_precision_description(device_).c_str(), gpu.what.c_str());
  else
    std::printf("compute: %s%s | precision %s | FP32 peak %.1f GFLOP/s (FMA on registers, %d thread%s, %s; the MFU "
                "denominator) | sgemm %.1f GFLOP/s (sgemm_util denominator), measured now\n",
                device_.is_test() ? "test device (CPU kernels behind the device seam) | " : "", blas_description().c_str(),
                train_precision_description(device_).c_str(), fma_gflops_, fma.threads, fma.threads == 1 ? "" : "s",
                fma.isa.c_str(), sgemm_gflops_);
  const dist::RankInfo& ri = dist::rank_info();
  if (ri.size > 1 || ri.mpi)
    std::printf("parallel: %s | %d rank(s) on %d node(s) (%s) | %d thread(s) per rank (%s)%s\n", grid_->describe().c_str(),
                ri.size, ri.node_count, ri.launcher.empty() ? "mpi" : ri.launcher.c_str(), num_threads(),
                threads_reason_.c_str(), dp_->zero() ? " | ZeRO-1: AdamW moments sharded over DP" : "");
  std::fflush(stdout);
}

void Trainer::compute_gradients(StepOutcome& o) {
  const TrainConfig& t = cfg_.config.train;
  model_->params().zero_grads();
  // Normalised over the global batch: each rank's gradient is its share of the global mean, and
  // the sum over ranks (reduce_gradients) is the gradient of one process with micro_batch x DP.
  const int64_t dp = dp_->size();
  const double normalizer = double(t.micro_batch * t.seq_len * t.grad_accum * dp);
  std::map<std::string, double> aux;
  int64_t step_tokens = 0;
  step_routing_ = RoutingStats{};
  routing_rng_.set_state(state_.rng);
  // The parameters stay constant until the optimizer, after the micro-batches.
  ConstantParamsScope constant_params(model_->params(), weights_reused(cfg_.config));
  for (int64_t m = 0; m < t.grad_accum; ++m) {
    Tensor tokens = loader_->next();
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardContext ctx;
    ctx.loss_normalizer = normalizer;
    ctx.micro_batches = t.grad_accum * dp;  // auxiliary losses: a mean over the global micro-batches
    ctx.step = state_.step;
    ctx.forward_call = state_.step * t.grad_accum + m + 1;  // capacity warm-up counts forward calls from 1
    ctx.calls_per_step = t.grad_accum;
    ctx.rng = &routing_rng_;
    ForwardResult f = model_->forward(tokens, ctx);
    tape.backward(f.loss);
    o.loss += f.lm_loss / double(t.grad_accum);
    for (const auto& [k, v] : f.aux) aux[k] += v / double(t.grad_accum);
    accumulate_routing(step_routing_, f.routing, double(t.grad_accum));
    step_tokens += f.tokens;
    last_forward_ = std::move(f);
  }
  last_forward_.loss.reset();
  constant_params.close();
  if (cfg_.config.dist.check_tp_selection) tp_->check_replicated_gradients(model_->params(), state_.step + 1);
  dp_->reduce_gradients();
  reduce_step_statistics(o.loss, aux, step_tokens);
  last_forward_.aux = aux;
  state_.tokens += step_tokens;
  state_.flops += budget_flops_per_token_ * double(step_tokens);
  state_.loader = loader_->position();
  state_.rng = routing_rng_.state();
  const bool aux_router = model_->routing().has_aux_router();
  o.grad_norm = grad_norm(aux_router ? "main" : "");
  o.lr = schedule_.lr_at(state_.step);
}

double Trainer::grad_norm(const std::string& group) const {
  if (tp_->size() == 1) {
    if (!dp_->zero()) return optim_->grad_norm(group);  // the whole reduced gradient is here
    return std::sqrt(dp_->global_sum_squares(optim_->shard_grad_sum_squares(group)));
  }
  // TP: split parameters' squares summed over the TP ranks, replicated ones counted once; then
  // over the ZeRO shards. Every rank ends with the same bits (the clip must be identical).
  using Part = AdamW::Part;
  const double local = tp_->combine_sum_squares(optim_->shard_grad_sum_squares(group, Part::Split),
                                                optim_->shard_grad_sum_squares(group, Part::Replicated));
  return std::sqrt(dp_->global_sum_squares(local));
}

void Trainer::reduce_step_statistics(double& loss, std::map<std::string, double>& aux, int64_t& tokens) {
  if (dp_->size() == 1) return;
  // Means over ranks: loss, auxiliary losses, router scores, dead ratio, MaxVio. Sums: token counts.
  RoutingStats& r = step_routing_;
  std::vector<double> means{loss, r.dead_ratio, r.maxvio};
  for (const auto& [k, v] : aux) means.push_back(v);
  means.insert(means.end(), r.mean_score.begin(), r.mean_score.end());
  dp_->sum(means);
  for (double& v : means) v /= double(dp_->size());
  loss = means[0];
  r.dead_ratio = means[1];
  r.maxvio = means[2];
  size_t i = 3;
  for (auto& [k, v] : aux) v = means[i++];
  for (double& v : r.mean_score) v = means[i++];
  std::vector<int64_t> counts{tokens, r.total_tokens};
  counts.insert(counts.end(), r.tokens_per_step.begin(), r.tokens_per_step.end());
  counts.insert(counts.end(), r.depth_histogram.begin(), r.depth_histogram.end());
  dp_->sum(counts);
  tokens = counts[0];
  r.total_tokens = counts[1];
  i = 2;
  for (int64_t& v : r.tokens_per_step) v = counts[i++];
  for (int64_t& v : r.depth_histogram) v = counts[i++];
}

void Trainer::apply_update(const StepOutcome& o) {
  const TrainConfig& t = cfg_.config.train;
  const bool aux_router = model_->routing().has_aux_router();
  if (aux_router) {  // the auxiliary router has its own clip and learning-rate multiplier
    optim_->step(o.lr, o.grad_norm, t.grad_clip, "main");
    optim_->step(o.lr, grad_norm("aux_router"), t.grad_clip, "aux_router");
  } else {
    optim_->step(o.lr, o.grad_norm, t.grad_clip);
  }
  dp_->gather_parameters();
  // Token-choice loss-free bias: counts over the global batch, so every rank keeps the same bias.
  std::vector<double> counts = model_->take_depth_counts();
  dp_->sum(counts);
  model_->update_router_bias(counts);
}

void Trainer::log_step(const StepOutcome& o, double step_seconds, double cpu_seconds) {
  const Config& c = cfg_.config;
  const double tokens = double(c.train.micro_batch * c.train.grad_accum * c.train.seq_len * dp_->size());
  const double tps = tokens / step_seconds;
  // MFU against the hardware's peak; sgemm_util against what BLAS delivers here (both executed FLOPs).
  const double achieved = executed_flops_per_token_ * tps / 1e9;
  const double mfu = fma_gflops_ > 0 ? achieved / fma_gflops_ : 0;
  step_time_ema_ = step_time_ema_ == 0 ? step_seconds : 0.9 * step_time_ema_ + 0.1 * step_seconds;
  const double eta = step_time_ema_ * double(total_steps_ - state_.step);
  MetricRecord r;
  r.integers["step"] = state_.step;
  r.integers["tokens"] = state_.tokens;
  r.numbers["loss"] = o.loss;
  r.numbers["lr"] = o.lr;
  r.numbers["grad_norm"] = o.grad_norm;
  r.numbers["tokens_per_s"] = tps;
  r.numbers["flops"] = state_.flops;
  if (c.train.budget_flops > 0) r.numbers["flops_budget"] = c.train.budget_flops;
  r.numbers["mfu"] = mfu;
  r.numbers["sgemm_util"] = sgemm_gflops_ > 0 ? achieved / sgemm_gflops_ : 0;
  r.numbers["step_s"] = step_seconds;
  r.numbers["cpu_s"] = cpu_seconds;
  if (grid_->world().size() > 1) {
    // DP: gradient + statistics collectives; TP: the layers' all-reduces, the loss's combines.
    const double tp_s = tp_->take_comm_seconds();
    r.numbers["comm_s"] = dp_->take_comm_seconds() + tp_s;
    if (tp_->size() > 1) r.numbers["tp_comm_s"] = tp_s;
  }
  r.numbers["elapsed_s"] = elapsed_;
  for (const auto& [k, v] : last_forward_.aux) r.numbers["aux_" + k] = v;
  // Divergence monitor: this step against the recent healthy mean (absent until there is history).
  if (o.judgement.loss_ratio > 0) r.numbers["loss_ratio"] = o.judgement.loss_ratio;
  if (o.judgement.grad_ratio > 0) r.numbers["grad_ratio"] = o.judgement.grad_ratio;
  if (o.judgement.health == StepHealth::Spike) r.strings["spike"] = o.judgement.what;
  if (o.skipped) r.integers["skipped"] = 1;
  const RoutingStats& rs = step_routing_;
  if (!rs.tokens_per_step.empty()) {
    r.int_lists["route_tokens"] = rs.tokens_per_step;
    r.lists["route_score"] = rs.mean_score;
    r.int_lists["route_depth"] = rs.depth_histogram;
    if (model_->routing().expert()) r.numbers["dead_ratio"] = rs.dead_ratio;
    if (model_->routing().token()) r.numbers["maxvio"] = rs.maxvio;
  }
  if (std::isfinite(last_val_loss_)) {
    r.numbers["val_loss"] = last_val_loss_;
    r.numbers["val_ppl"] = std::exp(last_val_loss_);
  }
  if (!root_) return;
  metrics_->write(r);
  const bool spike = o.judgement.health == StepHealth::Spike;
  if (spike)
    std::fprintf(stderr, "warning: step %lld: spike: %s (%s)\n", (long long)state_.step, o.judgement.what.c_str(),
                 o.skipped ? "update skipped, train.guard.action=skip" : "update applied, train.guard.action=warn");
  if (state_.step % c.train.log_every != 0 && state_.step != total_steps_ && !spike) return;
  std::string flops;
  if (c.train.budget_flops > 0)
    flops = " | flops " + format_si(state_.flops, 2) + "/" + format_si(c.train.budget_flops, 2);
  std::string aux;
  for (const auto& [k, v] : last_forward_.aux) {
    char b[64];
    std::snprintf(b, sizeof b, " | %s %.4f", k.c_str(), v);
    aux += b;
  }
  if (spike) aux += o.skipped ? " | SPIKE, skipped" : " | SPIKE";
  if (!rs.tokens_per_step.empty()) {
    aux += " | route";
    for (size_t i = 0; i < rs.tokens_per_step.size(); ++i)
      aux += (i ? ">" : " ") + format_si(double(rs.tokens_per_step[i]) / double(std::max<int64_t>(rs.total_tokens, 1)) * 100, 0) + "%";
    char b[64];
    if (model_->routing().expert()) std::snprintf(b, sizeof b, " dead %.1f%%", 100 * rs.dead_ratio);
    else std::snprintf(b, sizeof b, " maxvio %.2f", rs.maxvio);
    aux += b;
  }
  std::printf("step %*lld/%lld | loss %.4f | lr %.2e | gnorm %.3f | %s tok/s | MFU %4.1f%%%s%s | %s elapsed | ETA %s\n",
              int(std::to_string(total_steps_).size()), (long long)state_.step, (long long)total_steps_, o.loss, o.lr,
              o.grad_norm, format_si(tps).c_str(), 100 * mfu, flops.c_str(), aux.c_str(),
              format_duration(elapsed_).c_str(), format_duration(eta).c_str());
  std::fflush(stdout);
}

std::string Trainer::run_eval(bool final) {
  const Config& c = cfg_.config;
  const std::string val = (fs::path(c.data.path) / "val").string();
  auto t0 = std::chrono::steady_clock::now();
  EvalResult e = evaluate_over_ranks(*model_, val, c.train.micro_batch, c.train.seq_len, uint64_t(c.train.eval_windows),
                                     grid_->dp());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  last_val_loss_ = e.loss;
  char line[256];
  std::snprintf(line, sizeof line, "eval%s | step %lld | val loss %.4f | ppl %.2f | %lld tokens | %.1fs\n",
                final ? " (final)" : "", (long long)state_.step, e.loss, e.perplexity, (long long)e.tokens, s);
  return line;
}

int Trainer::run() {
  if (state_.step >= total_steps_) {
    std::printf("%s: already complete at step %lld of %lld (%s). Hint: raise %s to continue, or pass --fresh.\n",
                run_dir_.c_str(), (long long)state_.step, (long long)total_steps_, resumed_from_.c_str(),
                cfg_.config.train.budget_flops > 0 ? "train.budget_flops" : "train.steps");
    return 0;  // nothing trained: config.yaml keeps the values the run was trained with
  }
  if (root_) write_file_atomically((fs::path(run_dir_) / "config.yaml").string(), dump_config(cfg_.config));
  print_header();
  try {
    return train_loop();
  } catch (...) {
    // A late failure (evaluation, metrics, ...) must not lose the steps since the last checkpoint.
    // Rank 0 alone can save a replicated model; under ZeRO the moments and under TP the weights
    // live on every rank, and a failure on one rank ends the job (dist::abort_job), so only runs
    // whose rank 0 holds everything save here.
    const bool can_save = ckpts_ && tp_->size() == 1 && (dp_->size() == 1 || !dp_->zero());
    if (can_save && state_.step > session_start_step_ && state_.step != last_saved_step_ && !guard_stopped_) {
      try {
        ckpts_->finish();
        save_checkpoint();
        probe_snapshot();
        const std::string err = ckpts_->finish();
        if (!err.empty()) std::fprintf(stderr, "error: could not save a checkpoint before stopping: %s\n", err.c_str());
        else if (latest_checkpoint().find(checkpoint_file_name(state_.step)) != std::string::npos)
          std::fprintf(stderr, "note: saved %s before stopping\n", latest_checkpoint().c_str());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "error: could not save a checkpoint before stopping: %s\n", e.what());
      }
    }
    throw;
  }
}

int Trainer::train_loop() {
  const Config& c = cfg_.config;
  using clock = std::chrono::steady_clock;
  bool stop = false;  // a stop request (signal) seen by any rank
  while (state_.step < total_steps_) {
    // Step-boundary agreement: every rank learns of a stop request on any rank and of rank 0's
    // checkpoint-write trouble, so all ranks take the same branch (one tiny all-reduce per step).
    const bool give_up = ckpts_ && on_write_failure(ckpts_->poll());
    std::vector<int64_t> flags{stop_requested() ? 1 : 0, give_up ? 1 : 0, retry_save_ ? 1 : 0};
    if (grid_->world().size() > 1) grid_->world().all_reduce(flags.data(), 3, DType::I64, dist::ReduceOp::Max);
    if (flags[1]) return 1;
    retry_save_ = flags[2] != 0;
    if ((stop = flags[0] != 0)) break;
    auto t0 = clock::now();
    double cpu0 = process_cpu_seconds();
    StepOutcome o;
    compute_gradients(o);
    o.judgement = guard_.judge(o.loss, o.grad_norm);  // the same on every rank (reduced values)
    last_grad_norm_ = o.grad_norm;
    // The snapshot in flight holds the weights that produced this loss: publish it only if healthy.
    judge_snapshot(o.judgement, "step " + std::to_string(state_.step + 1));
    const std::string& act = c.train.guard.action;
    if (o.judgement.health == StepHealth::NonFinite ||
        (o.judgement.health == StepHealth::Spike && act == "stop")) {
      guard_stopped_ = true;
      if (ckpts_) on_write_failure(ckpts_->finish());
      const std::string latest = latest_checkpoint();
      if (root_)
        std::fprintf(stderr, "error: step %lld: %s; the run stopped before applying it%s. Latest checkpoint: %s. Hint: lower "
                             "train.lr or raise train.warmup_steps, then resume with: %s\n",
                     (long long)state_.step + 1, o.judgement.what.c_str(),
                     o.judgement.health == StepHealth::Spike ? " (train.guard.action=stop)" : "",
                     latest.empty() ? "none" : latest.c_str(), resume_hint().c_str());
      return 3;
    }
    o.skipped = o.judgement.health == StepHealth::Spike && act == "skip";
    guard_.record(o.loss, o.grad_norm, o.judgement);
    if (!o.skipped) apply_update(o);
    else model_->take_depth_counts();  // a skipped step does not move the router bias either
    ++state_.step;
    double dt = std::chrono::duration<double>(clock::now() - t0).count();
    elapsed_ += dt;
    const bool last = state_.step == total_steps_;
    // The eval result goes into this step's metrics record; its line follows the step line.
    std::string eval_line;
    if (c.train.eval && (last || (c.train.eval_every > 0 && state_.step % c.train.eval_every == 0))) eval_line = run_eval(last);
    log_step(o, dt, process_cpu_seconds() - cpu0);
    if (!eval_line.empty()) {
      std::fputs(eval_line.c_str(), stdout);
      std::fflush(stdout);
    }
    if (!last) last_val_loss_ = NAN;
    const bool stop_here = opts_.stop_at_step > 0 && state_.step == opts_.stop_at_step && !last;
    if (last || stop_here || retry_save_ || (c.train.ckpt_every > 0 && state_.step % c.train.ckpt_every == 0)) {
      retry_save_ = false;
      save_checkpoint();
      if (guard_blocked_save_) {
        guard_stopped_ = true;
        const std::string latest = latest_checkpoint();
        if (root_)
          std::fprintf(stderr, "error: step %lld: the parameters are no longer finite; nothing was saved. Latest checkpoint: "
                               "%s. Hint: lower train.lr, then resume with: %s\n",
                       (long long)state_.step, latest.empty() ? "none" : latest.c_str(), resume_hint().c_str());
        return 3;
      }
    }
    if (stop_here) {
      if (!settle_checkpoint().empty()) return 1;
      std::printf("stopped after step %lld as asked (--stop-at-step); checkpoint %s\n", (long long)state_.step,
                  latest_checkpoint().c_str());
      return 0;
    }
  }
  if (stop && state_.step > session_start_step_ && state_.step != last_saved_step_) save_checkpoint();
  if (!settle_checkpoint().empty()) return 1;
  if (stop) {
    const std::string latest = latest_checkpoint();
    if (state_.step == session_start_step_)
      std::printf("stopped by signal %d before the first step%s\n", stop_signal(),
                  latest.empty() ? "; nothing was trained or saved"
                                 : ("; the run directory is unchanged (latest " + latest + ")").c_str());
    else
      std::printf("stopped by signal %d after step %lld/%lld (checkpoint %s); resume with: %s\n", stop_signal(),
                  (long long)state_.step, (long long)total_steps_, latest.c_str(), resume_hint().c_str());
    return 1;
  }
  if (!root_) return 0;
  MetricRecord r;
  r.strings["name"] = c.name;
  r.integers["steps"] = state_.step;
  r.integers["tokens"] = state_.tokens;
  r.integers["unique_params"] = unique_params(c.model, true);
  r.integers["unique_params_non_embedding"] = unique_params(c.model, false);
  r.numbers["flops"] = state_.flops;
  r.numbers["val_loss"] = last_val_loss_;
  r.numbers["val_ppl"] = std::exp(last_val_loss_);
  r.numbers["train_seconds"] = elapsed_;
  write_file_atomically((fs::path(run_dir_) / "summary.json").string(), r.to_json() + "\n");
  std::printf("checkpoint: %s (snapshot stall %.3fs, background write %.2fs)\n", latest_checkpoint().c_str(),
              last_ckpt_stall_, ckpts_->last_write_seconds());
  std::printf("done: %lld steps, %s tokens, %s budget FLOPs, %s | final val loss %.4f (ppl %.2f) | metrics: %s\n",
              (long long)state_.step, format_si(double(state_.tokens), 2).c_str(), format_si(state_.flops, 2).c_str(),
              format_duration(elapsed_).c_str(), last_val_loss_, std::exp(last_val_loss_), metrics_->path().c_str());
  return 0;
}

}  // namespace mor
