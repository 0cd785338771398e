// Subcommand implementations; see commands.h.
#include "commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "checkpoints/checkpoint_probe.h"
#include "checkpoints/export_hf.h"
#include "checkpoints/gguf.h"
#include "data/tokenizer.h"
#include "dist/runtime.h"
#include "src/core/cpu_count.h"
#include "src/core/output_guard.h"
#include "src/model/flops.h"
#include "src/train/evaluate.h"
#include "src/train/model_io.h"
#include "src/train/format.h"
#include "src/train/memory_check.h"
#include "src/train/metrics.h"
#include "src/train/schedule.h"

namespace mor::cli {

namespace fs = std::filesystem;

namespace {

// BadInput unless `out`'s parent directory exists (commands never create parents of an output).
void check_parent_exists(const std::string& out) {
  const fs::path parent = normal_output_path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    fail_input(out, ": its parent directory ", parent.string(), " does not exist. Hint: create it first.");
}

}  // namespace

int run_train(const TrainArgs& a) {
  LoadedConfig cfg = load_config(a.config, a.set);
  if (const int cpus = available_cpus(); cfg.config.train.threads > cpus)
    std::fprintf(stderr, "warning: train.threads %lld (%s) is more than the %d CPU%s this process may use; threads will "
                 "share CPUs and run slower.\n", (long long)cfg.config.train.threads,
                 cfg.origins["train.threads"].c_str(), cpus, cpus == 1 ? "" : "s");
  Trainer trainer(cfg, a.opts);
  return trainer.run();
}

int run_flops(const FlopsArgs& a) {
  LoadedConfig lc = load_config(a.config, a.set);
  const Config& c = lc.config;
  const TrainConfig& t = c.train;
  const double fpt = budget_flops_per_token(c.model, t.seq_len);
  const int64_t tokens_per_step = int64_t(global_tokens_per_step(t, a.dp));
  const int64_t steps = resolve_total_steps(lc, a.dp);
  const LrSchedule sched = make_schedule(c, steps, a.dp);
  check_schedule_fits(sched, lc);
  const double tokens = t.budget_flops > 0 ? t.budget_flops / fpt : double(steps * tokens_per_step);
  MetricRecord r;
  r.strings["config"] = a.config;
  r.numbers["flops_per_token"] = fpt;
  r.numbers["train_flops_per_token"] = train_flops_per_token(c.model, t.seq_len);
  r.numbers["executed_flops_per_token"] = executed_flops_per_token(c.model, t.seq_len);
  r.numbers["budget_flops"] = t.budget_flops;
  r.numbers["tokens"] = tokens;
  r.numbers["steps_exact"] = tokens / double(tokens_per_step);
  r.integers["steps"] = steps;
  r.integers["tokens_per_step"] = tokens_per_step;
  r.integers["warmup_steps"] = sched.warmup_steps;
  r.integers["decay_steps"] = sched.decay_steps;
  r.integers["unique_params"] = unique_params(c.model, true);
  r.integers["unique_params_non_embedding"] = unique_params(c.model, false);
  r.lists["capacities"] = step_capacities(c.model);
  const MemoryCheck mem = assess_training_memory(c);
  const MemoryEstimate& e = mem.estimate;
  const std::pair<const char*, int64_t> parts[] = {
      {"total", e.total()},        {"parameters", e.parameters}, {"gradients", e.gradients},
      {"optimizer", e.optimizer},  {"activations", e.activations}, {"logits", e.logits},
      {"checkpoint", e.checkpoint}, {"overhead", e.overhead},     {"available", mem.available.bytes}};
  for (const auto& [name, bytes] : parts) r.integers[std::string("memory_") + name + "_bytes"] = bytes;
  r.integers["memory_fits"] = mem.fits ? 1 : 0;
  if (!mem.fits) r.integers["memory_largest_micro_batch"] = mem.largest_micro_batch;
  if (a.json) {
    std::printf("%s\n", r.to_json().c_str());
    return 0;
  }
  std::printf("%s (%s)\n", c.name.c_str(), a.config.c_str());
  std::printf("  forward FLOPs/token (MOR.md 6): %.4e  (%s)\n", fpt, format_si(fpt, 2).c_str());
  std::printf("  training FLOPs/token (6N+12LTd): %s | executed (the MFU numerator): %s\n",
              format_si(r.numbers["train_flops_per_token"], 2).c_str(),
              format_si(r.numbers["executed_flops_per_token"], 2).c_str());
  std::printf("  unique params: %s (non-embedding %s)\n", format_si(double(r.integers["unique_params"]), 2).c_str(),
              format_si(double(r.integers["unique_params_non_embedding"]), 2).c_str());
  if (t.budget_flops > 0)
    std::printf("  budget %.3e FLOPs -> %.4e tokens = %.2f steps of %lld tokens -> %lld steps\n", t.budget_flops, tokens,
                r.numbers["steps_exact"], (long long)tokens_per_step, (long long)steps);
  else
    std::printf("  %lld steps of %lld tokens = %.4e tokens = %.3e FLOPs\n", (long long)steps, (long long)tokens_per_step,
                tokens, tokens * fpt);
  std::printf("  schedule %s: warm-up %lld, decay %lld\n", t.schedule.c_str(), (long long)sched.warmup_steps,
              (long long)sched.decay_steps);
  std::printf("  %s\n", mem.line.c_str());
  if (!mem.fits)
    std::printf("  does not fit here: %s\n", mem.largest_micro_batch > 0
                                                  ? ("largest train.micro_batch that fits: " +
                                                     std::to_string(mem.largest_micro_batch)).c_str()
                                                  : "not even train.micro_batch 1 fits");
  return 0;
}

int run_config_keys() {
  std::printf("%s", describe_config_keys().c_str());
  return 0;
}

int run_eval(const EvalArgs& a) {
  LoadedModel lm = load_model(a.checkpoint, parse_device(a.device));
  const std::string split = resolve_eval_split(a.data);
  const int64_t T = a.seq_len > 0 ? a.seq_len : lm.config.train.seq_len;
  // Expert-choice MoR is evaluated under both selection rules (MOR.md 3.7).
  std::vector<std::optional<Selection>> modes = {std::nullopt};
  if (lm.model->routing().expert()) modes = {Selection::TopK, Selection::Threshold};
  MetricRecord r;
  r.strings["checkpoint"] = a.checkpoint;
  r.strings["data"] = split;
  for (const std::optional<Selection>& mode : modes) {
    // Under mpirun each rank evaluates its part of the windows; rank 0 prints.
    EvalResult e = evaluate_over_ranks(*lm.model, split, a.batch, T, uint64_t(a.max_windows), dist::world(), mode,
                                       lm.tokenizer_hash);
    const std::string suffix = !mode || *mode == Selection::TopK ? "" : std::string("_") + name_of(*mode);
    r.numbers["loss" + suffix] = e.loss;
    r.numbers["perplexity" + suffix] = e.perplexity;
    r.integers["tokens"] = e.tokens;
    r.integers["windows"] = e.windows;
    if (!a.json && dist::world().rank() == 0)
      std::printf("%s%s: val loss %.4f | perplexity %.2f | %lld tokens (%lld windows of %lld)\n", split.c_str(),
                  !mode ? "" : (std::string(" [") + name_of(*mode) + " selection]").c_str(), e.loss, e.perplexity, (long long)e.tokens,
                  (long long)e.windows, (long long)(T + 1));
  }
  if (a.json && dist::world().rank() == 0) std::printf("%s\n", r.to_json().c_str());
  return 0;
}

namespace {

// True for a file that starts with the GGUF magic (what `--format gguf --overwrite` may replace).
bool looks_like_gguf(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char magic[4] = {};
  return fs::is_regular_file(fs::symlink_status(p)) && f.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// `mor export --format gguf --out FILE.gguf`: one file; the vocabulary when the tokenizer is found.
int export_gguf_file(const ExportArgs& a, const LoadedModel& lm) {
  const fs::path out = normal_output_path(a.out);
  std::string tok = a.tokenizer.empty() ? (fs::path(lm.config.data.path) / "tokenizer.model").string() : a.tokenizer;
  if (fs::exists(tok)) check_output_apart(a.out, "--out", {{"the tokenizer", tok}});
  const PathLock lock = lock_output(a.out, "GGUF file " + a.out);
  if (fs::exists(fs::symlink_status(out))) {
    if (!a.overwrite) fail_input(a.out, ": already exists. Hint: pass --overwrite to replace it, or pick another --out.");
    if (!looks_like_gguf(out))
      fail_input(a.out, ": --overwrite refused: it is not a GGUF file but ", describe_existing(out),
                 ". Hint: pick another --out; delete it yourself first if it really is meant to go.");
  }
  ckpt::GgufVocab vocab;
  if (!fs::exists(tok)) {
    if (!a.tokenizer.empty()) fail_input(tok, ": no such tokenizer. Hint: pass the dataset's tokenizer.model.");
    std::fprintf(stderr, "warning: %s not found, so the GGUF file has no vocabulary (llama.cpp then runs on token ids "
                 "only). Hint: pass --tokenizer DATASET/tokenizer.model.\n", tok.c_str());
    tok.clear();
  } else {
    const data::Tokenizer t = data::Tokenizer::load(tok);
    check_tokenizer_matches(lm, tok, t.vocab_size(), t.hash());
    for (const data::VocabEntry& e : t.vocabulary()) {
      vocab.tokens.push_back(e.piece);
      vocab.scores.push_back(e.score);
      vocab.types.push_back(e.type);
    }
    vocab.bos = t.bos_id();
    vocab.eos = t.eos_id();
    vocab.unk = t.unk_id();
  }
  ckpt::export_gguf(lm.config, model_params(*lm.model), vocab, out.string());
  std::printf("exported %s -> %s (GGUF v3, f32, %lld layers%s)\n", a.checkpoint.c_str(), a.out.c_str(),
              (long long)lm.config.model.n_layers, tok.empty() ? ", no vocabulary" : ", with the tokenizer's vocabulary");
  return 0;
}

}  // namespace

int run_export(const ExportArgs& a) {
  if (a.format != "hf" && a.format != "gguf")
    fail_input("--format ", a.format, " is not supported. Hint: use --format hf or --format gguf.");
  const fs::path out = normal_output_path(a.out);
  check_parent_exists(a.out);
  check_output_apart(a.out, "--out", {{"--checkpoint", a.checkpoint}, {"--tokenizer", a.tokenizer}});
  LoadedModel lm = load_model(a.checkpoint);
  const ModelConfig& mc = lm.config.model;
  if ((a.unrolled || a.format == "gguf") && mc.mor.type != "none")
    fail_input(a.checkpoint, ": a MoR model (", mc.mor.type, "-choice routing) cannot be ",
               a.format == "gguf" ? "exported as GGUF" : "unrolled", ": which layers a token runs depends on its router. "
               "Hint: export it with --format hf (MoR key names and the mor block); vanilla and Recursive models take ",
               a.format == "gguf" ? "--format gguf." : "--unrolled.");
  if (a.unrolled && a.format != "hf") fail_input("--unrolled: only with --format hf (GGUF is always unrolled).");
  if (a.format == "gguf") return export_gguf_file(a, lm);
  // The tokenizer the model was trained with: --tokenizer, or the dataset's (data.path is relative to
  // where training ran). An export without one still loads, so a missing one is a warning.
  std::string tok = a.tokenizer.empty() ? (fs::path(lm.config.data.path) / "tokenizer.model").string() : a.tokenizer;
  if (fs::exists(tok)) check_output_apart(a.out, "--out", {{"the tokenizer", tok}});
  const PathLock lock = lock_output(a.out, "export directory " + a.out);
  if (fs::exists(fs::symlink_status(out)) && !fs::is_directory(fs::symlink_status(out)))
    fail_input(a.out, ": exists and is not a directory (", describe_existing(out), "). Hint: pick another --out.");
  if (fs::exists(out) && !fs::is_empty(out)) {
    if (!a.overwrite) fail_input(a.out, ": already exists. Hint: pass --overwrite to replace it, or pick another --out.");
    if (!ckpt::looks_like_export(out.string()))
      fail_input(a.out, ": --overwrite refused: it is not an export directory but ", describe_existing(out),
                 " (an export holds only config.json, model.safetensors and tokenizer.model). Hint: pick another --out; "
                 "delete it yourself first if it really is meant to go.");
  }
  if (!fs::exists(tok)) {
    if (!a.tokenizer.empty()) fail_input(tok, ": no such tokenizer. Hint: pass the dataset's tokenizer.model.");
    std::fprintf(stderr, "warning: %s not found, so the export has no tokenizer.model. Hint: pass --tokenizer DATASET/tokenizer.model.\n",
                 tok.c_str());
    tok.clear();
  } else {
    const data::Tokenizer t = data::Tokenizer::load(tok);
    check_tokenizer_matches(lm, tok, t.vocab_size(), t.hash());
  }
  // Build beside the target and swap it in only when complete.
  // Under OUT.lock, any OUT.tmp-* is left by an export that died: remove those first.
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::error_code ec;
    const std::string stale_prefix = out.filename().string() + ".tmp-";
    for (const auto& e : fs::directory_iterator(out.has_parent_path() ? out.parent_path() : fs::path("."), ec))
      if (e.path().filename().string().rfind(stale_prefix, 0) == 0) fs::remove_all(e.path(), ec);
  }
  try {
    ckpt::export_hf(lm.config, model_params(*lm.model), tmp.string(), tok, a.unrolled);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a failed export (e.g. disk full) leaves nothing behind
    throw;
  }
  if (fs::exists(out)) fs::remove_all(out);
  fs::rename(tmp, out);
  std::printf("exported %s -> %s (model.safetensors, config.json%s)\n", a.checkpoint.c_str(), a.out.c_str(),
              tok.empty() ? "" : ", tokenizer.model");
  return 0;
}

int run_import(const ImportArgs& a) {
  if (!fs::is_directory(a.dir))
    fail_input(a.dir, ": no such export directory. Hint: pass a directory written by `mor export --format hf`.");
  check_parent_exists(a.out);
  check_output_apart(a.out, "--out", {{"--hf", a.dir}});
  const PathLock lock = lock_output(a.out, "checkpoint " + a.out);
  if (fs::exists(fs::symlink_status(a.out))) {
    if (!a.overwrite) fail_input(a.out, ": already exists. Hint: pass --overwrite to replace it, or pick another --out.");
    if (!ckpt::looks_like_checkpoint(a.out))
      fail_input(a.out, ": --overwrite refused: it is not a MoR-Train checkpoint but ", describe_existing(a.out),
                 ". Hint: pick another --out; delete it yourself first if it really is meant to go.");
  }
  LoadedModel lm = load_model(a.dir);
  ckpt::Checkpoint ck;
  const ParamTable& p = lm.model->params();
  for (size_t i = 0; i < p.size(); ++i) {
    ckpt::NamedTensor t;
    t.name = p.spec(int(i)).name;
    t.value = p.var(int(i))->value.clone();
    if (p.spec(int(i)).trainable) {
      t.m = Tensor::zeros(t.value.shape(), DType::F32);
      t.v = Tensor::zeros(t.value.shape(), DType::F32);
    }
    ck.tensors.push_back(std::move(t));
  }
  ck.meta.framework_version = MOR_VERSION;
  ck.meta.created = ckpt::utc_now_iso8601();
  ck.config_yaml = dump_config(lm.config);
  ck.state.data_tokenizer_hash = lm.tokenizer_hash;  // the export's tokenizer.model, when it has one
  ckpt::write_checkpoint(a.out, ck);
  std::printf("imported %s -> %s (weights; optimizer state zero, step 0)\n", a.dir.c_str(), a.out.c_str());
  return 0;
}

}  // namespace mor::cli
