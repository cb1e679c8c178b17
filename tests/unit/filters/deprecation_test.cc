#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config_error.h"
#include "config/deprecation.h"
#include "filters/deprecation/client_labels.h"
#include "filters/deprecation/config.h"
#include "filters/deprecation/deprecation_filter.h"
#include "filters/deprecation/headers.h"
#include "filters/registry.h"
#include "proxy/common/rfc3339.h"
#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::filters::deprecation {
namespace {

using http::FilterHeadersStatus;
using std::chrono::milliseconds;
using std::chrono::seconds;

common::SystemTime at(int64_t unix_seconds) { return common::SystemTime(seconds(unix_seconds)); }

common::SystemTime utc(const char* rfc3339) {
  common::SystemTime t;
  EXPECT_TRUE(common::parseRfc3339(rfc3339, t)) << rfc3339;
  return t;
}

config::DeprecationPolicy policyFrom(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return config::parseDeprecationPolicy(root["deprecated"], "routes[0].deprecated");
}

// Every entry of `headers`, as "name: value" lines in order.
std::vector<std::string> lines(const http::HeaderMap& headers) {
  std::vector<std::string> out;
  for (const auto& e : headers.entries())
    out.push_back(std::string(e.name) + ": " + std::string(e.value));
  return out;
}

// --- header formats ---

TEST(DeprecationHeadersTest, ReferenceExample) {
  // REFERENCE.md §3 (RFC 9745's example, with the GMT that RFC 9110 requires).
  config::DeprecationPolicy policy;
  policy.since = at(1688169599);
  policy.sunset = utc("2024-06-30T23:59:59Z");
  policy.link = "https://developer.example.com/deprecation";
  http::HeaderMap headers;
  applyPolicyHeaders(formatPolicyHeaders(policy), false, headers);
  EXPECT_EQ(lines(headers), (std::vector<std::string>{
                                "deprecation: @1688169599",
                                "sunset: Sun, 30 Jun 2024 23:59:59 GMT",
                                "link: <https://developer.example.com/deprecation>; "
                                "rel=\"deprecation\"",
                            }));
}

TEST(DeprecationHeadersTest, SfDate) {
  EXPECT_EQ(formatSfDate(at(1688169599)), "@1688169599");
  EXPECT_EQ(formatSfDate(at(0)), "@0");
  EXPECT_EQ(formatSfDate(at(1735689600) + milliseconds(999)), "@1735689600");
}

TEST(DeprecationHeadersTest, ImfFixdate) {
  struct Case {
    const char* time;
    const char* imf;
  };
  const Case cases[] = {
      {"2024-06-30T23:59:59Z", "Sun, 30 Jun 2024 23:59:59 GMT"},
      {"2018-12-31T23:59:59Z", "Mon, 31 Dec 2018 23:59:59 GMT"},
      {"1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 GMT"},
      // Leap day, and the days around it.
      {"2024-02-28T23:59:59Z", "Wed, 28 Feb 2024 23:59:59 GMT"},
      {"2024-02-29T00:00:00Z", "Thu, 29 Feb 2024 00:00:00 GMT"},
      {"2024-03-01T00:00:00Z", "Fri, 01 Mar 2024 00:00:00 GMT"},
      {"2100-02-28T12:00:00Z", "Sun, 28 Feb 2100 12:00:00 GMT"},
      {"2100-03-01T12:00:00Z", "Mon, 01 Mar 2100 12:00:00 GMT"},
      {"2000-02-29T08:09:10Z", "Tue, 29 Feb 2000 08:09:10 GMT"},
      // Ends of months and of the year.
      {"2025-04-30T23:59:59Z", "Wed, 30 Apr 2025 23:59:59 GMT"},
      {"2025-05-01T00:00:00Z", "Thu, 01 May 2025 00:00:00 GMT"},
      {"2024-12-31T23:59:59Z", "Tue, 31 Dec 2024 23:59:59 GMT"},
      {"2025-01-01T00:00:00Z", "Wed, 01 Jan 2025 00:00:00 GMT"},
      // An offset is folded into UTC; fractions are dropped.
      {"2025-06-01T01:30:00+02:00", "Sat, 31 May 2025 23:30:00 GMT"},
      {"2025-06-01T00:00:00.999Z", "Sun, 01 Jun 2025 00:00:00 GMT"},
  };
  for (const Case& c : cases) EXPECT_EQ(formatImfFixdate(utc(c.time)), c.imf) << c.time;
}

TEST(DeprecationHeadersTest, LegacyDate) {
  EXPECT_EQ(formatDate(utc("2024-06-30T23:59:59Z")), "2024-06-30");
  EXPECT_EQ(formatDate(utc("2024-02-29T12:00:00Z")), "2024-02-29");
  EXPECT_EQ(formatDate(utc("2024-12-31T23:59:59Z")), "2024-12-31");
  EXPECT_EQ(formatDate(utc("2025-01-01T00:00:00Z")), "2025-01-01");
  EXPECT_EQ(formatDate(utc("2025-01-01T01:00:00+02:00")), "2024-12-31");
}

TEST(DeprecationHeadersTest, Link) {
  EXPECT_EQ(formatLink("https://example.com/migrate", "deprecation"),
            "<https://example.com/migrate>; rel=\"deprecation\"");
  EXPECT_EQ(formatLink("https://example.com/v1-retirement", "sunset"),
            "<https://example.com/v1-retirement>; rel=\"sunset\"");
}

TEST(DeprecationHeadersTest, AllHeadersReplaceSingletonsAndAddLinks) {
  const config::DeprecationPolicy policy = policyFrom(R"(
deprecated:
  since: 2025-01-01T00:00:00Z
  sunset: 2025-06-01T00:00:00Z
  link: https://example.com/migrate-to-v2
  sunset_link: https://example.com/v1-retirement
)");
  http::HeaderMap headers;
  headers.add("link", "<https://api.example.com/page2>; rel=\"next\"");
  headers.add("deprecation", "true");
  headers.add("sunset", "whenever");
  applyPolicyHeaders(formatPolicyHeaders(policy), true, headers);
  EXPECT_EQ(lines(headers), (std::vector<std::string>{
                                "link: <https://api.example.com/page2>; rel=\"next\"",
                                "deprecation: @1735689600",
                                "sunset: Sun, 01 Jun 2025 00:00:00 GMT",
                                "link: <https://example.com/migrate-to-v2>; rel=\"deprecation\"",
                                "link: <https://example.com/v1-retirement>; rel=\"sunset\"",
                                "x-api-deprecation: true",
                                "x-api-sunset: 2025-06-01",
                            }));
}

TEST(DeprecationHeadersTest, OnlySince) {
  http::HeaderMap headers;
  applyPolicyHeaders(formatPolicyHeaders(policyFrom("deprecated: {since: 2025-01-01}")), true,
                     headers);
  EXPECT_EQ(lines(headers),
            (std::vector<std::string>{"deprecation: @1735689600", "x-api-deprecation: true"}));
}

// --- client labels ---

std::string labelOf(ClientLabels& labels, const char* value) {
  return std::string(labels.classify(std::string_view(value)).name);
}

TEST(ClientLabelsTest, AllowList) {
  ClientLabels labels({"mobile-ios", "web", "partner.acme"}, 50);
  EXPECT_EQ(labels.capacity(), 5u);
  EXPECT_EQ(labelOf(labels, "web"), "web");
  EXPECT_EQ(labelOf(labels, "mobile-ios"), "mobile-ios");
  EXPECT_EQ(labelOf(labels, "partner.acme"), "partner.acme");
  EXPECT_EQ(labelOf(labels, "Web"), "other");
  EXPECT_EQ(labelOf(labels, "curl"), "other");
  EXPECT_EQ(labelOf(labels, " web\t"), "web");
  EXPECT_EQ(labelOf(labels, ""), "unknown");
  EXPECT_EQ(labels.classify(nullptr).name, "unknown");
  // Ids tell the labels apart and stay below capacity().
  std::set<uint32_t> ids;
  for (const char* v : {"mobile-ios", "web", "partner.acme", "curl", ""}) {
    const auto label = labels.classify(std::string_view(v));
    EXPECT_LT(label.id, labels.capacity());
    ids.insert(label.id);
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(labels.classify(std::string_view("curl")).id, ClientLabels::OtherId);
  EXPECT_EQ(labels.classify(std::string_view("")).id, ClientLabels::UnknownId);
}

TEST(ClientLabelsTest, AllowListDuplicatesTakeOneSlot) {
  ClientLabels labels({"a", "b", "a"}, 50);
  EXPECT_EQ(labels.capacity(), 4u);
  EXPECT_EQ(labelOf(labels, "a"), "a");
  EXPECT_EQ(labelOf(labels, "b"), "b");
}

TEST(ClientLabelsTest, FirstNKeepTheirLabel) {
  ClientLabels labels({}, 2);
  EXPECT_EQ(labels.capacity(), 4u);
  const auto a = labels.classify(std::string_view("a"));
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(labelOf(labels, "b"), "b");
  EXPECT_EQ(labelOf(labels, "c"), "other");
  EXPECT_EQ(labelOf(labels, "a"), "a");
  EXPECT_EQ(labelOf(labels, "b"), "b");
  EXPECT_EQ(labelOf(labels, "d"), "other");
  EXPECT_EQ(labels.classify(std::string_view("a")).id, a.id);
  EXPECT_NE(labels.classify(std::string_view("b")).id, a.id);
}

TEST(ClientLabelsTest, MissingBlankAndReservedValues) {
  ClientLabels labels({}, 2);
  EXPECT_EQ(labels.classify(nullptr).id, ClientLabels::UnknownId);
  EXPECT_EQ(labelOf(labels, ""), "unknown");
  EXPECT_EQ(labelOf(labels, " \t "), "unknown");
  // The reserved names are the labels themselves and take no slot.
  EXPECT_EQ(labelOf(labels, "unknown"), "unknown");
  EXPECT_EQ(labelOf(labels, "other"), "other");
  EXPECT_EQ(labelOf(labels, "x"), "x");
  EXPECT_EQ(labelOf(labels, "y"), "y");
}

TEST(ClientLabelsTest, InvalidValuesAreOtherAndTakeNoSlot) {
  ClientLabels labels({}, 1);
  for (const char* v : {"a b", "a/b", "a\"b", "a{b}", "caf\xc3\xa9", "a,b", "a\x01"}) {
    EXPECT_EQ(labelOf(labels, v), "other") << v;
  }
  EXPECT_EQ(labelOf(labels, std::string(65, 'x').c_str()), "other");
  EXPECT_EQ(labelOf(labels, "AZaz09._:-"), "AZaz09._:-");
}

TEST(ClientLabelsTest, LongestValueIsKept) {
  ClientLabels labels({}, 5);
  const std::string longest(ClientLabels::MaxLength, 'x');
  EXPECT_EQ(labelOf(labels, longest.c_str()), longest);
  EXPECT_TRUE(ClientLabels::isValidClientId(longest));
  EXPECT_FALSE(ClientLabels::isValidClientId(longest + "x"));
  EXPECT_FALSE(ClientLabels::isValidClientId(""));
}

TEST(ClientLabelsTest, ZeroMaxClientsMakesEveryoneOther) {
  ClientLabels labels({}, 0);
  EXPECT_EQ(labels.capacity(), 2u);
  EXPECT_EQ(labelOf(labels, "a"), "other");
  EXPECT_EQ(labelOf(labels, ""), "unknown");
}

TEST(ClientLabelsTest, ManyValuesFillExactlyMaxClients) {
  ClientLabels labels({}, 50);
  std::set<uint32_t> ids;
  for (int i = 0; i < 200; ++i) {
    const std::string v = "client-" + std::to_string(i);
    const auto label = labels.classify(std::string_view(v));
    if (i < 50) {
      EXPECT_EQ(label.name, v);
      ids.insert(label.id);
    } else {
      EXPECT_EQ(label.id, ClientLabels::OtherId) << v;
    }
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(labelOf(labels, "client-49"), "client-49");
}

TEST(ClientLabelsTest, TwoThreadsAgreeAndKeepTheBound) {
  constexpr int Values = 300;
  constexpr uint32_t Max = 50;
  ClientLabels labels({}, Max);
  std::vector<std::vector<ClientLabels::Label>> seen(2);
  auto work = [&](int t) {
    // The threads walk the values in opposite orders, many times, to race on new values.
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < Values; ++i) {
        const int v = t == 0 ? i : Values - 1 - i;
        const std::string value = "c" + std::to_string(v);
        const auto label = labels.classify(std::string_view(value));
        if (round == 19) seen[t].push_back(label);
      }
    }
  };
  std::thread a(work, 0);
  std::thread b(work, 1);
  a.join();
  b.join();

  std::map<std::string, uint32_t> kept;  // value -> id, from both threads
  for (int t = 0; t < 2; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(Values));
    for (int i = 0; i < Values; ++i) {
      const int v = t == 0 ? i : Values - 1 - i;
      const ClientLabels::Label& label = seen[t][i];
      ASSERT_LT(label.id, labels.capacity());
      if (label.id == ClientLabels::OtherId) continue;
      EXPECT_EQ(label.name, "c" + std::to_string(v));
      auto [it, inserted] = kept.emplace(std::string(label.name), label.id);
      EXPECT_EQ(it->second, label.id) << label.name;
    }
  }
  EXPECT_EQ(kept.size(), Max);
  std::set<uint32_t> ids;
  for (const auto& [name, id] : kept) ids.insert(id);
  EXPECT_EQ(ids.size(), Max);
}

// --- enforcement decisions ---

TEST(EnforcementTest, Decisions) {
  const config::DeprecationPolicy policy = policyFrom(R"(
deprecated:
  since: 2025-01-01
  sunset: 2025-06-01
  enforce_sunset: true
  brownouts:
    - {start: 2025-03-01T12:00:00Z, end: 2025-03-01T13:00:00Z}
    - {start: 2025-03-01T12:30:00Z, end: 2025-03-01T14:00:00Z, status: 410}
    - {start: 2025-05-31T23:00:00Z, end: 2025-06-01T01:00:00Z}
)");
  using Kind = Enforcement::Kind;
  EXPECT_EQ(enforcementAt(policy, utc("2025-03-01T11:59:59Z")).kind, Kind::None);
  Enforcement e = enforcementAt(policy, utc("2025-03-01T12:00:00Z"));
  EXPECT_EQ(e.kind, Kind::Brownout);
  EXPECT_EQ(e.window, &policy.brownouts[0]);
  // Overlap: the first listed window wins; the end is exclusive.
  EXPECT_EQ(enforcementAt(policy, utc("2025-03-01T12:45:00Z")).window, &policy.brownouts[0]);
  EXPECT_EQ(enforcementAt(policy, utc("2025-03-01T13:00:00Z")).window, &policy.brownouts[1]);
  EXPECT_EQ(enforcementAt(policy, utc("2025-03-01T14:00:00Z")).kind, Kind::None);
  EXPECT_EQ(enforcementAt(policy, utc("2025-05-31T23:59:59Z")).window, &policy.brownouts[2]);
  // The sunset wins over a brownout still running.
  EXPECT_EQ(enforcementAt(policy, utc("2025-06-01T00:00:00Z")).kind, Kind::Sunset);
  EXPECT_EQ(enforcementAt(policy, utc("2030-01-01T00:00:00Z")).kind, Kind::Sunset);

  config::DeprecationPolicy lenient = policy;
  lenient.enforce_sunset = false;
  EXPECT_EQ(enforcementAt(lenient, utc("2025-06-01T00:30:00Z")).kind, Kind::Brownout);
  EXPECT_EQ(enforcementAt(lenient, utc("2030-01-01T00:00:00Z")).kind, Kind::None);
}

// --- the filter ---

double counterValue(prometheus::Registry& registry, const std::string& route,
                    const std::string& version, const std::string& client) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "switchyard_deprecated_requests_total") continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : metric.label) labels[l.name] = l.value;
      if (labels == std::map<std::string, std::string>{
                        {"route", route}, {"version", version}, {"client", client}}) {
        return metric.counter.value;
      }
    }
  }
  return -1;
}

size_t seriesCount(prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name == "switchyard_deprecated_requests_total") return family.metric.size();
  }
  return 0;
}

class DeprecationFilterTest : public testing::Test {
 protected:
  DeprecationFilterTest()
      : policy_(policyFrom(R"(
deprecated:
  since: 2025-01-01T00:00:00Z
  sunset: 2025-06-01T00:00:00Z
  link: https://example.com/migrate-to-v2
  sunset_link: https://example.com/v1-retirement
  brownouts:
    - {start: 2025-03-01T12:00:00Z, end: 2025-03-01T13:00:00Z}
    - {start: 2025-04-01T12:00:00Z, end: 2025-04-01T13:00:00Z, status: 410}
  enforce_sunset: true
)")) {}

  void build(DeprecationFilterConfig config = {}) {
    factory_ = std::make_unique<DeprecationFilterFactory>(std::move(config),
                                                          deprecatedRequestsFamily(metrics_));
  }

  // A new stream on `callbacks` (routed to api/v1 with the policy unless told otherwise).
  http::StreamFilterPtr stream(test::FakeFilterCallbacks& callbacks,
                               const config::DeprecationPolicy* policy, const char* client,
                               const std::string& version = "v1") {
    http::StreamFilterPtr filter = factory_->create(callbacks.workerContext(), nullptr);
    callbacks.attach(*filter);
    callbacks.streamInfo().route_name = "api";
    callbacks.streamInfo().version = version;
    callbacks.streamInfo().deprecation = policy;
    if (client != nullptr) callbacks.requestHeaders().headers.add("x-client-id", client);
    return filter;
  }

  void setNow(const char* rfc3339) { callbacks_.timeSource().setSystemTime(utc(rfc3339)); }

  FilterHeadersStatus decode() {
    filter_ = stream(callbacks_, &policy_, "web");
    return filter_->decodeHeaders(callbacks_.requestHeaders(), true);
  }

  // Runs `response` through the filter's encode side, as the filter manager would.
  http::ResponseHeaders encode(http::ResponseHeaders response = {}) {
    EXPECT_EQ(filter_->encodeHeaders(response, false), FilterHeadersStatus::Continue);
    return response;
  }

  const std::vector<std::string> allHeaders = {
      "deprecation: @1735689600",
      "sunset: Sun, 01 Jun 2025 00:00:00 GMT",
      "link: <https://example.com/migrate-to-v2>; rel=\"deprecation\"",
      "link: <https://example.com/v1-retirement>; rel=\"sunset\"",
      "x-api-deprecation: true",
      "x-api-sunset: 2025-06-01",
  };

  prometheus::Registry metrics_;
  const config::DeprecationPolicy policy_;
  std::unique_ptr<DeprecationFilterFactory> factory_;
  test::FakeFilterCallbacks callbacks_;
  http::StreamFilterPtr filter_;
};

TEST_F(DeprecationFilterTest, NoPolicyDoesNothing) {
  build();
  setNow("2025-03-01T12:30:00Z");  // would be a brownout
  filter_ = stream(callbacks_, nullptr, "web");
  EXPECT_EQ(filter_->decodeHeaders(callbacks_.requestHeaders(), true),
            FilterHeadersStatus::Continue);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  http::ResponseHeaders response;
  response.headers.add("content-type", "application/json");
  EXPECT_EQ(lines(encode(std::move(response)).headers),
            std::vector<std::string>{"content-type: application/json"});
  EXPECT_EQ(seriesCount(metrics_), 0u);
}

TEST_F(DeprecationFilterTest, HeadersOnTheResponse) {
  build();
  setNow("2025-02-01T00:00:00Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::Continue);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  http::ResponseHeaders response;
  response.headers.add("content-type", "application/json");
  response.headers.add("link", "<https://api.example.com/v1/items?page=2>; rel=\"next\"");
  std::vector<std::string> expected = {
      "content-type: application/json",
      "link: <https://api.example.com/v1/items?page=2>; rel=\"next\""};
  expected.insert(expected.end(), allHeaders.begin(), allHeaders.end());
  EXPECT_EQ(lines(encode(std::move(response)).headers), expected);
}

TEST_F(DeprecationFilterTest, LegacyHeadersOff) {
  DeprecationFilterConfig config;
  config.legacy_headers = false;
  build(config);
  setNow("2025-02-01T00:00:00Z");
  decode();
  EXPECT_EQ(lines(encode().headers),
            std::vector<std::string>(allHeaders.begin(), allHeaders.begin() + 4));
}

TEST_F(DeprecationFilterTest, BrownoutRepliesWithHeadersAndRetryAfter) {
  build();
  setNow("2025-03-01T12:15:00.5Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::StopIteration);
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  const http::LocalReply& reply = callbacks_.lastLocalReply();
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.title, "Service Unavailable");
  EXPECT_EQ(reply.detail,
            "API version v1 (route api) is deprecated and in a scheduled brownout until "
            "2025-03-01T13:00:00Z; migration guide: https://example.com/migrate-to-v2.");
  std::vector<std::string> expected = {"retry-after: 2700"};  // 44 min 59.5 s, rounded up
  expected.insert(expected.end(), allHeaders.begin(), allHeaders.end());
  EXPECT_EQ(lines(reply.headers), expected);
  // The reply then runs through the filter's own encode side: nothing is added twice.
  http::ResponseHeaders local;
  local.status = 503;
  EXPECT_TRUE(lines(encode(std::move(local)).headers).empty());
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "web"), 1);
}

TEST_F(DeprecationFilterTest, BrownoutRetryAfterIsAtLeastOneSecond) {
  build();
  setNow("2025-03-01T12:59:59.999Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::StopIteration);
  EXPECT_EQ(*callbacks_.lastLocalReply().headers.get("retry-after"), "1");
}

TEST_F(DeprecationFilterTest, BrownoutWithOtherStatusHasNoRetryAfter) {
  build();
  setNow("2025-04-01T12:00:00Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::StopIteration);
  const http::LocalReply& reply = callbacks_.lastLocalReply();
  EXPECT_EQ(reply.status, 410);
  EXPECT_EQ(reply.title, "Gone");
  EXPECT_EQ(lines(reply.headers), allHeaders);
}

TEST_F(DeprecationFilterTest, BrownoutOfAnUnversionedRoute) {
  build();
  setNow("2025-03-01T12:00:00Z");
  filter_ = stream(callbacks_, &policy_, "web", "");
  EXPECT_EQ(filter_->decodeHeaders(callbacks_.requestHeaders(), true),
            FilterHeadersStatus::StopIteration);
  EXPECT_EQ(callbacks_.lastLocalReply().detail,
            "Route api is deprecated and in a scheduled brownout until 2025-03-01T13:00:00Z; "
            "migration guide: https://example.com/migrate-to-v2.");
  EXPECT_EQ(counterValue(metrics_, "api", "", "web"), 1);
}

TEST_F(DeprecationFilterTest, AfterTheSunsetGone) {
  build();
  setNow("2025-06-01T00:00:00Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::StopIteration);
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  const http::LocalReply& reply = callbacks_.lastLocalReply();
  EXPECT_EQ(reply.status, 410);
  EXPECT_EQ(reply.title, "Gone");
  EXPECT_EQ(reply.detail,
            "API version v1 (route api) was retired on 2025-06-01T00:00:00Z; see "
            "https://example.com/v1-retirement.");
  EXPECT_EQ(lines(reply.headers), allHeaders);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "web"), 1);
}

TEST_F(DeprecationFilterTest, SunsetStatusAndLinkFallback) {
  config::DeprecationPolicy policy = policy_;
  policy.sunset_link.clear();
  policy.sunset_status = 404;
  build();
  setNow("2026-01-01T00:00:00Z");
  filter_ = stream(callbacks_, &policy, "web");
  EXPECT_EQ(filter_->decodeHeaders(callbacks_.requestHeaders(), true),
            FilterHeadersStatus::StopIteration);
  EXPECT_EQ(callbacks_.lastLocalReply().status, 404);
  EXPECT_EQ(callbacks_.lastLocalReply().title, "Not Found");
  EXPECT_EQ(callbacks_.lastLocalReply().detail,
            "API version v1 (route api) was retired on 2025-06-01T00:00:00Z; see "
            "https://example.com/migrate-to-v2.");
}

TEST_F(DeprecationFilterTest, PassedSunsetWithoutEnforceSunsetOnlyMarks) {
  config::DeprecationPolicy policy = policy_;
  policy.enforce_sunset = false;
  build();
  setNow("2026-01-01T00:00:00Z");
  filter_ = stream(callbacks_, &policy, "web");
  EXPECT_EQ(filter_->decodeHeaders(callbacks_.requestHeaders(), true),
            FilterHeadersStatus::Continue);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_EQ(lines(encode().headers), allHeaders);
}

TEST_F(DeprecationFilterTest, EnforceOffNeverReplies) {
  DeprecationFilterConfig config;
  config.enforce = false;
  build(config);
  for (const char* now : {"2025-03-01T12:30:00Z", "2026-01-01T00:00:00Z"}) {
    test::FakeFilterCallbacks callbacks;
    callbacks.timeSource().setSystemTime(utc(now));
    http::StreamFilterPtr filter = stream(callbacks, &policy_, "web");
    EXPECT_EQ(filter->decodeHeaders(callbacks.requestHeaders(), true),
              FilterHeadersStatus::Continue)
        << now;
    EXPECT_TRUE(callbacks.localReplies().empty()) << now;
    http::ResponseHeaders response;
    filter->encodeHeaders(response, true);
    EXPECT_EQ(lines(response.headers), allHeaders) << now;
  }
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "web"), 2);
}

TEST_F(DeprecationFilterTest, OtherFiltersLocalRepliesAreLeftAlone) {
  build();
  setNow("2025-02-01T00:00:00Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::Continue);
  // A later filter (a rate limiter, a breaker) replies itself; the reply passes this filter.
  callbacks_.sendLocalReply({429, "Too Many Requests", "slow down", {}});
  EXPECT_TRUE(callbacks_.lastLocalReply().headers.entries().empty());
  http::ResponseHeaders local;
  local.status = 429;
  EXPECT_TRUE(lines(encode(std::move(local)).headers).empty());
}

TEST_F(DeprecationFilterTest, MetricCountsByRouteVersionAndClient) {
  build();
  setNow("2025-02-01T00:00:00Z");
  auto request = [&](const config::DeprecationPolicy* policy, const char* client,
                     const std::string& version) {
    test::FakeFilterCallbacks callbacks;
    callbacks.timeSource().setSystemTime(utc("2025-02-01T00:00:00Z"));
    http::StreamFilterPtr filter = stream(callbacks, policy, client, version);
    filter->decodeHeaders(callbacks.requestHeaders(), true);
  };
  request(&policy_, "web", "v1");
  request(&policy_, "web", "v1");
  request(&policy_, " web ", "v1");
  request(&policy_, "ios", "v1");
  request(&policy_, nullptr, "v1");
  request(&policy_, "bad value", "v1");
  request(&policy_, "web", "v0");  // a route-wide policy covers several versions
  request(nullptr, "web", "v2");   // not deprecated: not counted
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "web"), 3);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "ios"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "unknown"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "other"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v0", "web"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v2", "web"), -1);
  EXPECT_EQ(seriesCount(metrics_), 5u);
}

TEST_F(DeprecationFilterTest, ClientHeaderAllowListAndMaxClients) {
  DeprecationFilterConfig config;
  config.client_header = "x-app";
  config.clients = {"ios"};
  build(config);
  auto request = [&](const char* app) {
    test::FakeFilterCallbacks callbacks;
    http::StreamFilterPtr filter = stream(callbacks, &policy_, nullptr);
    callbacks.timeSource().setSystemTime(utc("2025-02-01T00:00:00Z"));
    if (app != nullptr) callbacks.requestHeaders().headers.add("x-app", app);
    callbacks.requestHeaders().headers.add("x-client-id", "web");  // not the configured header
    filter->decodeHeaders(callbacks.requestHeaders(), true);
  };
  request("ios");
  request("android");
  request(nullptr);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "ios"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "other"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "unknown"), 1);
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "web"), -1);

  prometheus::Registry other_metrics;
  DeprecationFilterConfig first_one;
  first_one.max_clients = 1;
  DeprecationFilterFactory factory(first_one, deprecatedRequestsFamily(other_metrics));
  for (const char* client : {"a", "b", "a"}) {
    test::FakeFilterCallbacks callbacks;
    http::StreamFilterPtr filter = factory.create(callbacks.workerContext(), nullptr);
    callbacks.attach(*filter);
    callbacks.timeSource().setSystemTime(utc("2025-02-01T00:00:00Z"));
    callbacks.streamInfo().route_name = "api";
    callbacks.streamInfo().deprecation = &policy_;
    callbacks.requestHeaders().headers.add("x-client-id", client);
    filter->decodeHeaders(callbacks.requestHeaders(), true);
  }
  EXPECT_EQ(counterValue(other_metrics, "api", "", "a"), 2);
  EXPECT_EQ(counterValue(other_metrics, "api", "", "other"), 1);
}

TEST_F(DeprecationFilterTest, WorkersShareTheSeries) {
  build();
  // Each worker has its own cache (its WorkerLocal); the counters are the same series.
  std::vector<WorkerLocalPtr> locals;
  auto request = [&](uint32_t worker_index, bool with_local) {
    test::FakeFilterCallbacks callbacks;
    callbacks.timeSource().setSystemTime(utc("2025-02-01T00:00:00Z"));
    WorkerContext ctx{callbacks.simulatedDispatcher(),
                      callbacks.seededRandom(),
                      callbacks.timeSource(),
                      worker_index,
                      nullptr,
                      nullptr};
    if (with_local && locals.size() <= worker_index) {
      locals.push_back(factory_->workerLocal(ctx, nullptr));
      ASSERT_NE(locals.back(), nullptr);
    }
    http::StreamFilterPtr filter =
        factory_->create(ctx, with_local ? locals[worker_index].get() : nullptr);
    callbacks.attach(*filter);
    callbacks.streamInfo().route_name = "api";
    callbacks.streamInfo().version = "v1";
    callbacks.streamInfo().deprecation = &policy_;
    filter->decodeHeaders(callbacks.requestHeaders(), true);
    http::ResponseHeaders response;
    filter->encodeHeaders(response, true);
    EXPECT_EQ(lines(response.headers), allHeaders) << worker_index;
  };
  request(0, true);
  request(1, true);
  request(1, true);
  request(2, false);  // no worker object: the filter makes its own, still counted
  EXPECT_EQ(counterValue(metrics_, "api", "v1", "unknown"), 4);
  // A new configuration gets new caches: the policies it knows are other objects.
  WorkerContext ctx{callbacks_.simulatedDispatcher(),
                    callbacks_.seededRandom(),
                    callbacks_.timeSource(),
                    0,
                    nullptr,
                    nullptr};
  EXPECT_NE(factory_->workerLocal(ctx, locals[0]), locals[0]);
}

TEST_F(DeprecationFilterTest, UsesTheWorkerTimeSource) {
  build();
  setNow("2025-03-01T11:59:59Z");
  EXPECT_EQ(decode(), FilterHeadersStatus::Continue);
  callbacks_.advance(seconds(1));
  test::FakeFilterCallbacks later;
  later.timeSource().setSystemTime(callbacks_.timeSource().systemNow());
  http::StreamFilterPtr filter = stream(later, &policy_, "web");
  EXPECT_EQ(filter->decodeHeaders(later.requestHeaders(), true),
            FilterHeadersStatus::StopIteration);
}

TEST(DeprecationFactoryTest, ToJson) {
  prometheus::Registry metrics;
  DeprecationFilterConfig config;
  EXPECT_EQ(DeprecationFilterFactory(config, deprecatedRequestsFamily(metrics)).toJson(),
            nlohmann::json::parse(R"({"client_header": "x-client-id", "max_clients": 50,
                                      "legacy_headers": true, "enforce": true})"));
  config.client_header = "x-app";
  config.clients = {"ios", "web"};
  config.legacy_headers = false;
  config.enforce = false;
  EXPECT_EQ(DeprecationFilterFactory(config, deprecatedRequestsFamily(metrics)).toJson(),
            nlohmann::json::parse(R"({"client_header": "x-app", "clients": ["ios", "web"],
                                      "legacy_headers": false, "enforce": false})"));
}

TEST(DeprecationFactoryTest, RegisteredAsBuiltin) {
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  const FilterRegistration* registration = registry.find("deprecation");
  ASSERT_NE(registration, nullptr);
  const FilterBuildFn* build = &registration->build;

  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  BuildContext ctx{"filters[3].deprecation", metrics, time};
  YAML::Node root = YAML::Load("deprecation: {client_header: X-App, max_clients: 10}");
  FilterFactoryPtr factory = (*build)(root["deprecation"], ctx);
  ASSERT_NE(factory, nullptr);
  EXPECT_EQ(factory->toJson()["client_header"], "x-app");
  EXPECT_EQ(factory->toJson()["max_clients"], 10);
  // A second configuration (a reload) counts into the same family.
  FilterFactoryPtr again = (*build)(root["deprecation"], ctx);
  ASSERT_NE(again, nullptr);

  test::FakeFilterCallbacks callbacks;
  http::StreamFilterPtr filter = factory->create(callbacks.workerContext(), nullptr);
  ASSERT_NE(filter, nullptr);

  try {
    (*build)(YAML::Load("deprecation: {enforce: maybe}")["deprecation"], ctx);
    ADD_FAILURE() << "no ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.path(), "filters[3].deprecation.enforce");
  }
}

// --- the filter's configuration ---

class DeprecationConfigTest : public testing::Test {
 protected:
  static DeprecationFilterConfig parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    return parseDeprecationFilterConfig(root["deprecation"], "filters[3].deprecation");
  }

  // The error parse() throws for `yaml`, formatted against file "t.yaml"; "" if none.
  static std::string errorOf(const std::string& yaml) {
    try {
      parse(yaml);
    } catch (const config::ConfigError& e) {
      return e.format("t.yaml");
    }
    return "";
  }
};

void expectDefaults(const DeprecationFilterConfig& c) {
  EXPECT_EQ(c.client_header, "x-client-id");
  EXPECT_TRUE(c.clients.empty());
  EXPECT_EQ(c.max_clients, 50u);
  EXPECT_TRUE(c.legacy_headers);
  EXPECT_TRUE(c.enforce);
}

TEST_F(DeprecationConfigTest, Defaults) {
  expectDefaults(parse("deprecation: {}"));
  expectDefaults(parse("deprecation:"));
}

TEST_F(DeprecationConfigTest, EveryKey) {
  DeprecationFilterConfig c = parse(R"(
deprecation:
  client_header: X-App-Name
  clients: [ios, web, web, partner.acme:v2]
  legacy_headers: false
  enforce: false
)");
  EXPECT_EQ(c.client_header, "x-app-name");
  EXPECT_EQ(c.clients, (std::vector<std::string>{"ios", "web", "partner.acme:v2"}));
  EXPECT_FALSE(c.legacy_headers);
  EXPECT_FALSE(c.enforce);
  EXPECT_EQ(parse("deprecation: {max_clients: 0}").max_clients, 0u);
  EXPECT_EQ(parse("deprecation: {max_clients: 10000}").max_clients, 10000u);
}

TEST_F(DeprecationConfigTest, Errors) {
  const std::string p = "filters[3].deprecation";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const Case cases[] = {
      {"deprecation: [x]", "t.yaml:1:14: " + p + ": expected a map"},
      {"deprecation: {client: x}",
       "t.yaml:1:15: " + p +
           ".client: unknown key \"client\" (expected one of: client_header, clients, "
           "max_clients, legacy_headers, enforce)"},
      {"deprecation: {client_header: 'X App'}",
       "t.yaml:1:30: " + p + ".client_header: invalid header name \"X App\""},
      {"deprecation: {client_header: ''}",
       "t.yaml:1:30: " + p + ".client_header: invalid header name \"\""},
      {"deprecation: {clients: ios}", "t.yaml:1:24: " + p + ".clients: expected a sequence"},
      {"deprecation: {clients: []}",
       "t.yaml:1:24: " + p +
           ".clients: an empty allow-list would count every client as \"other\" (to do that, set "
           "max_clients: 0 instead)"},
      {"deprecation: {clients: [ios, 'a b']}",
       "t.yaml:1:30: " + p +
           ".clients[1]: 'a b' is not a valid client id (1 to 64 characters of A-Z a-z 0-9 . _ "
           ": -)"},
      {"deprecation: {clients: [" + std::string(65, 'x') + "]}",
       "t.yaml:1:25: " + p + ".clients[0]: '" + std::string(65, 'x') +
           "' is not a valid client id (1 to 64 characters of A-Z a-z 0-9 . _ : -)"},
      {"deprecation: {clients: [other]}",
       "t.yaml:1:25: " + p +
           ".clients[0]: 'other' is reserved: it labels clients outside the list (other) or "
           "without the header (unknown)"},
      {"deprecation: {clients: [unknown]}",
       "t.yaml:1:25: " + p +
           ".clients[0]: 'unknown' is reserved: it labels clients outside the list (other) or "
           "without the header (unknown)"},
      {"deprecation: {clients: [ios], max_clients: 5}",
       "t.yaml:1:44: " + p +
           ".max_clients: max_clients cannot be used with clients (the allow-list decides)"},
      {"deprecation: {max_clients: -1}",
       "t.yaml:1:28: " + p + ".max_clients: expected an integer between 0 and 10000, got \"-1\""},
      {"deprecation: {max_clients: 10001}",
       "t.yaml:1:28: " + p +
           ".max_clients: expected an integer between 0 and 10000, got \"10001\""},
      {"deprecation: {legacy_headers: 1}",
       "t.yaml:1:31: " + p + ".legacy_headers: expected a boolean (true or false), got \"1\""},
      {"deprecation: {enforce: on}",
       "t.yaml:1:24: " + p + ".enforce: expected a boolean (true or false), got \"on\""},
  };
  for (const Case& c : cases) EXPECT_EQ(errorOf(c.yaml), c.error) << c.yaml;
}

}  // namespace
}  // namespace switchyard::filters::deprecation
