// Every piece of JSON the data pipeline reads or writes: the dataset manifest, the "text" field of
// .jsonl corpus lines, and the one-line summaries printed by `--json`. One translation unit on
// purpose: nlohmann/json costs seconds to compile.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "manifest.h"

namespace mor::data {

void write_manifest(const std::string& path, const Manifest& m);
// BadInput errors name the file; unknown formats and versions are rejected.
Manifest read_manifest(const std::string& path);

// The "text" field of one .jsonl line into `text`; false with `why` set when the line is not a
// JSON object with a string "text".
bool jsonl_text(std::string_view line, std::string& text, std::string& why);

// One JSON object on one line from (key, value) pairs, in order (strings are escaped).
using JsonValue = std::variant<std::string, int64_t, uint64_t, double, bool>;
std::string json_object_line(const std::vector<std::pair<std::string, JsonValue>>& fields);

}  // namespace mor::data
