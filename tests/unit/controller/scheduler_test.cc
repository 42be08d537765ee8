#include "scheduler.h"

#include <gtest/gtest.h>

namespace oriel::controller {
namespace {

HostLoad host(std::string id, int64_t cpus, int64_t mem, int64_t used_cpus, int64_t used_mem,
              std::string state = "ready") {
  store::HostRecord h;
  h.id = id;
  h.name = id;
  h.state = std::move(state);
  h.cpus = cpus;
  h.memory_mb = mem;
  return {h, used_cpus, used_mem};
}

TEST(SchedulerTest, SpreadPicksTheLeastLoadedAndPackTheFullestThatFits) {
  std::vector<HostLoad> hosts = {host("a", 4, 8192, 8, 2048), host("b", 4, 8192, 2, 1024),
                                 host("c", 4, 8192, 15, 4096)};
  Scheduler spread({4.0, 1.0, PlacementPolicy::kSpread});
  Scheduler pack({4.0, 1.0, PlacementPolicy::kPack});
  EXPECT_EQ(spread.place(hosts, {1, 1024}).value(), "b");
  EXPECT_EQ(pack.place(hosts, {1, 1024}).value(), "c");  // 16 of 16 vCPUs: fits exactly
  EXPECT_EQ(pack.place(hosts, {2, 1024}).value(), "a");  // c has no room for two
}

TEST(SchedulerTest, NeverPlacesPastTheOvercommitRatio) {
  Scheduler s({2.0, 1.0, PlacementPolicy::kSpread});
  std::vector<HostLoad> hosts = {host("a", 2, 4096, 3, 1024)};
  EXPECT_TRUE(s.place(hosts, {1, 1024}).ok());
  auto full = s.place(hosts, {2, 1024});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(full.error().message().find("limit 4"), std::string::npos) << full.error().message();
  auto memory = s.place(hosts, {1, 4000});
  EXPECT_EQ(memory.error().code(), ErrorCode::kUnavailable);
}

TEST(SchedulerTest, TooLargeForEveryHostIsUnprocessable) {
  Scheduler s({4.0, 1.0, PlacementPolicy::kSpread});
  auto r = s.place({host("a", 2, 4096, 0, 0)}, {16, 1024});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnprocessable);
}

TEST(SchedulerTest, SkipsHostsThatAreNotReady) {
  Scheduler s({4.0, 1.0, PlacementPolicy::kSpread});
  std::vector<HostLoad> hosts = {host("a", 8, 8192, 0, 0, "maintenance"), host("b", 2, 2048, 0, 0)};
  EXPECT_EQ(s.place(hosts, {1, 512}).value(), "b");
  auto none = s.place({host("a", 8, 8192, 0, 0, "down")}, {1, 512});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(none.error().message().find("no host is ready"), std::string::npos);
}

}  // namespace
}  // namespace oriel::controller
