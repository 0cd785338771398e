// JSON I/O of the data pipeline (the only translation unit that includes nlohmann/json); see json_io.h.
#include "json_io.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/core/error.h"

namespace mor::data {
namespace {
using ojson = nlohmann::ordered_json;

ojson split_json(const SplitInfo& s) {
  ojson j;
  j["tokens"] = s.tokens;
  j["documents"] = s.documents;
  j["shards"] = ojson::array();
  for (const auto& sh : s.shards) j["shards"].push_back({{"file", sh.file}, {"tokens", sh.tokens}});
  return j;
}

SplitInfo split_from(const nlohmann::json& j) {
  SplitInfo s;
  s.tokens = j.at("tokens").get<uint64_t>();
  s.documents = j.at("documents").get<uint64_t>();
  for (const auto& sh : j.at("shards")) s.shards.push_back({sh.at("file").get<std::string>(), sh.at("tokens").get<uint64_t>()});
  return s;
}

// Options are informational: read what has the expected type, ignore the rest.
ManifestOptions options_from(const nlohmann::json& j) {
  ManifestOptions o;
  auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) {
      try {
        j.at(key).get_to(field);
      } catch (const nlohmann::json::exception&) {
      }
    }
  };
  get("inputs", o.inputs);
  get("extensions", o.extensions);
  get("tokenizer", o.tokenizer);
  get("vocab_size", o.vocab_size);
  get("val_fraction", o.val_fraction);
  get("shard_tokens", o.shard_tokens);
  get("seed", o.seed);
  return o;
}

}  // namespace

void write_manifest(const std::string& path, const Manifest& m) {
  ojson j;
  j["format"] = "mor-dataset";
  j["version"] = m.version;
  j["mor_version"] = m.mor_version;
  j["vocab_size"] = m.vocab_size;
  j["eos_id"] = m.eos_id;
  j["token_bytes"] = m.token_bytes;
  j["tokenizer"] = {{"file", m.tokenizer_file}, {"hash", m.tokenizer_hash}, {"trained", m.tokenizer_trained}};
  j["splits"] = {{"train", split_json(m.train)}, {"val", split_json(m.val)}};
  j["documents"] = m.documents;
  j["bytes"] = m.bytes;
  j["sources"] = ojson::array();
  for (const auto& [p, b] : m.sources) j["sources"].push_back({{"path", p}, {"bytes", b}});
  const ManifestOptions& o = m.options;
  j["options"] = {{"inputs", o.inputs},         {"extensions", o.extensions},     {"tokenizer", o.tokenizer},
                  {"vocab_size", o.vocab_size}, {"val_fraction", o.val_fraction}, {"shard_tokens", o.shard_tokens},
                  {"seed", o.seed}};
  j["seconds"] = m.seconds;
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  f.flush();
  if (!f) fail_input(path, ": cannot write the manifest. Hint: check the output directory is writable and the disk is not full.");
}

Manifest read_manifest(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail_input(path, ": cannot open the dataset manifest. Hint: point data.path at a directory written by `mor prepare`.");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key;  // the key being read, named when it is missing or of the wrong type
  const auto at = [&key](const nlohmann::json& obj, const char* k, const char* full_name) -> const nlohmann::json& {
    key = full_name;
    return obj.at(k);
  };
  try {
    const auto j = nlohmann::json::parse(ss.str());
    if (!j.is_object() || j.value("format", "") != "mor-dataset")
      fail_input(path, ": not a MoR dataset manifest. Hint: re-run `mor prepare`.");
    Manifest m;
    m.version = at(j, "version", "version").get<int>();
    if (m.version != kManifestVersion)
      fail_input(path, ": manifest version ", m.version, " is not supported (this build reads ", kManifestVersion,
                 "). Hint: re-run `mor prepare` with this build.");
    key = "mor_version";
    m.mor_version = j.value("mor_version", "");
    m.vocab_size = at(j, "vocab_size", "vocab_size").get<int64_t>();
    m.eos_id = at(j, "eos_id", "eos_id").get<int32_t>();
    key = "token_bytes";
    m.token_bytes = j.value("token_bytes", m.vocab_size <= 65536 ? 2u : 4u);
    const auto& tok = at(j, "tokenizer", "tokenizer");
    m.tokenizer_file = at(tok, "file", "tokenizer.file").get<std::string>();
    m.tokenizer_hash = at(tok, "hash", "tokenizer.hash").get<uint64_t>();
    key = "tokenizer.trained";
    m.tokenizer_trained = tok.value("trained", true);
    const auto& splits = at(j, "splits", "splits");
    m.train = split_from(at(splits, "train", "splits.train"));
    m.val = split_from(at(splits, "val", "splits.val"));
    key = "documents";
    m.documents = j.value("documents", m.train.documents + m.val.documents);
    key = "bytes";
    m.bytes = j.value("bytes", uint64_t(0));
    for (const auto& s : at(j, "sources", "sources"))
      m.sources.emplace_back(at(s, "path", "sources[].path").get<std::string>(), at(s, "bytes", "sources[].bytes").get<uint64_t>());
    if (j.contains("options")) m.options = options_from(at(j, "options", "options"));
    key = "seconds";
    m.seconds = j.value("seconds", 0.0);
    return m;
  } catch (const nlohmann::json::exception& e) {
    fail_input(path, ": malformed manifest", key.empty() ? std::string() : " at key \"" + key + "\"", " (", e.what(),
               "). Hint: re-run `mor prepare`.");
  }
}

bool jsonl_text(std::string_view line, std::string& text, std::string& why) {
  try {
    const auto j = nlohmann::json::parse(line);
    const auto it = j.is_object() ? j.find("text") : j.end();
    if (it == j.end() || !it->is_string()) {
      why = "no string field \"text\"";
      return false;
    }
    text = it->get<std::string>();
    return true;
  } catch (const nlohmann::json::exception& e) {
    why = std::string("not valid JSON (") + e.what() + ")";
    return false;
  }
}

std::string json_object_line(const std::vector<std::pair<std::string, JsonValue>>& fields) {
  ojson j = ojson::object();
  for (const auto& [key, value] : fields) std::visit([&, &k = key](const auto& v) { j[k] = v; }, value);
  return j.dump();
}

}  // namespace mor::data
