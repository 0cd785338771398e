// Tensor construction, views, copies and conversions.
#include "tensor.h"

#include <atomic>
#include <cstring>
#include <sstream>

#include "bf16.h"

#ifdef MOR_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace mor {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    MOR_CHECK(d >= 0, "negative dimension in ", shape_str(s));
    n *= d;
  }
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.dtype_ = dtype;
  t.storage_ = Storage::allocate(size_t(t.numel_) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  t.fill_(value);
  return device.is_cpu() ? t : t.to(device);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& v, const Shape& shape) {
  Tensor t = empty(shape, DTypeOf<T>::value);
  MOR_CHECK(int64_t(v.size()) == t.numel_, "from_vector: ", v.size(), " values for shape ",
            shape_str(shape));
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}

Tensor Tensor::wrap(void* ptr, const Shape& shape, DType dtype, Device device,
                    std::shared_ptr<void> keepalive) {
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.dtype_ = dtype;
  t.storage_ = Storage::wrap(ptr, size_t(t.numel_) * dtype_size(dtype), device, std::move(keepalive));
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  MOR_CHECK(i >= 0 && i < n, "dim ", i, " out of range for shape ", shape_str(shape_));
  return shape_[size_t(i)];
}

void Tensor::fail_host_access() const {
  fail_internal("host access to a ", shape_str(shape_), " ", dtype_name(dtype_), " tensor on ", device().str(),
                ". Hint: this code must run through the kernel table (kernels/kernel_table.h) or copy the tensor "
                "explicitly with to(Device::cpu()).");
}

void* Tensor::raw() const {
  MOR_CHECK(storage_, "access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * int64_t(dtype_size(dtype_));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MOR_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = int(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MOR_CHECK(known > 0 && numel_ % known == 0, "reshape ", shape_str(shape_), " -> ", shape_str(shape));
    s[size_t(infer)] = numel_ / known;
  }
  MOR_CHECK(shape_numel(s) == numel_, "reshape ", shape_str(shape_), " -> ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  MOR_CHECK(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "rows(", begin, ", ", end,
            ") of ", shape_str(shape_));
  int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  Shape s = shape_;
  s[0] = end - begin;
  return view(begin * row, s);
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  int64_t n = shape_numel(shape);
  MOR_CHECK(offset >= 0 && offset + n <= numel_, "view at ", offset, " of ", shape_str(shape),
            " exceeds ", shape_str(shape_));
  Tensor t = *this;
  t.offset_ = offset_ + offset;
  t.shape_ = shape;
  t.numel_ = n;
  return t;
}

namespace {
std::atomic<int64_t> g_device_to_host{0};
}  // namespace

int64_t device_to_host_copies() { return g_device_to_host.load(std::memory_order_relaxed); }

void Tensor::copy_from(const Tensor& src) {
  MOR_CHECK(src.numel_ == numel_ && src.dtype_ == dtype_, "copy_from: ", shape_str(src.shape_), " ",
            dtype_name(src.dtype_), " into ", shape_str(shape_), " ", dtype_name(dtype_));
  if (numel_ == 0) return;
  if (device().is_cpu() && !src.device().is_cpu()) g_device_to_host.fetch_add(1, std::memory_order_relaxed);
  if (device().host_memory() && src.device().host_memory()) {  // the CPU and the test device
    std::memcpy(raw(), src.raw(), nbytes());
    return;
  }
#ifdef MOR_HAVE_CUDA
  cuda::copy_bytes(raw(), device().is_cuda(), src.raw(), src.device().is_cuda(), nbytes());
#else
  fail_internal("device copy needs a CUDA build");
#endif
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device d) const {
  Tensor t = empty(shape_, dtype_, d);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::host() const { return device().is_cpu() ? *this : to(Device::cpu()); }

Tensor Tensor::to_dtype(DType target) const {
  if (target == dtype_) return clone();
  if (!device().is_cpu()) return to(Device::cpu()).to_dtype(target).to(device());
  Tensor out = empty(shape_, target);
  auto get = [&](int64_t i) -> double {
    switch (dtype_) {
      case DType::F32: return static_cast<const float*>(raw())[i];
      case DType::F64: return static_cast<const double*>(raw())[i];
      case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(raw())[i]);
      case DType::I32: return static_cast<const int32_t*>(raw())[i];
      case DType::I64: return double(static_cast<const int64_t*>(raw())[i]);
    }
    return 0;
  };
  for (int64_t i = 0; i < numel_; ++i) {
    double v = get(i);
    switch (target) {
      case DType::F32: static_cast<float*>(out.raw())[i] = float(v); break;
      case DType::F64: static_cast<double*>(out.raw())[i] = v; break;
      case DType::BF16: static_cast<uint16_t*>(out.raw())[i] = f32_to_bf16(float(v)); break;
      case DType::I32: static_cast<int32_t*>(out.raw())[i] = int32_t(v); break;
      case DType::I64: static_cast<int64_t*>(out.raw())[i] = int64_t(v); break;
    }
  }
  return out;
}

void Tensor::zero_() {
  if (numel_ == 0) return;
  if (device().host_memory()) {
    std::memset(raw(), 0, nbytes());
    return;
  }
#ifdef MOR_HAVE_CUDA
  cuda::memset_zero(raw(), nbytes());
#endif
}

void Tensor::fill_(double value) {
  if (!device().is_cpu()) {
    copy_from(Tensor::full(shape_, value, dtype_));
    return;
  }
  for (int64_t i = 0; i < numel_; ++i) {
    switch (dtype_) {
      case DType::F32: static_cast<float*>(raw())[i] = float(value); break;
      case DType::F64: static_cast<double*>(raw())[i] = value; break;
      case DType::BF16: static_cast<uint16_t*>(raw())[i] = f32_to_bf16(float(value)); break;
      case DType::I32: static_cast<int32_t*>(raw())[i] = int32_t(value); break;
      case DType::I64: static_cast<int64_t*>(raw())[i] = int64_t(value); break;
    }
  }
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = host();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + numel_);
}

double Tensor::item() const {
  MOR_CHECK(numel_ == 1, "item() on a tensor of shape ", shape_str(shape_));
  const Tensor c = host();
  return c.to_dtype(DType::F64).data<double>()[0];  // c is on the host
}

template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

}  // namespace mor
