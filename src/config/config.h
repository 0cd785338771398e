// The run configuration: one YAML file mapped onto typed structs. Every key has a default and a
// doc line (see schema.cpp, which is the single list of keys). Loading rejects unknown keys,
// wrong types and impossible combinations with `file:line:col: message` (BadInput, exit 2).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mor {

struct RecursionConfig {
  std::string sharing = "none";   // none | cycle | sequence | middle_cycle | middle_sequence
  int64_t num_recursions = 1;     // N_r
  bool ln_share = true;           // share the per-layer RMSNorms with the block
};

struct MoRConfig {
  std::string type = "none";          // none | expert | token
  std::vector<double> capacity;       // expert: per-step fractions; empty = (N_r - r + 1) / N_r
  std::string router_type = "linear"; // linear | mlp | wide_mlp
  std::string router_func = "";       // expert: sigmoid | tanh | none; token: softmax | sigmoid ("" = default)
  double alpha = -1;                  // gate scale; < 0 = default (expert 0.1, token softmax 1.0, sigmoid 0.1)
  double temp = 1.0;                  // router input temperature (input / temp)
  std::string gating = "weighted";    // weighted | additive | none
  std::string sampling = "aux_loss";  // expert: aux_loss | aux_router
  double aux_coeff = 0.001;           // expert BCE coefficient (per step, properly averaged)
  double aux_router_lr_mult = 10.0;   // aux_router: its AdamW lr = this x base lr
  double z_coeff = 0.0;               // router z-loss coefficient (0 = off)
  bool rand_router = false;           // expert: random scores baseline, no aux loss
  int64_t cap_warmup_steps = 0;       // expert: capacity warm-up (optimizer steps)
  std::string balancing = "loss";     // token: loss | loss_free
  double bal_coeff = 0.1;             // token: balancing loss coefficient
  double bias_update_rate = 0.001;    // token loss_free: bias step u
  int64_t bal_warmup_steps = 0;       // token: all tokens take max depth during warm-up
  bool gate_every_step = false;       // token: paper eq. 2.2 gating at every step (code: exit only)
  std::string eval_selection = "topk";  // topk (training-style) | threshold (causal, sigmoid >= 0.5)
};

struct ModelConfig {
  int64_t vocab_size = 8192;
  int64_t d_model = 256;
  int64_t n_layers = 4;       // effective (unrolled) depth L'; Middle-* counts the first and last layer
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;     // 0 = n_heads (MHA)
  int64_t head_dim = 0;       // 0 = d_model / n_heads
  int64_t d_ff = 768;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  double init_std = 0.02;
  bool tie_embeddings = true;
  std::string kv_mode = "recursion";  // recursion | share
  RecursionConfig recursion;
  MoRConfig mor;

  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int64_t hdim() const { return head_dim > 0 ? head_dim : d_model / n_heads; }
};

// The divergence guard (src/train/divergence_guard.h).
struct GuardConfig {
  double loss_spike = 2.0;       // a step whose loss exceeds this x the recent mean is a spike (0: off)
  double grad_spike = 10.0;      // the same for the gradient norm (0: off)
  int64_t warmup = 10;           // healthy steps of history before spikes are judged
  std::string action = "warn";   // warn | skip | stop
};

struct TrainConfig {
  int64_t seq_len = 256;
  int64_t micro_batch = 8;      // sequences per rank per micro-step
  int64_t grad_accum = 1;       // micro-steps per optimizer step
  int64_t steps = 0;            // optimizer steps; 0 = derived from budget_flops
  double budget_flops = 0;      // forward FLOP budget (MOR.md section 6); 0 = use steps
  double lr = 3e-3;
  std::string schedule = "wsd";  // wsd | cosine | constant
  int64_t warmup_steps = -1;    // < 0: warmup_frac x (total steps, or the steps of warmup_budget_flops)
  double warmup_frac = 0.05;
  double warmup_budget_flops = 0;  // > 0: warm-up = warmup_frac x the steps this budget would take
                                   // (MOR.md 7: 5% of the smallest isoFLOP budget's steps)
  double decay_frac = 0.2;      // wsd: final linear decay as a fraction of total steps
  double min_lr_ratio = 0.0;    // floor as a fraction of lr (wsd end value / cosine floor)
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;       // global norm; <= 0 disables
  int64_t seed = 1234;
  int64_t log_every = 1;
  bool eval = true;             // validate (at eval_every and at the end); false: no val split needed
  int64_t eval_every = 0;       // steps; 0 = only at the end
  int64_t eval_windows = 64;    // validation windows per evaluation (0 = whole split)
  int64_t ckpt_every = 0;       // steps; 0 = only at the end
  int64_t keep_last = 2;
  int64_t ckpt_retries = 2;     // a failed checkpoint write is retried at the next step boundaries
  GuardConfig guard;
  int64_t threads = 0;          // 0 = OpenMP default
  std::string device = "cpu";
  std::string precision = "fp32";  // GEMMs: fp32 or bf16 (mixed precision; src/train/precision.h)
  bool tf32 = true;                 // CUDA fp32 GEMMs on TF32 tensor cores (false: exact fp32)
  std::string cuda_attention = "simt";  // CUDA training attention: simt (fp32) or tensor_cores (bf16; kernels/cuda/attention_tc.h)
  bool memory_check = true;     // refuse to start when the estimated peak memory does not fit
};

struct DataConfig {
  std::string path = "datasets/pydocs";  // dataset dir from `mor prepare` (train/ and val/)
  bool shuffle = true;
  int64_t prefetch = 2;
};

// Parallel layout of `mpirun -np N mor train` (dist/, src/train/data_parallel.h).
struct DistConfig {
  int64_t tp = 1;                      // tensor-parallel ranks (DP = world / tp)
  int64_t zero = 0;                    // 1: shard AdamW state over DP ranks (ZeRO-1)
  bool check_tp_selection = false;     // debug: TP ranks compare routing selections and replicated gradients
  double collective_timeout_s = 300;   // a collective that takes longer ends the job
};

struct Config {
  std::string name;  // run name; default: the config file's stem
  ModelConfig model;
  TrainConfig train;
  DataConfig data;
  DistConfig dist;
};

// Whether one training step uses each layer weight more than once: shared layers applied N_r > 1
// times, or several micro-batches (ConstantParamsScope, src/train/precision.h, and the memory
// estimate of its bf16 weight copies).
inline bool weights_reused(const Config& c) { return c.model.recursion.num_recursions > 1 || c.train.grad_accum > 1; }

// Where each key's value came from ("configs/x.yaml:12:3" or "--set model.d_model=512").
using ConfigOrigins = std::map<std::string, std::string>;

struct LoadedConfig {
  Config config;
  ConfigOrigins origins;
  std::string source;  // the file path

  // Where `key` was set ("cfg.yaml:12:3", "--set ..."), or the file for a default: what an error
  // about the key names.
  std::string where(const std::string& key) const {
    const auto it = origins.find(key);
    return it == origins.end() ? source : it->second;
  }
};

// Loads `path`, applies `overrides` ("a.b=value", YAML value syntax), validates. Throws BadInput.
// Also refuses what only a user writes (keys that would be ignored, e.g. model.mor.capacity
// without expert routing), which configs stored in checkpoints by earlier versions may hold.
LoadedConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same from YAML text (tests, checkpoints, exports); `source` names it in messages.
LoadedConfig load_config_text(const std::string& yaml, const std::string& source,
                              const std::vector<std::string>& overrides = {});
// The fully resolved config as YAML (every key, defaults included).
std::string dump_config(const Config& c);
// Every key with its default and doc line (for README / `mor config --keys`).
std::string describe_config_keys();
// Every key -> its value as text ("model.d_model" -> "256").
std::map<std::string, std::string> flatten_config(const Config& c);

}  // namespace mor
