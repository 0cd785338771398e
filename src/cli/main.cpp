// `mor`: the command-line entry point. All flag parsing lives in this one translation unit
// (CLI11 is expensive to compile); each subcommand hands a plain options struct to its library.
// Exit codes: 0 success, 2 bad input (config, flags, data), 1 anything else.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "commands.h"
#include "data/bench_loader.h"
#include "data/prepare.h"
#include "dist/bench_comm.h"
#include "dist/runtime.h"
#include "kernels/cpu/gemm.h"
#include "src/core/blas_kernels.h"
#include "src/core/error.h"
#include "src/core/storage.h"
#include "src/train/bench.h"
#include "src/sweep/sweep_run.h"

namespace {

// Range validators for numeric flags. CLI11's PositiveNumber / NonNegativeNumber print the type's
// 300-digit maximum and let NaN through; these say what is wanted and what was given, and CLI11
// prefixes the flag: "--max-new-tokens: must be a positive integer (got -3)".
bool parse_whole(const std::string& s, int64_t& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool parse_whole(const std::string& s, double& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(v);
}
// A validator for flags of type T (int64_t or double) that must be > 0 (positive) or >= 0;
// `want` says so in words ("a positive integer").
template <typename T>
CLI::Validator at_least_zero(bool positive, const std::string& want) {
  return CLI::Validator(
      [positive, want](std::string& s) {
        T v = 0;
        return parse_whole(s, v) && (positive ? v > 0 : v >= 0) ? std::string() : "must be " + want + " (got " + s + ")";
      },
      positive ? "POSITIVE" : "NONNEGATIVE");
}
const CLI::Validator kPositiveInt = at_least_zero<int64_t>(true, "a positive integer");
const CLI::Validator kNonNegativeInt = at_least_zero<int64_t>(false, "an integer >= 0");
// Seeds (uint64_t): CLI11 would take "-1" and wrap it, or saturate a number past 2^64 - 1.
const CLI::Validator kSeed = CLI::Validator(
    [](std::string& s) {
      uint64_t v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      return r.ec == std::errc() && r.ptr == s.data() + s.size() ? std::string()
                                                                 : "must be an integer in [0, 18446744073709551615] (got " + s + ")";
    },
    "SEED");
const CLI::Validator kPositiveNumber = at_least_zero<double>(true, "a finite number > 0");
const CLI::Validator kNonNegativeNumber = at_least_zero<double>(false, "a finite number >= 0");

void add_prepare(CLI::App& app, mor::data::PrepareOptions& o) {
  auto* c = app.add_subcommand("prepare", "Turn raw text files/directories into a tokenized dataset directory");
  c->add_option("--input,-i", o.inputs, "Text files or directories (recursed)")->required();
  c->add_option("--out,-o", o.out_dir, "Dataset directory to create")->required();
  c->add_option("--tokenizer", o.tokenizer, "Reuse this SentencePiece .model instead of training one");
  c->add_option("--vocab-size", o.vocab_size, "Vocabulary size of the trained tokenizer")->capture_default_str()->check(kPositiveInt);
  c->add_option("--val-fraction", o.val_fraction, "Fraction of documents held out for validation")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  c->add_option("--shard-tokens", o.shard_tokens, "Tokens per shard file")->capture_default_str()->check(kPositiveInt);
  c->add_option("--threads", o.threads, "Encoding threads (0: all cores; capped at the CPU count)")->capture_default_str()->check(kNonNegativeInt);
  c->add_option("--ext", o.extensions, "Only files with these extensions when recursing (e.g. .txt .rst)");
  c->add_option("--seed", o.seed, "Seed for the validation split and tokenizer sampling")->capture_default_str()->check(kSeed);
  c->add_flag("--overwrite", o.overwrite, "Replace an existing output directory");
  c->add_flag("--json", o.json, "Print a machine-readable summary");
  c->add_flag("--quiet", o.quiet, "No progress bar");
}

void add_train(CLI::App& app, mor::cli::TrainArgs& a) {
  auto* c = app.add_subcommand("train", "Train a model from a YAML config");
  c->add_option("--config,-c", a.config, "YAML config (configs/ holds examples)")->required();
  c->add_option("--set", a.set, "Override a config key: --set train.lr=1e-3 (repeatable)");
  c->add_option("--run-dir", a.opts.run_dir, "Run directory (default runs/<config name>)");
  c->add_flag("--resume", a.opts.resume, "Continue from the run directory's latest checkpoint");
  c->add_flag("--fresh", a.opts.fresh, "Start over even if the run directory holds checkpoints");
  c->add_flag("--quiet", a.opts.quiet, "Do not print the resolved config");
  c->add_option("--stop-at-step", a.opts.stop_at_step, "Checkpoint and exit after this step (for preemptible jobs; 0: off)")->check(kNonNegativeInt);
}

void add_flops(CLI::App& app, mor::cli::FlopsArgs& a) {
  auto* c = app.add_subcommand("flops", "FLOPs per token, tokens and steps for train.budget_flops (MOR.md 6)");
  c->add_option("--config,-c", a.config, "YAML config")->required();
  c->add_option("--set", a.set, "Override a config key (repeatable)");
  c->add_option("--dp", a.dp, "Data-parallel ranks of the run (steps for a budget use the global batch)")
      ->capture_default_str()->check(kPositiveInt);
  c->add_flag("--json", a.json, "Print JSON");
}

void add_eval(CLI::App& app, mor::cli::EvalArgs& a) {
  auto* c = app.add_subcommand("eval", "Validation loss and perplexity of a checkpoint or export");
  c->add_option("--checkpoint", a.checkpoint, "Checkpoint (.h5), run directory (its latest checkpoint) or export directory")->required();
  c->add_option("--data", a.data, "Dataset directory (its val split is used) or split directory")->required();
  c->add_option("--max-windows", a.max_windows, "Evaluate at most this many windows (0: all)")->capture_default_str()->check(kNonNegativeInt);
  c->add_option("--batch", a.batch, "Windows per forward pass")->capture_default_str()->check(kPositiveInt);
  c->add_option("--seq-len", a.seq_len, "Window length (0: the model's train.seq_len)")->check(kNonNegativeInt);
  c->add_option("--device", a.device, "Device: cpu, cuda, cuda:N, or test (the CPU kernels behind the device seam)")->capture_default_str();
  c->add_flag("--json", a.json, "Print JSON");
}

void add_export(CLI::App& app, mor::cli::ExportArgs& e, mor::cli::ImportArgs& i) {
  auto* c = app.add_subcommand("export", "Export a checkpoint for inference engines (safetensors + config.json)");
  c->add_option("--checkpoint", e.checkpoint, "Checkpoint (.h5), run directory (its latest checkpoint) or export / HF directory")->required();
  c->add_option("--format", e.format, "Export format: hf (safetensors + config.json) or gguf (llama.cpp; vanilla and Recursive models)")
      ->capture_default_str();
  c->add_option("--out", e.out, "Output directory (hf; built as OUT.tmp-PID, renamed when complete) or file (gguf)")->required();
  c->add_flag("--unrolled", e.unrolled, "hf: write a Recursive model as a plain Llama of its effective layers (LlamaForCausalLM)");
  c->add_option("--tokenizer", e.tokenizer, "SentencePiece model to ship (default: the config's data.path/tokenizer.model)");
  c->add_flag("--overwrite", e.overwrite, "Replace an existing --out");
  auto* im = app.add_subcommand("import", "Turn an export directory back into a checkpoint");
  im->add_option("--hf", i.dir, "Directory written by `mor export --format hf`, or a Hugging Face Llama / MoR checkpoint")->required();
  im->add_option("--out", i.out, "Checkpoint file to write (.h5)")->required();
  im->add_flag("--overwrite", i.overwrite, "Replace an existing --out");
}

CLI::App* add_generate(CLI::App& app, mor::cli::GenerateArgs& a) {
  auto* c = app.add_subcommand("generate", "Sample text from a checkpoint or export (the inference engine: batched, KV-cached)");
  c->add_option("--checkpoint", a.checkpoint, "Checkpoint (.h5), run directory (its latest checkpoint) or export directory")->required();
  c->add_option("--prompt", a.prompt, "Prompt text (streamed as it is generated)");
  c->add_option("--prompts", a.prompts, "File with one prompt per line, decoded together (continuous batching)");
  c->add_option("--max-new-tokens", a.max_new_tokens, "Tokens to generate per prompt")->capture_default_str()->check(kPositiveInt);
  c->add_option("--temperature", a.temperature, "Sampling temperature (0: greedy)")->capture_default_str()->check(kNonNegativeNumber);
  c->add_option("--top-k", a.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str()->check(kNonNegativeInt);
  c->add_option("--top-p", a.top_p, "Sample among the most likely tokens holding this probability (1: all)")->capture_default_str();
  c->add_option("--seed", a.seed, "Sampling seed (prompt i uses seed + i)")->capture_default_str()->check(kSeed);
  c->add_option("--batch", a.batch, "Engine batch: rows per phase and sequences at once")->capture_default_str()->check(kPositiveInt);
  c->add_option("--kv-budget", a.kv_budget, "KV pool bytes (0: the prompts' worst case, every token at every depth)")
      ->capture_default_str()->check(kNonNegativeInt);
  c->add_option("--tokenizer", a.tokenizer, "SentencePiece model (default: the export's or the dataset's)");
  c->add_option("--device", a.device, "Device: cpu, cuda, cuda:N, or test")->capture_default_str();
  c->add_flag("--json", a.json, "Print JSON (one object per prompt)");
  return c;
}

void add_bench(CLI::App& app, mor::BenchTrainOptions& t, mor::BenchSgemmOptions& s, mor::BenchCheckpointOptions& k,
               mor::data::LoaderBenchOptions& l, mor::dist::BenchCommOptions& m, mor::cli::BenchGenerateArgs& g) {
  auto* b = app.add_subcommand("bench", "Speed measurements (tokens/s, MFU, memory)");
  b->require_subcommand(1);
  auto* bg = b->add_subcommand("generate", "Decoding throughput of the inference engine (MOR.md 8 protocol: lengths around a mean, no prompt)");
  bg->add_option("--checkpoint", g.checkpoint, "Checkpoint (.h5), run directory or export directory")->required();
  bg->add_option("--queries", g.queries, "Timed queries")->capture_default_str()->check(kPositiveInt);
  bg->add_option("--mean-len", g.mean_len, "Mean generation length (lengths ~ Normal(mean, mean/4) in [1, 2 mean])")
      ->capture_default_str()->check(kPositiveInt);
  bg->add_option("--batch", g.batch, "Engine batch (sequences at once), or max: as many as the KV budget admits")->capture_default_str();
  bg->add_option("--kv-budget", g.kv_budget, "KV pool bytes (0: --batch sequences of the longest length, worst case)")
      ->capture_default_str()->check(kNonNegativeInt);
  bg->add_option("--warmup", g.warmup, "Queries decoded first, untimed")->capture_default_str()->check(kNonNegativeInt);
  bg->add_option("--page-tokens", g.page_tokens, "Rows per KV page")->capture_default_str()->check(kPositiveInt);
  bg->add_option("--seed", g.seed, "Seed of the length draw")->capture_default_str()->check(kSeed);
  bg->add_option("--device", g.device, "Device: cpu, cuda, cuda:N, or test")->capture_default_str();
  bg->add_flag("--json", g.json, "Print one JSON object");
  auto* bt = b->add_subcommand("train", "Time training steps of a config on random tokens");
  bt->add_option("--config,-c", t.config, "YAML config")->required();
  bt->add_option("--set", t.overrides, "Override a config key (repeatable)");
  bt->add_option("--threads", t.threads, "CPU threads (0: default)")->check(kNonNegativeInt);
  bt->add_option("--steps", t.steps, "Timed steps")->capture_default_str()->check(kPositiveInt);
  bt->add_flag("--json", t.json, "Print one JSON object");
  bt->add_flag("--profile", t.profile, "Print per-op forward/backward times (stderr)");
  bt->add_option("--device", t.device, "Device: cpu, cuda, cuda:N, or test (default: the config's train.device)");
  bt->add_flag("--max-batch", t.max_batch, "Also find the largest micro batch that fits the device's memory (doubling, then bisecting)");
  auto* bk = b->add_subcommand("checkpoint", "Checkpoint snapshot stall, write and load time, file size");
  bk->add_option("--config,-c", k.config, "YAML config (its model and AdamW state are saved)")->required();
  bk->add_option("--set", k.overrides, "Override a config key (repeatable)");
  bk->add_option("--dir", k.dir, "Directory for the temporary file")->capture_default_str();
  bk->add_flag("--json", k.json, "Print JSON");
  auto* bl = b->add_subcommand("loader", "Batches/s of the streaming data loader alone");
  bl->add_option("--data", l.data, "Dataset directory (its train split) or split directory")->required();
  bl->add_option("--batch", l.batch, "Windows per batch B")->capture_default_str()->check(kPositiveInt);
  bl->add_option("--seq-len", l.seq_len, "Window length T")->capture_default_str()->check(kPositiveInt);
  bl->add_option("--seconds", l.seconds, "Measurement time")->capture_default_str()->check(kPositiveNumber);
  bl->add_option("--prefetch", l.prefetch, "Batches prefetched by the loader thread")->capture_default_str()->check(kNonNegativeInt);
  bl->add_flag("--json", l.json, "Print JSON");
  auto* bs = b->add_subcommand("sgemm", "BLAS sgemm throughput (the MFU denominator)");
  bs->add_option("--threads", s.threads, "CPU threads (0: default)")->check(kNonNegativeInt);
  bs->add_option("--size", s.size, "Matrix size n (n x n x n)")->capture_default_str()->check(kPositiveInt);
  bs->add_option("--seconds", s.seconds, "Measurement time")->capture_default_str()->check(kPositiveNumber);
  bs->add_flag("--json", s.json, "Print JSON");
  auto* bm = b->add_subcommand("comm", "Collective bus bandwidth (run under mpirun) vs plain MPI on the same buffers");
  bm->add_option("--sizes", m.sizes, "Message sizes (bytes, or K/M/G suffixes; default 4K..64M, x4 steps)");
  bm->add_option("--iters", m.iters, "Timed iterations per variant")->capture_default_str()->check(kPositiveInt);
  bm->add_option("--warmup", m.warmup, "Untimed calls per variant first")->capture_default_str()->check(CLI::NonNegativeNumber);
  bm->add_flag("--json", m.json, "Print JSON (rank 0)");
}

void add_sweep(CLI::App& app, mor::sweep::PlanOptions& p, mor::sweep::RunOptions& r, mor::sweep::ReportOptions& rep) {
  auto* s = app.add_subcommand("sweep", "Scaling-law sweeps: plan a grid from a sweep file, run it, report fits and plots");
  s->require_subcommand(1);
  auto* sp = s->add_subcommand("plan", "Resolve a sweep file into one run directory per point; print the table and time estimate");
  sp->add_option("sweep", p.sweep_file, "Sweep file (configs/sweeps/ holds examples)")->required();
  sp->add_option("--out,-o", p.out, "Sweep directory to create")->required();
  sp->add_option("--set", p.set, "Override a config key of every point: --set data.path=DIR (repeatable)");
  sp->add_option("--jobs,-j", p.jobs, "Points that will run at once (the estimate divides the cores between them)")
      ->capture_default_str()->check(kPositiveInt);
  sp->add_option("--bench-steps", p.bench_steps, "Timed `mor bench train` steps per shape (0: no estimate)")
      ->capture_default_str()->check(kNonNegativeInt);
  auto* sr = s->add_subcommand("run", "Run the unfinished points (resuming interrupted ones), or write an mpirun/Slurm script");
  sr->add_option("dir", r.dir, "Sweep directory written by `mor sweep plan`")->required();
  sr->add_option("--jobs,-j", r.jobs, "Points at once (local: cores divided between them; slurm: array throttle)")
      ->capture_default_str()->check(kPositiveInt);
  sr->add_option("--launcher", r.launcher, "local (child processes), mpirun (writes DIR/run_mpirun.sh) or slurm (DIR/sweep.slurm)")
      ->capture_default_str();
  sr->add_flag("--submit", r.submit, "mpirun/slurm: start the script (bash / sbatch) after writing it");
  sr->add_option("--ranks", r.ranks, "mpirun/slurm: data-parallel ranks per point")->capture_default_str()->check(kPositiveInt);
  sr->add_option("--cpus-per-task", r.cpus_per_task, "slurm: CPUs per rank (0: the plan's threads per point)")->check(kNonNegativeInt);
  sr->add_option("--time", r.time_limit, "slurm: time limit per point (sbatch --time)");
  auto* rp = s->add_subcommand("report", "Collect results, fit isoFLOP parabolas and power laws, plot, write report.md");
  rp->add_option("dir", rep.dir, "Sweep directory")->required();
  rp->add_option("--params", rep.params, "Parameter count of the fits: non_embedding or unique")->capture_default_str();
}

// Ends a failed command: under MPI the whole job is aborted with the rank-tagged message (so that
// peers do not wait for this rank forever); otherwise the message is printed and `code` returned.
int fail_exit(int code, const std::string& message) {
  if (mor::dist::runtime_initialized() && mor::dist::rank_info().mpi) mor::dist::abort_job(code, message);
  std::fprintf(stderr, "%s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  mor::ensure_fast_blas_kernels(argv);  // may re-execute this command once (see blas_kernels.h)
  CLI::App app{"mor: pretrain Mixture-of-Recursions language models (MoR-Train " MOR_VERSION ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", MOR_VERSION);

  mor::data::PrepareOptions prepare;
  mor::cli::TrainArgs train;
  mor::cli::FlopsArgs flops;
  mor::BenchTrainOptions bench_train;
  mor::BenchSgemmOptions bench_sgemm;
  mor::BenchCheckpointOptions bench_ckpt;
  mor::data::LoaderBenchOptions bench_loader;
  mor::dist::BenchCommOptions bench_comm;
  add_prepare(app, prepare);
  add_train(app, train);
  add_flops(app, flops);
  mor::cli::BenchGenerateArgs bench_generate;
  add_bench(app, bench_train, bench_sgemm, bench_ckpt, bench_loader, bench_comm, bench_generate);
  mor::cli::EvalArgs eval;
  mor::cli::ExportArgs export_args;
  mor::cli::ImportArgs import_args;
  add_eval(app, eval);
  add_export(app, export_args, import_args);
  mor::cli::GenerateArgs generate_args;
  CLI::App* generate_cmd = add_generate(app, generate_args);
  mor::sweep::PlanOptions sweep_plan;
  mor::sweep::RunOptions sweep_run;
  mor::sweep::ReportOptions sweep_report;
  add_sweep(app, sweep_plan, sweep_run, sweep_report);
  auto* config = app.add_subcommand("config", "Describe the configuration keys");
  bool keys = false;
  config->add_flag("--keys", keys, "List every key with its default and meaning")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) {  // e.g. `mor train -c F --steps 3`
      const auto parsed = [&app](const char* name) { return app.get_subcommand(name)->parsed(); };
      const auto parsed_in = [&app](const char* parent, const char* name) {
        return app.get_subcommand(parent)->parsed() && app.get_subcommand(parent)->get_subcommand(name)->parsed();
      };
      const bool takes_set = parsed("train") || parsed("flops") || parsed_in("bench", "train") ||
                             parsed_in("bench", "checkpoint") || parsed_in("sweep", "plan");
      std::fprintf(stderr, "Hint: %s`mor <command> --help` lists each command's flags.\n",
                   takes_set ? "config keys are set with --set KEY=VALUE (e.g. --set train.steps=3; `mor config --keys` lists them); " : "");
    }
    return rc == 0 ? 0 : 2;
  }
  try {
    mor::kernels::check_sgemm_env();  // a bad MOR_SGEMM fails every command, before any work
  } catch (const std::invalid_argument& e) {
    return fail_exit(2, std::string("error: ") + e.what());
  }
  // Commands that may run as many ranks start the distributed runtime (MPI only when a launcher
  // started this process; `bench comm` always); it is finalised when `runtime` goes out of scope.
  std::optional<mor::dist::RuntimeScope> runtime;
  try {
    auto* bench = app.get_subcommand("bench");
    const bool comm = bench->parsed() && bench->got_subcommand("comm");
    if (app.got_subcommand("train") || app.got_subcommand("eval") || comm) {
      mor::dist::RuntimeOptions ro;
      ro.force_mpi = comm;
      runtime.emplace(&argc, &argv, ro);
    }
    if (app.got_subcommand("prepare")) {
      prepare.vocab_size_given = app.get_subcommand("prepare")->count("--vocab-size") > 0;
      return mor::data::run_prepare(prepare);
    }
    if (app.got_subcommand("train")) return mor::cli::run_train(train);
    if (app.got_subcommand("flops")) return mor::cli::run_flops(flops);
    if (app.got_subcommand("config")) return mor::cli::run_config_keys();
    if (app.got_subcommand("eval")) return mor::cli::run_eval(eval);
    if (app.got_subcommand("export")) return mor::cli::run_export(export_args);
    if (app.got_subcommand("import")) return mor::cli::run_import(import_args);
    if (app.got_subcommand("generate")) {
      generate_args.prompt_given = generate_cmd->count("--prompt") > 0;
      return mor::cli::run_generate(generate_args);
    }
    if (auto* s = app.get_subcommand("sweep"); s->parsed()) {
      if (s->got_subcommand("plan")) return mor::sweep::run_sweep_plan(sweep_plan);
      if (s->got_subcommand("run")) return mor::sweep::run_sweep_run(sweep_run);
      return mor::sweep::run_sweep_report(sweep_report);
    }
    if (auto* b = app.get_subcommand("bench"); b->parsed()) {
      if (b->got_subcommand("train")) return mor::run_bench_train(bench_train);
      if (b->got_subcommand("checkpoint")) return mor::run_bench_checkpoint(bench_ckpt);
      if (b->got_subcommand("loader")) return mor::data::run_bench_loader(bench_loader);
      if (b->got_subcommand("comm")) return mor::dist::run_bench_comm(bench_comm);
      if (b->got_subcommand("generate")) return mor::cli::run_bench_generate(bench_generate);
      return mor::run_bench_sgemm(bench_sgemm);
    }
    return 2;
  } catch (const mor::Error& e) {
    return fail_exit(e.kind() == mor::ErrorKind::BadInput ? 2 : 1, std::string("error: ") + e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    // Creating or renaming an output path failed: almost always a bad path given on the command line.
    return fail_exit(2, std::string("error: ") + e.what() +
                            ". Hint: check that the output path is a writable directory (not a file).");
  } catch (const std::bad_alloc&) {
    // Out of memory outside the tensor allocator (which reports its own): name the estimate.
    const std::string note = mor::out_of_memory_note();
    return fail_exit(1, std::string("error: out of memory (std::bad_alloc)") + (note.empty() ? "" : "; ") + note + ". " +
                            mor::out_of_memory_hint());
  } catch (const std::exception& e) {
    return fail_exit(1, std::string("error: ") + e.what());
  }
}
