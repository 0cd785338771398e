// HDF5 training checkpoints (format version 1): layout-independent (full tensors by parameter
// name), so a run can resume with another parallel layout.
//
//   /params/<name>       f32, the parameter's shape (fp32 master weights)
//   /optim/<name>/m, /v  f32 AdamW moments (absent for parameters without gradients)
//   /state               attributes: step, tokens, flops, loader_epoch, loader_consumed, rng[4],
//                        adam_steps.<group> (update counts per optimizer group), data_tokenizer_hash and
//                        data_windows (the training data the loader position refers to; optional),
//                        guard_loss_ema, guard_grad_ema, guard_steps (divergence guard; optional)
//   /config              the resolved YAML config (string dataset)
//   /meta                attributes: format_version, framework_version, dp_size, tp_size, created
//
// Files are written to `<path>.tmp`, flushed, fsync'ed and renamed, so a crash mid-save never
// leaves a truncated file under the final name.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/core/error.h"
#include "src/core/tensor.h"

namespace mor::ckpt {

constexpr int kCheckpointVersion = 1;

struct TrainingState {
  int64_t step = 0;
  int64_t tokens = 0;
  double flops = 0;
  uint64_t loader_epoch = 0;
  uint64_t loader_consumed = 0;
  std::array<uint64_t, 4> rng{};
  std::map<std::string, int64_t> adam_steps;
  // The training data the loader position refers to (0: not recorded, e.g. a bench checkpoint).
  uint64_t data_tokenizer_hash = 0;  // hash of the tokenizer.model the shards were encoded with
  uint64_t data_windows = 0;         // windows per epoch of the training split
  // Divergence guard history (optional; absent in older files): EMAs of healthy steps' loss and
  // gradient norm and how many steps they cover, so a resumed run judges spikes as a straight one.
  double guard_loss_ema = 0, guard_grad_ema = 0;
  int64_t guard_steps = 0;
};

struct Meta {
  int format_version = kCheckpointVersion;
  std::string framework_version;
  int64_t dp_size = 1;
  int64_t tp_size = 1;
  std::string created;  // UTC ISO-8601
};

// One named tensor with optional optimizer moments (all CPU f32, owned copies or views).
struct NamedTensor {
  std::string name;
  Tensor value;
  Tensor m, v;  // undefined when the parameter has no optimizer state
};

struct Checkpoint {
  std::vector<NamedTensor> tensors;
  TrainingState state;
  Meta meta;
  std::string config_yaml;
};

// A checkpoint file that exists but cannot be trusted (truncated, not HDF5, a tensor failing its
// checksum, missing groups): a BadInput error, so that callers that can fall back to an earlier
// checkpoint (resume) can tell it from other refusals (unknown format version, missing file).
class CheckpointCorrupt : public Error {
 public:
  explicit CheckpointCorrupt(const std::string& msg) : Error(ErrorKind::BadInput, msg) {}
};

// Writes `path` atomically: to `<path>.tmp`, flushed, fsync'ed, renamed. On any failure the .tmp
// is removed and the error names the file and the cause (e.g. "No space left on device").
void write_checkpoint(const std::string& path, const Checkpoint& c);
// Writes and fsyncs `tmp_path` only (the caller renames it when it decides to publish it); on
// failure removes it and throws.
void write_checkpoint_file(const std::string& tmp_path, const Checkpoint& c);
// with_optimizer=false skips the moments (evaluation, export). Errors name the file and say what
// is wrong: CheckpointCorrupt for an untrustworthy file, BadInput for a missing file or an unknown
// format version.
Checkpoint read_checkpoint(const std::string& path, bool with_optimizer = true);

std::string utc_now_iso8601();

}  // namespace mor::ckpt
