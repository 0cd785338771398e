// Output path guards; see output_guard.h.
#include "output_guard.h"

#include <algorithm>

#include "error.h"

namespace mor {
namespace fs = std::filesystem;
namespace {

// Canonical form of a path that may not exist yet (its existing prefix resolved, symlinks included).
fs::path canonical_of(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) c = fs::absolute(p).lexically_normal();
  if (!c.has_filename() && c.has_parent_path() && c != c.root_path()) c = c.parent_path();
  return c;
}

// True when `inner` is `outer` or lies below it.
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin(), o = outer.begin();
  for (; o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return true;
}

}  // namespace

fs::path normal_output_path(const std::string& out) {
  fs::path p = fs::path(out).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  return p;
}

void check_output_apart(const std::string& out, const std::string& out_flag,
                        const std::vector<std::pair<std::string, std::string>>& inputs, bool may_contain) {
  const fs::path o = canonical_of(out);
  for (const auto& [flag, in] : inputs) {
    if (in.empty()) continue;
    const fs::path i = canonical_of(in);
    const char* how = o == i                         ? "is the same path as"
                      : !may_contain && within(i, o) ? "contains"
                      : within(o, i)                 ? "lies inside"
                                                     : nullptr;
    if (!how) continue;
    fail_input(out_flag, " ", out, ": ", how, " the input ", flag, " ", in,
               ", so writing it would destroy or mix with the input. Hint: choose an output outside every input, e.g. a "
               "new sibling directory.");
  }
}

std::string describe_existing(const fs::path& p) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(p, ec);
  if (fs::is_symlink(st)) return "a symbolic link";
  if (fs::is_regular_file(st)) return "a file of " + std::to_string(fs::file_size(p, ec)) + " bytes";
  if (!fs::is_directory(st)) return "a special file";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(p, ec))
    names.push_back(e.path().filename().string() + (e.is_directory(ec) ? "/" : ""));
  if (ec) return "a directory that cannot be listed";
  if (names.empty()) return "an empty directory";
  std::sort(names.begin(), names.end());
  constexpr size_t kShown = 4;
  std::string s = "a directory holding ";
  for (size_t k = 0; k < std::min(names.size(), kShown); ++k) {
    const bool last = k + 1 == std::min(names.size(), kShown);
    s += (k == 0 ? "" : last && names.size() <= kShown ? " and " : ", ") + names[k];
  }
  if (names.size() > kShown) s += " and " + std::to_string(names.size() - kShown) + " more";
  return s;
}

PathLock lock_output(const std::string& out, const std::string& what) {
  return PathLock::acquire(normal_output_path(out).string() + ".lock", what, true);
}

}  // namespace mor
