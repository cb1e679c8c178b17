// Comparing v1's and v2's answers: structural JSON differences, ignored paths, numeric
// tolerance, digests for other bodies, chosen headers, and noise learned from two answers of
// one side.
#include "proxy/router/response_compare.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace switchyard::router {
namespace {

ComparedResponse json200(std::string body) {
  ComparedResponse r;
  r.status = 200;
  r.headers = {{"content-type", "application/json"}};
  r.body = std::move(body);
  return r;
}

TEST(ResponseCompareTest, JsonIsComparedStructurallyNotAsText) {
  CompareSettings s;
  // Key order and whitespace do not matter.
  EXPECT_TRUE(
      compareResponses(json200(R"({"a":1,"b":[1,2]})"), json200(R"({ "b": [1, 2], "a": 1 })"), s)
          .empty());
  const auto d = compareResponses(
      json200(R"({"id":7,"items":[{"sku":"x","qty":2},{"sku":"y","qty":1}],"gone":true,
                  "odd key":1})"),
      json200(R"({"id":"7","items":[{"sku":"x","qty":3}],"new":null,"odd key":2})"), s);
  EXPECT_EQ(d, (std::vector<FieldDifference>{
                   {"$.gone", "true", "<absent>"},
                   {"$.id", "7", "\"7\""},
                   {"$.items[0].qty", "2", "3"},
                   {"$.items.length", "2", "1"},
                   {"$[\"odd key\"]", "1", "2"},
                   {"$.new", "<absent>", "null"},
               }));
}

TEST(ResponseCompareTest, IgnoredPathsAndNumericTolerance) {
  CompareSettings s;
  s.ignore = {"$.serverTime", "$.items[*].etag"};
  s.numeric_tolerance = 0.01;
  const auto d = compareResponses(
      json200(R"({"serverTime":"10:00","total":100.0,"items":[{"etag":"a","n":1},{"etag":"b"}]})"),
      json200(R"({"serverTime":"10:01","total":100.5,"items":[{"etag":"c","n":2},{"etag":"d"}]})"),
      s);
  EXPECT_EQ(d, (std::vector<FieldDifference>{{"$.items[0].n", "1", "2"}}));
  // Beyond the tolerance: reported.
  EXPECT_EQ(compareResponses(json200(R"({"total":100})"), json200(R"({"total":102})"), s).size(),
            1u);
  // An ignored subtree, whatever is under it.
  s.ignore = {"$.meta"};
  EXPECT_TRUE(
      compareResponses(json200(R"({"meta":{"a":1,"b":[1]}})"), json200(R"({"meta":{"a":2}})"), s)
          .empty());
}

TEST(ResponseCompareTest, StatusHeadersAndOtherBodies) {
  CompareSettings s;
  s.headers = {"content-type", "cache-control"};
  ComparedResponse a = json200("hello");
  ComparedResponse b = json200("hellO");
  b.status = 201;
  b.headers = {{"content-type", "text/plain"}, {"cache-control", "no-store"}};
  const auto d = compareResponses(a, b, s);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0], (FieldDifference{"status", "200", "201"}));
  EXPECT_EQ(d[1], (FieldDifference{"header.content-type", "application/json", "text/plain"}));
  EXPECT_EQ(d[2], (FieldDifference{"header.cache-control", "<absent>", "no-store"}));
  EXPECT_EQ(d[3].path, "body");  // not JSON: compared by digest
  EXPECT_EQ(d[3].primary.rfind("sha256:", 0), 0u);
  EXPECT_NE(d[3].primary, d[3].other);
  // Headers not chosen are not compared; equal bodies that are not JSON match.
  s.headers.clear();
  b = a;
  b.headers = {{"date", "other"}};
  EXPECT_TRUE(compareResponses(a, b, s).empty());
  // A body cut at the limit on one side only says so; on both, bodies are not compared.
  b.body_complete = false;
  EXPECT_EQ(compareResponses(a, b, s),
            (std::vector<FieldDifference>{{"body", "complete", "cut at the byte limit"}}));
  a.body_complete = false;
  b.body = "different";
  EXPECT_TRUE(compareResponses(a, b, s).empty());
}

TEST(ResponseCompareTest, DifferencesAreBounded) {
  CompareSettings s;
  s.max_differences = 3;
  std::string x = "[", y = "[";
  for (int i = 0; i < 100; ++i) {
    x += std::string(i ? "," : "") + "1";
    y += std::string(i ? "," : "") + "2";
  }
  EXPECT_EQ(compareResponses(json200(x + "]"), json200(y + "]"), s).size(), 3u);
}

TEST(ResponseCompareTest, GeneralPathsAndPathsWithin) {
  EXPECT_EQ(generalPath("$.items[12].price"), "$.items[*].price");
  EXPECT_EQ(generalPath("$[\"a[1]\"]"), "$[\"a[1]\"]");  // a quoted key stays
  EXPECT_TRUE(pathWithin("$.items[3].etag", "$.items[*].etag"));
  EXPECT_TRUE(pathWithin("$.meta.a[0]", "$.meta"));
  EXPECT_FALSE(pathWithin("$.metadata", "$.meta"));
  EXPECT_FALSE(pathWithin("$.items", "$.items[*].etag"));
}

TEST(ResponseCompareTest, NoiseIsLearnedFromTheSameSideAndLeftOutOfMismatches) {
  CompareSettings s;
  NoiseLearner noise(0.5);
  // Two answers of v1 to one request: the timestamp and the request id differ.
  const auto same = compareResponses(
      json200(R"({"at":"10:00:01","requestId":"r1","items":[{"id":"x","v":1}]})"),
      json200(R"({"at":"10:00:02","requestId":"r2","items":[{"id":"x","v":1}]})"), s);
  ASSERT_EQ(same.size(), 2u);
  // Before learning, a v1/v2 difference in the timestamp is a mismatch.
  const auto v1v2 = compareResponses(json200(R"({"at":"10:00:01","requestId":"r1","v":1})"),
                                     json200(R"({"at":"10:00:03","requestId":"r9","v":1})"), s);
  EXPECT_EQ(judge(v1v2, noise).result, ComparisonResult::Mismatch);
  noise.learn(same);
  EXPECT_TRUE(noise.isNoise("$.at"));
  EXPECT_FALSE(noise.isNoise("$.v"));
  Verdict verdict = judge(v1v2, noise);
  EXPECT_EQ(verdict.result, ComparisonResult::Noise);
  EXPECT_TRUE(verdict.differences.empty());
  // A real difference beside the noise: a mismatch naming only it.
  const auto real =
      compareResponses(json200(R"({"at":"1","v":1})"), json200(R"({"at":"2","v":2})"), s);
  verdict = judge(real, noise);
  EXPECT_EQ(verdict.result, ComparisonResult::Mismatch);
  EXPECT_EQ(verdict.differences, (std::vector<FieldDifference>{{"$.v", "1", "2"}}));
  EXPECT_EQ(judge({}, noise).result, ComparisonResult::Match);
  // Under its ratio a path stops being noise: one difference in three same-side pairs < 0.5.
  noise.learn({});
  noise.learn({});
  EXPECT_FALSE(noise.isNoise("$.at"));
}

TEST(ResponseCompareTest, ANoisyArrayElementCoversEveryElementAndStatusIsNeverNoise) {
  NoiseLearner noise(0.01);
  noise.learn({{"$.items[0].ts", "1", "2"}, {"$.items[1].ts", "1", "2"}, {"status", "200", "500"}});
  EXPECT_EQ(noise.counts().at("$.items[*].ts"), 1u);  // one count for the pair
  EXPECT_TRUE(noise.isNoise("$.items[7].ts"));
  EXPECT_FALSE(noise.isNoise("status"));
  EXPECT_EQ(noise.counts().count("status"), 0u);
  // Bounded: paths beyond the limit are not remembered.
  NoiseLearner small(0.01, 1);
  small.learn({{"$.a", "1", "2"}, {"$.b", "1", "2"}});
  EXPECT_TRUE(small.isNoise("$.a"));
  EXPECT_FALSE(small.isNoise("$.b"));
  EXPECT_EQ(comparisonResultName(ComparisonResult::Noise), "noise");
}

}  // namespace
}  // namespace switchyard::router
