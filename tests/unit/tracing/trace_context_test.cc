#include "proxy/tracing/trace_context.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "proxy/common/random.h"

namespace switchyard::tracing {
namespace {

constexpr const char* TraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* SpanHex = "00f067aa0ba902b7";
constexpr const char* Valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Returns the given values in order: drives the "never all zeros" loops.
class ScriptedRandom : public common::Random {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> values) : values_(std::move(values)) {}
  uint64_t next() override { return values_.at(i_++); }

 private:
  std::vector<uint64_t> values_;
  size_t i_ = 0;
};

TEST(TraceparentTest, ParsesTheSpecExample) {
  std::optional<TraceParent> p = parseTraceparent(Valid);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 0);
  EXPECT_EQ(toHex(p->trace_id), TraceHex);
  EXPECT_EQ(toHex(p->parent_id), SpanHex);
  EXPECT_EQ(p->flags, 0x01);
  EXPECT_TRUE(p->sampled());
}

TEST(TraceparentTest, FlagsOtherThanSampledAreKeptButDoNotSample) {
  std::optional<TraceParent> p =
      parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->sampled());
  p = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->flags, 0x02);
  EXPECT_FALSE(p->sampled());
  p = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->sampled());
}

TEST(TraceparentTest, SurroundingBlanksAreIgnored) {
  EXPECT_TRUE(parseTraceparent(std::string(" \t") + Valid + " "));
}

TEST(TraceparentTest, InvalidValues) {
  const std::string valid = Valid;
  struct Case {
    std::string value;
    const char* why;
  };
  const Case cases[] = {
      {"", "empty"},
      {valid.substr(0, 54), "one character short"},
      {valid + "-", "version 00 with a trailing dash"},
      {valid + "-extra", "version 00 with more fields"},
      {valid + "0", "version 00 one character long"},
      {"ff" + valid.substr(2), "version ff"},
      {"0g" + valid.substr(2), "version not hex"},
      {"0A" + valid.substr(2), "version upper case"},
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace id upper case"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", "parent id upper case"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", "flags upper case"},
      {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all-zero trace id"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "all-zero parent id"},
      {"00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01", "trace id not hex"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01", "parent id not hex"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", "flags not hex"},
      {"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "wrong first separator"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", "wrong second separator"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", "wrong third separator"},
      {"00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01", "fields of wrong widths"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "flags one digit"},
      {"0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version one digit"},
      {"00 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01", "spaces as separators"},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", "future version, no dash"},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00000000000000000-01", "future version, bad id"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(parseTraceparent(c.value)) << c.why << ": " << c.value;
  }
}

TEST(TraceparentTest, HigherVersionIsParsedByItsFirstFourFields) {
  std::optional<TraceParent> p =
      parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 1);
  EXPECT_TRUE(p->sampled());

  p = parseTraceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-the-future-holds");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 0xcc);
  EXPECT_EQ(toHex(p->trace_id), TraceHex);
  EXPECT_EQ(toHex(p->parent_id), SpanHex);
  EXPECT_FALSE(p->sampled());
}

TEST(TraceparentTest, FormatIsAlwaysVersion00) {
  TraceId trace{};
  SpanId span{};
  ASSERT_TRUE(parseHex(TraceHex, trace));
  ASSERT_TRUE(parseHex(SpanHex, span));
  EXPECT_EQ(formatTraceparent(trace, span, SampledFlag), Valid);
  EXPECT_EQ(formatTraceparent(trace, span, 0),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_EQ(formatTraceparent(trace, span, 0xab).substr(53), "ab");
}

TEST(TraceparentTest, ParseAndFormatRoundTrip) {
  std::optional<TraceParent> p = parseTraceparent(Valid);
  ASSERT_TRUE(p);
  EXPECT_EQ(formatTraceparent(p->trace_id, p->parent_id, p->flags), Valid);
}

TEST(HexTest, ParseRejectsWrongLengthAndCase) {
  TraceId trace{};
  SpanId span{};
  EXPECT_FALSE(parseHex("abc", trace));
  EXPECT_FALSE(parseHex(std::string(TraceHex) + "00", trace));
  EXPECT_FALSE(parseHex("00F067AA0BA902B7", span));
  EXPECT_FALSE(parseHex(TraceHex, span));
  EXPECT_TRUE(parseHex("0123456789abcdef", span));
  EXPECT_EQ(toHex(span), "0123456789abcdef");
}

TEST(IdGenerationTest, IdsAreDeterministicForASeedAndDistinct) {
  common::SeededRandom a(7);
  common::SeededRandom b(7);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const TraceId t = generateTraceId(a);
    EXPECT_EQ(t, generateTraceId(b));
    EXPECT_FALSE(isZero(t));
    EXPECT_TRUE(seen.insert(toHex(t)).second);
    const SpanId s = generateSpanId(a);
    EXPECT_EQ(s, generateSpanId(b));
    EXPECT_FALSE(isZero(s));
  }
}

TEST(IdGenerationTest, NeverAllZeros) {
  ScriptedRandom random({0, 0, 0, 1, 0, 5});
  const TraceId t = generateTraceId(random);
  EXPECT_EQ(toHex(t), "00000000000000000000000000000001");
  const SpanId s = generateSpanId(random);
  EXPECT_EQ(toHex(s), "0000000000000005");
}

TEST(TracestateTest, ValidListsAreForwardedNormalized) {
  EXPECT_EQ(parseTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(parseTracestate(" rojo=1 ,\t congo=2\t"), "rojo=1,congo=2");
  EXPECT_EQ(parseTracestate("rojo=1,,, ,congo=2,"), "rojo=1,congo=2");
  EXPECT_EQ(parseTracestate(""), "");
  EXPECT_EQ(parseTracestate(" , "), "");
  EXPECT_EQ(parseTracestate("fw529a3039@dt=a b c"), "fw529a3039@dt=a b c");
  // A value cannot end in a space, but spaces after a member are separators, not value.
  EXPECT_EQ(parseTracestate("k=v "), "k=v");
  EXPECT_EQ(parseTracestate("0tenant@vendor_1=x"), "0tenant@vendor_1=x");
  EXPECT_EQ(parseTracestate("a_-*/9=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~"),
            "a_-*/9=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~");
}

TEST(TracestateTest, MemberLimit) {
  std::string list;
  for (int i = 0; i < 32; ++i) list += (i ? ",k" : "k") + std::to_string(i) + "=v";
  EXPECT_EQ(parseTracestate(list), list);
  EXPECT_FALSE(parseTracestate(list + ",k32=v"));
  // Empty members do not count.
  EXPECT_TRUE(parseTracestate(list + ",,"));
}

TEST(TracestateTest, LengthLimit) {
  const std::string at_limit =
      "a=" + std::string(254, 'v') + ",b=" + std::string(MaxTracestateLength - 259, 'v');
  ASSERT_EQ(at_limit.size(), MaxTracestateLength);
  EXPECT_TRUE(parseTracestate(at_limit));
  EXPECT_FALSE(parseTracestate(at_limit + "d"));
}

TEST(TracestateTest, KeyAndValueLimits) {
  EXPECT_TRUE(parseTracestate("a" + std::string(255, 'b') + "=v"));
  EXPECT_FALSE(parseTracestate("a" + std::string(256, 'b') + "=v"));
  EXPECT_TRUE(parseTracestate("k=" + std::string(256, 'v')));
  EXPECT_FALSE(parseTracestate("k=" + std::string(257, 'v')));
  EXPECT_TRUE(parseTracestate(std::string(241, 't') + "@" + std::string(14, 's') + "=v"));
  EXPECT_FALSE(parseTracestate(std::string(242, 't') + "@s=v"));
  EXPECT_FALSE(parseTracestate("t@" + std::string(15, 's') + "=v"));
}

TEST(TracestateTest, InvalidLists) {
  const char* cases[] = {
      "rojo",              // no '='
      "=v",                // empty key
      "k=",                // empty value
      "Rojo=1",            // upper-case key
      "1abc=1",            // simple key must start with a letter
      "k.x=1",             // '.' is not a key character
      "k=a,b",             // "b" has no '='
      "k=a=b",             // '=' in the value
      "k=v\x01",           // control character
      "k=\xc3\xa9",        // non-ASCII
      "k=1,k=2",           // duplicate key
      "@vendor=1",         // empty tenant
      "tenant@=1",         // empty system
      "tenant@1vendor=1",  // system must start with a letter
      "_tenant@vendor=1",  // tenant must start with a letter or digit
      "a@b@c=1",           // two '@'
  };
  for (const char* c : cases) EXPECT_FALSE(parseTracestate(c)) << c;
}

}  // namespace
}  // namespace switchyard::tracing
