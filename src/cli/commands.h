// Subcommand implementations behind the `mor` CLI (flag parsing stays in main.cpp).
#pragma once
#include <string>
#include <vector>

#include "src/train/trainer.h"

namespace mor::cli {

struct TrainArgs {
  std::string config;
  std::vector<std::string> set;  // --set key=value
  TrainOptions opts;
};
int run_train(const TrainArgs& a);

struct FlopsArgs {
  std::string config;
  std::vector<std::string> set;
  int64_t dp = 1;  // data-parallel ranks the run will have (train.micro_batch is per rank)
  bool json = false;
};
int run_flops(const FlopsArgs& a);

// `mor config --keys`: every key, default and meaning (markdown table).
int run_config_keys();

struct EvalArgs {
  std::string checkpoint;   // .h5 checkpoint or export directory
  std::string data;         // dataset directory (its val split) or a split directory
  int64_t max_windows = 0;  // 0: the whole split
  int64_t batch = 8;
  int64_t seq_len = 0;      // 0: the model's train.seq_len
  std::string device = "cpu";  // cpu, cuda, cuda:N, test
  bool json = false;
};
int run_eval(const EvalArgs& a);

struct ExportArgs {
  std::string checkpoint;
  std::string format = "hf";
  std::string out;
  std::string tokenizer;   // SentencePiece model to ship (default: DATA_PATH/tokenizer.model of the config)
  bool overwrite = false;  // replace an existing --out
  bool unrolled = false;   // hf: a Recursive model as a plain Llama of its effective layers
};
int run_export(const ExportArgs& a);

// `mor generate` and `mor bench generate` (generate.cpp): both on the inference engine (src/engine).
struct GenerateArgs {
  std::string checkpoint;  // .h5 checkpoint or export directory
  std::string prompt;      // one prompt (streamed; prompt_given), or
  bool prompt_given = false;
  std::string prompts;     // a file with one prompt per line (decoded together)
  std::string tokenizer;   // default: the export's or the dataset's tokenizer.model
  int64_t max_new_tokens = 64;
  double temperature = 0.8;
  int64_t top_k = 40;
  double top_p = 1.0;
  uint64_t seed = 0;       // prompt i samples with seed + i
  int64_t batch = 32;      // engine max batch (rows per phase, sequences at once)
  int64_t kv_budget = 0;   // bytes; 0: every prompt's worst case (all tokens at every depth)
  std::string device = "cpu";
  bool json = false;
};
int run_generate(const GenerateArgs& a);

struct BenchGenerateArgs {
  std::string checkpoint;
  int64_t queries = 64;
  int64_t mean_len = 64;   // generation lengths ~ Normal(mean_len, mean_len / 4), in [1, 2 mean_len]
  std::string batch = "32";  // a number, or "max": as many sequences as the KV budget admits
  int64_t kv_budget = 0;   // bytes; 0: `batch` sequences of the longest length, worst case
  int64_t warmup = 8;      // queries decoded first, not timed
  int64_t page_tokens = 16;
  uint64_t seed = 1;
  std::string device = "cpu";
  bool json = false;
};
int run_bench_generate(const BenchGenerateArgs& a);

struct ImportArgs {
  std::string dir;  // an export directory
  std::string out;  // checkpoint file to write (weights; optimizer state zero; step 0)
  bool overwrite = false;
};
int run_import(const ImportArgs& a);

}  // namespace mor::cli
