// The config schema: the one list of keys (visit_*), and the YAML loader, dumper, override
// applier and validator built on it. Messages name `file:line:col` and end with a hint.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "config.h"
#include "routing_spec.h"
#include "src/core/error.h"
#include "yaml_tree.h"

namespace mor {
namespace {

// ---- the schema ----
// A visitor V provides field(key, value&, doc), choice(key, string&, {choices}, doc) and
// section(key, doc, body).
template <class V>
void visit_recursion(RecursionConfig& c, V& v) {
  v.choice("sharing", c.sharing, {"none", "cycle", "sequence", "middle_cycle", "middle_sequence"},
           "parameter sharing of the recursion block (none, cycle, sequence, middle_cycle, middle_sequence)");
  v.field("num_recursions", c.num_recursions, "N_r: how many times the shared block is applied");
  v.field("ln_share", c.ln_share, "share the per-layer RMSNorm weights with the block");
}

template <class V>
void visit_mor(MoRConfig& c, V& v) {
  v.choice("type", c.type, {"none", "expert", "token"}, "routing: none (Recursive/vanilla), expert- or token-choice");
  v.field("capacity", c.capacity, "expert: fraction of tokens kept at each step (empty: (N_r-r+1)/N_r); refused for other routing");
  v.choice("router_type", c.router_type, {"linear", "mlp", "wide_mlp"}, "router network (linear, mlp, wide_mlp = mlp as upstream)");
  v.choice("router_func", c.router_func, {"", "sigmoid", "tanh", "none", "softmax"},
           "router activation ('' = sigmoid for expert, softmax for token)");
  v.field("alpha", c.alpha, "gate scale alpha (< 0: 0.1 expert, 1.0 token-softmax, 0.1 token-sigmoid; expert router_func none gates with the raw logit, no alpha, as upstream)");
  v.field("temp", c.temp, "router temperature: the router reads x / temp");
  v.choice("gating", c.gating, {"weighted", "additive", "none"},
           "weighted: x + g*f(x); additive: x + f(x); none: selected rows take f(x)");
  v.choice("sampling", c.sampling, {"aux_loss", "aux_router"}, "expert causality fix (MOR.md 3.5): aux_loss or aux_router");
  v.field("aux_coeff", c.aux_coeff, "expert: BCE auxiliary loss coefficient per step");
  v.field("aux_router_lr_mult", c.aux_router_lr_mult, "aux_router: learning-rate multiplier of its optimizer");
  v.field("z_coeff", c.z_coeff, "router z-loss coefficient (0: off)");
  v.field("rand_router", c.rand_router, "expert: random router baseline (no aux loss)");
  v.field("cap_warmup_steps", c.cap_warmup_steps, "expert: capacity warm-up length in optimizer steps (0: off); progress counts training forward calls from 1 (x grad_accum per step), as upstream");
  v.choice("balancing", c.balancing, {"loss", "loss_free"}, "token: balancing loss or loss-free bias");
  v.field("bal_coeff", c.bal_coeff, "token: balancing loss coefficient");
  v.field("bias_update_rate", c.bias_update_rate, "token loss_free: bias update step u");
  v.field("bal_warmup_steps", c.bal_warmup_steps, "token: steps during which every token takes the max depth");
  v.field("gate_every_step", c.gate_every_step, "token: gate at every recursion (paper eq. 2.2) not only at exit");
  v.choice("eval_selection", c.eval_selection, {"topk", "threshold"},
           "expert at evaluation: training-style top-k or causal sigmoid >= 0.5");
}

template <class V>
void visit_model(ModelConfig& c, V& v) {
  v.field("vocab_size", c.vocab_size, "vocabulary size; must equal the dataset's");
  v.field("d_model", c.d_model, "hidden size");
  v.field("n_layers", c.n_layers, "effective (unrolled) depth L'; Middle-* includes the first and last layer");
  v.field("n_heads", c.n_heads, "query heads");
  v.field("n_kv_heads", c.n_kv_heads, "key/value heads (GQA); 0 = n_heads");
  v.field("head_dim", c.head_dim, "head size; 0 = d_model / n_heads");
  v.field("d_ff", c.d_ff, "SwiGLU hidden size");
  v.field("rope_theta", c.rope_theta, "RoPE base");
  v.field("norm_eps", c.norm_eps, "RMSNorm epsilon");
  v.field("init_std", c.init_std, "std of the N(0, std^2) init of linears and embeddings");
  v.field("tie_embeddings", c.tie_embeddings, "lm_head shares the embedding matrix");
  v.choice("kv_mode", c.kv_mode, {"recursion", "share"},
           "recursion: per-depth KV among active tokens; share: reuse recursion-1 K/V");
  v.section("recursion", "parameter sharing", [&] { visit_recursion(c.recursion, v); });
  v.section("mor", "Mixture-of-Recursions routing", [&] { visit_mor(c.mor, v); });
}

template <class V>
void visit_train(TrainConfig& c, V& v) {
  v.field("seq_len", c.seq_len, "tokens per sequence T");
  v.field("micro_batch", c.micro_batch, "sequences per rank per micro-step");
  v.field("grad_accum", c.grad_accum, "micro-steps per optimizer step");
  v.field("steps", c.steps, "optimizer steps (0: derived from budget_flops; with both set they must agree)");
  v.field("budget_flops", c.budget_flops, "forward-FLOP budget, MOR.md section 6 (0: use steps)");
  v.field("lr", c.lr, "peak learning rate");
  v.choice("schedule", c.schedule, {"wsd", "cosine", "constant"}, "LR schedule: warmup-stable-decay, cosine, constant");
  v.field("warmup_steps", c.warmup_steps, "linear warm-up steps (< 0: warmup_frac x steps); warm-up and wsd decay must fit in the run");
  v.field("warmup_frac", c.warmup_frac, "warm-up as a fraction of the steps (when warmup_steps < 0)");
  v.field("warmup_budget_flops", c.warmup_budget_flops,
          "> 0: warm-up = warmup_frac x the steps of this budget (paper: 2e18, the smallest isoFLOP budget)");
  v.field("decay_frac", c.decay_frac, "wsd: final linear decay as a fraction of the steps");
  v.field("min_lr_ratio", c.min_lr_ratio, "LR floor as a fraction of lr (wsd end / cosine floor)");
  v.field("weight_decay", c.weight_decay, "AdamW decoupled weight decay (weight matrices, routers included, and embeddings; not norms)");
  v.field("beta1", c.beta1, "AdamW beta1");
  v.field("beta2", c.beta2, "AdamW beta2");
  v.field("eps", c.eps, "AdamW epsilon");
  v.field("grad_clip", c.grad_clip, "global gradient-norm clip (<= 0: off); each shared tensor counted once");
  v.field("seed", c.seed, "seed for init, data order and routing randomness");
  v.field("log_every", c.log_every, "print a step line every N steps");
  v.field("eval", c.eval, "validate during and at the end of training (false: no validation, the val split is not read)");
  v.field("eval_every", c.eval_every, "validate every N steps (0: at the end only)");
  v.field("eval_windows", c.eval_windows, "validation windows per evaluation (0: whole split)");
  v.field("ckpt_every", c.ckpt_every, "checkpoint every N steps (0: at the end only; also on SIGINT/SIGTERM)");
  v.field("keep_last", c.keep_last, "checkpoints kept in the run directory");
  v.field("ckpt_retries", c.ckpt_retries, "failed checkpoint writes (disk full, I/O error) retried at the next step boundaries before the run stops");
  v.section("guard", "divergence guard", [&] {
    v.field("loss_spike", c.guard.loss_spike, "a step whose loss exceeds this x its recent mean is a spike (0: off)");
    v.field("grad_spike", c.guard.grad_spike, "a step whose gradient norm exceeds this x its recent mean is a spike (0: off)");
    v.field("warmup", c.guard.warmup, "healthy steps of history before spikes are judged");
    v.choice("action", c.guard.action, {"warn", "skip", "stop"},
             "on a spike: warn (apply the step), skip (drop the update) or stop the run; checkpoints are never published from a spiking model, non-finite values always stop");
  });
  v.field("threads", c.threads, "CPU threads (0: OpenMP default)");
  v.field("device", c.device, "cpu, cuda or cuda:N; test: the CPU kernels behind the device seam (checks)");
  v.choice("cuda_attention", c.cuda_attention, {"simt", "tensor_cores"},
           "CUDA training attention: simt (tiled fp32) or tensor_cores (bf16 mma, FlashAttention-2; with train.precision bf16 and head dim 64 or 128, else simt; not yet validated on a GPU)");
  v.field("tf32", c.tf32, "CUDA: fp32 GEMMs on TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation); false for exact fp32");
  v.choice("precision", c.precision, {"fp32", "bf16"},
           "GEMM precision: fp32, or bf16 (bf16 inputs, f32 accumulation, f32 master weights; CPUs with AVX512_BF16 or AMX, and CUDA GPUs)");
  v.field("memory_check", c.memory_check,
          "refuse to start when the estimated peak memory exceeds 90% of the available memory (false: warn and start)");
}

template <class V>
void visit_config(Config& c, V& v) {
  v.field("name", c.name, "run name (default: the config file's stem)");
  v.section("model", "model shape and routing", [&] { visit_model(c.model, v); });
  v.section("train", "optimisation and run control", [&] { visit_train(c.train, v); });
  v.section("data", "dataset", [&] {
    v.field("path", c.data.path, "dataset directory written by `mor prepare`");
    v.field("shuffle", c.data.shuffle, "shuffle windows each epoch (seeded)");
    v.field("prefetch", c.data.prefetch, "batches prepared ahead by the loader thread (0: none)");
  });
  v.section("dist", "parallel layout under mpirun", [&] {
    v.field("tp", c.dist.tp, "tensor-parallel ranks (heads, d_ff and vocabulary split over them); data-parallel ranks = world size / tp");
    v.field("zero", c.dist.zero, "1: shard the AdamW moments over data-parallel ranks (ZeRO-1); 0: replicate them");
    v.field("check_tp_selection", c.dist.check_tp_selection,
            "debug: every step, TP ranks check they routed the same rows and hold the same replicated gradients");
    v.field("collective_timeout_s", c.dist.collective_timeout_s,
            "a collective not finished after this many seconds ends the job with a message naming the rank");
  });
}

// ---- YAML helpers ----
template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, int64_t>) return "an integer";
  if constexpr (std::is_same_v<T, double>) return "a number";
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  return "a list of numbers";
}

// The dotted key of a field inside the sections being visited ("train.lr").
struct KeyPath {
  std::vector<std::string> path;
  std::string dotted(const char* key) const {
    std::string s;
    for (auto& p : path) s += p + ".";
    return s + key;
  }
  // Visits a section's body with its key on the path.
  void nested(const char* key, const std::function<void()>& body) {
    path.push_back(key);
    body();
    path.pop_back();
  }
};

// Reads a YAML tree into the structs; rejects unknown keys and wrong types.
struct Reader : KeyPath {
  std::string source;
  ConfigOrigins* origins;
  const std::map<std::string, std::string>* override_origin;  // key -> "--set ..."
  std::vector<YAML::Node> stack;
  std::vector<std::set<std::string>> seen;

  std::string where(const std::string& key, const YAML::Node& n) const {
    auto it = override_origin->find(key);
    if (it != override_origin->end()) return it->second;
    return mark_str(source, n.Mark());
  }
  template <typename T>
  void field(const char* key, T& value, const char*) {
    seen.back().insert(key);
    YAML::Node n = stack.back()[key];
    std::string k = dotted(key);
    if (!n) {
      (*origins)[k] = source + " (default)";
      return;
    }
    (*origins)[k] = where(k, n);
    try {
      if constexpr (std::is_same_v<T, std::vector<double>>) {
        if (n.IsNull()) {
          value.clear();
          return;
        }
        if (!n.IsSequence()) throw YAML::BadConversion(n.Mark());
        value = n.as<std::vector<double>>();
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (n.IsNull()) {
          value.clear();
          return;
        }
        if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
        value = n.as<std::string>();
      } else if constexpr (std::is_same_v<T, int64_t>) {
        if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
        // Accept integral floats written in exponent form (e.g. 1e6).
        try {
          value = n.as<int64_t>();
        } catch (const YAML::BadConversion&) {
          const double d = n.as<double>();
          if (!(std::fabs(d) < 0x1p63) || d != std::trunc(d)) throw;  // NaN, infinities, out of range, fractions
          value = int64_t(d);
        }
      } else {
        if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
        value = n.as<T>();
      }
    } catch (const YAML::BadConversion&) {
      const std::string got = n.IsScalar() ? "'" + n.Scalar() + "'" : n.IsNull() ? "nothing" : n.IsMap() ? "a map" : "a list";
      fail_input((*origins)[k], ": key '", k, "' must be ", type_name<T>(), " (got ", got, "). Hint: fix the value in the config or the --set flag.");
    }
    // The one check of every floating-point key: NaN and infinities (.nan, .inf) are never settings.
    if constexpr (std::is_same_v<T, double>) {
      require_finite(k, n, value);
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      for (size_t i = 0; i < value.size(); ++i) require_finite(k, n[i], value[i]);
    }
  }
  void require_finite(const std::string& k, const YAML::Node& n, double v) {
    if (std::isfinite(v)) return;
    fail_input(where(k, n), ": key '", k, "' must be a finite number (got '", n.Scalar(),
               "'). Hint: NaN and infinity are not valid settings; write a plain number such as 1e-3.");
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*> choices, const char* doc) {
    field(key, value, doc);
    for (const char* c : choices)
      if (value == c) return;
    std::string list;
    for (const char* c : choices) list += std::string(list.empty() ? "" : ", ") + (*c ? c : "''");
    fail_input((*origins)[dotted(key)], ": key '", dotted(key), "' is '", value, "'; expected one of: ", list, ".");
  }
  void section(const char* key, const char*, const std::function<void()>& body) {
    seen.back().insert(key);
    YAML::Node n = stack.back()[key];
    std::string k = dotted(key);
    if (n && !n.IsMap() && !n.IsNull())
      fail_input(where(k, n), ": key '", k, "' must be a map of settings. Hint: indent its keys below it.");
    stack.push_back(n && n.IsMap() ? n : YAML::Node(YAML::NodeType::Map));
    seen.emplace_back();
    nested(key, [&] {
      body();
      check_unknown();
    });
    seen.pop_back();
    stack.pop_back();
  }
  void check_unknown() {
    const YAML::Node& n = stack.back();
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.as<std::string>();
      if (!seen.back().count(key)) {
        std::string k = dotted(key.c_str());
        fail_input(where(k, it->first), ": unknown key '", k,
                   "'. Hint: check the spelling; `mor config --keys` lists every key.");
      }
    }
  }
};

// The shortest decimal that reads back as exactly `d` (0.05, not 0.050000000000000003).
std::string shortest_decimal(double d) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// Emits the structs as YAML.
struct Writer {
  YAML::Emitter& out;
  template <typename T>
  void field(const char* key, T& value, const char*) {
    out << YAML::Key << key << YAML::Value;
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      out << YAML::Flow << YAML::BeginSeq;
      for (double d : value) out << shortest_decimal(d);
      out << YAML::EndSeq;
    } else if constexpr (std::is_same_v<T, std::string>) {
      out << YAML::DoubleQuoted << value;
    } else if constexpr (std::is_same_v<T, double>) {
      out << shortest_decimal(value);
    } else {
      out << value;
    }
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*>, const char* doc) {
    field(key, value, doc);
  }
  void section(const char* key, const char*, const std::function<void()>& body) {
    out << YAML::Key << key << YAML::Value << YAML::BeginMap;
    body();
    out << YAML::EndMap;
  }
};

// Lists keys with defaults and docs.
struct Describer : KeyPath {
  std::ostringstream os;
  template <typename T>
  void field(const char* key, T& value, const char* doc) {
    std::ostringstream v;
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      v << "[";
      for (size_t i = 0; i < value.size(); ++i) v << (i ? ", " : "") << value[i];
      v << "]";
    } else if constexpr (std::is_same_v<T, bool>) {
      v << (value ? "true" : "false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      v << "'" << value << "'";
    } else {
      v << value;
    }
    os << "| `" << dotted(key) << "` | " << v.str() << " | " << doc << " |\n";
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*>, const char* doc) {
    field(key, value, doc);
  }
  void section(const char* key, const char*, const std::function<void()>& body) { nested(key, body); }
};

// Flattens values to key -> text.
struct Flattener : KeyPath {
  std::map<std::string, std::string> out;
  template <typename T>
  void field(const char* key, T& value, const char*) {
    std::ostringstream v;  // numbers as the shortest decimal that reads back exactly (0.003)
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      for (size_t i = 0; i < value.size(); ++i) v << (i ? "," : "") << shortest_decimal(value[i]);
    } else if constexpr (std::is_same_v<T, double>) {
      v << shortest_decimal(value);
    } else {
      v << value;
    }
    out[dotted(key)] = v.str();
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*>, const char* doc) {
    field(key, value, doc);
  }
  void section(const char* key, const char*, const std::function<void()>& body) { nested(key, body); }
};

// ---- validation ----
struct Validator {
  const Config& c;
  const ConfigOrigins& o;
  [[noreturn]] void bad(const std::string& key, const std::string& msg) {
    auto it = o.find(key);
    fail_input(it == o.end() ? std::string("config") : it->second, ": ", msg);
  }
  void positive(const std::string& key, double v) {
    if (!(v > 0)) bad(key, "'" + key + "' must be > 0 (got " + std::to_string(v) + ").");
  }
  // Checks of what a user wrote (a config file, --set), not of configs stored by earlier versions in
  // checkpoints and exports, which must keep loading: keys that would be ignored, values that
  // would be treated as another one.
  void user_checks() {
    const MoRConfig& mo = c.model.mor;
    if (mo.type != "expert" && !mo.capacity.empty())
      bad("model.mor.capacity", "model.mor.capacity applies to expert-choice routing only (model.mor.type is " + mo.type +
                                    (mo.type == "token" ? "; a token-choice router assigns each token its depth" : "") +
                                    "), so it would be ignored. Hint: remove model.mor.capacity (--set model.mor.capacity=[]).");
    if (c.data.prefetch < 0) bad("data.prefetch", "data.prefetch must be >= 0 (got " + std::to_string(c.data.prefetch) + "; 0: no prefetch).");
    if (c.model.kv_mode == "share" && c.model.recursion.sharing == "none")
      bad("model.kv_mode", "model.kv_mode share shares K/V across recursions, and this model has none (model.recursion.sharing "
                           "none), so it would be ignored. Hint: remove model.kv_mode, or set a sharing strategy.");
  }
  void run() {
    const ModelConfig& m = c.model;
    const TrainConfig& t = c.train;
    positive("model.vocab_size", double(m.vocab_size));
    positive("model.d_model", double(m.d_model));
    positive("model.n_layers", double(m.n_layers));
    positive("model.n_heads", double(m.n_heads));
    positive("model.d_ff", double(m.d_ff));
    positive("model.norm_eps", m.norm_eps);
    positive("model.rope_theta", m.rope_theta);
    if (m.init_std < 0) bad("model.init_std", "'model.init_std' must be >= 0.");
    if (m.head_dim == 0 && m.d_model % m.n_heads != 0)
      bad("model.n_heads", "n_heads=" + std::to_string(m.n_heads) + " does not divide d_model=" +
                               std::to_string(m.d_model) + ". Hint: pick n_heads dividing d_model, or set model.head_dim.");
    if (m.hdim() % 2 != 0 || m.hdim() > 1024)
      bad("model.head_dim", "head_dim=" + std::to_string(m.hdim()) + " must be even and <= 1024 (RoPE rotates pairs).");
    if (m.n_kv_heads < 0 || m.n_heads % m.kv_heads() != 0)
      bad("model.n_kv_heads", "n_kv_heads=" + std::to_string(m.n_kv_heads) + " must divide n_heads=" +
                                  std::to_string(m.n_heads) + " (GQA groups).");
    const auto& r = m.recursion;
    const int64_t nr = r.num_recursions;
    if (nr < 1) bad("model.recursion.num_recursions", "num_recursions must be >= 1.");
    if (r.sharing == "none" && nr != 1)
      bad("model.recursion.num_recursions", "num_recursions=" + std::to_string(nr) +
                                                " needs a sharing strategy. Hint: set model.recursion.sharing: middle_cycle.");
    const bool middle = r.sharing.rfind("middle", 0) == 0;
    const int64_t body = m.n_layers - (middle ? 2 : 0);
    if (r.sharing != "none" && (body < nr || body % nr != 0)) {
      int64_t up = (body / nr + 1) * nr + (middle ? 2 : 0);
      bad("model.n_layers", "n_layers=" + std::to_string(m.n_layers) + " with " + r.sharing + " sharing needs (n_layers" +
                                (middle ? " - 2" : "") + ") to be a positive multiple of num_recursions=" +
                                std::to_string(nr) + ". Hint: use n_layers=" + std::to_string(up) +
                                " (the paper adds layers, MOR.md 1.2).");
    }
    const auto& mo = m.mor;
    if (mo.type != "none" && r.sharing == "none")
      bad("model.mor.type", "MoR routing needs shared recursions. Hint: set model.recursion.sharing (middle_cycle) and num_recursions >= 2.");
    if (mo.type == "expert") {
      if (!mo.capacity.empty()) {
        if (int64_t(mo.capacity.size()) != nr)
          bad("model.mor.capacity", "capacity has " + std::to_string(mo.capacity.size()) + " entries; need one per recursion (" +
                                        std::to_string(nr) + ").");
        for (size_t i = 0; i < mo.capacity.size(); ++i) {
          if (!(mo.capacity[i] > 0 && mo.capacity[i] <= 1))
            bad("model.mor.capacity", "capacity values must be in (0, 1]; entry " + std::to_string(i) + " is " +
                                          std::to_string(mo.capacity[i]) + ".");
          if (i > 0 && mo.capacity[i] > mo.capacity[i - 1])
            bad("model.mor.capacity", "capacity must be non-increasing (tokens are selected among the previous step's survivors).");
        }
      }
      if (mo.router_func == "softmax")
        bad("model.mor.router_func", "expert-choice routers use sigmoid, tanh or none (softmax is for token-choice).");
    }
    if (mo.type == "expert" && m.kv_mode == "share" && !mo.capacity.empty() && mo.capacity[0] < 1.0)
      bad("model.mor.capacity", "kv_mode share needs capacity 1 at the first recursion (it produces the shared K/V).");
    if (mo.type == "token" && !(mo.router_func.empty() || mo.router_func == "softmax" || mo.router_func == "sigmoid"))
      bad("model.mor.router_func", "token-choice routers use softmax or sigmoid.");
    if (mo.temp <= 0) bad("model.mor.temp", "mor.temp must be > 0.");
    positive("train.seq_len", double(t.seq_len));
    positive("train.micro_batch", double(t.micro_batch));
    positive("train.grad_accum", double(t.grad_accum));
    if (t.steps < 0) bad("train.steps", "train.steps must be >= 0.");
    if (t.budget_flops < 0) bad("train.budget_flops", "train.budget_flops must be >= 0.");
    if (t.warmup_budget_flops < 0) bad("train.warmup_budget_flops", "train.warmup_budget_flops must be >= 0.");
    if (t.steps == 0 && t.budget_flops == 0)
      bad("train.steps", "set train.steps or train.budget_flops. Hint: --set train.steps=100");
    positive("train.lr", t.lr);
    for (auto [key, v] : {std::pair{"train.warmup_frac", t.warmup_frac}, {"train.decay_frac", t.decay_frac},
                          {"train.min_lr_ratio", t.min_lr_ratio}, {"train.beta1", t.beta1}, {"train.beta2", t.beta2}})
      if (v < 0 || v > 1) bad(key, std::string("'") + key + "' must be in [0, 1].");
    if (t.beta1 >= 1 || t.beta2 >= 1) bad("train.beta2", "AdamW betas must be < 1.");
    if (t.schedule == "wsd" && t.warmup_steps < 0 && t.warmup_frac + t.decay_frac > 1)
      bad("train.decay_frac", "warmup_frac + decay_frac = " + std::to_string(t.warmup_frac + t.decay_frac) +
                                  " leaves no room for the stable phase. Hint: keep their sum <= 1 (paper: 0.05 + 0.2).");
    {
      const std::string& d = t.device;
      const bool cuda_n = d.rfind("cuda:", 0) == 0 && d.size() > 5 &&
                          std::all_of(d.begin() + 5, d.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (d != "cpu" && d != "cuda" && d != "test" && !cuda_n)
        bad("train.device", "unknown device '" + d + "'. Hint: use cpu, cuda, cuda:N or test.");
    }
    positive("train.eps", t.eps);
    if (t.weight_decay < 0) bad("train.weight_decay", "train.weight_decay must be >= 0.");
    if (t.log_every < 1) bad("train.log_every", "train.log_every must be >= 1.");
    if (t.keep_last < 1) bad("train.keep_last", "train.keep_last must be >= 1.");
    if (t.ckpt_retries < 0) bad("train.ckpt_retries", "train.ckpt_retries must be >= 0.");
    for (auto [key, v] : {std::pair{"train.guard.loss_spike", t.guard.loss_spike}, {"train.guard.grad_spike", t.guard.grad_spike}})
      if (v != 0 && !(v > 1)) bad(key, std::string("'") + key + "' must be 0 (off) or > 1 (a factor over the recent mean).");
    if (t.guard.warmup < 0) bad("train.guard.warmup", "train.guard.warmup must be >= 0.");
    if (c.dist.tp < 1) bad("dist.tp", "dist.tp must be >= 1.");
    if (c.dist.tp > 1) {
      const ModelConfig& m = c.model;
      std::string bad_sizes;
      for (auto [name, v] : {std::pair{"model.n_heads", m.n_heads}, {"model.n_kv_heads", m.kv_heads()}, {"model.d_ff", m.d_ff},
                             {"model.vocab_size", m.vocab_size}})
        if (v % c.dist.tp != 0) bad_sizes += std::string(bad_sizes.empty() ? "" : ", ") + name + "=" + std::to_string(v);
      if (!bad_sizes.empty())
        bad("dist.tp", "dist.tp=" + std::to_string(c.dist.tp) + " does not divide " + bad_sizes +
                           " (tensor parallelism splits the heads, the FFN and the vocabulary evenly). Hint: choose dist.tp "
                           "from the common divisors of those sizes, or 1.");
    }
    if (c.dist.zero != 0 && c.dist.zero != 1) bad("dist.zero", "dist.zero must be 0 or 1 (ZeRO-1).");
    if (!(c.dist.collective_timeout_s > 0)) bad("dist.collective_timeout_s", "dist.collective_timeout_s must be > 0.");
    if (t.threads < 0)
      bad("train.threads", "train.threads must be >= 0 (got " + std::to_string(t.threads) + "). Hint: 0 uses the OpenMP default.");
  }
};

LoadedConfig load_from_node(YAML::Node root, const std::string& source, const std::vector<std::string>& overrides) {
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) fail_input(source, ": the config must be a YAML map of sections (model:, train:, ...).");
  std::map<std::string, std::string> override_origin;
  for (const auto& o : overrides) apply_override(root, o, override_origin);
  LoadedConfig lc;
  lc.source = source;
  Reader r{{}, source, &lc.origins, &override_origin, {root}, {{}}};
  visit_config(lc.config, r);
  r.check_unknown();
  if (lc.config.name.empty()) lc.config.name = std::filesystem::path(source).stem().string();
  Validator{lc.config, lc.origins}.run();
  store_resolved_routing(lc.config.model);  // dumps and checkpoints hold the values that run
  return lc;
}

}  // namespace

LoadedConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (std::filesystem::is_directory(path))
    fail_input(path, ": is a directory, not a config file. Hint: pass a YAML file, e.g. configs/tiny-mor.yaml.");
  std::ifstream f(path);
  if (!f) fail_input(path, ": cannot open the config file. Hint: check the path (configs/ holds examples).");
  std::stringstream ss;
  ss << f.rdbuf();
  LoadedConfig lc = load_config_text(ss.str(), path, overrides);
  Validator{lc.config, lc.origins}.user_checks();
  return lc;
}

LoadedConfig load_config_text(const std::string& yaml, const std::string& source,
                              const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail_input(mark_str(source, e.mark), ": YAML syntax error: ", e.msg, ". Hint: check indentation (spaces, not tabs).");
  }
  const YAML::Node& top = root;
  if (top.IsMap() && (top["architectures"] || top["mor_train_config"] || top["hidden_size"]))
    fail_input(source, ": a Hugging Face config.json (an export's), not a MoR-Train YAML config. Hint: `mor eval` and "
               "`mor generate` take the export directory itself; `mor import --hf DIR --out FILE.h5` turns it into a "
               "checkpoint; its \"mor_train_config\" key holds the YAML config it was trained with.");
  check_duplicate_keys(root, source);
  return load_from_node(root, source, overrides);
}

std::string dump_config(const Config& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Writer w{out};
  Config copy = c;
  visit_config(copy, w);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::map<std::string, std::string> flatten_config(const Config& c) {
  Flattener f;
  Config copy = c;
  visit_config(copy, f);
  return f.out;
}

std::string describe_config_keys() {
  Describer d;
  Config c;
  d.os << "| key | default | meaning |\n|---|---|---|\n";
  visit_config(c, d);
  return d.os.str();
}

}  // namespace mor
