#include "proxy/common/time.h"

#include <gtest/gtest.h>

#include <thread>

namespace switchyard::common {
namespace {

TEST(CachedClockScopeTest, ReadsInsideAScopeReturnTheTimeItBegan) {
  RealTimeSource time;
  MonotonicTime first;
  {
    CachedClockScope scope;
    first = time.monotonicNow();
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(time.monotonicNow(), first);
    {
      CachedClockScope nested;  // an inner scope keeps the outer one's time
      EXPECT_EQ(time.monotonicNow(), first);
    }
    EXPECT_EQ(time.monotonicNow(), first);
  }
  // Outside any scope the clock is read again, and never goes back.
  EXPECT_GE(time.monotonicNow(), first);
}

TEST(CachedClockScopeTest, AScopeCoversOnlyItsOwnThread) {
  RealTimeSource time;
  CachedClockScope scope;
  const MonotonicTime cached = time.monotonicNow();
  MonotonicTime other;
  bool other_cached = true;
  std::thread t([&] {
    const MonotonicTime a = time.monotonicNow();
    other = a;
    {
      CachedClockScope mine;
      other_cached = time.monotonicNow() == time.monotonicNow();
    }
  });
  t.join();
  EXPECT_GE(other, cached);
  EXPECT_TRUE(other_cached);
  EXPECT_EQ(time.monotonicNow(), cached);
}

TEST(CachedClockScopeTest, SimulatedTimeIgnoresScopes) {
  SimulatedTimeSource time;
  CachedClockScope scope;
  const MonotonicTime before = time.monotonicNow();
  time.advance(std::chrono::seconds(1));
  EXPECT_EQ(time.monotonicNow() - before, std::chrono::seconds(1));
}

}  // namespace
}  // namespace switchyard::common
