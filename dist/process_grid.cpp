// ProcessGrid and layout validation; see process_grid.h.
#include "process_grid.h"

#include <sstream>

#include "src/core/error.h"

namespace mor::dist {
namespace {

std::string join(const std::vector<int>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str();
}

}  // namespace

std::vector<int> valid_tp_values(int world, int64_t n_heads, int64_t n_kv_heads, int64_t d_ff, int64_t vocab) {
  std::vector<int> out;
  for (int t = 1; t <= world; ++t)
    if (world % t == 0 && n_heads % t == 0 && n_kv_heads % t == 0 && d_ff % t == 0 && vocab % t == 0) out.push_back(t);
  return out;
}

void validate_layout(int world, int tp, int64_t n_heads, int64_t n_kv_heads, int64_t d_ff, int64_t vocab) {
  if (world < 1) fail_internal("validate_layout: world size ", world);
  const std::string valid = join(valid_tp_values(world, n_heads, n_kv_heads, d_ff, vocab));
  if (tp < 1)
    fail_input("dist.tp=", tp, " must be at least 1. Hint: valid dist.tp values for this model on ", world,
               " rank(s): ", valid, ".");
  std::vector<std::string> bad;
  auto check = [&](int64_t v, const char* what) {
    if (v % tp != 0) bad.push_back(detail::concat(what, "=", v));
  };
  check(world, "the world size");
  check(n_heads, "model.n_heads");
  check(n_kv_heads, "model.n_kv_heads");
  check(d_ff, "model.d_ff");
  check(vocab, "model.vocab_size");
  if (bad.empty()) return;
  std::ostringstream os;
  for (size_t i = 0; i < bad.size(); ++i) os << (i ? (i + 1 == bad.size() ? " and " : ", ") : "") << bad[i];
  fail_input("dist.tp=", tp, " does not divide ", os.str(),
             " (tensor parallelism splits the heads, the FFN and the vocabulary evenly and needs world = dp * tp). "
             "Hint: valid dist.tp values for this model on ",
             world, " rank(s): ", valid, ".");
}

ProcessGrid::ProcessGrid(Communicator& world, int tp) : world_(world), tp_(tp), dp_(0) {
  if (tp < 1 || world.size() % tp != 0)
    fail_input("dist.tp=", tp, " does not divide the world size ", world.size(),
               ". Hint: launch a multiple of ", tp < 1 ? 1 : tp, " ranks, or choose dist.tp from the divisors of ",
               world.size(), ".");
  dp_ = world.size() / tp;
  // Same dp_rank -> one tp group, ordered by tp_rank; same tp_rank -> one dp group.
  tp_group_ = world.split(dp_rank(), tp_rank(), "tp");
  dp_group_ = world.split(tp_rank(), dp_rank(), "dp");
  MOR_CHECK(tp_group_->size() == tp_ && dp_group_->size() == dp_, "grid split gave tp ", tp_group_->size(), ", dp ",
            dp_group_->size());
}

std::string ProcessGrid::describe() const {
  return detail::concat("dp ", dp_, " x tp ", tp_, " (", world_.size(), " rank", world_.size() == 1 ? "" : "s", ")");
}

}  // namespace mor::dist
