// Writing a file atomically: `body` streams into PATH.tmp, which is flushed and renamed to PATH;
// on a failed write (disk full, I/O error) the temp file is removed and the error names it.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace mor::ckpt {

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& body);

}  // namespace mor::ckpt
