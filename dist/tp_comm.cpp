// Tensor-parallel handle over a Communicator; see tp_comm.h.
#include "tp_comm.h"

#include <sstream>
#include <vector>

#include "comm_timer.h"
#include "src/core/error.h"

namespace mor::dist {

CommTpGroup::CommTpGroup(Communicator& comm, bool check_selection, Communicator* device_comm)
    : comm_(comm), device_comm_(device_comm), check_(check_selection) {
  MOR_CHECK(!device_comm || (device_comm->size() == comm.size() && device_comm->rank() == comm.rank()),
            "CommTpGroup: the device communicator is not the same group");
}

Communicator& CommTpGroup::serving(const Tensor& t) const {
  return device_comm_ && t.device() == device_comm_->device() ? *device_comm_ : comm_;
}

template <typename F>
void CommTpGroup::run(const Tensor& t, F&& collective) {
  Communicator& c = serving(t);
  if (&c == &comm_) return collective(c);
  device_synchronize(t.device());  // the kernels that produced t, on the compute stream
  collective(c);
  c.synchronize();  // NCCL's own stream
}

void CommTpGroup::all_reduce_sum(Tensor& t) {
  if (comm_.size() == 1) return;
  CommTimer timer(comm_s_);
  run(t, [&](Communicator& c) { c.all_reduce(t, ReduceOp::Sum); });
}

void CommTpGroup::all_reduce_max(Tensor& t) {
  if (comm_.size() == 1) return;
  CommTimer timer(comm_s_);
  run(t, [&](Communicator& c) { c.all_reduce(t, ReduceOp::Max); });
}

void CommTpGroup::all_gather(const Tensor& in, Tensor& out) {
  CommTimer timer(comm_s_);
  Tensor flat = out.reshape({out.numel()});
  run(in, [&](Communicator& c) { c.all_gather(in.reshape({in.numel()}), flat); });
}

uint64_t tensor_hash(const Tensor& t) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char* p = static_cast<const unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void CommTpGroup::check_identical(const Tensor& t, const std::string& what) {
  if (!check_ || comm_.size() == 1) return;
  CommTimer timer(comm_s_);
  const int n = comm_.size();
  const Tensor host = t.host();
  std::vector<int64_t> mine{int64_t(tensor_hash(host)), t.numel()}, all(size_t(2 * n));
  comm_.all_gather(mine.data(), all.data(), 2, DType::I64);
  bool same = true;
  for (int r = 1; r < n; ++r) same = same && all[size_t(2 * r)] == all[0] && all[size_t(2 * r + 1)] == all[1];
  if (same) return;
  std::ostringstream os;
  for (int r = 0; r < n; ++r)
    os << (r ? "; " : "") << "tp rank " << r << ": " << all[size_t(2 * r + 1)] << " elements, hash " << std::hex
       << uint64_t(all[size_t(2 * r)]) << std::dec;
  fail_internal("tensor-parallel ranks disagree on ", what, " (", os.str(),
                "). The replicated routers must select bit-identically on every TP rank (dist.check_tp_selection). "
                "Hint: this is a bug; rerun with dist.tp: 1 and report the config.");
}

double CommTpGroup::take_comm_seconds() {
  const double s = comm_s_;
  comm_s_ = 0;
  return s;
}

}  // namespace mor::dist
