// Edits and checks on the raw YAML tree of a config, before the schema reads it:
//   - duplicate keys (yaml-cpp 0.7 accepts them and lookups return the first value) are refused
//     with both positions;
//   - `--set a.b=value` overrides are written into the tree; a map value is merged into the
//     section key by key (`--set 'model={d_model: 32}'` changes d_model and keeps the rest).
#pragma once
#include <map>
#include <string>

#include <yaml-cpp/yaml.h>

namespace mor {

// "source:line:col" (1-based) for a mark, or just `source` when the mark is unknown.
std::string mark_str(const std::string& source, const YAML::Mark& m);

// BadInput naming both positions when any map in `root` holds a key twice. `source` names the
// text the marks refer to (a file, or a --set flag); `prefix` is the dotted path of `root`.
void check_duplicate_keys(const YAML::Node& root, const std::string& source, const std::string& prefix = "");

// Applies "a.b.c=value" (value in YAML syntax) to `root`, creating sections as needed. Records
// "--set ..." in `origin` for every key the override sets (each leaf of a map value).
void apply_override(YAML::Node root, const std::string& assignment, std::map<std::string, std::string>& origin);

}  // namespace mor
