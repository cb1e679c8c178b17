#include "filters/cache/freshness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

#include "filters/cache/cache_control.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

using common::SystemTime;

http::HeaderMap headersOf(std::initializer_list<std::pair<std::string_view, std::string_view>> l) {
  http::HeaderMap map;
  for (const auto& [name, value] : l) map.add(name, value);
  return map;
}

// 2026-01-01T00:00:00Z, "Thu, 01 Jan 2026 00:00:00 GMT".
const SystemTime T{seconds(1767225600)};

ResponseCacheControl rcc(std::string_view value) { return parseResponseCacheControl(value); }
RequestCacheControl qcc(std::string_view value) { return parseRequestCacheControl(value); }

Expires expiresAt(SystemTime t) { return {Expires::Kind::Date, t}; }
const Expires NoExpires{};
const Expires InvalidExpires{Expires::Kind::Invalid, {}};

// ---- the date fields ----

TEST(ExpiresTest, Parsed) {
  const Expires e = parseExpires(headersOf({{"expires", "Thu, 01 Jan 2026 01:00:00 GMT"}}), T);
  EXPECT_EQ(e.kind, Expires::Kind::Date);
  EXPECT_EQ(e.date, T + hours(1));
  EXPECT_EQ(parseExpires(http::HeaderMap(), T).kind, Expires::Kind::Absent);
  // The obsolete forms count, and blanks around the value do not matter.
  EXPECT_EQ(parseExpires(headersOf({{"expires", " Thursday, 01-Jan-26 01:00:00 GMT "}}), T).date,
            T + hours(1));
  EXPECT_EQ(parseExpires(headersOf({{"expires", "Thu Jan  1 01:00:00 2026"}}), T).date,
            T + hours(1));
}

TEST(ExpiresTest, InvalidMeansAlreadyExpired) {
  for (const char* value : {"0", "-1", "", "never", "Thu, 01 Jan 2026 01:00:00 UTC",
                            "2026-01-01T01:00:00Z", "Thu, 32 Jan 2026 01:00:00 GMT"}) {
    const Expires e = parseExpires(headersOf({{"expires", value}}), T);
    EXPECT_EQ(e.kind, Expires::Kind::Invalid) << '"' << value << '"';
  }
}

TEST(ExpiresTest, SeveralLines) {
  const char* date = "Thu, 01 Jan 2026 01:00:00 GMT";
  EXPECT_EQ(parseExpires(headersOf({{"expires", date}, {"expires", date}}), T).kind,
            Expires::Kind::Date);
  // Two different values: which one is right? Neither (stale).
  EXPECT_EQ(
      parseExpires(headersOf({{"expires", date}, {"expires", "Thu, 01 Jan 2026 02:00:00 GMT"}}), T)
          .kind,
      Expires::Kind::Invalid);
  EXPECT_EQ(parseExpires(headersOf({{"expires", "0"}, {"expires", date}}), T).kind,
            Expires::Kind::Invalid);
}

TEST(DateFieldTest, FirstLineWhenValid) {
  EXPECT_EQ(parseDateField(headersOf({{"date", "Thu, 01 Jan 2026 00:00:00 GMT"}}), "date", T), T);
  EXPECT_EQ(parseDateField(headersOf({{"date", "Thu, 01 Jan 2026 00:00:00 GMT"},
                                      {"date", "Thu, 01 Jan 2026 05:00:00 GMT"}}),
                           "date", T),
            T);
  EXPECT_EQ(parseDateField(headersOf({{"date", "yesterday"}}), "date", T), std::nullopt);
  EXPECT_EQ(parseDateField(http::HeaderMap(), "date", T), std::nullopt);
  EXPECT_EQ(parseDateField(headersOf({{"last-modified", "Wed, 31 Dec 2025 00:00:00 GMT"}}),
                           "last-modified", T),
            T - hours(24));
}

TEST(AgeTest, DeltaSeconds) {
  EXPECT_EQ(parseAge(headersOf({{"age", "0"}})), seconds(0));
  EXPECT_EQ(parseAge(headersOf({{"age", "100"}})), seconds(100));
  EXPECT_EQ(parseAge(headersOf({{"age", " 100 "}})), seconds(100));
  EXPECT_EQ(parseAge(http::HeaderMap()), std::nullopt);
  EXPECT_EQ(parseAge(headersOf({{"age", "99999999999999999999"}})), MaxDeltaSeconds);
}

TEST(AgeTest, InvalidValuesAreIgnored) {
  for (const char* value : {"", "-1", "1.5", "abc", "+5", "5s", "0x10", "\"5\""}) {
    EXPECT_EQ(parseAge(headersOf({{"age", value}})), std::nullopt) << '"' << value << '"';
  }
}

TEST(AgeTest, FirstValidOfSeveral) {
  EXPECT_EQ(parseAge(headersOf({{"age", "abc"}, {"age", "10"}, {"age", "20"}})), seconds(10));
  EXPECT_EQ(parseAge(headersOf({{"age", "5, 7"}})), seconds(5));
  EXPECT_EQ(parseAge(headersOf({{"age", "-3, 7"}})), seconds(7));
  EXPECT_EQ(parseAge(headersOf({{"age", "30"}, {"age", "-1"}})), seconds(30));
}

// ---- freshness lifetime ----

const HeuristicPolicy Heuristic{};

Freshness lifetimeOf(std::string_view cache_control, std::optional<SystemTime> date,
                     const Expires& expires, std::optional<SystemTime> last_modified = {},
                     int status = 200, SystemTime response_time = T,
                     const HeuristicPolicy& heuristic = Heuristic) {
  return freshnessLifetime(rcc(cache_control), date, expires, last_modified, status, response_time,
                           heuristic);
}

TEST(FreshnessLifetimeTest, SMaxAgeThenMaxAgeThenExpires) {
  const Expires in_an_hour = expiresAt(T + hours(1));
  Freshness f = lifetimeOf("s-maxage=10, max-age=20", T, in_an_hour);
  EXPECT_EQ(f.lifetime, seconds(10));
  EXPECT_EQ(f.source, FreshnessSource::SMaxAge);
  f = lifetimeOf("max-age=20", T, in_an_hour);
  EXPECT_EQ(f.lifetime, seconds(20));
  EXPECT_EQ(f.source, FreshnessSource::MaxAge);
  f = lifetimeOf("", T, in_an_hour);
  EXPECT_EQ(f.lifetime, seconds(3600));
  EXPECT_EQ(f.source, FreshnessSource::Expires);
  // max-age wins even when it is shorter, or zero.
  EXPECT_EQ(lifetimeOf("max-age=0", T, in_an_hour).lifetime, seconds(0));
  // s-maxage wins even when max-age is longer.
  EXPECT_EQ(lifetimeOf("max-age=600, s-maxage=0", T, in_an_hour).lifetime, seconds(0));
}

TEST(FreshnessLifetimeTest, MalformedMaxAgeIsStale) {
  const Freshness f = lifetimeOf("max-age=abc", T, expiresAt(T + hours(1)));
  EXPECT_EQ(f.lifetime, seconds(0));
  EXPECT_EQ(f.source, FreshnessSource::MaxAge);
  EXPECT_EQ(lifetimeOf("max-age=10, max-age=20", T, NoExpires).lifetime, seconds(0));
}

TEST(FreshnessLifetimeTest, ExpiresMinusDate) {
  // The origin's Date, not our clock: Date T, received 10 s later, Expires T + 100: 100 s of
  // lifetime (the 10 s show up in the age instead).
  EXPECT_EQ(lifetimeOf("", T, expiresAt(T + seconds(100)), {}, 200, T + seconds(10)).lifetime,
            seconds(100));
  // Expires before Date: expired.
  EXPECT_EQ(lifetimeOf("", T, expiresAt(T - seconds(1))).lifetime, seconds(0));
  EXPECT_EQ(lifetimeOf("", T, expiresAt(T)).lifetime, seconds(0));
  // Whole seconds: a Date with a fraction (ours, when we added it) does not shave a second off.
  EXPECT_EQ(lifetimeOf("", T + milliseconds(999), expiresAt(T + seconds(60))).lifetime,
            seconds(60));
}

TEST(FreshnessLifetimeTest, ExpiresWithoutDateCountsFromTheResponseTime) {
  const SystemTime received = T + seconds(30);
  EXPECT_EQ(lifetimeOf("", std::nullopt, expiresAt(T + seconds(100)), {}, 200, received).lifetime,
            seconds(70));
}

TEST(FreshnessLifetimeTest, InvalidExpiresIsAlreadyExpired) {
  for (const char* value : {"0", "-1", "garbage"}) {
    const Expires e = parseExpires(headersOf({{"expires", value}}), T);
    const Freshness f = lifetimeOf("", T, e, T - hours(240));
    EXPECT_EQ(f.lifetime, seconds(0)) << value;
    // Explicit, even though invalid: no heuristic.
    EXPECT_EQ(f.source, FreshnessSource::Expires) << value;
  }
}

TEST(FreshnessLifetimeTest, FarExpiresSaturates) {
  const Expires e = parseExpires(headersOf({{"expires", "Fri, 31 Dec 9999 23:59:59 GMT"}}), T);
  EXPECT_EQ(lifetimeOf("", T, e).lifetime, MaxDeltaSeconds);
  EXPECT_EQ(lifetimeOf("max-age=99999999999999", T, NoExpires).lifetime, MaxDeltaSeconds);
}

TEST(FreshnessLifetimeTest, HeuristicIsTenPercentOfTheAgeOfTheContent) {
  // Modified 1000 s before Date: fresh for 100 s.
  Freshness f = lifetimeOf("", T, NoExpires, T - seconds(1000));
  EXPECT_EQ(f.lifetime, seconds(100));
  EXPECT_EQ(f.source, FreshnessSource::Heuristic);
  // 10 days: one day, the default cap.
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T - hours(240)).lifetime, seconds(86400));
  // A year: still the cap.
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T - hours(24 * 365)).lifetime, seconds(86400));
  // A configured cap.
  const HeuristicPolicy one_hour{true, hours(1)};
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T - hours(240), 200, T, one_hour).lifetime, seconds(3600));
  // Rounded down: 9 s since the change is 0.9 s of freshness, which is none.
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T - seconds(9)).lifetime, seconds(0));
  // Without Date, from the time the response arrived: 2000 s after the change.
  EXPECT_EQ(
      lifetimeOf("", std::nullopt, NoExpires, T - seconds(1000), 200, T + seconds(1000)).lifetime,
      seconds(200));
}

TEST(FreshnessLifetimeTest, HeuristicOnlyForHeuristicallyCacheableStatuses) {
  const SystemTime modified = T - seconds(1000);
  for (int status : {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}) {
    EXPECT_EQ(lifetimeOf("", T, NoExpires, modified, status).lifetime, seconds(100)) << status;
  }
  for (int status : {201, 202, 205, 302, 303, 307, 400, 401, 403, 409, 429, 500, 502, 503, 504}) {
    const Freshness f = lifetimeOf("", T, NoExpires, modified, status);
    EXPECT_EQ(f.lifetime, seconds(0)) << status;
    EXPECT_EQ(f.source, FreshnessSource::None) << status;
  }
  // `public` marks any status explicitly cacheable, which RFC 9111 4.2.2 lets heuristics cover.
  EXPECT_EQ(lifetimeOf("public", T, NoExpires, modified, 302).lifetime, seconds(100));
}

TEST(FreshnessLifetimeTest, NoHeuristicWhen) {
  // ... there is explicit freshness, however short;
  EXPECT_EQ(lifetimeOf("max-age=5", T, NoExpires, T - hours(240)).lifetime, seconds(5));
  EXPECT_EQ(lifetimeOf("", T, expiresAt(T + seconds(5)), T - hours(240)).lifetime, seconds(5));
  EXPECT_EQ(lifetimeOf("", T, InvalidExpires, T - hours(240)).lifetime, seconds(0));
  // ... there is no Last-Modified;
  EXPECT_EQ(lifetimeOf("", T, NoExpires).source, FreshnessSource::None);
  // ... Last-Modified is not before Date;
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T).source, FreshnessSource::None);
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T + hours(1)).source, FreshnessSource::None);
  // ... it is turned off.
  const HeuristicPolicy off{false, hours(24)};
  EXPECT_EQ(lifetimeOf("", T, NoExpires, T - hours(240), 200, T, off).source,
            FreshnessSource::None);
}

TEST(FreshnessLifetimeTest, ExplicitFreshness) {
  EXPECT_TRUE(hasExplicitFreshness(rcc("max-age=0"), NoExpires));
  EXPECT_TRUE(hasExplicitFreshness(rcc("s-maxage=1"), NoExpires));
  EXPECT_TRUE(hasExplicitFreshness(rcc("max-age=x"), NoExpires));
  EXPECT_TRUE(hasExplicitFreshness(rcc(""), InvalidExpires));
  EXPECT_TRUE(hasExplicitFreshness(rcc(""), expiresAt(T)));
  EXPECT_FALSE(hasExplicitFreshness(rcc("public, must-revalidate"), NoExpires));
}

// ---- age ----

TEST(CurrentAgeTest, WorkedExampleWithoutAge) {
  // Request sent at T, response received at T+2, origin's Date says T+1, no Age.
  //   apparent_age          = max(0, (T+2) - (T+1))  = 1
  //   response_delay        = (T+2) - T              = 2
  //   corrected_age_value   = 0 + 2                  = 2
  //   corrected_initial_age = max(1, 2)              = 2
  // Served at T+62: resident_time = (T+62) - (T+2) = 60, current_age = 2 + 60 = 62.
  EXPECT_EQ(correctedInitialAge(std::nullopt, T + seconds(1), T, T + seconds(2)), seconds(2));
  EXPECT_EQ(currentAge(std::nullopt, T + seconds(1), T, T + seconds(2), T + seconds(62)),
            seconds(62));
}

TEST(CurrentAgeTest, WorkedExampleBehindAnotherCache) {
  // An upstream cache answered with Age: 100 for a response the origin dated T-99; we sent the
  // request at T and got the answer at T+1.
  //   apparent_age          = max(0, (T+1) - (T-99)) = 100
  //   response_delay        = (T+1) - T              = 1
  //   corrected_age_value   = 100 + 1                = 101
  //   corrected_initial_age = max(100, 101)          = 101
  // At T+11: resident_time = 10, current_age = 111.
  EXPECT_EQ(currentAge(seconds(100), T - seconds(99), T, T + seconds(1), T + seconds(11)),
            seconds(111));
  // The same through the header parsers.
  const http::HeaderMap h = headersOf({{"date", "Wed, 31 Dec 2025 23:58:21 GMT"},  // T-99
                                       {"age", "100"}});
  EXPECT_EQ(
      currentAge(parseAge(h), parseDateField(h, "date", T), T, T + seconds(1), T + seconds(11)),
      seconds(111));
}

TEST(CurrentAgeTest, WorkedExampleOriginClockAhead) {
  // The origin's clock runs 5 minutes ahead: Date T+300, received at T+1, sent at T.
  //   apparent_age = max(0, (T+1) - (T+300)) = max(0, -299) = 0
  //   corrected_age_value = 0 + 1 = 1, corrected_initial_age = max(0, 1) = 1
  // Right away (now = T+1) the age is 1, not negative.
  EXPECT_EQ(currentAge(std::nullopt, T + seconds(300), T, T + seconds(1), T + seconds(1)),
            seconds(1));
}

TEST(CurrentAgeTest, WorkedExampleOriginClockBehind) {
  // The origin's clock runs an hour behind: Date T-3600, sent and received at T.
  //   apparent_age = 3600, corrected_age_value = 0, corrected_initial_age = 3600.
  // RFC 9111 errs on the old side: the response looks an hour old.
  EXPECT_EQ(currentAge(std::nullopt, T - seconds(3600), T, T, T), seconds(3600));
  // An Age smaller than the apparent age changes nothing; a larger one wins.
  EXPECT_EQ(currentAge(seconds(60), T - seconds(3600), T, T, T), seconds(3600));
  EXPECT_EQ(currentAge(seconds(7200), T - seconds(3600), T, T, T), seconds(7200));
}

TEST(CurrentAgeTest, MissingDateIsTheResponseTime) {
  // No Date: apparent_age = 0. Age 30, sent T, received T+2:
  //   corrected_initial_age = max(0, 30 + 2) = 32; at T+12: 32 + 10 = 42.
  EXPECT_EQ(currentAge(seconds(30), std::nullopt, T, T + seconds(2), T + seconds(12)), seconds(42));
  EXPECT_EQ(currentAge(std::nullopt, std::nullopt, T, T, T), seconds(0));
}

TEST(CurrentAgeTest, InvalidAgeIsIgnored) {
  const http::HeaderMap h = headersOf({{"age", "-50"}, {"date", "Thu, 01 Jan 2026 00:00:00 GMT"}});
  ASSERT_EQ(parseAge(h), std::nullopt);
  // As if there were no Age: apparent 0, delay 0, resident 5.
  EXPECT_EQ(currentAge(parseAge(h), parseDateField(h, "date", T), T, T, T + seconds(5)),
            seconds(5));
}

TEST(CurrentAgeTest, WholeSeconds) {
  // Sent at T+0.9, received at T+1.2: each is cut to its second (T and T+1), so the delay is 1.
  EXPECT_EQ(correctedInitialAge(std::nullopt, std::nullopt, T + milliseconds(900),
                                T + milliseconds(1200)),
            seconds(1));
  // Sent at T+0.1, received at T+0.8: same second, no delay.
  EXPECT_EQ(
      correctedInitialAge(std::nullopt, std::nullopt, T + milliseconds(100), T + milliseconds(800)),
      seconds(0));
  // Received at T+0.5 (cut to T), now T+60: a resident time of 60.
  EXPECT_EQ(currentAge(seconds(0), T + milliseconds(500), T + seconds(60)), seconds(60));
}

TEST(CurrentAgeTest, ClockSteppedBackCountsAsNoTime) {
  // Received "after" it was sent back in time, and "now" before it was received.
  EXPECT_EQ(correctedInitialAge(seconds(5), std::nullopt, T + seconds(10), T), seconds(5));
  EXPECT_EQ(currentAge(seconds(5), T, T - seconds(30)), seconds(5));
}

TEST(CurrentAgeTest, Saturates) {
  EXPECT_EQ(currentAge(MaxDeltaSeconds, std::nullopt, T, T + seconds(10), T + hours(1)),
            MaxDeltaSeconds);
  // A Date in 1900 is 126 years of apparent age: more than 2^31 s.
  EXPECT_EQ(correctedInitialAge(std::nullopt, SystemTime(seconds(-2208988800)), T, T),
            MaxDeltaSeconds);
}

TEST(CurrentAgeTest, TwoStepsAreOne) {
  const seconds initial = correctedInitialAge(seconds(7), T - seconds(3), T, T + seconds(2));
  EXPECT_EQ(initial, seconds(9));  // max(5, 7 + 2)
  EXPECT_EQ(currentAge(initial, T + seconds(2), T + seconds(100)),
            currentAge(seconds(7), T - seconds(3), T, T + seconds(2), T + seconds(100)));
}

// ---- storing ----

StoreDecision store(std::string_view method, std::string_view request_cc, int status,
                    std::string_view response_cc, StoreFacts facts = {}) {
  return isStoreable(method, qcc(request_cc), status, rcc(response_cc), facts);
}

NotStoreable whyNot(int status, std::string_view response_cc, StoreFacts facts = {}) {
  return store("GET", "", status, response_cc, facts).why_not;
}

TEST(StoreableTest, PlainGetOf200) {
  const StoreDecision d = store("GET", "", 200, "");
  EXPECT_TRUE(d.storeable());
  EXPECT_TRUE(d.reusable);
  EXPECT_EQ(d.why_not, NotStoreable::None);
}

TEST(StoreableTest, OnlyGet) {
  for (const char* method : {"HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"}) {
    EXPECT_EQ(store(method, "", 200, "max-age=60").why_not, NotStoreable::Method) << method;
  }
}

TEST(StoreableTest, HeuristicallyCacheableStatusesNeedNothingElse) {
  for (int status : {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}) {
    EXPECT_EQ(whyNot(status, ""), NotStoreable::None) << status;
  }
}

TEST(StoreableTest, OtherStatusesNeedExplicitFreshnessOrPublic) {
  for (int status : {201, 202, 205, 302, 303, 307, 400, 401, 403, 409, 429, 500, 502, 503, 504}) {
    EXPECT_EQ(whyNot(status, ""), NotStoreable::StatusNotCacheable) << status;
    EXPECT_EQ(whyNot(status, "must-revalidate"), NotStoreable::StatusNotCacheable) << status;
    EXPECT_EQ(whyNot(status, "max-age=60"), NotStoreable::None) << status;
    EXPECT_EQ(whyNot(status, "s-maxage=60"), NotStoreable::None) << status;
    EXPECT_EQ(whyNot(status, "public"), NotStoreable::None) << status;
    EXPECT_EQ(whyNot(status, "", {.response_has_expires = true}), NotStoreable::None) << status;
  }
  // An invalid max-age is still a max-age: stored, stale at once.
  EXPECT_EQ(whyNot(302, "max-age=abc"), NotStoreable::None);
}

TEST(StoreableTest, NonFinalStatuses) {
  for (int status : {100, 101, 103, 199, 0, -1, 600, 999}) {
    EXPECT_EQ(whyNot(status, "max-age=60, public"), NotStoreable::NotFinal) << status;
  }
}

TEST(StoreableTest, NeverPartialContentNorNotModified) {
  EXPECT_EQ(whyNot(206, ""), NotStoreable::PartialContent);
  EXPECT_EQ(whyNot(206, "public, max-age=600"), NotStoreable::PartialContent);
  EXPECT_EQ(whyNot(304, "max-age=600"), NotStoreable::NotModified);
}

TEST(StoreableTest, NoStore) {
  EXPECT_EQ(store("GET", "no-store", 200, "max-age=60").why_not, NotStoreable::RequestNoStore);
  EXPECT_EQ(whyNot(200, "no-store"), NotStoreable::ResponseNoStore);
  EXPECT_EQ(whyNot(200, "public, max-age=60, no-store"), NotStoreable::ResponseNoStore);
  EXPECT_EQ(whyNot(200, "No-Store=\"x\""), NotStoreable::ResponseNoStore);
  // A request's no-cache is about using stored responses, not storing this one.
  EXPECT_EQ(store("GET", "no-cache", 200, "").why_not, NotStoreable::None);
  EXPECT_EQ(whyNot(200, "no-cache"), NotStoreable::None);
}

TEST(StoreableTest, MustUnderstand) {
  // Understood status: no-store (meant for caches that do not know it) is overridden.
  EXPECT_EQ(whyNot(200, "must-understand, no-store"), NotStoreable::None);
  EXPECT_EQ(whyNot(404, "must-understand, no-store, max-age=60"), NotStoreable::None);
  EXPECT_EQ(whyNot(200, "must-understand"), NotStoreable::None);
  // Unknown status code: not stored, whatever else it says.
  EXPECT_EQ(whyNot(299, "must-understand, no-store, max-age=60"), NotStoreable::MustUnderstand);
  EXPECT_EQ(whyNot(299, "must-understand, public"), NotStoreable::MustUnderstand);
  EXPECT_EQ(whyNot(418, "must-understand, max-age=60"), NotStoreable::MustUnderstand);
  // 299 with max-age but without must-understand is fine.
  EXPECT_EQ(whyNot(299, "max-age=60"), NotStoreable::None);
  // The request's no-store is not the response's.
  EXPECT_EQ(store("GET", "no-store", 200, "must-understand, no-store").why_not,
            NotStoreable::RequestNoStore);
  EXPECT_EQ(whyNot(206, "must-understand, no-store"), NotStoreable::PartialContent);
}

TEST(StoreableTest, Private) {
  EXPECT_EQ(whyNot(200, "private"), NotStoreable::Private);
  EXPECT_EQ(whyNot(200, "private, max-age=600"), NotStoreable::Private);
  EXPECT_EQ(whyNot(200, "public, private"), NotStoreable::Private);
  EXPECT_EQ(whyNot(200, "private=\"x-user\", s-maxage=60"), NotStoreable::Private);
  EXPECT_EQ(whyNot(200, "must-understand, private"), NotStoreable::Private);
}

TEST(StoreableTest, Authorization) {
  const StoreFacts authorized{.request_has_authorization = true};
  EXPECT_EQ(whyNot(200, "", authorized), NotStoreable::Authorization);
  EXPECT_EQ(whyNot(200, "max-age=60", authorized), NotStoreable::Authorization);
  EXPECT_EQ(whyNot(200, "proxy-revalidate, max-age=60", authorized), NotStoreable::Authorization);
  EXPECT_EQ(whyNot(200, "no-cache", authorized), NotStoreable::Authorization);
  // RFC 9111 3.5: any of these says the origin meant it to be shared.
  EXPECT_EQ(whyNot(200, "public", authorized), NotStoreable::None);
  EXPECT_EQ(whyNot(200, "s-maxage=60", authorized), NotStoreable::None);
  EXPECT_EQ(whyNot(200, "must-revalidate", authorized), NotStoreable::None);
  // ... and still not when something else forbids it.
  EXPECT_EQ(whyNot(200, "public, private", authorized), NotStoreable::Private);
}

TEST(StoreableTest, SetCookieNeverStored) {
  const StoreFacts cookie{.response_has_set_cookie = true};
  EXPECT_EQ(whyNot(200, "", cookie), NotStoreable::SetCookie);
  EXPECT_EQ(whyNot(200, "public, s-maxage=600", cookie), NotStoreable::SetCookie);
}

TEST(StoreableTest, VaryStarIsStoreableButNeverReusable) {
  const StoreDecision d = store("GET", "", 200, "max-age=60", {.vary_star = true});
  EXPECT_TRUE(d.storeable());
  EXPECT_FALSE(d.reusable);
}

TEST(StoreableTest, TheFirstReasonIsReported) {
  EXPECT_EQ(store("POST", "no-store", 206, "private").why_not, NotStoreable::Method);
  EXPECT_EQ(store("GET", "no-store", 200, "private", {.response_has_set_cookie = true}).why_not,
            NotStoreable::RequestNoStore);
  EXPECT_EQ(whyNot(200, "no-store, private"), NotStoreable::ResponseNoStore);
  EXPECT_EQ(whyNot(500, "", {.request_has_authorization = true, .response_has_set_cookie = true}),
            NotStoreable::Authorization);
}

TEST(StoreableTest, ReasonNames) {
  EXPECT_EQ(notStoreableName(NotStoreable::None), "none");
  EXPECT_EQ(notStoreableName(NotStoreable::Method), "method");
  EXPECT_EQ(notStoreableName(NotStoreable::NotFinal), "not_final");
  EXPECT_EQ(notStoreableName(NotStoreable::PartialContent), "partial_content");
  EXPECT_EQ(notStoreableName(NotStoreable::NotModified), "not_modified");
  EXPECT_EQ(notStoreableName(NotStoreable::RequestNoStore), "request_no_store");
  EXPECT_EQ(notStoreableName(NotStoreable::MustUnderstand), "must_understand");
  EXPECT_EQ(notStoreableName(NotStoreable::ResponseNoStore), "response_no_store");
  EXPECT_EQ(notStoreableName(NotStoreable::Private), "private");
  EXPECT_EQ(notStoreableName(NotStoreable::Authorization), "authorization");
  EXPECT_EQ(notStoreableName(NotStoreable::SetCookie), "set_cookie");
  EXPECT_EQ(notStoreableName(NotStoreable::StatusNotCacheable), "status_not_cacheable");
}

// ---- reuse ----

const StalePolicy NoDefaults{};
// Every test below uses a 60 s freshness lifetime.
constexpr seconds Lifetime{60};

ReuseDecision reuse(std::string_view request_cc, std::string_view response_cc, int64_t age,
                    const StalePolicy& policy = NoDefaults) {
  return decideReuse(qcc(request_cc), rcc(response_cc), seconds(age), Lifetime, policy);
}

ReuseAction action(std::string_view request_cc, std::string_view response_cc, int64_t age,
                   const StalePolicy& policy = NoDefaults) {
  return reuse(request_cc, response_cc, age, policy).action;
}

TEST(ReuseTest, FreshUntilTheAgeReachesTheLifetime) {
  ReuseDecision d = reuse("", "", 0);
  EXPECT_EQ(d.action, ReuseAction::ServeFresh);
  EXPECT_EQ(d.ttl, seconds(60));
  d = reuse("", "", 59);
  EXPECT_EQ(d.action, ReuseAction::ServeFresh);
  EXPECT_EQ(d.ttl, seconds(1));
  // Fresh means lifetime > age: at 60 it is stale.
  d = reuse("", "", 60);
  EXPECT_EQ(d.action, ReuseAction::Revalidate);
  EXPECT_EQ(d.ttl, seconds(0));
  d = reuse("", "", 72);
  EXPECT_EQ(d.action, ReuseAction::Revalidate);
  EXPECT_EQ(d.ttl, seconds(-12));
  EXPECT_EQ(d.stale_reason, StaleReason::None);
}

TEST(ReuseTest, NoCacheAlwaysRevalidates) {
  EXPECT_EQ(action("", "no-cache", 0), ReuseAction::Revalidate);
  EXPECT_EQ(action("", "no-cache=\"set-cookie\"", 0), ReuseAction::Revalidate);
  EXPECT_EQ(action("no-cache", "", 0), ReuseAction::Revalidate);
  EXPECT_EQ(action("max-stale", "no-cache", 100), ReuseAction::Revalidate);
  EXPECT_EQ(action("", "no-cache, stale-while-revalidate=600", 70), ReuseAction::Revalidate);
  // Pragma: no-cache from an HTTP/1.0 client.
  EXPECT_EQ(decideReuse(parseRequestCacheControl(headersOf({{"pragma", "no-cache"}})), rcc(""),
                        seconds(0), Lifetime, NoDefaults)
                .action,
            ReuseAction::Revalidate);
}

TEST(ReuseTest, RequestMaxAge) {
  EXPECT_EQ(action("max-age=10", "", 10), ReuseAction::ServeFresh);
  EXPECT_EQ(action("max-age=10", "", 11), ReuseAction::Revalidate);
  // A reload: max-age=0 takes only a response just received.
  EXPECT_EQ(action("max-age=0", "", 0), ReuseAction::ServeFresh);
  EXPECT_EQ(action("max-age=0", "", 1), ReuseAction::Revalidate);
  // A longer max-age does not extend freshness.
  EXPECT_EQ(action("max-age=3600", "", 61), ReuseAction::Revalidate);
  // An unreadable one is 0.
  EXPECT_EQ(action("max-age=soon", "", 1), ReuseAction::Revalidate);
}

TEST(ReuseTest, MinFresh) {
  // At age 30, 30 s of freshness are left.
  EXPECT_EQ(action("min-fresh=30", "", 30), ReuseAction::ServeFresh);
  EXPECT_EQ(action("min-fresh=31", "", 30), ReuseAction::Revalidate);
  EXPECT_EQ(action("min-fresh=0", "", 59), ReuseAction::ServeFresh);
  // Not even max-stale makes a response that is too close to stale acceptable.
  EXPECT_EQ(action("min-fresh=20, max-stale", "", 50), ReuseAction::Revalidate);
  EXPECT_EQ(action("min-fresh=20, max-stale", "", 70), ReuseAction::Revalidate);
}

TEST(ReuseTest, MaxStaleWithValue) {
  // Staleness = age - 60.
  ReuseDecision d = reuse("max-stale=30", "", 80);  // 20 s stale
  EXPECT_EQ(d.action, ReuseAction::ServeStale);
  EXPECT_EQ(d.stale_reason, StaleReason::MaxStale);
  EXPECT_EQ(d.ttl, seconds(-20));
  EXPECT_EQ(action("max-stale=30", "", 60), ReuseAction::ServeStale);  // 0 s stale
  EXPECT_EQ(action("max-stale=30", "", 90), ReuseAction::ServeStale);  // "no more than 30"
  EXPECT_EQ(action("max-stale=30", "", 91), ReuseAction::Revalidate);
  EXPECT_EQ(action("max-stale=0", "", 60), ReuseAction::ServeStale);
  EXPECT_EQ(action("max-stale=0", "", 61), ReuseAction::Revalidate);
  // An unreadable max-stale allows nothing.
  EXPECT_EQ(action("max-stale=lots", "", 61), ReuseAction::Revalidate);
}

TEST(ReuseTest, MaxStaleWithoutValue) {
  EXPECT_EQ(action("max-stale", "", 61), ReuseAction::ServeStale);
  EXPECT_EQ(action("max-stale", "", 1'000'000'000), ReuseAction::ServeStale);
  EXPECT_EQ(decideReuse(qcc("max-stale"), rcc(""), MaxDeltaSeconds, seconds(0), NoDefaults).action,
            ReuseAction::ServeStale);
}

TEST(ReuseTest, MaxStaleStillHonoursTheRequestMaxAge) {
  EXPECT_EQ(action("max-stale=100, max-age=90", "", 90), ReuseAction::ServeStale);
  EXPECT_EQ(action("max-stale=100, max-age=90", "", 91), ReuseAction::Revalidate);
}

TEST(ReuseTest, RevalidationDirectivesForbidStale) {
  // kornelski/http-cache-semantics#56: a client's max-stale must not override these.
  for (const char* response :
       {"must-revalidate", "proxy-revalidate", "s-maxage=60",
        "must-revalidate, stale-while-revalidate=600", "s-maxage=60, stale-while-revalidate=600"}) {
    EXPECT_EQ(action("max-stale", response, 61), ReuseAction::Revalidate) << response;
    EXPECT_EQ(action("", response, 61, {seconds(600), seconds(600)}), ReuseAction::Revalidate)
        << response;
    // They say nothing about fresh responses.
    EXPECT_EQ(action("", response, 59), ReuseAction::ServeFresh) << response;
  }
}

TEST(ReuseTest, StaleWhileRevalidate) {
  ReuseDecision d = reuse("", "stale-while-revalidate=30", 70);  // 10 s stale
  EXPECT_EQ(d.action, ReuseAction::ServeStale);
  EXPECT_EQ(d.stale_reason, StaleReason::StaleWhileRevalidate);
  EXPECT_EQ(action("", "stale-while-revalidate=30", 60), ReuseAction::ServeStale);
  EXPECT_EQ(action("", "stale-while-revalidate=30", 89), ReuseAction::ServeStale);
  // A window of 30 s: at 30 s of staleness it is closed.
  EXPECT_EQ(action("", "stale-while-revalidate=30", 90), ReuseAction::Revalidate);
  EXPECT_EQ(action("", "stale-while-revalidate=0", 60), ReuseAction::Revalidate);
}

TEST(ReuseTest, StaleWhileRevalidateFromConfiguration) {
  const StalePolicy ten_seconds{seconds(10), seconds(0)};
  EXPECT_EQ(reuse("", "", 65, ten_seconds).stale_reason, StaleReason::StaleWhileRevalidate);
  EXPECT_EQ(action("", "", 70, ten_seconds), ReuseAction::Revalidate);
  // The response's own window replaces the default, even a zero one.
  EXPECT_EQ(action("", "stale-while-revalidate=0", 65, ten_seconds), ReuseAction::Revalidate);
  EXPECT_EQ(action("", "stale-while-revalidate=60", 100, ten_seconds), ReuseAction::ServeStale);
}

TEST(ReuseTest, StaleWhileRevalidateRespectsTheClient) {
  EXPECT_EQ(action("max-age=30", "stale-while-revalidate=30", 70), ReuseAction::Revalidate);
  EXPECT_EQ(action("min-fresh=1", "stale-while-revalidate=30", 70), ReuseAction::Revalidate);
  // A max-stale that does not reach does not take the origin's window away.
  EXPECT_EQ(reuse("max-stale=5", "stale-while-revalidate=30", 70).stale_reason,
            StaleReason::StaleWhileRevalidate);
  EXPECT_EQ(reuse("max-stale=15", "stale-while-revalidate=30", 70).stale_reason,
            StaleReason::MaxStale);
}

TEST(ReuseTest, StaleIfErrorPlaysNoPartBeforeAnError) {
  EXPECT_EQ(action("", "stale-if-error=600", 70), ReuseAction::Revalidate);
  EXPECT_EQ(action("stale-if-error=600", "", 70), ReuseAction::Revalidate);
}

TEST(ReuseTest, OnlyIfCached) {
  EXPECT_EQ(action("only-if-cached", "", 10), ReuseAction::ServeFresh);
  EXPECT_EQ(action("only-if-cached", "", 60), ReuseAction::GatewayTimeout);
  EXPECT_EQ(action("only-if-cached", "must-revalidate", 61), ReuseAction::GatewayTimeout);
  EXPECT_EQ(action("only-if-cached", "no-cache", 0), ReuseAction::GatewayTimeout);
  EXPECT_EQ(action("only-if-cached, max-age=5", "", 10), ReuseAction::GatewayTimeout);
  EXPECT_EQ(action("only-if-cached, max-stale=100", "", 100), ReuseAction::ServeStale);
  EXPECT_EQ(action("only-if-cached", "stale-while-revalidate=30", 70), ReuseAction::ServeStale);
}

// ---- serving stale after an upstream failure ----

StaleReason onError(std::string_view request_cc, std::string_view response_cc, int64_t age,
                    const StalePolicy& policy = NoDefaults) {
  return canServeStale(qcc(request_cc), rcc(response_cc), seconds(age), Lifetime,
                       StaleContext::UpstreamError, policy);
}

TEST(StaleOnErrorTest, StaleIfErrorWindowFromTheResponse) {
  EXPECT_EQ(onError("", "stale-if-error=300", 160), StaleReason::StaleIfError);  // 100 s stale
  EXPECT_EQ(onError("", "stale-if-error=300", 359), StaleReason::StaleIfError);
  EXPECT_EQ(onError("", "stale-if-error=300", 360), StaleReason::None);
  EXPECT_EQ(onError("", "", 61), StaleReason::None);
}

TEST(StaleOnErrorTest, WindowFromConfigurationOrTheRequest) {
  const StalePolicy one_day{seconds(0), hours(24)};
  EXPECT_EQ(onError("", "", 3600, one_day), StaleReason::StaleIfError);
  EXPECT_EQ(onError("", "stale-if-error=0", 3600, one_day), StaleReason::None);
  // The request may widen it (RFC 5861 section 4), never narrow it.
  EXPECT_EQ(onError("stale-if-error=1000", "stale-if-error=300", 560), StaleReason::StaleIfError);
  EXPECT_EQ(onError("stale-if-error=10", "stale-if-error=300", 160), StaleReason::StaleIfError);
  EXPECT_EQ(onError("stale-if-error=1000", "", 1100), StaleReason::None);
}

TEST(StaleOnErrorTest, ForbiddenByRevalidationDirectivesAndNoCache) {
  for (const char* response :
       {"must-revalidate, stale-if-error=600", "proxy-revalidate, stale-if-error=600",
        "s-maxage=60, stale-if-error=600", "no-cache, stale-if-error=600"}) {
    EXPECT_EQ(onError("", response, 61), StaleReason::None) << response;
    EXPECT_EQ(onError("max-stale", response, 61), StaleReason::None) << response;
  }
  EXPECT_EQ(onError("no-cache", "stale-if-error=600", 61), StaleReason::None);
  EXPECT_EQ(onError("no-cache", "stale-if-error=600", 10), StaleReason::None);
}

TEST(StaleOnErrorTest, MaxStale) {
  EXPECT_EQ(onError("max-stale=100", "", 160), StaleReason::MaxStale);
  EXPECT_EQ(onError("max-stale=100", "", 161), StaleReason::None);
  EXPECT_EQ(onError("max-stale", "", 100000), StaleReason::MaxStale);
}

TEST(StaleOnErrorTest, TheClientsFreshnessPreferencesNoLongerApply) {
  // A reload (max-age=0) while the origin is down still gets the stored copy.
  EXPECT_EQ(onError("max-age=0", "stale-if-error=600", 100), StaleReason::StaleIfError);
  EXPECT_EQ(onError("min-fresh=600", "stale-if-error=600", 100), StaleReason::StaleIfError);
}

TEST(StaleOnErrorTest, AnEntryStillFresh) {
  // Revalidated only because the client asked (max-age=0): still fresh, so usable, and
  // must-revalidate does not concern it yet. no-cache does.
  EXPECT_EQ(onError("max-age=0", "", 10), StaleReason::StaleIfError);
  EXPECT_EQ(onError("max-age=0", "must-revalidate", 10), StaleReason::StaleIfError);
  EXPECT_EQ(onError("max-age=0, max-stale", "", 10), StaleReason::StaleIfError);
  EXPECT_EQ(onError("", "no-cache", 10), StaleReason::None);
}

TEST(StaleOnRequestTest, OnlyForStaleEntries) {
  // decideReuse() serves or revalidates fresh entries itself.
  EXPECT_EQ(canServeStale(qcc("max-stale"), rcc(""), seconds(10), Lifetime, StaleContext::Request,
                          NoDefaults),
            StaleReason::None);
  EXPECT_EQ(canServeStale(qcc("max-stale"), rcc(""), seconds(70), Lifetime, StaleContext::Request,
                          NoDefaults),
            StaleReason::MaxStale);
  // stale-if-error is for errors only.
  EXPECT_EQ(canServeStale(qcc(""), rcc("stale-if-error=600"), seconds(70), Lifetime,
                          StaleContext::Request, NoDefaults),
            StaleReason::None);
}

TEST(StaleReasonTest, Names) {
  EXPECT_EQ(staleReasonName(StaleReason::None), "none");
  EXPECT_EQ(staleReasonName(StaleReason::MaxStale), "max_stale");
  EXPECT_EQ(staleReasonName(StaleReason::StaleWhileRevalidate), "stale_while_revalidate");
  EXPECT_EQ(staleReasonName(StaleReason::StaleIfError), "stale_if_error");
}

// ---- all of it, from the headers of one exchange ----

TEST(FreshnessEndToEndTest, ResponseThroughAnotherCache) {
  // Sent at T, received at T+1 with Date T-40, Age 30 and max-age 120.
  const SystemTime request_time = T;
  const SystemTime response_time = T + seconds(1);
  const http::HeaderMap response = headersOf({
      {"date", "Wed, 31 Dec 2025 23:59:20 GMT"},
      {"age", "30"},
      {"cache-control", "public, max-age=120"},
      {"last-modified", "Mon, 01 Dec 2025 00:00:00 GMT"},
  });
  const ResponseCacheControl cc = parseResponseCacheControl(response);
  const std::optional<SystemTime> date = parseDateField(response, "date", response_time);
  ASSERT_EQ(date, T - seconds(40));
  EXPECT_TRUE(isStoreable("GET", RequestCacheControl{}, 200, cc,
                          {.response_has_expires =
                               parseExpires(response, response_time).kind != Expires::Kind::Absent})
                  .storeable());
  const Freshness f = freshnessLifetime(cc, date, parseExpires(response, response_time),
                                        parseDateField(response, "last-modified", response_time),
                                        200, response_time, Heuristic);
  EXPECT_EQ(f.lifetime, seconds(120));
  //   apparent_age = (T+1) - (T-40) = 41; corrected_age_value = 30 + 1 = 31;
  //   corrected_initial_age = max(41, 31) = 41.
  const seconds initial =
      correctedInitialAge(parseAge(response), date, request_time, response_time);
  EXPECT_EQ(initial, seconds(41));
  // Fresh until the age reaches 120: 79 s after it arrived.
  EXPECT_EQ(decideReuse({}, cc, currentAge(initial, response_time, T + seconds(79)), f.lifetime,
                        NoDefaults)
                .ttl,
            seconds(1));
  EXPECT_EQ(decideReuse({}, cc, currentAge(initial, response_time, T + seconds(80)), f.lifetime,
                        NoDefaults)
                .action,
            ReuseAction::Revalidate);
}

}  // namespace
}  // namespace switchyard::filters::cache
