#include "proxy/redis/backoff.h"

#include <gtest/gtest.h>

#include <chrono>

namespace switchyard::redis {
namespace {

using std::chrono::milliseconds;
using Ms = milliseconds;

TEST(RedisBackoffTest, DelaysDoubleUpToTheMaxWithJitterInTheUpperHalf) {
  const Ms base(100);
  const Ms max(5000);
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    common::SeededRandom random(seed);
    Ms step = base;
    for (uint32_t attempt = 0; attempt < 12; ++attempt) {
      const common::Duration d = reconnectDelay(attempt, base, max, random);
      EXPECT_GE(d, common::Duration(step) / 2) << "attempt " << attempt;
      EXPECT_LE(d, common::Duration(step)) << "attempt " << attempt;
      step = std::min(step * 2, max);
    }
  }
}

TEST(RedisBackoffTest, TheJitterSpreadsTheDelays) {
  common::SeededRandom random(3);
  common::Duration lowest = Ms(1000);
  common::Duration highest = Ms(0);
  for (int i = 0; i < 200; ++i) {
    const common::Duration d = reconnectDelay(3, Ms(100), Ms(5000), random);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  // Attempt 3: 800 ms, drawn from [400 ms, 800 ms].
  EXPECT_LT(lowest, Ms(450));
  EXPECT_GT(highest, Ms(750));
}

TEST(RedisBackoffTest, ManyAttemptsStayAtTheMax) {
  common::SeededRandom random(9);
  for (uint32_t attempt : {30u, 63u, 64u, 1000u, UINT32_MAX}) {
    const common::Duration d = reconnectDelay(attempt, Ms(100), Ms(5000), random);
    EXPECT_GE(d, Ms(2500));
    EXPECT_LE(d, Ms(5000));
  }
}

TEST(RedisBackoffTest, ABaseAboveTheMaxIsCapped) {
  common::SeededRandom random(1);
  EXPECT_LE(reconnectDelay(0, Ms(10000), Ms(1000), random), Ms(1000));
}

class RedisCooldownTest : public ::testing::Test {
 protected:
  common::MonotonicTime t0_{std::chrono::seconds(100)};
  common::MonotonicTime at(int ms) const { return t0_ + Ms(ms); }
};

TEST_F(RedisCooldownTest, TheThresholdthFailureStartsACooldown) {
  FailureCooldown c(3, Ms(1000));
  EXPECT_FALSE(c.onFailure(at(0)));
  EXPECT_FALSE(c.onFailure(at(10)));
  EXPECT_FALSE(c.coolingDown(at(10)));
  EXPECT_TRUE(c.onFailure(at(20)));
  EXPECT_EQ(c.consecutiveFailures(), 3u);
  EXPECT_TRUE(c.coolingDown(at(20)));
  EXPECT_TRUE(c.coolingDown(at(1019)));
  EXPECT_FALSE(c.coolingDown(at(1020)));
  EXPECT_EQ(c.until(), at(1020));
}

TEST_F(RedisCooldownTest, AFailureDuringACooldownDoesNotExtendIt) {
  FailureCooldown c(2, Ms(1000));
  c.onFailure(at(0));
  ASSERT_TRUE(c.onFailure(at(0)));
  EXPECT_FALSE(c.onFailure(at(500)));
  EXPECT_EQ(c.until(), at(1000));
  EXPECT_EQ(c.consecutiveFailures(), 3u);
}

TEST_F(RedisCooldownTest, AfterTheCooldownOneFailureStartsAnother) {
  FailureCooldown c(3, Ms(1000));
  for (int i = 0; i < 3; ++i) c.onFailure(at(0));
  ASSERT_FALSE(c.coolingDown(at(1000)));
  EXPECT_TRUE(c.onFailure(at(1000)));
  EXPECT_TRUE(c.coolingDown(at(1500)));
  EXPECT_EQ(c.until(), at(2000));
}

TEST_F(RedisCooldownTest, ASuccessEndsTheStreakAndTheCooldown) {
  FailureCooldown c(3, Ms(1000));
  c.onFailure(at(0));
  c.onFailure(at(0));
  c.onSuccess();
  EXPECT_EQ(c.consecutiveFailures(), 0u);
  EXPECT_FALSE(c.onFailure(at(1)));
  EXPECT_FALSE(c.onFailure(at(2)));
  EXPECT_TRUE(c.onFailure(at(3)));
  c.onSuccess();
  EXPECT_FALSE(c.coolingDown(at(4)));
  EXPECT_FALSE(c.onFailure(at(5)));
}

TEST_F(RedisCooldownTest, ThresholdZeroNeverCoolsDown) {
  FailureCooldown c(0, Ms(1000));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(c.onFailure(at(i)));
  EXPECT_FALSE(c.coolingDown(at(100)));
  EXPECT_EQ(c.consecutiveFailures(), 100u);
}

}  // namespace
}  // namespace switchyard::redis
