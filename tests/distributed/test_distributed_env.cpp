#include <gtest/gtest.h>

#include <map>
#include <string>

#include "train/distributed_env.h"
#include "train/distributed_sampler.h"

namespace qf::train {
namespace {

std::map<std::string, std::string> g_env;
const char* fake_get(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

TEST(DistributedEnv, NoWorldSizeIsASingleProcess) {
  g_env = {{"RANK", "3"}};
  const DistributedEnv e = distributed_env_from(fake_get);
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.rank, 0);
}

TEST(DistributedEnv, ReadsTorchrunVariables) {
  g_env = {{"WORLD_SIZE", "4"}, {"RANK", "2"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.7"},
           {"MASTER_PORT", "29511"}, {"QFORGE_DIST_TIMEOUT_S", "7"}};
  const DistributedEnv e = distributed_env_from(fake_get);
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_EQ(e.timeout.count(), 7000);
}

TEST(DistributedEnv, BadValuesNameTheVariable) {
  for (const auto& bad : std::vector<std::map<std::string, std::string>>{
           {{"WORLD_SIZE", "2"}},                                        // RANK missing
           {{"WORLD_SIZE", "2"}, {"RANK", "2"}},                         // rank out of range
           {{"WORLD_SIZE", "two"}, {"RANK", "0"}},                       // not a number
           {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "0"}}}) {  // port out of range
    g_env = bad;
    try {
      distributed_env_from(fake_get);
      ADD_FAILURE() << "accepted a bad environment";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("RANK") != std::string::npos || what.find("WORLD_SIZE") != std::string::npos ||
                  what.find("MASTER_PORT") != std::string::npos)
          << what;
    }
  }
}

TEST(DistributedSampler, ShardsPartitionTheBatchInOrder) {
  for (int64_t n : {5, 32, 33}) {
    for (int world : {1, 2, 3, 5}) {
      if (n < world) continue;
      std::vector<int64_t> items(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) items[static_cast<size_t>(i)] = 100 + i;
      std::vector<int64_t> joined;
      for (int r = 0; r < world; ++r) {
        const auto part = shard_of(items, Shard{r, world});
        EXPECT_GE(static_cast<int64_t>(part.size()), n / world);
        EXPECT_LE(static_cast<int64_t>(part.size()), n / world + 1);
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, items) << "n " << n << " world " << world;
    }
  }
  EXPECT_THROW(shard_bounds(1, Shard{0, 2}), std::invalid_argument);
}

}  // namespace
}  // namespace qf::train
