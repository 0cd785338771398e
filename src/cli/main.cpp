// `mor`: the command-line entry point. All flag parsing lives in this one translation unit
// (CLI11 is expensive to compile); each subcommand hands a plain options struct to its library.
// Exit codes: 0 success, 2 bad input (config, flags, data), 1 anything else.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "data/prepare.h"
#include "src/core/error.h"
#include "src/train/bench.h"

namespace {

void add_prepare(CLI::App& app, mor::data::PrepareOptions& o) {
  auto* c = app.add_subcommand("prepare", "Turn raw text files/directories into a tokenized dataset directory");
  c->add_option("--input,-i", o.inputs, "Text files or directories (recursed)")->required();
  c->add_option("--out,-o", o.out_dir, "Dataset directory to create")->required();
  c->add_option("--tokenizer", o.tokenizer, "Reuse this SentencePiece .model instead of training one");
  c->add_option("--vocab-size", o.vocab_size, "Vocabulary size of the trained tokenizer")->capture_default_str();
  c->add_option("--val-fraction", o.val_fraction, "Fraction of documents held out for validation")
      ->capture_default_str();
  c->add_option("--shard-tokens", o.shard_tokens, "Tokens per shard file")->capture_default_str();
  c->add_option("--threads", o.threads, "Encoding threads (0: all cores)")->capture_default_str();
  c->add_option("--ext", o.extensions, "Only files with these extensions when recursing (e.g. .txt .rst)");
  c->add_option("--seed", o.seed, "Seed for the validation split and tokenizer sampling")->capture_default_str();
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
  c->add_option("--stop-at-step", a.opts.stop_at_step, "Checkpoint and exit after this step (for preemptible jobs)");
}

void add_flops(CLI::App& app, mor::cli::FlopsArgs& a) {
  auto* c = app.add_subcommand("flops", "FLOPs per token, tokens and steps for train.budget_flops (MOR.md 6)");
  c->add_option("--config,-c", a.config, "YAML config")->required();
  c->add_option("--set", a.set, "Override a config key (repeatable)");
  c->add_flag("--json", a.json, "Print JSON");
}

void add_bench(CLI::App& app, mor::BenchTrainOptions& t, mor::BenchSgemmOptions& s) {
  auto* b = app.add_subcommand("bench", "Speed measurements (tokens/s, MFU, memory)");
  b->require_subcommand(1);
  auto* bt = b->add_subcommand("train", "Time training steps of a config on random tokens");
  bt->add_option("--config,-c", t.config, "YAML config")->required();
  bt->add_option("--set", t.overrides, "Override a config key (repeatable)");
  bt->add_option("--threads", t.threads, "CPU threads (0: default)");
  bt->add_option("--steps", t.steps, "Timed steps")->capture_default_str();
  bt->add_flag("--json", t.json, "Print one JSON object");
  bt->add_flag("--profile", t.profile, "Print per-op forward/backward times (stderr)");
  auto* bs = b->add_subcommand("sgemm", "BLAS sgemm throughput (the MFU denominator)");
  bs->add_option("--threads", s.threads, "CPU threads (0: default)");
  bs->add_option("--size", s.size, "Matrix size n (n x n x n)")->capture_default_str();
  bs->add_option("--seconds", s.seconds, "Measurement time")->capture_default_str();
  bs->add_flag("--json", s.json, "Print JSON");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mor: pretrain Mixture-of-Recursions language models (MoR-Train " MOR_VERSION ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", MOR_VERSION);

  mor::data::PrepareOptions prepare;
  mor::cli::TrainArgs train;
  mor::cli::FlopsArgs flops;
  mor::BenchTrainOptions bench_train;
  mor::BenchSgemmOptions bench_sgemm;
  add_prepare(app, prepare);
  add_train(app, train);
  add_flops(app, flops);
  add_bench(app, bench_train, bench_sgemm);
  auto* config = app.add_subcommand("config", "Describe the configuration keys");
  bool keys = false;
  config->add_flag("--keys", keys, "List every key with its default and meaning")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (app.got_subcommand("prepare")) return mor::data::run_prepare(prepare);
    if (app.got_subcommand("train")) return mor::cli::run_train(train);
    if (app.got_subcommand("flops")) return mor::cli::run_flops(flops);
    if (app.got_subcommand("config")) return mor::cli::run_config_keys();
    if (auto* b = app.get_subcommand("bench"); b->parsed()) {
      if (b->got_subcommand("train")) return mor::run_bench_train(bench_train);
      return mor::run_bench_sgemm(bench_sgemm);
    }
    return 2;
  } catch (const mor::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.kind() == mor::ErrorKind::BadInput ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
