// Parameter table; see param_table.h.
#include "param_table.h"

#include <cstring>

#include "src/core/rng.h"
#include "src/core/storage.h"

namespace mor {

int ParamTable::add(ParamSpec spec) {
  MOR_CHECK(!finalized_, "ParamTable::add after finalize");
  MOR_CHECK(!by_name_.count(spec.name), "duplicate parameter name ", spec.name);
  MOR_CHECK(spec.tp_axis < int(spec.shape.size()), "parameter ", spec.name, ": tp_axis ", spec.tp_axis, " of a ",
            spec.shape.size(), "-d shape");
  int i = int(specs_.size());
  by_name_[spec.name] = i;
  specs_.push_back(std::move(spec));
  return i;
}

void ParamTable::set_tp_shard(TpShard shard) {
  MOR_CHECK(!finalized_, "ParamTable::set_tp_shard after finalize");
  MOR_CHECK(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "bad TP shard ", shard.index, " of ",
            shard.count);
  tp_ = shard;
}

int64_t ParamTable::shard_begin(int i) const {
  const ParamSpec& s = specs_[size_t(i)];
  return s.tp_axis < 0 ? 0 : int64_t(tp_.index) * local_shapes_[size_t(i)][size_t(s.tp_axis)];
}

namespace {
// Copies `rows` rows of `cols` elements between strided blocks: dst[r, :] = src[r, :].
void copy_block(const char* src, int64_t src_stride, char* dst, int64_t dst_stride, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, size_t(cols));
}
}  // namespace

Tensor ParamTable::local_slice(int i, const Tensor& global) const {
  const ParamSpec& s = specs_[size_t(i)];
  MOR_CHECK(global.shape() == s.shape && global.device().is_cpu(), "local_slice of ", s.name, ": shape ",
            shape_str(global.shape()));
  if (!sharded(i)) return global.clone();
  const Shape& ls = local_shapes_[size_t(i)];
  Tensor out = Tensor::empty(ls, global.dtype());
  const int64_t es = int64_t(dtype_size(global.dtype()));
  if (s.tp_axis == 0) {
    out.copy_from(global.view(shard_begin(i) * (shape_numel(ls) / ls[0]), ls));
  } else {  // columns [c0, c0 + lc) of each row
    const int64_t rows = s.shape[0], cols = s.shape[1], lc = ls[1];
    copy_block(static_cast<const char*>(global.raw()) + shard_begin(i) * es, cols * es, static_cast<char*>(out.raw()),
               lc * es, rows, lc * es);
  }
  return out;
}

Tensor ParamTable::from_shards(int i, const Tensor& gathered) const {
  const ParamSpec& s = specs_[size_t(i)];
  const int64_t n = numel(i);
  MOR_CHECK(gathered.numel() == n * tp_.count && gathered.device().is_cpu(), "from_shards of ", s.name, ": ",
            gathered.numel(), " elements");
  if (!sharded(i) || s.tp_axis == 0) return gathered.view(0, s.shape).clone();  // row slices concatenate
  Tensor out = Tensor::empty(s.shape, gathered.dtype());
  const int64_t es = int64_t(dtype_size(gathered.dtype()));
  const int64_t rows = s.shape[0], cols = s.shape[1], lc = local_shapes_[size_t(i)][1];
  for (int k = 0; k < tp_.count; ++k)
    copy_block(static_cast<const char*>(gathered.raw()) + k * n * es, lc * es,
               static_cast<char*>(out.raw()) + k * lc * es, cols * es, rows, lc * es);
  return out;
}

void ParamTable::finalize(Device device, DType dtype) {
  MOR_CHECK(!finalized_, "ParamTable::finalize twice");
  // Local shapes and offsets: packed, so back-to-back parameters form fused matrices on every shard.
  total_ = 0;
  for (const ParamSpec& s : specs_) {
    Shape ls = s.shape;
    if (tp_.count > 1 && s.tp_axis >= 0) {
      int64_t& dim = ls[size_t(s.tp_axis)];
      if (dim % tp_.count != 0)
        fail_input("parameter ", s.name, " ", shape_str(s.shape), ": dim ", s.tp_axis, " does not split into ", tp_.count,
                   " tensor-parallel shards. Hint: choose dist.tp from the divisors of the heads, d_ff and vocab_size.");
      dim /= tp_.count;
    }
    offsets_.push_back(total_);
    total_ += shape_numel(ls);
    local_shapes_.push_back(std::move(ls));
  }
  values_ = Tensor::zeros({total_}, dtype, device);
  grads_ = Tensor::zeros({total_}, dtype, device);
  for (size_t i = 0; i < specs_.size(); ++i) {
    const Shape& s = local_shapes_[i];
    vars_.push_back(ad::make_param_var(values_.view(offsets_[i], s), grads_.view(offsets_[i], s)));
    vars_.back()->requires_grad = specs_[i].trainable;
  }
  finalized_ = true;
}

void ParamTable::initialize(uint64_t seed) {
  MOR_CHECK(finalized_, "initialize needs a finalized table");
  for (size_t i = 0; i < specs_.size(); ++i) {
    // The global tensor, then this shard's slice of it: the same weights under every layout.
    const int64_t n = shape_numel(specs_[i].shape);
    std::vector<double> v(static_cast<size_t>(n), specs_[i].init == ParamInit::Ones ? 1.0 : 0.0);
    if (specs_[i].init == ParamInit::Normal) {
      Rng rng(seed, specs_[i].name);
      for (double& x : v) x = double(float(specs_[i].std * rng.normal()));  // same values in f32 and f64
    }
    Tensor global = Tensor::from_vector(v, specs_[i].shape).to_dtype(values_.dtype());
    vars_[i]->value.copy_from(sharded(int(i)) ? local_slice(int(i), global) : global);  // an upload off the CPU
  }
  // The f64 and f32 staging tensors above (one pair per parameter shape, the embedding's among
  // them) would otherwise stay cached for the whole run without ever being reused.
  memory_release_cached(Device::cpu());
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
  Shape s = local_shapes_[size_t(first)];
  int64_t rows = 0;
  for (int i = first; i <= last; ++i) {
    const Shape& si = local_shapes_[size_t(i)];
    MOR_CHECK(si.size() == s.size() && std::equal(si.begin() + 1, si.end(), s.begin() + 1),
              "view_rows: ", specs_[size_t(i)].name, " does not stack with ", specs_[size_t(first)].name);
    rows += si[0];
  }
  s[0] = rows;
  return ad::make_param_var(values_.view(offsets_[size_t(first)], s), grads_.view(offsets_[size_t(first)], s));
}

void ParamTable::zero_grads() { grads_.zero_(); }

}  // namespace mor
