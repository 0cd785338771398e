// Atomic file writes; see atomic_write.h.
#include "atomic_write.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "src/core/error.h"

namespace mor::ckpt {

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail_input(path, ": cannot write. Hint: check the directory exists and is writable.");
    body(out);
    out.flush();
    if (!out) {
      const int err = errno;
      out.close();
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail_internal(tmp, ": write failed (", err ? std::strerror(err) : "disk full?", ")");
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace mor::ckpt
