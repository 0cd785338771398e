// A cheap test for "is this file a MoR-Train checkpoint?" (HDF5 with the /meta/format_version
// attribute and a /params group), without reading its tensors. Used before `mor import --overwrite`
// replaces a file: only a checkpoint may be replaced, never an unrelated file given by mistake.
#pragma once
#include <string>

namespace mor::ckpt {

bool looks_like_checkpoint(const std::string& path);

}  // namespace mor::ckpt
