// Manifest JSON I/O; see manifest.h.
#include "manifest.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/core/error.h"

namespace mor::data {
namespace {

nlohmann::ordered_json split_json(const SplitInfo& s) {
  nlohmann::ordered_json j;
  j["tokens"] = s.tokens;
  j["documents"] = s.documents;
  j["shards"] = nlohmann::ordered_json::array();
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

}  // namespace

void write_manifest(const std::string& path, const Manifest& m) {
  nlohmann::ordered_json j;
  j["format"] = "mor-dataset";
  j["version"] = m.version;
  j["vocab_size"] = m.vocab_size;
  j["eos_id"] = m.eos_id;
  j["tokenizer"] = {{"file", m.tokenizer_file}, {"hash", m.tokenizer_hash}};
  j["splits"] = {{"train", split_json(m.train)}, {"val", split_json(m.val)}};
  j["sources"] = nlohmann::ordered_json::array();
  for (const auto& [p, b] : m.sources) j["sources"].push_back({{"path", p}, {"bytes", b}});
  j["options"] = m.options;
  j["seconds"] = m.seconds;
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  if (!f) fail_internal(path, ": cannot write the manifest");
}

Manifest read_manifest(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail_input(path, ": cannot open the dataset manifest. Hint: point data.path at a directory written by `mor prepare`.");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    auto j = nlohmann::json::parse(ss.str());
    if (j.value("format", "") != "mor-dataset") fail_input(path, ": not a MoR dataset manifest. Hint: re-run `mor prepare`.");
    Manifest m;
    m.version = j.at("version").get<int>();
    if (m.version != kManifestVersion)
      fail_input(path, ": manifest version ", m.version, " is not supported (this build reads ", kManifestVersion,
                 "). Hint: re-run `mor prepare` with this build.");
    m.vocab_size = j.at("vocab_size").get<int64_t>();
    m.eos_id = j.at("eos_id").get<int32_t>();
    m.tokenizer_file = j.at("tokenizer").at("file").get<std::string>();
    m.tokenizer_hash = j.at("tokenizer").at("hash").get<uint64_t>();
    m.train = split_from(j.at("splits").at("train"));
    m.val = split_from(j.at("splits").at("val"));
    for (const auto& s : j.at("sources")) m.sources.emplace_back(s.at("path").get<std::string>(), s.at("bytes").get<uint64_t>());
    for (auto it = j.at("options").begin(); it != j.at("options").end(); ++it) m.options[it.key()] = it.value().get<std::string>();
    m.seconds = j.value("seconds", 0.0);
    return m;
  } catch (const nlohmann::json::exception& e) {
    fail_input(path, ": malformed manifest (", e.what(), "). Hint: re-run `mor prepare`.");
  }
}

}  // namespace mor::data
