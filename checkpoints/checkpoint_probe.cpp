// Checkpoint probe; see checkpoint_probe.h.
#include "checkpoint_probe.h"

#include <hdf5.h>

#include <filesystem>

namespace mor::ckpt {

bool looks_like_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec))) return false;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // a non-HDF5 file is an answer, not an error stack
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return false;
  const bool ok = H5Lexists(f, "meta", H5P_DEFAULT) > 0 && H5Lexists(f, "params", H5P_DEFAULT) > 0 &&
                  H5Aexists_by_name(f, "meta", "format_version", H5P_DEFAULT) > 0;
  H5Fclose(f);
  return ok;
}

}  // namespace mor::ckpt
