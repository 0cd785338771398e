// YAML tree checks and --set overrides; see yaml_tree.h.
#include "yaml_tree.h"

#include <sstream>
#include <vector>

#include "src/core/error.h"

namespace mor {
namespace {

std::string join_key(const std::string& prefix, const std::string& key) { return prefix.empty() ? key : prefix + "." + key; }

// Records `origin_text` for `key` and, when `value` is a map, for every key below it.
void record_origins(const YAML::Node& value, const std::string& key, const std::string& origin_text,
                    std::map<std::string, std::string>& origin) {
  origin[key] = origin_text;
  if (!value.IsMap()) return;
  for (auto it = value.begin(); it != value.end(); ++it)
    record_origins(it->second, join_key(key, it->first.Scalar()), origin_text, origin);
}

// Writes `value` into `target`: maps merge key by key (recursively), anything else replaces.
void merge_into(YAML::Node target, const YAML::Node& value) {
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string key = it->first.Scalar();
    YAML::Node child = target[key];
    if (it->second.IsMap() && child && child.IsMap()) merge_into(child, it->second);
    else target[key] = it->second;
  }
}

}  // namespace

std::string mark_str(const std::string& source, const YAML::Mark& m) {
  if (m.line < 0) return source;
  return source + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void check_duplicate_keys(const YAML::Node& root, const std::string& source, const std::string& prefix) {
  if (root.IsSequence()) {
    for (const auto& item : root) check_duplicate_keys(item, source, prefix);
    return;
  }
  if (!root.IsMap()) return;
  std::map<std::string, YAML::Mark> first;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    const std::string dotted = join_key(prefix, key);
    auto [seen, inserted] = first.emplace(key, it->first.Mark());
    if (!inserted)
      fail_input(mark_str(source, it->first.Mark()), ": duplicate key '", dotted, "' (first at ", mark_str(source, seen->second),
                 "); YAML keeps only one of them. Hint: delete one of the two lines.");
    check_duplicate_keys(it->second, source, dotted);
  }
}

void apply_override(YAML::Node root, const std::string& assignment, std::map<std::string, std::string>& origin) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail_input("--set ", assignment, ": expected key=value. Hint: e.g. --set train.lr=1e-3");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    fail_input("--set ", assignment, ": value is not valid YAML (", e.msg, ").");
  }
  check_duplicate_keys(parsed, "--set " + assignment, key);
  std::vector<YAML::Node> nodes{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = nodes.back()[parts[i]];
    if (!child || child.IsNull()) {
      nodes.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      child = nodes.back()[parts[i]];
    }
    if (!child.IsMap()) fail_input("--set ", assignment, ": '", parts[i], "' is not a section.");
    nodes.push_back(child);
  }
  YAML::Node target = nodes.back()[parts.back()];
  if (parsed.IsMap() && target && target.IsMap()) merge_into(target, parsed);
  else nodes.back()[parts.back()] = parsed;
  record_origins(parsed, key, "--set " + assignment, origin);
}

}  // namespace mor
