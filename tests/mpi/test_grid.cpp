// ProcessGrid on the world: every DP x TP layout the world size allows (1x2 and 2x1 on 2 ranks;
// 1x4, 2x2 and 4x1 on 4), with the members, order and collectives of each axis group checked
// in closed form from world ranks (world rank = dp_rank * tp + tp_rank).
#include <gtest/gtest.h>

#include <vector>

#include "dist/process_grid.h"
#include "dist/runtime.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

std::vector<int> tp_choices(int world) {
  std::vector<int> v;
  for (int t = 1; t <= world; ++t)
    if (world % t == 0) v.push_back(t);
  return v;
}

TEST(Grid, EveryLayoutHasTheRightGroups) {
  Communicator& w = world();
  const int me = w.rank();
  for (int tp : tp_choices(w.size())) {
    ProcessGrid g(w, tp);
    const int dp = w.size() / tp;
    SCOPED_TRACE(g.describe());
    EXPECT_EQ(g.dp_size(), dp);
    EXPECT_EQ(g.tp_rank(), me % tp);
    EXPECT_EQ(g.dp_rank(), me / tp);
    EXPECT_EQ(g.world_rank_of(g.dp_rank(), g.tp_rank()), me);
    EXPECT_EQ(g.tp().size(), tp);
    EXPECT_EQ(g.dp().size(), dp);
    EXPECT_EQ(g.tp().rank(), g.tp_rank());
    EXPECT_EQ(g.dp().rank(), g.dp_rank());
    EXPECT_EQ(g.tp().name(), "tp");
    EXPECT_EQ(g.dp().name(), "dp");

    // all_gather of world ranks lists each group's members in group-rank order.
    int64_t mine = me;
    std::vector<int64_t> tp_members(static_cast<size_t>(tp)), dp_members(static_cast<size_t>(dp));
    g.tp().all_gather(&mine, tp_members.data(), 1, DType::I64);
    g.dp().all_gather(&mine, dp_members.data(), 1, DType::I64);
    for (int t = 0; t < tp; ++t) EXPECT_EQ(tp_members[size_t(t)], g.world_rank_of(g.dp_rank(), t));
    for (int d = 0; d < dp; ++d) EXPECT_EQ(dp_members[size_t(d)], g.world_rank_of(d, g.tp_rank()));

    // Sums of world ranks over each axis: sum_t (d*tp + t) and sum_d (d*tp + t).
    const int64_t d = g.dp_rank(), t = g.tp_rank();
    EXPECT_EQ(g.tp().all_reduce_value(int64_t(me)), d * tp * tp + int64_t(tp) * (tp - 1) / 2);
    EXPECT_EQ(g.dp().all_reduce_value(int64_t(me)), int64_t(tp) * dp * (dp - 1) / 2 + dp * t);

    // Broadcast from the last member of each group; reduce_scatter over tp.
    int32_t b = me;
    g.dp().broadcast(&b, 1, DType::I32, dp - 1);
    EXPECT_EQ(b, g.world_rank_of(dp - 1, g.tp_rank()));
    b = me;
    g.tp().broadcast(&b, 1, DType::I32, tp - 1);
    EXPECT_EQ(b, g.world_rank_of(g.dp_rank(), tp - 1));
    std::vector<float> in(size_t(2 * tp), float(me)), out(2);
    g.tp().reduce_scatter(in.data(), out.data(), 2, DType::F32, ReduceOp::Max);
    EXPECT_EQ(out[1], float(g.world_rank_of(g.dp_rank(), tp - 1)));
  }
}

TEST(Grid, SubGroupsOfAGroupStillWork) {
  Communicator& w = world();
  // Split the world into even and odd ranks, then into the grid of that group.
  auto parity = w.split(w.rank() % 2, w.rank(), "parity");
  EXPECT_EQ(parity->size(), (w.size() + 1 - w.rank() % 2) / 2);
  EXPECT_EQ(parity->rank(), w.rank() / 2);
  ProcessGrid g(*parity, 1);
  EXPECT_EQ(g.dp().all_reduce_value(int64_t(1)), parity->size());
}

TEST(Grid, TpThatDoesNotDivideTheWorldIsBadInput) {
  Communicator& w = world();
  try {
    ProcessGrid g(w, w.size() + 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("does not divide the world size " + std::to_string(w.size())), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ProcessGrid(w, 0), Error);
}

}  // namespace
}  // namespace mor::dist
