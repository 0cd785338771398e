// Guards for the outputs of `mor prepare`, `mor export`, `mor import` and the run directory of
// `mor train`, so that a careless path never destroys data:
//   - an output must not equal, contain or lie inside one of the command's inputs (checked on
//     canonical paths, so symlinks and "a/../b" do not slip through), with or without --overwrite
//     (a run directory may contain its dataset);
//   - an existing output is described in words ("a directory holding a, b and 3 more") when a
//     command refuses to replace it;
//   - the output is locked (OUT.lock beside it, a PathLock) for the whole write, so two commands
//     writing the same output cannot interleave.
// What counts as "something this command wrote" (a dataset, an export, a checkpoint) is decided by
// each command's own layout check; these helpers only do the path work.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "path_lock.h"

namespace mor {

// `out` without a trailing separator or "." parts ("ds/" -> "ds", "a/./b" -> "a/b").
std::filesystem::path normal_output_path(const std::string& out);

// BadInput when the output `out` (given as flag `out_flag`) equals, contains or lies inside one of
// `inputs` ({flag, path}; empty paths are skipped). `may_contain`: an output that only adds files
// of its own names (a run directory) may contain an input, but not be or lie inside one.
void check_output_apart(const std::string& out, const std::string& out_flag,
                        const std::vector<std::pair<std::string, std::string>>& inputs, bool may_contain = false);

// "a file of 12 bytes", "an empty directory", "a directory holding a.txt, b/ and 2 more".
std::string describe_existing(const std::filesystem::path& p);

// Locks OUT.lock beside `out` (removed on release); `what` names the output in a refusal, e.g.
// "dataset directory ds". The parent directory of `out` must exist.
PathLock lock_output(const std::string& out, const std::string& what);

}  // namespace mor
