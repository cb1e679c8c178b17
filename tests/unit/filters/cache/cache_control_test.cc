#include "filters/cache/cache_control.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

#include "proxy/http/headers.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::seconds;

http::HeaderMap headersOf(std::initializer_list<std::pair<std::string_view, std::string_view>> l) {
  http::HeaderMap map;
  for (const auto& [name, value] : l) map.add(name, value);
  return map;
}

std::optional<seconds> maxAge(std::string_view value) {
  return parseResponseCacheControl(value).max_age;
}

// ---- delta-seconds ----

TEST(DeltaSecondsTest, Digits) {
  EXPECT_EQ(parseDeltaSeconds("0"), seconds(0));
  EXPECT_EQ(parseDeltaSeconds("60"), seconds(60));
  EXPECT_EQ(parseDeltaSeconds("007"), seconds(7));
  EXPECT_EQ(parseDeltaSeconds("2147483647"), seconds(2147483647));
}

TEST(DeltaSecondsTest, SaturatesAtTwoToTheThirtyOne) {
  EXPECT_EQ(parseDeltaSeconds("2147483648"), MaxDeltaSeconds);
  EXPECT_EQ(parseDeltaSeconds("2147483649"), MaxDeltaSeconds);
  EXPECT_EQ(parseDeltaSeconds("99999999999999999999999999999999"), MaxDeltaSeconds);
  EXPECT_EQ(MaxDeltaSeconds, seconds(2147483648));
}

TEST(DeltaSecondsTest, AnythingElseIsInvalid) {
  for (const char* text : {"", " ", "-1", "+1", "1.5", "1e3", "60s", " 60", "60 ", "abc", "0x10",
                           "\"60\"", "\xd9\xa1"}) {
    EXPECT_EQ(parseDeltaSeconds(text), std::nullopt) << '"' << text << '"';
  }
}

// ---- responses ----

TEST(ResponseCacheControlTest, NothingByDefault) {
  const ResponseCacheControl cc = parseResponseCacheControl("");
  EXPECT_EQ(cc.max_age, std::nullopt);
  EXPECT_EQ(cc.s_maxage, std::nullopt);
  EXPECT_FALSE(cc.no_store);
  EXPECT_FALSE(cc.no_cache);
  EXPECT_FALSE(cc.is_private);
  EXPECT_FALSE(cc.is_public);
  EXPECT_FALSE(cc.must_revalidate);
  EXPECT_FALSE(cc.proxy_revalidate);
  EXPECT_FALSE(cc.must_understand);
  EXPECT_FALSE(cc.no_transform);
  EXPECT_FALSE(cc.immutable);
  EXPECT_EQ(cc.stale_while_revalidate, std::nullopt);
  EXPECT_EQ(cc.stale_if_error, std::nullopt);
  // No Cache-Control line at all.
  EXPECT_EQ(parseResponseCacheControl(http::HeaderMap()).max_age, std::nullopt);
}

TEST(ResponseCacheControlTest, EveryDirective) {
  EXPECT_EQ(parseResponseCacheControl("max-age=60").max_age, seconds(60));
  EXPECT_EQ(parseResponseCacheControl("s-maxage=120").s_maxage, seconds(120));
  EXPECT_TRUE(parseResponseCacheControl("no-store").no_store);
  EXPECT_TRUE(parseResponseCacheControl("no-cache").no_cache);
  EXPECT_TRUE(parseResponseCacheControl("private").is_private);
  EXPECT_TRUE(parseResponseCacheControl("public").is_public);
  EXPECT_TRUE(parseResponseCacheControl("must-revalidate").must_revalidate);
  EXPECT_TRUE(parseResponseCacheControl("proxy-revalidate").proxy_revalidate);
  EXPECT_TRUE(parseResponseCacheControl("must-understand").must_understand);
  EXPECT_TRUE(parseResponseCacheControl("no-transform").no_transform);
  EXPECT_TRUE(parseResponseCacheControl("immutable").immutable);
  EXPECT_EQ(parseResponseCacheControl("stale-while-revalidate=30").stale_while_revalidate,
            seconds(30));
  EXPECT_EQ(parseResponseCacheControl("stale-if-error=600").stale_if_error, seconds(600));
  // Each sets only its own field.
  const ResponseCacheControl only_public = parseResponseCacheControl("public");
  EXPECT_FALSE(only_public.no_store);
  EXPECT_FALSE(only_public.is_private);
  EXPECT_EQ(only_public.max_age, std::nullopt);
}

TEST(ResponseCacheControlTest, AllTogether) {
  const ResponseCacheControl cc = parseResponseCacheControl(
      "public, max-age=60, s-maxage=30, must-revalidate, proxy-revalidate, no-transform, "
      "immutable, stale-while-revalidate=10, stale-if-error=86400");
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, seconds(60));
  EXPECT_EQ(cc.s_maxage, seconds(30));
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_TRUE(cc.proxy_revalidate);
  EXPECT_TRUE(cc.no_transform);
  EXPECT_TRUE(cc.immutable);
  EXPECT_EQ(cc.stale_while_revalidate, seconds(10));
  EXPECT_EQ(cc.stale_if_error, seconds(86400));
}

TEST(ResponseCacheControlTest, NamesAreCaseInsensitive) {
  const ResponseCacheControl cc =
      parseResponseCacheControl("MAX-AGE=60, No-Store, PUBLIC, S-MaxAge=5, Stale-If-Error=9");
  EXPECT_EQ(cc.max_age, seconds(60));
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.s_maxage, seconds(5));
  EXPECT_EQ(cc.stale_if_error, seconds(9));
}

TEST(ResponseCacheControlTest, WhitespaceAndEmptyMembers) {
  const ResponseCacheControl cc =
      parseResponseCacheControl("  max-age = 60 ,\tno-cache\t,, , private ,");
  EXPECT_EQ(cc.max_age, seconds(60));
  EXPECT_TRUE(cc.no_cache);
  EXPECT_TRUE(cc.is_private);
  EXPECT_EQ(maxAge(",,,max-age=5,,,"), seconds(5));
  EXPECT_EQ(maxAge(" \t "), std::nullopt);
}

TEST(ResponseCacheControlTest, QuotedArguments) {
  // The grammar allows a quoted-string; senders should use the token form, we read both.
  EXPECT_EQ(maxAge("max-age=\"60\""), seconds(60));
  EXPECT_EQ(parseResponseCacheControl("s-maxage=\"5\"").s_maxage, seconds(5));
  EXPECT_EQ(maxAge("max-age=\"6\\0\""), seconds(60));  // quoted-pair
  // A comma inside quotes does not end the member.
  const ResponseCacheControl cc =
      parseResponseCacheControl("no-cache=\"set-cookie, max-age=5\", public");
  EXPECT_TRUE(cc.no_cache);
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, std::nullopt);
  // An escaped quote does not close the string.
  EXPECT_EQ(maxAge("x=\"a\\\", max-age=5\", max-age=7"), seconds(7));
}

TEST(ResponseCacheControlTest, FieldListsCountAsTheWholeDirective) {
  const ResponseCacheControl cc =
      parseResponseCacheControl("no-cache=\"Set-Cookie\", private=\"x-user, x-token\"");
  EXPECT_TRUE(cc.no_cache);
  EXPECT_TRUE(cc.is_private);
  EXPECT_TRUE(parseResponseCacheControl("private=x-user").is_private);
  // Even with a useless argument, a restricting directive restricts.
  EXPECT_TRUE(parseResponseCacheControl("no-store=1").no_store);
  EXPECT_TRUE(parseResponseCacheControl("must-revalidate=yes").must_revalidate);
}

TEST(ResponseCacheControlTest, MalformedMaxAgeIsZero) {
  // RFC 9111 4.2.1: invalid freshness information is best read as "stale".
  for (const char* value : {
           "max-age=abc",
           "max-age=-1",
           "max-age=+60",
           "max-age=",
           "max-age",
           "max-age=1.5",
           "max-age=60s",
           "max-age=6 0",
           "max-age=60 junk",
           "max-age=\"60",     // unterminated
           "max-age=\" 60\"",  // blanks inside the quotes
           "max-age=\"\"",
           "max-age=\"60\"x",
           "max-age=0x10",
       }) {
    EXPECT_EQ(maxAge(value), seconds(0)) << value;
  }
  EXPECT_EQ(parseResponseCacheControl("s-maxage=abc").s_maxage, seconds(0));
  EXPECT_EQ(parseResponseCacheControl("s-maxage").s_maxage, seconds(0));
}

TEST(ResponseCacheControlTest, MalformedStaleWindowsAreIgnored) {
  EXPECT_EQ(parseResponseCacheControl("stale-while-revalidate").stale_while_revalidate,
            std::nullopt);
  EXPECT_EQ(parseResponseCacheControl("stale-while-revalidate=-5").stale_while_revalidate,
            std::nullopt);
  EXPECT_EQ(parseResponseCacheControl("stale-if-error=soon").stale_if_error, std::nullopt);
  EXPECT_EQ(parseResponseCacheControl("stale-if-error=").stale_if_error, std::nullopt);
}

TEST(ResponseCacheControlTest, HugeValuesSaturate) {
  EXPECT_EQ(maxAge("max-age=99999999999999999999999"), MaxDeltaSeconds);
  EXPECT_EQ(maxAge("max-age=\"99999999999999999999999\""), MaxDeltaSeconds);
  EXPECT_EQ(maxAge("max-age=2147483648"), MaxDeltaSeconds);
  EXPECT_EQ(maxAge("max-age=2147483647"), seconds(2147483647));
  EXPECT_EQ(maxAge("max-age=007"), seconds(7));
}

TEST(ResponseCacheControlTest, Duplicates) {
  // The same value twice is that value.
  EXPECT_EQ(maxAge("max-age=60, max-age=60"), seconds(60));
  EXPECT_EQ(maxAge("max-age=60, max-age=\"60\""), seconds(60));
  // Different values: invalid, hence stale (never the longer of the two).
  EXPECT_EQ(maxAge("max-age=60, max-age=3600"), seconds(0));
  EXPECT_EQ(maxAge("max-age=3600, max-age=60"), seconds(0));
  EXPECT_EQ(maxAge("max-age=abc, max-age=60"), seconds(0));
  EXPECT_EQ(maxAge("max-age=60, max-age"), seconds(0));
  EXPECT_EQ(parseResponseCacheControl("s-maxage=1, s-maxage=2").s_maxage, seconds(0));
  EXPECT_EQ(parseResponseCacheControl("stale-if-error=1, stale-if-error=2").stale_if_error,
            std::nullopt);
  EXPECT_EQ(parseResponseCacheControl("stale-while-revalidate=5, stale-while-revalidate=5")
                .stale_while_revalidate,
            seconds(5));
  // Flags are idempotent.
  EXPECT_TRUE(parseResponseCacheControl("no-store, no-store").no_store);
}

TEST(ResponseCacheControlTest, AllLinesTogether) {
  const ResponseCacheControl cc = parseResponseCacheControl(headersOf({
      {"content-type", "text/plain"},
      {"cache-control", "public"},
      {"x-other", "max-age=5"},
      {"cache-control", "max-age=60, stale-if-error=30"},
  }));
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, seconds(60));
  EXPECT_EQ(cc.stale_if_error, seconds(30));
  // A duplicate across lines is a duplicate.
  EXPECT_EQ(parseResponseCacheControl(headersOf({
                                          {"cache-control", "max-age=60"},
                                          {"cache-control", "max-age=3600"},
                                      }))
                .max_age,
            seconds(0));
  // A quote left open does not run into the next line.
  const ResponseCacheControl open = parseResponseCacheControl(headersOf({
      {"cache-control", "no-cache=\"set-cookie"},
      {"cache-control", "max-age=5"},
  }));
  EXPECT_TRUE(open.no_cache);
  EXPECT_EQ(open.max_age, seconds(5));
}

TEST(ResponseCacheControlTest, UnknownAndNonTokenMembersAreIgnored) {
  const ResponseCacheControl cc = parseResponseCacheControl(
      "nothing-to-see-here, foo=bar, community=\"UCI\", =5, \"quoted\", @@@, ext=\"a,b\", "
      "max-age=5");
  EXPECT_EQ(cc.max_age, seconds(5));
  EXPECT_FALSE(cc.no_store);
  EXPECT_FALSE(cc.no_cache);
  // Request-only directives mean nothing on a response.
  const ResponseCacheControl req_only =
      parseResponseCacheControl("only-if-cached, max-stale=5, min-fresh=5");
  EXPECT_EQ(req_only.max_age, std::nullopt);
  EXPECT_FALSE(req_only.no_cache);
}

TEST(ResponseCacheControlTest, PragmaIsIgnoredOnResponses) {
  EXPECT_FALSE(parseResponseCacheControl(headersOf({{"pragma", "no-cache"}})).no_cache);
}

// ---- requests ----

TEST(RequestCacheControlTest, EveryDirective) {
  const RequestCacheControl none = parseRequestCacheControl("");
  EXPECT_EQ(none.max_age, std::nullopt);
  EXPECT_EQ(none.max_stale, std::nullopt);
  EXPECT_EQ(none.min_fresh, std::nullopt);
  EXPECT_FALSE(none.no_cache);
  EXPECT_FALSE(none.no_store);
  EXPECT_FALSE(none.only_if_cached);
  EXPECT_EQ(none.stale_if_error, std::nullopt);

  EXPECT_EQ(parseRequestCacheControl("max-age=10").max_age, seconds(10));
  EXPECT_EQ(parseRequestCacheControl("max-stale=30").max_stale, seconds(30));
  EXPECT_EQ(parseRequestCacheControl("min-fresh=5").min_fresh, seconds(5));
  EXPECT_TRUE(parseRequestCacheControl("no-cache").no_cache);
  EXPECT_TRUE(parseRequestCacheControl("no-store").no_store);
  EXPECT_TRUE(parseRequestCacheControl("only-if-cached").only_if_cached);
  EXPECT_EQ(parseRequestCacheControl("stale-if-error=60").stale_if_error, seconds(60));
}

TEST(RequestCacheControlTest, BareMaxStaleAcceptsAnyStaleness) {
  EXPECT_EQ(parseRequestCacheControl("max-stale").max_stale, AnyStaleness);
  EXPECT_EQ(parseRequestCacheControl("MAX-STALE , no-cache").max_stale, AnyStaleness);
  EXPECT_EQ(parseRequestCacheControl("max-stale, max-stale").max_stale, AnyStaleness);
  EXPECT_EQ(parseRequestCacheControl("max-stale=\"30\"").max_stale, seconds(30));
}

TEST(RequestCacheControlTest, Malformed) {
  // An unreadable max-age on a request asks for a response just validated.
  EXPECT_EQ(parseRequestCacheControl("max-age=abc").max_age, seconds(0));
  EXPECT_EQ(parseRequestCacheControl("max-age").max_age, seconds(0));
  EXPECT_EQ(parseRequestCacheControl("max-age=10, max-age=20").max_age, seconds(0));
  // The others allow nothing on their account.
  EXPECT_EQ(parseRequestCacheControl("max-stale=abc").max_stale, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("max-stale=").max_stale, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("max-stale=-1").max_stale, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("max-stale=10, max-stale=20").max_stale, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("max-stale, max-stale=20").max_stale, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("min-fresh=x").min_fresh, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("min-fresh").min_fresh, std::nullopt);
  EXPECT_EQ(parseRequestCacheControl("stale-if-error=1.5").stale_if_error, std::nullopt);
  // Saturation as on responses.
  EXPECT_EQ(parseRequestCacheControl("max-stale=99999999999999").max_stale, MaxDeltaSeconds);
}

TEST(RequestCacheControlTest, ResponseDirectivesAndUnknownsAreIgnored) {
  const RequestCacheControl cc = parseRequestCacheControl(
      "nothing-to-see-here, public, private, s-maxage=5, must-revalidate, no-transform");
  EXPECT_EQ(cc.max_age, std::nullopt);
  EXPECT_FALSE(cc.no_cache);
  EXPECT_FALSE(cc.no_store);
  EXPECT_FALSE(cc.only_if_cached);
}

TEST(RequestCacheControlTest, AllLinesTogether) {
  const RequestCacheControl cc = parseRequestCacheControl(headersOf({
      {"cache-control", "max-stale=60"},
      {"accept", "*/*"},
      {"cache-control", "Only-If-Cached"},
  }));
  EXPECT_EQ(cc.max_stale, seconds(60));
  EXPECT_TRUE(cc.only_if_cached);
}

TEST(RequestCacheControlTest, PragmaNoCacheOnlyWithoutCacheControl) {
  EXPECT_TRUE(parseRequestCacheControl(headersOf({{"pragma", "no-cache"}})).no_cache);
  EXPECT_TRUE(parseRequestCacheControl(headersOf({{"pragma", " No-Cache "}})).no_cache);
  EXPECT_TRUE(parseRequestCacheControl(headersOf({{"pragma", "foo, no-cache"}})).no_cache);
  EXPECT_TRUE(
      parseRequestCacheControl(headersOf({{"pragma", "foo"}, {"pragma", "no-cache"}})).no_cache);
  // Pragma's other values mean nothing (clients send them on every request).
  EXPECT_FALSE(parseRequestCacheControl(headersOf({{"pragma", "foo"}})).no_cache);
  EXPECT_FALSE(parseRequestCacheControl(headersOf({{"pragma", "no-cache-please"}})).no_cache);
  // Any Cache-Control line, even one this cache does not understand, replaces Pragma.
  EXPECT_FALSE(
      parseRequestCacheControl(headersOf({{"pragma", "no-cache"}, {"cache-control", "max-age=5"}}))
          .no_cache);
  EXPECT_FALSE(parseRequestCacheControl(
                   headersOf({{"cache-control", "nothing-to-see-here"}, {"pragma", "no-cache"}}))
                   .no_cache);
  // The string form reads Cache-Control only.
  EXPECT_FALSE(parseRequestCacheControl("pragma").no_cache);
}

}  // namespace
}  // namespace switchyard::filters::cache
