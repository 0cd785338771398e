// Parameter table; see param_table.h.
#include "param_table.h"

#include "src/core/rng.h"
#include "src/core/storage.h"

namespace mor {

int ParamTable::add(ParamSpec spec) {
  MOR_CHECK(!finalized_, "ParamTable::add after finalize");
  MOR_CHECK(!by_name_.count(spec.name), "duplicate parameter name ", spec.name);
  int i = int(specs_.size());
  by_name_[spec.name] = i;
  offsets_.push_back(total_);
  total_ += shape_numel(spec.shape);  // packed: back-to-back parameters form fused matrices
  specs_.push_back(std::move(spec));
  return i;
}

void ParamTable::finalize(Device device, DType dtype) {
  MOR_CHECK(!finalized_, "ParamTable::finalize twice");
  values_ = Tensor::zeros({total_}, dtype, device);
  grads_ = Tensor::zeros({total_}, dtype, device);
  for (size_t i = 0; i < specs_.size(); ++i) {
    const Shape& s = specs_[i].shape;
    vars_.push_back(ad::make_param_var(values_.view(offsets_[i], s), grads_.view(offsets_[i], s)));
    vars_.back()->requires_grad = specs_[i].trainable;
  }
  finalized_ = true;
}

void ParamTable::initialize(uint64_t seed) {
  MOR_CHECK(finalized_ && values_.device().is_cpu(), "initialize needs a finalized CPU table");
  for (size_t i = 0; i < specs_.size(); ++i) {
    const int64_t n = numel(int(i));
    std::vector<double> v(static_cast<size_t>(n), specs_[i].init == ParamInit::Ones ? 1.0 : 0.0);
    if (specs_[i].init == ParamInit::Normal) {
      Rng rng(seed, specs_[i].name);
      for (double& x : v) x = double(float(specs_[i].std * rng.normal()));  // same values in f32 and f64
    }
    vars_[i]->value.copy_from(Tensor::from_vector(v, specs_[i].shape).to_dtype(values_.dtype()));
  }
  // The f64 and f32 staging tensors above (one pair per parameter shape, the embedding's among
  // them) would otherwise stay cached for the whole run without ever being reused.
  memory_release_cached(values_.device());
}

int ParamTable::index(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

const ad::Var& ParamTable::var(const std::string& name) const {
  int i = index(name);
  MOR_CHECK(i >= 0, "no parameter named ", name);
  return vars_[size_t(i)];
}

ad::Var ParamTable::view_rows(int first, int last) const {
  MOR_CHECK(finalized_ && first <= last, "view_rows(", first, ", ", last, ")");
  Shape s = specs_[size_t(first)].shape;
  int64_t rows = 0;
  for (int i = first; i <= last; ++i) {
    const Shape& si = specs_[size_t(i)].shape;
    MOR_CHECK(si.size() == s.size() && std::equal(si.begin() + 1, si.end(), s.begin() + 1),
              "view_rows: ", specs_[size_t(i)].name, " does not stack with ", specs_[size_t(first)].name);
    rows += si[0];
  }
  s[0] = rows;
  return ad::make_param_var(values_.view(offsets_[size_t(first)], s), grads_.view(offsets_[size_t(first)], s));
}

void ParamTable::zero_grads() { grads_.zero_(); }

}  // namespace mor
