#include "proxy/common/hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace switchyard::common {
namespace {

TEST(SeededHashTest, DependsOnEveryByteTheLengthAndTheSeed) {
  // Every length from 0 to 40 (all tail paths, one and two blocks) and every single-byte change.
  std::set<uint64_t> seen;
  size_t made = 0;
  for (size_t n = 0; n <= 40; ++n) {
    std::string key(n, 'a');
    seen.insert(seededHash(key, 1));
    ++made;
    for (size_t i = 0; i < n; ++i) {
      std::string changed = key;
      changed[i] = 'b';
      seen.insert(seededHash(changed, 1));
      ++made;
    }
  }
  EXPECT_EQ(seen.size(), made);
  // Zero bytes count: "a" and "a\0" differ.
  EXPECT_NE(seededHash(std::string_view("a", 1), 1), seededHash(std::string_view("a\0", 2), 1));
  // The same key under another seed lands elsewhere; the same seed is stable.
  EXPECT_NE(seededHash("198.51.100.7", 1), seededHash("198.51.100.7", 2));
  EXPECT_EQ(seededHash("198.51.100.7", 3), seededHash("198.51.100.7", 3));
}

TEST(SeededHashTest, SpreadsSimilarKeysOverTheLowBits) {
  // Addresses of one /24 fill a 256-slot table's low bits almost evenly, as a hash table needs.
  std::set<uint64_t> slots;
  for (int i = 0; i < 256; ++i) {
    slots.insert(seededHash("10.0.0." + std::to_string(i), 42) & 255);
  }
  EXPECT_GT(slots.size(), 140u);  // a random function fills ~162 of 256
}

}  // namespace
}  // namespace switchyard::common
