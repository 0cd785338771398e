// AdamW over a ParamTable: fp32 master weights, moments in two arenas laid out like the
// parameters, decoupled weight decay only where the table says so (matrices, embeddings,
// routers; not norms), per-group learning-rate multipliers, and the global gradient norm
// (each unique tensor counted once: the gradient arena holds one copy of each shared weight).
#pragma once
#include <map>
#include <string>

#include "src/config/config.h"
#include "src/model/param_table.h"

namespace mor {

class AdamW {
 public:
  // Owns the moments of arena elements [shard_begin, shard_end) only (ZeRO-1: each data-parallel
  // rank updates its shard; shard_end < 0 means the whole arena).
  AdamW(ParamTable& params, const TrainConfig& cfg, int64_t shard_begin = 0, int64_t shard_end = -1);

  // Global L2 norm of the gradients of `group` ("" = all trainable parameters).
  double grad_norm(const std::string& group = "") const;
  // Sum of squared gradients of `group` over this shard's elements (ZeRO: reduced over ranks).
  // part: which parameters count (tensor parallelism: split ones are summed over TP ranks,
  // replicated ones counted once).
  enum class Part { All, Split, Replicated };
  double shard_grad_sum_squares(const std::string& group = "", Part part = Part::All) const;
  // One update of `group` ("" = all) over this shard's elements: clip to `clip` (<= 0: none) using
  // `norm`, then AdamW with lr = lr * lr_mult(group). Returns the clip coefficient applied.
  double step(double lr, double norm, double clip, const std::string& group = "");
  void set_lr_mult(const std::string& group, double m) { lr_mult_[group] = m; }

  // Update counts per group ("" = the whole table), for bias correction; saved in checkpoints.
  const std::map<std::string, int64_t>& steps_taken() const { return t_; }
  void set_steps_taken(const std::map<std::string, int64_t>& t) { t_ = t; }
  Tensor& exp_avg() { return m_; }      // flat: arena elements [shard_begin, shard_end)
  Tensor& exp_avg_sq() { return v_; }
  int64_t shard_begin() const { return lo_; }
  int64_t shard_end() const { return hi_; }

 private:
  // Sum of squared gradients of `group`'s parameters (those of `part`) over arena elements [lo, hi).
  double grad_sum_squares(const std::string& group, Part part, int64_t lo, int64_t hi) const;

  ParamTable& params_;
  TrainConfig cfg_;
  Tensor m_, v_;
  int64_t lo_ = 0, hi_ = 0;
  std::map<std::string, int64_t> t_;
  std::map<std::string, double> lr_mult_;
};

}  // namespace mor
