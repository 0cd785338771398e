// The parameter table: every parameter is declared once (name, shape, init, weight decay,
// tensor-parallel split axis, unique layer). Finalising allocates ONE contiguous arena for
// values and one for gradients, in declaration order; initialisation, the optimizer state,
// gradient norms and all-reduces, checkpoints and export all walk this table by name.
// Parameters declared back to back can be used as one fused matrix (view_rows), e.g. q|k|v.
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

class ParamTable {
 public:
  // Declares a parameter; returns its index. Names must be unique.
  int add(ParamSpec spec);
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
  int64_t numel(int i) const { return shape_numel(specs_[size_t(i)].shape); }
  int64_t total_numel() const { return total_; }

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
  std::map<std::string, int> by_name_;
  std::vector<ad::Var> vars_;
  Tensor values_, grads_;
  int64_t total_ = 0;
  bool finalized_ = false;
};

}  // namespace mor
