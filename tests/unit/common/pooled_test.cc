#include "proxy/common/pooled.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace switchyard::common {
namespace {

struct Small : ThreadPooled {
  char bytes[20];
};

struct Large : ThreadPooled {
  char bytes[5000];  // beyond the pooled sizes: always the allocator's
};

struct Base : ThreadPooled {
  virtual ~Base() = default;
};

struct Derived final : Base {
  char bytes[100];
};

TEST(ThreadPooledTest, AFreedBlockIsReusedForTheNextObjectOfItsSize) {
  auto* a = new Small;
  void* where = a;
  delete a;
  auto* b = new Small;
  if (SWITCHYARD_POOLED_ALLOCATION) {
    EXPECT_EQ(static_cast<void*>(b), where);
  }
  memset(b->bytes, 'x', sizeof(b->bytes));
  delete b;
}

TEST(ThreadPooledTest, ObjectsDeletedThroughABaseUseTheirOwnSize) {
  std::vector<std::unique_ptr<Base>> objects;
  for (int i = 0; i < 100; ++i) objects.push_back(std::make_unique<Derived>());
  for (auto& o : objects) memset(static_cast<Derived*>(o.get())->bytes, 'y', 100);
  objects.clear();
  // The blocks came back in Derived's size class: new Derived objects fit them.
  for (int i = 0; i < 100; ++i) objects.push_back(std::make_unique<Derived>());
  for (auto& o : objects) memset(static_cast<Derived*>(o.get())->bytes, 'z', 100);
}

TEST(ThreadPooledTest, LargeObjectsAndContainersWork) {
  auto large = std::make_unique<Large>();
  memset(large->bytes, 'l', sizeof(large->bytes));
  std::vector<int, PoolAllocator<int>> v;
  for (int i = 0; i < 10000; ++i) v.push_back(i);  // grows through pooled and large blocks
  EXPECT_EQ(v[9999], 9999);
}

TEST(ThreadPooledTest, BlocksMayBeFreedOnAnotherThreadAndThreadsExitCleanly) {
  std::vector<Small*> made;
  std::thread maker([&] {
    for (int i = 0; i < 1000; ++i) made.push_back(new Small);
    // This thread's cached blocks are released when it exits.
    for (int i = 0; i < 10; ++i) delete new Small;
  });
  maker.join();
  for (Small* s : made) delete s;  // into this thread's lists (bounded), the rest freed
  std::thread user([] {
    std::vector<Small*> mine;
    for (int i = 0; i < 1000; ++i) mine.push_back(new Small);
    for (Small* s : mine) delete s;
  });
  user.join();
}

}  // namespace
}  // namespace switchyard::common
