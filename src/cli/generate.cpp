// `mor generate` (one prompt streamed, or a file of prompts decoded together) and `mor bench
// generate` (the paper's throughput protocol, MOR.md 8), both on the inference engine.
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "data/corpus.h"
#include "data/stream_decoder.h"
#include "data/tokenizer.h"
#include "src/engine/engine.h"
#include "src/model/memory_estimate.h"
#include "src/train/memory_check.h"
#include "src/train/metrics.h"
#include "src/train/model_io.h"

namespace mor::cli {

namespace fs = std::filesystem;

namespace {

// Generation is refused beyond this many times the training sequence length: RoPE positions that
// far out were never trained.
constexpr int64_t kMaxContextFactor = 8;
constexpr int64_t kPageTokens = 16;

// Positions beyond the training length were never seen (RoPE): warn past train.seq_len, refuse past
// kMaxContextFactor x train.seq_len. `what` names the prompt ("--prompt", "FILE line 3").
void check_context_length(const std::string& what, int64_t prompt_tokens, int64_t max_new_tokens, int64_t seq_len) {
  const int64_t cap = kMaxContextFactor * seq_len;
  if (max_new_tokens > cap || prompt_tokens + max_new_tokens > cap)  // (the first test keeps the sum from overflowing)
    fail_input(what, ": ", prompt_tokens, " prompt tokens + --max-new-tokens ", max_new_tokens,
               " positions, more than ", kMaxContextFactor, " x the model's train.seq_len ", seq_len, " (", cap,
               "). Hint: shorten the prompt or lower --max-new-tokens so that both fit in ", cap, " tokens.");
  const int64_t total = prompt_tokens + max_new_tokens;
  if (total > seq_len)
    std::fprintf(stderr, "warning: %lld prompt tokens + --max-new-tokens %lld = %lld positions exceed the model's "
                 "train.seq_len %lld; positions beyond it were never trained (RoPE), so the text may degrade.\n",
                 (long long)prompt_tokens, (long long)max_new_tokens, (long long)total, (long long)seq_len);
}

// The tokenizer beside an export, or the one of the model's dataset; it must be the model's.
data::Tokenizer load_tokenizer(const LoadedModel& lm, const std::string& checkpoint, const std::string& given) {
  std::string path = given;
  if (path.empty()) {
    const fs::path beside = fs::path(checkpoint) / "tokenizer.model";
    path = fs::is_directory(checkpoint) && fs::exists(beside) ? beside.string()
                                                               : (fs::path(lm.config.data.path) / "tokenizer.model").string();
  }
  if (given.empty() && !fs::exists(path))
    fail_input(path, ": no tokenizer there (the model's config names data.path ", lm.config.data.path, ", and ", checkpoint,
               " ships none). Hint: pass --tokenizer with the tokenizer.model of the dataset the model was trained on.");
  data::Tokenizer tok = data::Tokenizer::load(path);
  check_tokenizer_matches(lm, path, tok.vocab_size(), tok.hash());
  return tok;
}

// A prompt must be UTF-8 (the tokenizer's and the JSON output's text); `what` names it.
void check_prompt_text(const std::string& what, const std::string& text) {
  const int64_t bad = data::find_invalid_utf8(text.data(), text.size());  // (a NUL byte counts: C strings end there)
  if (bad >= 0 && text[size_t(bad)] == '\0')
    fail_input(what, ": holds a NUL byte (byte ", bad, "). Hint: remove it; prompts are text.");
  if (bad >= 0)
    fail_input(what, ": not UTF-8 text (byte ", bad, " is 0x", "0123456789abcdef"[(uint8_t(text[size_t(bad)]) >> 4) & 15],
               "0123456789abcdef"[uint8_t(text[size_t(bad)]) & 15], "). Hint: convert it to UTF-8 (iconv -t UTF-8).");
}

// One prompt per line; Windows line ends (CRLF) and a leading byte-order mark are not part of them.
std::vector<std::string> read_prompts(const std::string& path) {
  if (fs::is_directory(path)) fail_input(path, ": is a directory. Hint: --prompts takes a text file with one prompt per line.");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail_input(path, ": cannot open the prompts file. Hint: --prompts takes a text file with one prompt per line.");
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (out.empty() && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    check_prompt_text(path + " line " + std::to_string(out.size() + 1), line);
    out.push_back(line);
  }
  if (out.empty() || (out.size() == 1 && out[0].empty()))  // (a byte-order mark or a line end alone)
    fail_input(path, ": the prompts file is empty. Hint: write one prompt per line.");
  return out;
}

std::string per_step_text(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t r = 0; r < v.size(); ++r) s += (r ? "/" : "") + std::to_string(v[r]);
  return s;
}

}  // namespace

int run_generate(const GenerateArgs& a) {
  if (a.prompt_given == !a.prompts.empty())
    fail_input("give either --prompt TEXT or --prompts FILE (one prompt per line), not ", a.prompt_given ? "both." : "neither.");
  if (!(a.top_p > 0 && a.top_p <= 1)) {
    char v[32];
    std::snprintf(v, sizeof v, "%.17g", a.top_p);
    fail_input("--top-p ", v, " must be in (0, 1].");
  }
  LoadedModel lm = load_model(a.checkpoint, parse_device(a.device));
  data::Tokenizer tok = load_tokenizer(lm, a.checkpoint, a.tokenizer);
  if (a.prompts.empty()) check_prompt_text("--prompt", a.prompt);
  const std::vector<std::string> texts = a.prompts.empty() ? std::vector<std::string>{a.prompt} : read_prompts(a.prompts);
  const bool single = a.prompts.empty();
  std::vector<std::vector<int32_t>> prompts;
  int64_t longest = 0;
  for (const std::string& t : texts) {
    std::vector<int32_t> p = tok.encode(t);
    if (p.empty()) p.push_back(tok.eos_id());  // an empty prompt starts after an end of text
    check_context_length(single ? "--prompt" : a.prompts + " line " + std::to_string(prompts.size() + 1), int64_t(p.size()),
                         a.max_new_tokens, lm.config.train.seq_len);
    longest = std::max(longest, int64_t(p.size()) + a.max_new_tokens);
    prompts.push_back(std::move(p));
  }
  const int64_t at_once = std::min<int64_t>(a.batch, int64_t(prompts.size()));
  const int64_t budget = a.kv_budget > 0 ? a.kv_budget : generation_kv_bytes(lm.config.model, at_once, longest, kPageTokens);
  const MemoryEstimate mem = check_generation_memory(lm.config.model, lm.source, at_once, longest, budget);
  EngineOptions eo;
  eo.max_batch = a.batch;
  eo.kv_budget_bytes = budget;
  eo.page_tokens = kPageTokens;
  Engine engine(*lm.model, eo);

  // One prompt streams: the prompt, then each token's text as soon as it is sampled.
  data::StreamDecoder streamer(tok);
  std::vector<int64_t> ids;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request r;
    r.prompt = prompts[i];
    r.max_new_tokens = a.max_new_tokens;
    r.sampling = {a.temperature, a.top_k, a.top_p, a.seed + uint64_t(i)};
    r.stop_token = tok.eos_id();
    if (single && !a.json) {
      std::printf("%s", texts[i].c_str());
      std::fflush(stdout);
      r.on_token = [&](int32_t id) {
        if (id == tok.eos_id()) return;
        const std::string text = streamer.push(id);
        if (text.empty()) return;
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      };
    }
    ids.push_back(engine.submit(std::move(r)));
  }
  const auto t0 = std::chrono::steady_clock::now();
  engine.run();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EngineStats& st = engine.stats();
  int failed = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const Completion& c = engine.completion(ids[i]);
    if (!c.error.empty()) ++failed, std::fprintf(stderr, "error: prompt %zu: %s\n", i + 1, c.error.c_str());
    std::vector<int32_t> shown = c.tokens;
    if (!shown.empty() && shown.back() == tok.eos_id()) shown.pop_back();
    if (a.json) {
      MetricRecord r;
      r.strings["prompt"] = texts[i];
      r.strings["completion"] = tok.decode(shown);
      r.int_lists["tokens"] = std::vector<int64_t>(c.tokens.begin(), c.tokens.end());
      r.int_lists["recursion_tokens"] = st.tokens_per_step;  // all prompts together
      r.integers["prompt_tokens"] = int64_t(prompts[i].size());
      r.integers["kv_cache_bytes_estimate"] = mem.kv_cache;
      r.integers["kv_cache_bytes"] = engine.pool().bytes();
      r.numbers["tokens_per_s"] = double(st.generated_tokens) / s;
      if (!c.error.empty()) r.strings["error"] = c.error;
      std::printf("%s\n", r.to_json().c_str());
    } else if (single) {
      std::printf("%s\n", streamer.finish().c_str());
    } else {
      std::printf("%s%s\n", texts[i].c_str(), tok.decode(shown).c_str());
    }
  }
  std::fflush(stdout);  // the text before the statistics on stderr
  if (!a.json)
    std::fprintf(stderr, "[%zu prompt%s, %lld new tokens, %.1f tokens/s, tokens per recursion %s, KV pool %s]\n",
                 prompts.size(), prompts.size() == 1 ? "" : "s", (long long)st.generated_tokens,
                 double(st.generated_tokens) / s, per_step_text(st.tokens_per_step).c_str(),
                 format_bytes(engine.pool().bytes()).c_str());
  return failed ? 1 : 0;
}

int run_bench_generate(const BenchGenerateArgs& a) {
  LoadedModel lm = load_model(a.checkpoint, parse_device(a.device));
  const Model& model = *lm.model;
  int32_t start = 0;  // no prompt prefix: every query starts from the end-of-text token
  try {
    start = load_tokenizer(lm, a.checkpoint, "").eos_id();
  } catch (const Error&) {
    std::fprintf(stderr, "note: no tokenizer found; queries start from token 0\n");
  }
  // Generation lengths ~ Normal(mean, mean / 4), within [1, 2 mean] (MOR.md 8: lengths around a mean).
  Rng rng(a.seed, "lengths");
  std::vector<int64_t> lens;
  int64_t longest = 0;
  for (int64_t i = 0; i < a.warmup + a.queries; ++i) {
    const double x = double(a.mean_len) + double(a.mean_len) / 4.0 * rng.normal();
    lens.push_back(std::clamp<int64_t>(int64_t(std::llround(x)), 1, 2 * a.mean_len));
    longest = std::max(longest, lens.back() + 1);
  }
  const bool max_batch = a.batch == "max";
  int64_t batch = a.queries;
  if (!max_batch) {
    const auto r = std::from_chars(a.batch.data(), a.batch.data() + a.batch.size(), batch);
    if (r.ec != std::errc() || r.ptr != a.batch.data() + a.batch.size() || batch < 1)
      fail_input("--batch '", a.batch, "': use a positive integer or max.");
  } else if (a.kv_budget <= 0) {
    fail_input("--batch max needs --kv-budget BYTES (the budget decides how many sequences run at once).");
  }
  const int64_t budget = a.kv_budget > 0 ? a.kv_budget : generation_kv_bytes(lm.config.model, batch, longest, a.page_tokens);
  check_generation_memory(lm.config.model, lm.source, std::min(batch, a.queries), longest, budget);
  EngineOptions eo;
  eo.max_batch = batch;
  eo.kv_budget_bytes = budget;
  eo.page_tokens = a.page_tokens;
  std::vector<int64_t> timed_ids;
  auto submit_range = [&](Engine& e, int64_t from, int64_t to, std::vector<int64_t>* ids) {
    for (int64_t i = from; i < to; ++i) {
      Request r;
      r.prompt = {start};
      r.max_new_tokens = lens[size_t(i)];  // fixed lengths: no stop token
      const int64_t id = e.submit(std::move(r));
      if (ids) ids->push_back(id);
    }
  };
  if (a.warmup > 0) {  // untimed
    Engine w(model, eo);
    submit_range(w, 0, a.warmup, nullptr);
    w.run();
  }
  Engine e(model, eo);
  submit_range(e, a.warmup, a.warmup + a.queries, &timed_ids);
  const auto t0 = std::chrono::steady_clock::now();
  e.run();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EngineStats& st = e.stats();
  const KvPool& pool = e.pool();
  const int64_t L = model.plan().effective_layers();
  MetricRecord r;
  r.strings["checkpoint"] = a.checkpoint;
  r.strings["batch"] = a.batch;
  r.integers["max_batch"] = batch;
  r.integers["queries"] = a.queries;
  r.integers["mean_len"] = a.mean_len;
  r.integers["generated_tokens"] = st.generated_tokens;
  r.numbers["seconds"] = s;
  r.numbers["tokens_per_s"] = double(st.generated_tokens) / s;
  r.integers["kv_budget_bytes"] = budget;
  r.integers["kv_bytes_allocated"] = pool.bytes();
  r.integers["kv_bytes_peak_used"] = pool.peak_used_pages() * pool.page_tokens() * pool.row_bytes();
  r.numbers["kv_bytes_per_token"] = double(st.cache_rows) * double(pool.row_bytes()) / double(std::max<int64_t>(st.fed_tokens, 1));
  r.numbers["kv_bytes_per_token_expected"] = e.estimate().rows_per_token() * double(pool.row_bytes());
  r.numbers["kv_bytes_per_token_all_layers"] = double(L) * double(pool.row_bytes());
  r.numbers["mean_block_occupancy"] = st.mean_block_occupancy(batch);
  r.numbers["mean_block_rows"] = st.block_batches ? double(st.block_rows) / double(st.block_batches) : 0.0;
  r.numbers["mean_running"] = st.mean_running();
  r.integers["peak_running"] = st.peak_running;
  r.numbers["block_seconds"] = st.block_seconds;
  r.numbers["nonblock_seconds"] = st.nonblock_seconds;
  r.numbers["block_share"] = st.block_seconds / std::max(1e-12, st.block_seconds + st.nonblock_seconds);
  r.int_lists["tokens_per_step"] = st.tokens_per_step;
  r.integers["block_batches"] = st.block_batches;
  r.integers["mixed_depth_batches"] = st.mixed_depth_batches;
  r.integers["preemptions"] = st.preemptions;
  r.integers["refused"] = st.refused;
  // Queries refused, or ended early because the pool could not hold them: the time above does
  // not measure the protocol.
  int64_t failed = 0;
  std::string first_error;
  for (const int64_t id : timed_ids)
    if (const Completion& c = e.completion(id); !c.error.empty()) {
      if (failed++ == 0) first_error = c.error;
    }
  r.integers["failed_queries"] = failed;
  const auto report_failures = [&] {
    if (failed == 0) return 0;
    std::fprintf(stderr, "error: %lld of %lld queries were refused or cut short (first: %s); the throughput above does "
                 "not measure the protocol. Hint: raise --kv-budget, or lower --mean-len or --batch.\n",
                 (long long)failed, (long long)a.queries, first_error.c_str());
    return 1;
  };
  if (a.json) {
    std::printf("%s\n", r.to_json().c_str());
    std::fflush(stdout);
    return report_failures();
  }
  std::printf("generate: %lld queries (mean length %lld), batch %s: %.1f tokens/s (%lld tokens in %.2f s)\n",
              (long long)a.queries, (long long)a.mean_len, a.batch.c_str(), r.numbers["tokens_per_s"],
              (long long)st.generated_tokens, s);
  std::printf("  KV: %s allocated, peak %s used, %.0f bytes/token (expected %.0f, all layers %.0f)\n",
              format_bytes(pool.bytes()).c_str(), format_bytes(r.integers["kv_bytes_peak_used"]).c_str(),
              r.numbers["kv_bytes_per_token"], r.numbers["kv_bytes_per_token_expected"],
              r.numbers["kv_bytes_per_token_all_layers"]);
  std::printf("  batches: block occupancy %.2f (%.1f rows), %.1f sequences running (peak %lld), %lld of %lld block batches mixed "
              "depths; time block %.2f s / non-block %.2f s; tokens per recursion %s; preemptions %lld\n",
              r.numbers["mean_block_occupancy"], r.numbers["mean_block_rows"], st.mean_running(), (long long)st.peak_running,
              (long long)st.mixed_depth_batches, (long long)st.block_batches, st.block_seconds, st.nonblock_seconds,
              per_step_text(st.tokens_per_step).c_str(), (long long)st.preemptions);
  std::fflush(stdout);
  return report_failures();
}

}  // namespace mor::cli
