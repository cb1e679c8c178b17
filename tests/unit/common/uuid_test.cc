#include "proxy/common/uuid.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <set>
#include <string>
#include <unordered_set>

#include "proxy/common/random.h"

namespace switchyard::common {
namespace {

bool isLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void expectUuidV4Format(const std::string& id) {
  ASSERT_EQ(id.size(), 36u) << id;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ(id[i], '-') << id;
    } else {
      EXPECT_TRUE(isLowerHex(id[i])) << id << " at " << i;
    }
  }
  EXPECT_EQ(id[14], '4') << id;
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
}

TEST(UuidV4Test, Format) {
  SeededRandom random(1);
  for (int i = 0; i < 1000; ++i) expectUuidV4Format(uuidV4(random));
}

TEST(UuidV4Test, FormatWithExtremeRandomBits) {
  struct Constant : Random {
    explicit Constant(uint64_t v) : v_(v) {}
    uint64_t next() override { return v_; }
    uint64_t v_;
  };
  Constant zeros(0);
  EXPECT_EQ(uuidV4(zeros), "00000000-0000-4000-8000-000000000000");
  Constant ones(~uint64_t{0});
  EXPECT_EQ(uuidV4(ones), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  Constant digits(0x0123456789abcdefULL);  // every hex digit, in order
  EXPECT_EQ(uuidV4(digits), "01234567-89ab-4def-8123-456789abcdef");
}

TEST(UuidV4Test, UsesTheRandomBitsInOrder) {
  SeededRandom reference(7);
  uint64_t hi = reference.next();
  uint64_t lo = reference.next();
  hi = (hi & ~uint64_t{0xf000}) | 0x4000;
  lo = (lo & (~uint64_t{0} >> 2)) | (uint64_t{1} << 63);
  char expected[37];
  std::snprintf(expected, sizeof(expected),
                "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, hi >> 32,
                (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & uint64_t{0xffffffffffff});

  SeededRandom random(7);
  EXPECT_EQ(uuidV4(random), expected);
}

TEST(UuidV4Test, UniqueOverTenThousand) {
  SeededRandom random(2024);
  std::unordered_set<std::string> seen;
  std::set<char> variants;
  for (int i = 0; i < 10000; ++i) {
    std::string id = uuidV4(random);
    variants.insert(id[19]);
    EXPECT_TRUE(seen.insert(std::move(id)).second);
  }
  EXPECT_EQ(seen.size(), 10000u);
  EXPECT_EQ(variants, (std::set<char>{'8', '9', 'a', 'b'}));
}

TEST(UuidV4Test, DeterministicForTheSameSeed) {
  SeededRandom a(99);
  SeededRandom b(99);
  SeededRandom c(100);
  for (int i = 0; i < 100; ++i) {
    std::string from_a = uuidV4(a);
    EXPECT_EQ(from_a, uuidV4(b));
    EXPECT_NE(from_a, uuidV4(c));
  }
}

}  // namespace
}  // namespace switchyard::common
