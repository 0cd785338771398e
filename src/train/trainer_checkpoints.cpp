// The trainer's checkpoints: the start-up write probe, restoring (model, optimizer shard, loader,
// RNG, guard history), snapshots (ZeRO moments gathered), and publication only after the
// divergence guard judged the snapshot's weights healthy (see checkpointing.h), with retries of
// failed writes. Part of class Trainer (trainer.h); the training loop is in trainer.cpp.
#include "trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "dist/process_grid.h"
#include "format.h"
#include "src/model/flops.h"

namespace mor {
namespace fs = std::filesystem;

namespace {
bool all_finite(const Tensor& device_tensor) {
  const Tensor t = device_tensor.host();
  const float* p = t.data<float>();
  const int64_t n = t.numel();
  bool ok = true;
#pragma omp parallel for reduction(&& : ok)
  for (int64_t i = 0; i < n; ++i) ok = ok && std::isfinite(p[i]);
  return ok;
}
}  // namespace

void Trainer::check_writable() {
  // Checkpoints are written as new files and renamed: probe exactly that, now, not at the first save.
  const fs::path probe = fs::path(run_dir_) / (".write-probe-" + std::to_string(::getpid()));
  std::error_code ec;
  {
    std::ofstream f(probe);
    f << "probe\n";
    f.flush();
    if (!f) {
      fs::remove(probe, ec);
      fail_input(run_dir_, ": cannot create files in the run directory (read-only or full), so no checkpoint could be ",
                 "saved. Hint: make it writable, free space, or pass another --run-dir.");
    }
  }
  fs::rename(probe, fs::path(probe.string() + ".renamed"), ec);
  fs::remove(probe, ec);
  fs::remove(probe.string() + ".renamed", ec);
  if (ec) fail_input(run_dir_, ": cannot rename files in the run directory (", ec.message(), "). Hint: make it writable.");
}

void Trainer::restore(const std::string& path, const ckpt::Checkpoint& ck) {
  // The model must be the same; everything else may change on resume (e.g. more steps).
  LoadedConfig stored = load_config_text(ck.config_yaml, path + ":/config");
  const auto a = flatten_config(stored.config), b = flatten_config(cfg_.config);
  std::string diffs;
  // (A capacity list means nothing without expert routing; earlier versions stored one there.)
  const bool expert = stored.config.model.mor.type == "expert" || cfg_.config.model.mor.type == "expert";
  for (const auto& [k, v] : a)
    if (k.rfind("model.", 0) == 0 && b.at(k) != v && (expert || k != "model.mor.capacity"))
      diffs += " " + k + " (checkpoint " + v + ", config " + b.at(k) + ")";
  if (!diffs.empty())
    fail_input(path, ": written for a different model:", diffs, ". Hint: resume with the config the run started with; if this "
               "file does not belong to the run, move it out of ", run_dir_, " and the newest checkpoint before it is used; "
               "--fresh starts over and deletes every checkpoint of the run.");
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
    // Full tensors in the file: this rank keeps its TP slice (all of it without TP).
    p.var(int(i))->value.copy_from(p.local_slice(int(i), t.value));
    if (spec.trainable) {
      if (!t.m.defined()) fail_input(path, ": no optimizer moments for '", spec.name, "' (corrupt checkpoint).");
      const Tensor m = p.local_slice(int(i), t.m), v = p.local_slice(int(i), t.v);
      // This rank's optimizer shard of the parameter (all of it without ZeRO).
      const int64_t off = p.offset(int(i)), lo = optim_->shard_begin();
      const int64_t a = std::max(lo, off), b = std::min(optim_->shard_end(), off + m.numel());
      if (a < b) {  // uploads off the CPU
        optim_->exp_avg().view(a - lo, {b - a}).copy_from(m.view(a - off, {b - a}));
        optim_->exp_avg_sq().view(a - lo, {b - a}).copy_from(v.view(a - off, {b - a}));
      }
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
  check_data_order_kept(path, stored, s);
  optim_->set_steps_taken(ck.state.adam_steps);
  state_.step = ck.state.step;
  state_.tokens = ck.state.tokens;
  state_.flops = ck.state.flops;
  state_.loader = {ck.state.loader_epoch, ck.state.loader_consumed};
  state_.rng = ck.state.rng;
  guard_.set_history({ck.state.guard_loss_ema, ck.state.guard_grad_ema, ck.state.guard_steps});
  loader_->seek(state_.loader);
  resumed_from_ = path;
  adapt_to_resumed_settings(stored, s, ck.meta.dp_size);
}

void Trainer::check_data_order_kept(const std::string& path, const LoadedConfig& stored, const ckpt::TrainingState& s) {
  const bool shuffle_then = stored.config.data.shuffle, shuffle_now = cfg_.config.data.shuffle;
  const int64_t seed_then = stored.config.train.seed, seed_now = cfg_.config.train.seed;
  if (shuffle_then == shuffle_now && (!shuffle_now || seed_then == seed_now)) return;
  const auto order = [](bool shuffle, int64_t seed) {
    return shuffle ? "data.shuffle true with train.seed " + std::to_string(seed) : std::string("data.shuffle false");
  };
  fail_input(path, ": written while reading the data in the order of ", order(shuffle_then, seed_then),
             "; the saved loader position (epoch ", s.loader_epoch, ", window ", s.loader_consumed, ") indexes that order, so ",
             "with ", order(shuffle_now, seed_now), " windows would repeat or be skipped. Hint: resume with ",
             shuffle_then ? "train.seed " + std::to_string(seed_then) + " and data.shuffle true" : std::string("data.shuffle false"),
             ", or pass --fresh to start over.");
}

void Trainer::adapt_to_resumed_settings(const LoadedConfig& stored, const ckpt::TrainingState& s, int64_t dp_then) {
  if (s.step <= 0) return;
  const Config& c = cfg_.config;
  const TrainConfig& then = stored.config.train;
  dp_then = std::max<int64_t>(1, dp_then);
  const int64_t tokens_then = then.micro_batch * then.grad_accum * then.seq_len * dp_then;  // the batch it last trained with
  const int64_t tokens_now = int64_t(global_tokens_per_step(c.train, dp_->size()));
  // The run's length as the checkpoint's session had it: train.steps, or for a budget run its step
  // plus what its budget had left at its batch (however it was resumed before).
  const auto budget_total = [&s](const Config& cfg, int64_t tokens_per_step) {
    const double left = std::max(0.0, cfg.train.budget_flops - s.flops);
    return s.step + int64_t(std::llround(left / (budget_flops_per_token(cfg.model, cfg.train.seq_len) * double(tokens_per_step))));
  };
  // A run that never changed its batch keeps the count it started with (the budget rounded once;
  // recounting from the FLOPs spent could round the other way at half a step).
  const bool uniform = s.tokens == s.step * tokens_then;
  const int64_t total_then =
      then.budget_flops <= 0 ? then.steps
      : uniform ? steps_for_budget(then.budget_flops, budget_flops_per_token(stored.config.model, then.seq_len), double(tokens_then))
                : budget_total(stored.config, tokens_then);
  std::vector<std::string> notes;
  if (tokens_then != tokens_now)
    notes.push_back("the global batch changed since the checkpoint: " + std::to_string(tokens_then) + " -> " +
                    std::to_string(tokens_now) + " tokens per step");
  if (c.train.budget_flops > 0 && !(uniform && tokens_then == tokens_now)) {
    // What is left of the budget buys this many steps at the current batch (steps taken at another
    // batch count by what they spent).
    const int64_t total = budget_total(c, tokens_now);
    if (total != total_steps_) {
      total_steps_ = total;
      schedule_ = make_schedule(c, total_steps_, dp_->size());
      check_schedule_fits(schedule_, cfg_);
    }
    if (total != total_then)
      notes.push_back("the " + format_si(std::max(0.0, c.train.budget_flops - s.flops), 3) + " budget FLOPs left buy " +
                      std::to_string(total - s.step) + " more steps (" + std::to_string(total) + " in all)");
  }
  // The learning rate of the next step under the checkpoint's own schedule, at the batch it had.
  const double lr_then = make_schedule(stored.config, total_then, dp_then).lr_at(s.step), lr_now = schedule_.lr_at(s.step);
  if (std::fabs(lr_now - lr_then) > 1e-9 * std::max(std::fabs(lr_then), 1e-30)) {
    std::string changed;
    const auto a = flatten_config(stored.config), b = flatten_config(c);
    for (const char* k : {"train.lr", "train.schedule", "train.steps", "train.budget_flops", "train.warmup_steps",
                          "train.warmup_frac", "train.warmup_budget_flops", "train.decay_frac", "train.min_lr_ratio"})
      if (a.at(k) != b.at(k)) changed += std::string(changed.empty() ? "" : ", ") + k + " " + a.at(k) + " -> " + b.at(k);
    char buf[160];
    std::snprintf(buf, sizeof buf, "the learning rate of the next step is %.4g; the checkpoint's schedule gives %.4g", lr_now, lr_then);
    notes.push_back(std::string(buf) + (changed.empty() ? " (the global batch changed)" : " (" + changed + ")") +
                    (schedule_.warmup_steps > s.step ? "; the warm-up (" + std::to_string(schedule_.warmup_steps) +
                                                          " steps of the new length) is not over" : ""));
  }
  if (root_)
    for (const std::string& n : notes) std::fprintf(stderr, "note: resuming: %s.\n", n.c_str());
}

void Trainer::snapshot_checkpoint() {
  const auto t0 = std::chrono::steady_clock::now();
  const ParamTable& p = model_->params();
  // ZeRO: every rank contributes its moment shard (collective over DP); TP: every rank its slice
  // of each split tensor (collective over TP). Rank 0 writes the full tensors by global name.
  // Host copies of what the files hold (the arenas themselves on the CPU).
  const Tensor m_all = dp_->gather_shards(optim_->exp_avg()).host();
  const Tensor v_all = dp_->gather_shards(optim_->exp_avg_sq()).host();
  const Tensor values = p.values().host();
  if (!root_ && tp_->size() == 1) {  // nothing more to contribute
    last_saved_step_ = state_.step;
    return;
  }
  ckpt::Checkpoint ck;
  for (size_t i = 0; i < p.size(); ++i) {
    const ParamSpec& spec = p.spec(int(i));
    ckpt::NamedTensor t;
    t.name = spec.name;
    t.value = tp_->gather_full(p, values, int(i));
    if (spec.trainable) {
      t.m = tp_->gather_full(p, m_all, int(i));
      t.v = tp_->gather_full(p, v_all, int(i));
    }
    if (root_) ck.tensors.push_back(std::move(t));
  }
  if (!root_) {
    last_saved_step_ = state_.step;
    return;
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
  ck.state.guard_loss_ema = guard_.history().loss_ema;
  ck.state.guard_grad_ema = guard_.history().grad_ema;
  ck.state.guard_steps = guard_.history().steps;
  ck.meta.framework_version = MOR_VERSION;
  ck.meta.dp_size = grid_->dp_size();
  ck.meta.tp_size = grid_->tp_size();
  ck.meta.created = ckpt::utc_now_iso8601();
  ck.config_yaml = dump_config(cfg_.config);
  last_ckpt_stall_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ckpts_->save_async(std::move(ck));
  last_saved_step_ = state_.step;
}

std::string Trainer::resume_hint() const {
  return "mor train --config " + (fs::path(run_dir_) / "config.yaml").string() + " --run-dir " + run_dir_ + " --resume";
}

void Trainer::save_checkpoint() {
  if (!all_finite(model_->params().values())) {
    // Never snapshot a model that already holds NaN/Inf (the guard stops the run right after).
    guard_blocked_save_ = true;
    return;
  }
  snapshot_checkpoint();
}

std::string Trainer::latest_checkpoint() const { return ckpts_ ? ckpts_->latest() : ""; }

bool Trainer::on_write_failure(const std::string& message) {
  if (message.empty()) return false;
  ++write_failures_;
  const std::string prev = latest_checkpoint();
  std::fprintf(stderr, "error: %s (%s)\n", message.c_str(),
               prev.empty() ? "no earlier checkpoint" : ("previous checkpoint " + prev + " intact").c_str());
  if (write_failures_ > cfg_.config.train.ckpt_retries) {
    std::fprintf(stderr, "error: stopping: %lld checkpoint write(s) failed in a row (train.ckpt_retries=%lld). Hint: make %s "
                         "writable and give it free space (the error above says which failed), then %s\n",
                 (long long)write_failures_, (long long)cfg_.config.train.ckpt_retries, run_dir_.c_str(),
                 prev.empty() ? "run the same command again" : ("resume with: " + resume_hint()).c_str());
    return true;
  }
  std::fprintf(stderr, "note: retrying the checkpoint at the next step boundary (%lld of %lld)\n", (long long)write_failures_,
               (long long)cfg_.config.train.ckpt_retries);
  retry_save_ = true;
  return false;
}

void Trainer::judge_snapshot(const Judgement& j, const std::string& context) {
  if (!ckpts_ || !ckpts_->has_snapshot()) return;
  if (j.health == StepHealth::Healthy) {
    ckpts_->approve();
    return;
  }
  const std::string latest = latest_checkpoint();
  std::fprintf(stderr, "warning: checkpoint of step %lld not published: %s %s. Latest checkpoint: %s.\n",
               (long long)ckpts_->snapshot_step(), context.c_str(), j.what.c_str(), latest.empty() ? "none" : latest.c_str());
  ckpts_->reject(j.what);
}

void Trainer::probe_snapshot() {
  // Rank 0 judges; under TP its whole TP group runs the forward with it (collective over TP).
  int64_t has = ckpts_ && ckpts_->has_snapshot() ? 1 : 0;
  if (tp_->size() > 1) has = grid_->tp().all_reduce_value(has, dist::ReduceOp::Max);
  if (!has) return;
  // The snapshot's weights are the current ones: one forward pass on this rank's next batch judges
  // them (no gradient, routing randomness untouched).
  ad::NoGradScope no_grad;
  Rng rng(routing_rng_);
  ForwardContext ctx;
  ctx.loss_normalizer = double(cfg_.config.train.micro_batch * cfg_.config.train.seq_len);
  ctx.step = state_.step;
  ctx.forward_call = state_.step * cfg_.config.train.grad_accum + 1;  // as the next step's first micro-batch
  ctx.calls_per_step = cfg_.config.train.grad_accum;
  ctx.rng = &rng;
  ForwardResult f = model_->forward(loader_->next(), ctx);
  if (root_) judge_snapshot(guard_.judge(f.lm_loss, last_grad_norm_), "the next batch gives");
}

std::string Trainer::settle_checkpoint() {
  // Collective: rank 0 judges and writes, then tells every rank whether to save again (0: done,
  // 1: retry, 2: give up); a retry is collective under ZeRO and TP (shards are gathered).
  for (;;) {
    int64_t action = 0;
    probe_snapshot();  // collective over TP
    if (ckpts_) {
      const std::string err = ckpts_->finish();
      if (err.empty()) write_failures_ = 0;
      action = err.empty() ? 0 : on_write_failure(err) ? 2 : 1;
    }
    action = grid_->world().all_reduce_value(action, dist::ReduceOp::Max);
    if (action == 0) return "";
    if (action == 2) return "checkpoint writes failed";
    retry_save_ = false;
    save_checkpoint();  // retry now: there is no next step boundary
  }
}

}  // namespace mor
