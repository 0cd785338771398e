// The parameter table: every parameter is declared once (name, shape, init, weight decay,
// tensor-parallel split axis, unique layer). Finalising allocates ONE contiguous arena for
// values and one for gradients, in declaration order; initialisation, the optimizer state,
// gradient norms and all-reduces, checkpoints and export all walk this table by name.
// Parameters declared back to back can be used as one fused matrix (view_rows), e.g. q|k|v.
//
// Tensor parallelism: specs keep GLOBAL shapes; with a TP shard set (set_tp_shard, before
// finalize) each split parameter (tp_axis 0: rows, 1: columns) holds only its shard-th slice of
// `count` equal slices, and the arenas hold those LOCAL shards, still back to back in declaration
// order. So a fused view stays valid on each shard: wqkv's local rows are [its q heads | its k
// heads | its v heads], gate|up's are [its gate rows | its up rows]. offset/numel/local_shape are
// local; initialisation draws the global tensor and keeps the shard, so every layout starts from
// the same weights. Checkpoints convert with local_slice / from_shards.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/autodiff/var.h"

namespace mor {

enum class ParamInit { Normal, Ones, Zeros };

struct ParamSpec {
  std::string name;
  Shape shape;
  ParamInit init = ParamInit::Normal;
  double std = 0.02;         // for Normal
  bool weight_decay = true;  // AdamW decay (matrices, embeddings, routers); false for norms
  int tp_axis = -1;          // -1 replicated; 0 split dim 0 (column-parallel); 1 split dim 1 (row-parallel)
  int unique_layer = -1;     // index of the unique transformer layer it belongs to (-1: none)
  bool trainable = true;     // false: state without gradient (e.g. loss-free router bias)
  std::string group = "main";  // optimizer group ("main", "aux_router")
};

// Which of `count` equal slices of each split parameter this table holds.
struct TpShard {
  int index = 0;
  int count = 1;
};

class ParamTable {
 public:
  // Declares a parameter; returns its index. Names must be unique.
  int add(ParamSpec spec);
  // Shards the split parameters (before finalize). Each split dimension must divide by count.
  void set_tp_shard(TpShard shard);
  const TpShard& tp_shard() const { return tp_; }
  // Allocates the value and gradient arenas (zeroed) and creates the parameter Vars. Training
  // uses f32 master weights; f64 tables serve finite-difference gradient checks of whole models.
  void finalize(Device device = Device::cpu(), DType dtype = DType::F32);
  // Fills every parameter from its init rule; parameter i uses the stream (seed, name).
  void initialize(uint64_t seed);

  bool finalized() const { return finalized_; }
  size_t size() const { return specs_.size(); }
  const ParamSpec& spec(int i) const { return specs_[size_t(i)]; }
  int index(const std::string& name) const;  // -1 if absent
  int64_t offset(int i) const { return offsets_[size_t(i)]; }  // in elements, within the arenas
  int64_t numel(int i) const { return shape_numel(local_shapes_[size_t(i)]); }  // local
  const Shape& local_shape(int i) const { return local_shapes_[size_t(i)]; }
  int64_t total_numel() const { return total_; }  // local
  // True when parameter i is split over more than one shard (each shard holds a different part).
  bool sharded(int i) const { return tp_.count > 1 && specs_[size_t(i)].tp_axis >= 0; }
  // Index along tp_axis where this shard's slice starts in the global tensor (0 if not split).
  int64_t shard_begin(int i) const;
  // This shard's slice (a copy, local shape) of a global tensor of parameter i's dtype.
  Tensor local_slice(int i, const Tensor& global) const;
  // The global tensor from every shard's slice: `gathered` holds the `count` flat local slices
  // in shard order (an all-gather of the local values).
  Tensor from_shards(int i, const Tensor& gathered) const;

  const ad::Var& var(int i) const { return vars_[size_t(i)]; }
  const ad::Var& var(const std::string& name) const;
  // A Var over parameters [first, last] (declared back to back with equal trailing dims),
  // concatenated along dim 0. Value and gradient alias the arenas.
  ad::Var view_rows(int first, int last) const;

  Tensor& values() { return values_; }  // flat [total]
  Tensor& grads() { return grads_; }    // flat [total]
  const Tensor& values() const { return values_; }
  const Tensor& grads() const { return grads_; }
  void zero_grads();

 private:
  std::vector<ParamSpec> specs_;
  std::vector<int64_t> offsets_;
  std::vector<Shape> local_shapes_;
  TpShard tp_;
  std::map<std::string, int> by_name_;
  std::vector<ad::Var> vars_;
  Tensor values_, grads_;
  int64_t total_ = 0;
  bool finalized_ = false;
};

}  // namespace mor
