#include "config/yaml_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <limits>
#include <string>

namespace switchyard::config {
namespace {

using std::chrono::milliseconds;

// The first error `fn` throws, formatted against file "t.yaml"; "" if it throws nothing.
template <typename Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.format("t.yaml");
  }
  return "";
}

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST(ParseDurationTest, AcceptsUnitsAndCombinations) {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {
      {"0s", 0},
      {"0ms", 0},
      {"250ms", 250},
      {"30s", 30'000},
      {"1m", 60'000},
      {"2h", 7'200'000},
      {"1m30s", 90'000},
      {"1s500ms", 1'500},
      {"1h30m", 5'400'000},
      {"1h2m3s4ms", 3'723'004},
      {"90s", 90'000},
      {"007s", 7'000},
  };
  for (const Case& c : cases) {
    milliseconds out{-1};
    EXPECT_TRUE(parseDuration(c.text, out)) << c.text;
    EXPECT_EQ(out.count(), c.ms) << c.text;
  }
}

TEST(ParseDurationTest, RejectsBadInput) {
  const char* cases[] = {
      "",
      "30",
      "0",
      "-1s",
      "1.5s",
      "10x",
      "s",
      "ms",
      "1m1h",
      "1s1s",
      "1ms1s",
      " 1s",
      "1s ",
      "1 s",
      "1S",
      "1sec",
      "1d",
      "+1s",
      "1m30",
      "99999999999999999999s",
      "9223372036854775807h",
      "2562047788016h",
  };
  for (const char* text : cases) {
    milliseconds out{42};
    EXPECT_FALSE(parseDuration(text, out)) << text;
    EXPECT_EQ(out.count(), 42) << "output changed on failure for " << text;
  }
}

TEST(ParseDurationTest, LargestRepresentableValue) {
  milliseconds out{0};
  EXPECT_TRUE(parseDuration("9223372036854775807ms", out));
  EXPECT_EQ(out.count(), std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(parseDuration("9223372036854775808ms", out));
  EXPECT_FALSE(parseDuration("9223372036854775807s", out));
  EXPECT_FALSE(parseDuration("9223372036854775s808ms", out));  // sum overflows
}

TEST(ParseBytesTest, AcceptsPlainAndSuffixed) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  const Case cases[] = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"512b", 512},
      {"1k", 1024},
      {"1K", 1024},
      {"1KB", 1024},
      {"1KiB", 1024},
      {"64KiB", 64ULL * 1024},
      {"10MiB", 10ULL * 1024 * 1024},
      {"10MB", 10ULL * 1024 * 1024},
      {"10m", 10ULL * 1024 * 1024},
      {"1GiB", 1ULL << 30},
      {"1GB", 1ULL << 30},
      {"2g", 2ULL << 30},
      {"18446744073709551615", std::numeric_limits<uint64_t>::max()},
  };
  for (const Case& c : cases) {
    uint64_t out = 7;
    EXPECT_TRUE(parseBytes(c.text, out)) << c.text;
    EXPECT_EQ(out, c.bytes) << c.text;
  }
}

TEST(ParseBytesTest, RejectsBadInput) {
  const char* cases[] = {
      "",
      "-1",
      "1.5MiB",
      "1TiB",
      "10XB",
      "MiB",
      "KiB1",
      " 1",
      "1 ",
      "1 KiB",
      "0x10",
      "+1",
      "1KiBs",
      "18446744073709551616",
      "17179869184GiB",
  };
  for (const char* text : cases) {
    uint64_t out = 7;
    EXPECT_FALSE(parseBytes(text, out)) << text;
    EXPECT_EQ(out, 7u) << "output changed on failure for " << text;
  }
}

TEST(ExpandEnvTest, SubstitutesVariablesAndDefaults) {
  ScopedEnv set("SWITCHYARD_TEST_SET", "value");
  ScopedEnv empty("SWITCHYARD_TEST_EMPTY", "");
  unsetenv("SWITCHYARD_TEST_UNSET");
  YAML::Node node = YAML::Load("x");
  EXPECT_EQ(expandEnv("plain", node, "p"), "plain");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_SET}", node, "p"), "value");
  EXPECT_EQ(expandEnv("a-${SWITCHYARD_TEST_SET}-b", node, "p"), "a-value-b");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_SET:-other}", node, "p"), "value");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_UNSET:-fallback}", node, "p"), "fallback");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_UNSET:-}", node, "p"), "");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_UNSET:-a:b-c}", node, "p"), "a:b-c");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_EMPTY}", node, "p"), "");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_EMPTY:-fallback}", node, "p"), "fallback");
  EXPECT_EQ(expandEnv("$${SWITCHYARD_TEST_SET}", node, "p"), "${SWITCHYARD_TEST_SET}");
  EXPECT_EQ(expandEnv("cost: $5 and $$", node, "p"), "cost: $5 and $");
  EXPECT_EQ(expandEnv("trailing $", node, "p"), "trailing $");
  EXPECT_EQ(expandEnv("${SWITCHYARD_TEST_SET}${SWITCHYARD_TEST_SET}", node, "p"), "valuevalue");
}

TEST(ExpandEnvTest, LeavesRollbackContextPlaceholders) {
  ScopedEnv set("SWITCHYARD_TEST_SET", "value");
  YAML::Node node = YAML::Load("x");
  EXPECT_EQ(expandEnv("${context.route} in ${SWITCHYARD_TEST_SET}", node, "p"),
            "${context.route} in value");
  EXPECT_EQ(expandEnv("${context.labels.severity}", node, "p"), "${context.labels.severity}");
  // Any other dotted name is still an invalid variable name.
  EXPECT_THROW(expandEnv("${other.route}", node, "p"), ConfigError);
}

TEST(ExpandEnvTest, ErrorsCarryPositionAndPath) {
  unsetenv("SWITCHYARD_TEST_UNSET");
  YAML::Node root = YAML::Load("a:\n  token: ${SWITCHYARD_TEST_UNSET}\n");
  const YAML::Node token = root["a"]["token"];
  EXPECT_EQ(errorOf([&] { getString(token, "a.token"); }),
            "t.yaml:2:10: a.token: environment variable \"SWITCHYARD_TEST_UNSET\" is not set "
            "(use ${SWITCHYARD_TEST_UNSET:-default} to give a default)");
  EXPECT_EQ(errorOf([&] { expandEnv("${OPEN", token, "p"); }),
            "t.yaml:2:10: p: unterminated \"${\" (write \"$$\" for a literal \"$\")");
  EXPECT_NE(errorOf([&] { expandEnv("${1BAD}", token, "p"); }).find("invalid environment"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { expandEnv("${}", token, "p"); }).find("invalid environment"),
            std::string::npos);
}

TEST(ScalarTest, StringsIntsBoolsDoubles) {
  YAML::Node root =
      YAML::Load("s: hello\nn: 42\nneg: -3\nplus: +7\nb: true\nf: False\nd: 0.25\nq: \"12\"\n");
  EXPECT_EQ(getString(root["s"], "s"), "hello");
  EXPECT_EQ(getString(root["n"], "n"), "42");
  EXPECT_EQ(getInt(root["n"], "n", 0, 100), 42);
  EXPECT_EQ(getInt(root["neg"], "neg", -10, 10), -3);
  EXPECT_EQ(getInt(root["plus"], "plus", 0, 10), 7);
  EXPECT_EQ(getInt(root["q"], "q", 0, 100), 12);
  EXPECT_TRUE(getBool(root["b"], "b"));
  EXPECT_FALSE(getBool(root["f"], "f"));
  EXPECT_DOUBLE_EQ(getDouble(root["d"], "d", 0, 1), 0.25);
  EXPECT_DOUBLE_EQ(getDouble(root["n"], "n", 0, 100), 42.0);
}

TEST(ScalarTest, EnvExpansionBeforeConversion) {
  ScopedEnv workers("SWITCHYARD_TEST_WORKERS", "8");
  unsetenv("SWITCHYARD_TEST_UNSET");
  YAML::Node root = YAML::Load(
      "a: ${SWITCHYARD_TEST_WORKERS}\nb: ${SWITCHYARD_TEST_UNSET:-250ms}\n"
      "c: ${SWITCHYARD_TEST_UNSET:-true}\n");
  EXPECT_EQ(getInt(root["a"], "a", 1, 256), 8);
  EXPECT_EQ(getDuration(root["b"], "b"), milliseconds(250));
  EXPECT_TRUE(getBool(root["c"], "c"));
}

TEST(ScalarTest, WrongTypeMessages) {
  YAML::Node root = YAML::Load(
      "m: {a: 1}\n"
      "l: [1, 2]\n"
      "n: 300\n"
      "x: abc\n"
      "b: yes\n"
      "d: 1.5\n"
      "e:\n");
  EXPECT_EQ(errorOf([&] { getString(root["m"], "m"); }), "t.yaml:1:4: m: expected a string");
  EXPECT_EQ(errorOf([&] { getString(root["l"], "l"); }), "t.yaml:2:4: l: expected a string");
  EXPECT_EQ(errorOf([&] { getInt(root["l"], "l", 1, 256); }),
            "t.yaml:2:4: l: expected an integer between 1 and 256");
  EXPECT_EQ(errorOf([&] { getInt(root["n"], "n", 1, 256); }),
            "t.yaml:3:4: n: expected an integer between 1 and 256, got \"300\"");
  EXPECT_EQ(errorOf([&] { getInt(root["x"], "x", 0, std::numeric_limits<int64_t>::max()); }),
            "t.yaml:4:4: x: expected an integer of at least 0, got \"abc\"");
  EXPECT_EQ(errorOf([&] { getInt(root["d"], "d", 0, 10); }),
            "t.yaml:6:4: d: expected an integer between 0 and 10, got \"1.5\"");
  EXPECT_EQ(errorOf([&] { getBool(root["b"], "b"); }),
            "t.yaml:5:4: b: expected a boolean (true or false), got \"yes\"");
  EXPECT_EQ(errorOf([&] { getDouble(root["d"], "d", 0, 1); }),
            "t.yaml:6:4: d: expected a number between 0 and 1, got \"1.5\"");
  EXPECT_EQ(errorOf([&] { getDouble(root["x"], "x", 0, 1); }),
            "t.yaml:4:4: x: expected a number between 0 and 1, got \"abc\"");
  EXPECT_NE(errorOf([&] { getString(root["e"], "e"); }).find("e: expected a string"),
            std::string::npos);
}

TEST(ScalarTest, DurationAndBytesMessages) {
  YAML::Node root = YAML::Load("t: 30\nu: 5 minutes\nsize: 10XB\nok: 64KiB\n");
  EXPECT_EQ(errorOf([&] { getDuration(root["t"], "t"); }),
            "t.yaml:1:4: t: expected a duration such as \"250ms\", \"30s\", \"1m\" or \"1m30s\", "
            "got \"30\"");
  EXPECT_NE(errorOf([&] { getDuration(root["u"], "u"); }).find("got \"5 minutes\""),
            std::string::npos);
  EXPECT_EQ(errorOf([&] { getBytes(root["size"], "size"); }),
            "t.yaml:3:7: size: expected a size such as 512, \"64KiB\", \"10MiB\" or \"1GiB\", got "
            "\"10XB\"");
  EXPECT_EQ(getBytes(root["ok"], "ok"), 64u * 1024);
}

TEST(ExpectMapTest, ReportsFirstUnknownKeyAtItsPosition) {
  YAML::Node root = YAML::Load("cache:\n  ttl: 1s\n  foo: 1\n  bar: 2\n");
  EXPECT_EQ(errorOf([&] {
              expectMap(root["cache"], "filters[2].cache", {"ttl", "max_bytes"});
            }),
            "t.yaml:3:3: filters[2].cache.foo: unknown key \"foo\" (expected one of: ttl, "
            "max_bytes)");
  EXPECT_EQ(errorOf([&] { expectMap(root["cache"], "c", {"ttl", "foo", "bar"}); }), "");
}

TEST(ExpectMapTest, AllProblemsAtOnce) {
  YAML::Node root = YAML::Load("a: 1\nfoo: 2\na: 3\nbar: 4\n");
  std::vector<ConfigError> errors = mapKeyErrors(root, "", {"a"});
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].format("t.yaml"),
            "t.yaml:2:1: foo: unknown key \"foo\" (expected one of: a)");
  EXPECT_EQ(errors[1].format("t.yaml"), "t.yaml:3:1: a: duplicate key \"a\" (first set on line 1)");
  EXPECT_EQ(errors[2].format("t.yaml"),
            "t.yaml:4:1: bar: unknown key \"bar\" (expected one of: a)");
}

TEST(ExpectMapTest, WrongTypeAndEmptyValue) {
  YAML::Node root = YAML::Load("s: text\nl: [1]\nnothing:\n");
  EXPECT_EQ(errorOf([&] { expectMap(root["s"], "s", {"a"}); }), "t.yaml:1:4: s: expected a map");
  EXPECT_EQ(errorOf([&] { expectMap(root["l"], "l", {"a"}); }), "t.yaml:2:4: l: expected a map");
  EXPECT_EQ(errorOf([&] { expectMap(root["nothing"], "nothing", {"a"}); }), "");
}

TEST(ExpectSequenceTest, Types) {
  YAML::Node root = YAML::Load("s: text\nm: {a: 1}\nl: [1]\nnothing:\n");
  EXPECT_EQ(errorOf([&] { expectSequence(root["s"], "s"); }), "t.yaml:1:4: s: expected a sequence");
  EXPECT_EQ(errorOf([&] { expectSequence(root["m"], "m"); }), "t.yaml:2:4: m: expected a sequence");
  EXPECT_EQ(errorOf([&] { expectSequence(root["l"], "l"); }), "");
  EXPECT_EQ(errorOf([&] { expectSequence(root["nothing"], "nothing"); }), "");
}

TEST(ChildTest, Paths) {
  EXPECT_EQ(child("", "workers"), "workers");
  EXPECT_EQ(child("clusters", 2), "clusters[2]");
  EXPECT_EQ(child("clusters[2]", "name"), "clusters[2].name");
  EXPECT_EQ(child(child("filters", 0), "cache"), "filters[0].cache");
}

TEST(ConfigErrorTest, Format) {
  EXPECT_EQ(ConfigError("a.b", "bad", 3, 7).format("f.yaml"), "f.yaml:3:7: a.b: bad");
  EXPECT_EQ(ConfigError("a.b", "bad").format("f.yaml"), "f.yaml: a.b: bad");
  EXPECT_EQ(ConfigError("", "empty configuration").format("f.yaml"), "f.yaml: empty configuration");
  EXPECT_EQ(ConfigError("", "invalid YAML: x", 2, 1).format("f.yaml"),
            "f.yaml:2:1: invalid YAML: x");
  YAML::Node root = YAML::Load("a:\n  b: 1\n");
  ConfigError at_node(root["a"]["b"], "a.b", "bad");
  EXPECT_EQ(at_node.line(), 2);
  EXPECT_EQ(at_node.column(), 6);
  EXPECT_EQ(at_node.path(), "a.b");
  EXPECT_STREQ(at_node.what(), "bad");
}

TEST(ConfigErrorTest, ErrorsJoinedOnePerLine) {
  ConfigErrors errors("f.yaml", {ConfigError("a", "one", 1, 2), ConfigError("b", "two", 3, 4)});
  EXPECT_EQ(errors.format(), "f.yaml:1:2: a: one\nf.yaml:3:4: b: two");
  EXPECT_STREQ(errors.what(), "f.yaml:1:2: a: one\nf.yaml:3:4: b: two");
  EXPECT_EQ(errors.file(), "f.yaml");
  EXPECT_EQ(errors.errors().size(), 2u);
}

}  // namespace
}  // namespace switchyard::config
