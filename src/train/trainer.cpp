// The training loop; see trainer.h.
#include "trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "evaluate.h"
#include "format.h"
#include "memory_check.h"
#include "metrics.h"
#include "peak.h"
#include "signals.h"
#include "src/core/threads.h"
#include "src/model/flops.h"

namespace mor {
namespace fs = std::filesystem;

// Keeps only the records of steps <= `step` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  for (std::string line; std::getline(in, line);) {
    const auto k = line.find("\"step\":");
    if (k == std::string::npos) continue;
    if (std::stoll(line.substr(k + 7)) <= step) keep.push_back(line);
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : keep) out << l << "\n";
}

void accumulate_routing(RoutingStats& acc, const RoutingStats& r, double micro_batches) {
  if (r.tokens_per_step.empty()) return;
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

int64_t resolve_total_steps(const Config& c) {
  const TrainConfig& t = c.train;
  if (t.steps > 0) return t.steps;
  const double tokens_per_step = double(t.micro_batch * t.grad_accum * t.seq_len);
  return steps_for_budget(t.budget_flops, budget_flops_per_token(c.model, t.seq_len), tokens_per_step);
}

Trainer::Trainer(const LoadedConfig& cfg, const TrainOptions& opts) : cfg_(cfg), opts_(opts) {
  const Config& c = cfg_.config;
  set_num_threads(int(c.train.threads));
  parse_device(c.train.device);
  if (!parse_device(c.train.device).is_cpu())
    fail_input(cfg_.source, ": train.device '", c.train.device,
               "': training on CUDA is not wired up yet. Hint: use device: cpu.");
  run_dir_ = opts.run_dir.empty() ? "runs/" + c.name : opts.run_dir;
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
  loader_ = std::make_unique<data::BatchLoader>(lo);

  check_training_memory(c, cfg_.source);  // prints the estimate; refuses before allocating if it cannot fit
  model_ = std::make_unique<Model>(c.model);
  model_->initialize(uint64_t(c.train.seed));
  optim_ = std::make_unique<AdamW>(model_->params(), c.train);
  total_steps_ = resolve_total_steps(c);
  schedule_ = make_schedule(c, total_steps_);
  budget_flops_per_token_ = budget_flops_per_token(c.model, c.train.seq_len);
  train_flops_per_token_ = train_flops_per_token(c.model, c.train.seq_len);
  routing_rng_ = Rng(uint64_t(c.train.seed), "routing");
  state_.rng = routing_rng_.state();
  optim_->set_lr_mult("aux_router", c.model.mor.aux_router_lr_mult);
  // Everything above validated the config, data and budget; only now does the run directory change.
  fs::create_directories(run_dir_);
  ckpts_ = std::make_unique<CheckpointManager>(run_dir_, c.train.keep_last);
  const std::string metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
  const std::string latest = ckpts_->latest();
  if (opts.resume && latest.empty())
    fail_input(run_dir_, ": --resume but the run directory holds no complete checkpoint. Hint: drop --resume to start fresh.");
  {
    std::ofstream f(fs::path(run_dir_) / "config.yaml");
    f << dump_config(c);
  }
  if (opts.fresh) {
    ckpts_->clear();
    std::filesystem::remove(metrics_path);
  } else if (!latest.empty()) {
    restore(latest);
    truncate_metrics(metrics_path, state_.step);
  } else if (fs::exists(metrics_path)) {
    std::filesystem::remove(metrics_path);  // a run that never checkpointed starts over
  }
  metrics_ = std::make_unique<MetricsWriter>(metrics_path);
}

void Trainer::restore(const std::string& path) {
  ckpt::Checkpoint ck = ckpt::read_checkpoint(path, true);
  // The model must be the same; everything else may change on resume (e.g. more steps).
  LoadedConfig stored = load_config_text(ck.config_yaml, path + ":/config");
  const auto a = flatten_config(stored.config), b = flatten_config(cfg_.config);
  std::string diffs;
  for (const auto& [k, v] : a)
    if (k.rfind("model.", 0) == 0 && b.at(k) != v) diffs += " " + k + " (checkpoint " + v + ", config " + b.at(k) + ")";
  if (!diffs.empty())
    fail_input(path, ": written for a different model:", diffs, ". Hint: resume with the config the run started with, or pass --fresh.");
  ParamTable& p = model_->params();
  std::map<std::string, const ckpt::NamedTensor*> by_name;
  for (const auto& t : ck.tensors) by_name[t.name] = &t;
  for (size_t i = 0; i < p.size(); ++i) {
    const ParamSpec& spec = p.spec(int(i));
    auto it = by_name.find(spec.name);
    if (it == by_name.end()) fail_input(path, ": parameter '", spec.name, "' is missing. Hint: the checkpoint is from another model.");
    const ckpt::NamedTensor& t = *it->second;
    if (t.value.shape() != spec.shape)
      fail_input(path, ": parameter '", spec.name, "' has shape ", shape_str(t.value.shape()), " but the model expects ",
                 shape_str(spec.shape), ".");
    p.var(int(i))->value.copy_from(t.value);
    if (spec.trainable) {
      if (!t.m.defined()) fail_input(path, ": no optimizer moments for '", spec.name, "' (corrupt checkpoint).");
      optim_->exp_avg().view(p.offset(int(i)), spec.shape).copy_from(t.m);
      optim_->exp_avg_sq().view(p.offset(int(i)), spec.shape).copy_from(t.v);
    }
    by_name.erase(it);
  }
  if (!by_name.empty())
    fail_input(path, ": holds parameter '", by_name.begin()->first, "' that this model does not have. Hint: check the config.");
  // The loader position only means the same batches on the same data.
  const ckpt::TrainingState& s = ck.state;
  if (s.data_tokenizer_hash != 0 && s.data_tokenizer_hash != loader_->tokenizer_hash())
    fail_input(path, ": written while training on data encoded with another tokenizer than ", cfg_.config.data.path,
               "'s (tokenizer hash ", s.data_tokenizer_hash, " vs ", loader_->tokenizer_hash(),
               "). Hint: resume with the dataset the run started with (data.path), or pass --fresh.");
  if (s.data_windows != 0 && s.data_windows != loader_->windows_per_epoch())
    fail_input(path, ": written while training on ", s.data_windows, " windows per epoch, but ", cfg_.config.data.path,
               " now gives ", loader_->windows_per_epoch(),
               " (the dataset or train.seq_len changed), so the saved loader position would replay or skip data. "
               "Hint: resume with the dataset the run started with, or pass --fresh.");
  optim_->set_steps_taken(ck.state.adam_steps);
  state_.step = ck.state.step;
  state_.tokens = ck.state.tokens;
  state_.flops = ck.state.flops;
  state_.loader = {ck.state.loader_epoch, ck.state.loader_consumed};
  state_.rng = ck.state.rng;
  loader_->seek(state_.loader);
  resumed_from_ = path;
}

void Trainer::save_checkpoint() {
  const auto t0 = std::chrono::steady_clock::now();
  const ParamTable& p = model_->params();
  ckpt::Checkpoint ck;
  for (size_t i = 0; i < p.size(); ++i) {
    const ParamSpec& spec = p.spec(int(i));
    ckpt::NamedTensor t;
    t.name = spec.name;
    t.value = p.var(int(i))->value.clone();
    if (spec.trainable) {
      t.m = optim_->exp_avg().view(p.offset(int(i)), spec.shape).clone();
      t.v = optim_->exp_avg_sq().view(p.offset(int(i)), spec.shape).clone();
    }
    ck.tensors.push_back(std::move(t));
  }
  ck.state.step = state_.step;
  ck.state.tokens = state_.tokens;
  ck.state.flops = state_.flops;
  ck.state.loader_epoch = state_.loader.epoch;
  ck.state.loader_consumed = state_.loader.consumed;
  ck.state.rng = state_.rng;
  ck.state.adam_steps = optim_->steps_taken();
  ck.state.data_tokenizer_hash = loader_->tokenizer_hash();
  ck.state.data_windows = loader_->windows_per_epoch();
  ck.meta.framework_version = MOR_VERSION;
  ck.meta.created = ckpt::utc_now_iso8601();
  ck.config_yaml = dump_config(cfg_.config);
  last_ckpt_stall_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ckpts_->save_async(std::move(ck));
}

Trainer::~Trainer() = default;

void Trainer::print_header() {
  const Config& c = cfg_.config;
  if (!resumed_from_.empty())
    std::printf("resumed from %s at step %lld (loader epoch %llu, window %llu)\n", resumed_from_.c_str(),
                (long long)state_.step, (unsigned long long)state_.loader.epoch, (unsigned long long)state_.loader.consumed);
  if (!opts_.quiet) std::printf("# resolved config (%s)\n%s", cfg_.source.c_str(), dump_config(c).c_str());
  peak_gflops_ = measure_sgemm_peak().gflops;
  const int64_t tokens_per_step = c.train.micro_batch * c.train.grad_accum * c.train.seq_len;
  std::printf("model: %s | unique params %s (non-embedding %s) | effective layers %lld | %s\n", c.name.c_str(),
              format_si(double(unique_params(c.model, true)), 2).c_str(),
              format_si(double(unique_params(c.model, false)), 2).c_str(), (long long)c.model.n_layers,
              c.model.mor.type == "none" ? (c.model.recursion.sharing == "none" ? "vanilla" : "recursive")
                                         : ("MoR " + c.model.mor.type + "-choice").c_str());
  std::printf("data: %s | %llu windows/epoch | %s tokens/step | %lld steps\n", c.data.path.c_str(),
              (unsigned long long)loader_->windows_per_epoch(), format_si(double(tokens_per_step)).c_str(),
              (long long)total_steps_);
  std::printf("flops: %s/token (budget formula, MOR.md 6) | %s/token trained (6N+12LTd) | budget %s\n",
              format_si(budget_flops_per_token_, 2).c_str(), format_si(train_flops_per_token_, 2).c_str(),
              c.train.budget_flops > 0 ? format_si(c.train.budget_flops, 2).c_str() : "none (train.steps)");
  std::printf("compute: %s | sgemm peak %.1f GFLOP/s (MFU denominator, measured now)\n", blas_description().c_str(),
              peak_gflops_);
  std::fflush(stdout);
}

Trainer::StepOutcome Trainer::train_step() {
  const TrainConfig& t = cfg_.config.train;
  model_->params().zero_grads();
  const double normalizer = double(t.micro_batch * t.seq_len * t.grad_accum);
  StepOutcome o;
  std::map<std::string, double> aux;
  step_routing_ = RoutingStats{};
  routing_rng_.set_state(state_.rng);
  for (int64_t m = 0; m < t.grad_accum; ++m) {
    Tensor tokens = loader_->next();
    ad::Tape tape;
    ad::GradScope scope(tape);
    ForwardContext ctx;
    ctx.loss_normalizer = normalizer;
    ctx.micro_batches = t.grad_accum;
    ctx.step = state_.step;
    ctx.rng = &routing_rng_;
    ForwardResult f = model_->forward(tokens, ctx);
    tape.backward(f.loss);
    o.loss += f.lm_loss / double(t.grad_accum);
    for (const auto& [k, v] : f.aux) aux[k] += v / double(t.grad_accum);
    accumulate_routing(step_routing_, f.routing, double(t.grad_accum));
    state_.tokens += f.tokens;
    state_.flops += budget_flops_per_token_ * double(f.tokens);
    last_forward_ = std::move(f);
  }
  last_forward_.aux = aux;
  last_forward_.loss.reset();
  state_.loader = loader_->position();
  state_.rng = routing_rng_.state();
  const bool aux_router = cfg_.config.model.mor.type == "expert" && cfg_.config.model.mor.sampling == "aux_router";
  o.grad_norm = optim_->grad_norm(aux_router ? "main" : "");
  o.lr = schedule_.lr_at(state_.step);
  if (!std::isfinite(o.loss) || !std::isfinite(o.grad_norm))
    fail_internal("step ", state_.step + 1, ": loss ", o.loss, ", grad norm ", o.grad_norm,
                  " is not finite. Hint: lower train.lr or raise train.warmup_steps.");
  if (aux_router) {  // the auxiliary router has its own clip and learning-rate multiplier
    optim_->step(o.lr, o.grad_norm, t.grad_clip, "main");
    optim_->step(o.lr, optim_->grad_norm("aux_router"), t.grad_clip, "aux_router");
  } else {
    optim_->step(o.lr, o.grad_norm, t.grad_clip);
  }
  model_->update_router_bias(model_->take_depth_counts());
  ++state_.step;
  return o;
}

void Trainer::log_step(const StepOutcome& o, double step_seconds, double cpu_seconds) {
  const Config& c = cfg_.config;
  const double tokens = double(c.train.micro_batch * c.train.grad_accum * c.train.seq_len);
  const double tps = tokens / step_seconds;
  const double mfu = peak_gflops_ > 0 ? train_flops_per_token_ * tps / (peak_gflops_ * 1e9) : 0;
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
  r.numbers["step_s"] = step_seconds;
  r.numbers["cpu_s"] = cpu_seconds;
  r.numbers["elapsed_s"] = elapsed_;
  for (const auto& [k, v] : last_forward_.aux) r.numbers["aux_" + k] = v;
  const RoutingStats& rs = step_routing_;
  if (!rs.tokens_per_step.empty()) {
    r.int_lists["route_tokens"] = rs.tokens_per_step;
    r.lists["route_score"] = rs.mean_score;
    r.int_lists["route_depth"] = rs.depth_histogram;
    if (c.model.mor.type == "expert") r.numbers["dead_ratio"] = rs.dead_ratio;
    if (c.model.mor.type == "token") r.numbers["maxvio"] = rs.maxvio;
  }
  if (std::isfinite(last_val_loss_)) {
    r.numbers["val_loss"] = last_val_loss_;
    r.numbers["val_ppl"] = std::exp(last_val_loss_);
  }
  metrics_->write(r);
  if (state_.step % c.train.log_every != 0 && state_.step != total_steps_) return;
  std::string flops;
  if (c.train.budget_flops > 0)
    flops = " | flops " + format_si(state_.flops, 2) + "/" + format_si(c.train.budget_flops, 2);
  std::string aux;
  for (const auto& [k, v] : last_forward_.aux) {
    char b[64];
    std::snprintf(b, sizeof b, " | %s %.4f", k.c_str(), v);
    aux += b;
  }
  if (!rs.tokens_per_step.empty()) {
    aux += " | route";
    for (size_t i = 0; i < rs.tokens_per_step.size(); ++i)
      aux += (i ? ">" : " ") + format_si(double(rs.tokens_per_step[i]) / double(std::max<int64_t>(rs.total_tokens, 1)) * 100, 0) + "%";
    char b[64];
    if (c.model.mor.type == "expert") std::snprintf(b, sizeof b, " dead %.1f%%", 100 * rs.dead_ratio);
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
  EvalResult e = evaluate(*model_, val, c.train.micro_batch, c.train.seq_len, uint64_t(c.train.eval_windows));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  last_val_loss_ = e.loss;
  char line[256];
  std::snprintf(line, sizeof line, "eval%s | step %lld | val loss %.4f | ppl %.2f | %lld tokens | %.1fs\n",
                final ? " (final)" : "", (long long)state_.step, e.loss, e.perplexity, (long long)e.tokens, s);
  return line;
}

int Trainer::run() {
  install_stop_handlers();
  if (state_.step >= total_steps_) {
    std::printf("%s: already complete at step %lld of %lld (%s). Hint: raise train.steps to continue, or pass --fresh.\n",
                run_dir_.c_str(), (long long)state_.step, (long long)total_steps_, resumed_from_.c_str());
    return 0;
  }
  print_header();
  const Config& c = cfg_.config;
  using clock = std::chrono::steady_clock;
  while (state_.step < total_steps_) {
    if (stop_requested()) break;
    auto t0 = clock::now();
    double cpu0 = process_cpu_seconds();
    StepOutcome o = train_step();
    double dt = std::chrono::duration<double>(clock::now() - t0).count();
    elapsed_ += dt;
    const bool last = state_.step == total_steps_;
    // The eval result goes into this step's metrics record; its line follows the step line.
    std::string eval_line;
    if (last || (c.train.eval_every > 0 && state_.step % c.train.eval_every == 0)) eval_line = run_eval(last);
    log_step(o, dt, process_cpu_seconds() - cpu0);
    if (!eval_line.empty()) {
      std::fputs(eval_line.c_str(), stdout);
      std::fflush(stdout);
    }
    if (!last) last_val_loss_ = NAN;
    const bool stop_here = opts_.stop_at_step > 0 && state_.step == opts_.stop_at_step && !last;
    if (last || stop_here || (c.train.ckpt_every > 0 && state_.step % c.train.ckpt_every == 0) || stop_requested())
      save_checkpoint();
    if (stop_here) {
      ckpts_->wait();
      std::printf("stopped after step %lld as asked (--stop-at-step); checkpoint %s\n", (long long)state_.step,
                  ckpts_->latest().c_str());
      return 0;
    }
  }
  ckpts_->wait();
  if (stop_requested()) {
    std::printf("stopped by signal %d after step %lld/%lld (checkpoint %s); resume with: mor train --config %s --run-dir %s --resume\n",
                stop_signal(), (long long)state_.step, (long long)total_steps_, ckpts_->latest().c_str(),
                (fs::path(run_dir_) / "config.yaml").c_str(), run_dir_.c_str());
    return 1;
  }
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
  std::ofstream((fs::path(run_dir_) / "summary.json").string()) << r.to_json() << "\n";
  std::printf("checkpoint: %s (snapshot stall %.3fs, background write %.2fs)\n", ckpts_->latest().c_str(),
              last_ckpt_stall_, ckpts_->last_write_seconds());
  std::printf("done: %lld steps, %s tokens, %s budget FLOPs, %s | final val loss %.4f (ppl %.2f) | metrics: %s\n",
              (long long)state_.step, format_si(double(state_.tokens), 2).c_str(), format_si(state_.flops, 2).c_str(),
              format_duration(elapsed_).c_str(), last_val_loss_, std::exp(last_val_loss_), metrics_->path().c_str());
  return 0;
}

}  // namespace mor
