#include "proxy/common/shared_spin_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace switchyard::common {
namespace {

// Writers change two plain fields together; readers must never see them apart. Run under TSan,
// this also shows that the lock orders the plain accesses.
TEST(SharedSpinLockTest, ReadersNeverSeeAWriteHalfDone) {
  SharedSpinLock lock;
  int64_t a = 0;
  int64_t b = 0;
  constexpr int Writes = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> torn{0};
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < Writes; ++i) {
        std::unique_lock guard(lock);
        ++a;
        ++b;
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      for (int i = 0; i < Writes; ++i) {
        std::shared_lock guard(lock);
        if (a != b) torn.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(a, 2 * Writes);
  EXPECT_EQ(b, 2 * Writes);
}

TEST(SharedSpinLockTest, ReadersShareIt) {
  SharedSpinLock lock;
  std::shared_lock first(lock);
  std::shared_lock second(lock);  // would never return if readers excluded each other
  EXPECT_TRUE(first.owns_lock());
  EXPECT_TRUE(second.owns_lock());
}

}  // namespace
}  // namespace switchyard::common
