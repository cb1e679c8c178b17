#include "proxy/common/rfc3339.h"

#include <gtest/gtest.h>

#include <chrono>

namespace switchyard::common {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(1767225600))), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(1767225599) + milliseconds(999))),
            "2025-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(4107542399))), "2100-02-28T23:59:59.000Z");
}

TEST(Rfc3339Test, TruncatesToTheMillisecond) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(59) + nanoseconds(999999999))),
            "1970-01-01T00:00:59.999Z");
}

TEST(Rfc3339Test, BeforeTheEpoch) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime(milliseconds(-1))), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(milliseconds(-1000))), "1969-12-31T23:59:59.000Z");
}

}  // namespace
}  // namespace switchyard::common
