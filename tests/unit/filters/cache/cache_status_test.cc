#include "filters/cache/cache_status.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace switchyard::filters::cache {
namespace {

TEST(CacheStatusTest, TheShapesOfRfc9211) {
  CacheStatus hit;
  hit.hit = true;
  hit.ttl = 41;
  EXPECT_EQ(formatCacheStatus(hit), "Switchyard; hit; ttl=41");

  CacheStatus stored;
  stored.fwd = Forward::UriMiss;
  stored.stored = true;
  EXPECT_EQ(formatCacheStatus(stored), "Switchyard; fwd=uri-miss; stored");

  CacheStatus collapsed;
  collapsed.fwd = Forward::Miss;
  collapsed.collapsed = true;
  EXPECT_EQ(formatCacheStatus(collapsed), "Switchyard; fwd=miss; collapsed");

  CacheStatus stale;
  stale.fwd = Forward::Stale;
  stale.fwd_status = 503;
  stale.ttl = -12;
  stale.detail = "stale-if-error";
  EXPECT_EQ(formatCacheStatus(stale),
            "Switchyard; fwd=stale; fwd-status=503; ttl=-12; detail=stale-if-error");

  CacheStatus bypass;
  bypass.fwd = Forward::Bypass;
  EXPECT_EQ(formatCacheStatus(bypass), "Switchyard; fwd=bypass");
  bypass.fwd = Forward::VaryMiss;
  EXPECT_EQ(formatCacheStatus(bypass), "Switchyard; fwd=vary-miss");
  bypass.fwd = Forward::Request;
  EXPECT_EQ(formatCacheStatus(bypass), "Switchyard; fwd=request");
  bypass.fwd = Forward::Method;
  EXPECT_EQ(formatCacheStatus(bypass), "Switchyard; fwd=method");
}

TEST(CacheStatusTest, OursComesAfterTheCachesUpstream) {
  CacheStatus hit;
  hit.hit = true;
  EXPECT_EQ(appendCacheStatus("", hit), "Switchyard; hit");
  EXPECT_EQ(appendCacheStatus("OriginCache; hit; ttl=1100", hit),
            "OriginCache; hit; ttl=1100, Switchyard; hit");
  EXPECT_EQ(appendCacheStatus("OriginCache; hit, ", hit), "OriginCache; hit, Switchyard; hit");
}

TEST(CacheStatusTest, TheLongestValueFitsTheBuffer) {
  CacheStatus s;
  s.hit = true;
  s.fwd = Forward::VaryMiss;
  s.fwd_status = 999;
  s.ttl = std::numeric_limits<int64_t>::min();
  s.stored = true;
  s.collapsed = true;
  const std::string detail(100, 'd');
  s.detail = detail;
  char buf[CacheStatusMaxBytes];
  const std::string_view v = formatCacheStatus(s, buf);
  EXPECT_LE(v.size(), CacheStatusMaxBytes);
  EXPECT_TRUE(v.ends_with("; detail=" + std::string(32, 'd')));
  EXPECT_EQ(v.substr(0, 50), formatCacheStatus(s).substr(0, 50));
}

}  // namespace
}  // namespace switchyard::filters::cache
