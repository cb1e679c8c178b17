#include "config/dns.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::upstream {
namespace {

using std::chrono::milliseconds;

DnsConfig parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseDnsConfig(root["dns"], "dns");
}

void expectError(const std::string& yaml, const std::string& path, int line, int column,
                 const std::string& message_part) {
  const config::ConfigError e = test::configErrorOf([&] { parse(yaml); }, yaml);
  test::expectConfigError(e, path, line, message_part, yaml);
  EXPECT_EQ(e.column(), column) << yaml;
}

TEST(DnsConfigTest, Defaults) {
  const DnsConfig c = parse("dns: {}");
  EXPECT_TRUE(c.resolvers.empty());
  EXPECT_EQ(c.refresh, milliseconds(30000));
  EXPECT_EQ(c.min_refresh, milliseconds(1000));
  EXPECT_EQ(c.timeout, milliseconds(5000));
  EXPECT_EQ(c.attempts, 3u);
  EXPECT_EQ(c.retry_base, milliseconds(1000));
  EXPECT_EQ(c.retry_max, milliseconds(30000));
  EXPECT_EQ(parse("dns:").refresh, milliseconds(30000));
}

TEST(DnsConfigTest, EveryKey) {
  const DnsConfig c = parse(R"(
dns:
  resolvers: ["127.0.0.1:5353", "[::1]:53", 10.0.0.53, "fd00::53"]
  refresh: 1m
  min_refresh: 5s
  timeout: 2s
  attempts: 2
  retry: {base: 500ms, max: 10s}
)");
  ASSERT_EQ(c.resolvers.size(), 4u);
  EXPECT_EQ(c.resolvers[0].host, "127.0.0.1");
  EXPECT_EQ(c.resolvers[0].port, 5353);
  EXPECT_EQ(c.resolvers[1].host, "::1");
  EXPECT_EQ(c.resolvers[1].port, 53);
  EXPECT_EQ(c.resolvers[2].host, "10.0.0.53");
  EXPECT_EQ(c.resolvers[2].port, 53);
  EXPECT_EQ(c.resolvers[2].text, "10.0.0.53:53");
  EXPECT_EQ(c.resolvers[3].host, "fd00::53");
  EXPECT_EQ(c.resolvers[3].text, "[fd00::53]:53");
  EXPECT_EQ(c.refresh, milliseconds(60000));
  EXPECT_EQ(c.min_refresh, milliseconds(5000));
  EXPECT_EQ(c.timeout, milliseconds(2000));
  EXPECT_EQ(c.attempts, 2u);
  EXPECT_EQ(c.retry_base, milliseconds(500));
  EXPECT_EQ(c.retry_max, milliseconds(10000));
}

TEST(DnsConfigTest, AShortRefreshLowersTheDefaultMinimum) {
  const DnsConfig c = parse("dns: {refresh: 250ms}");
  EXPECT_EQ(c.refresh, milliseconds(250));
  EXPECT_EQ(c.min_refresh, milliseconds(250));
}

TEST(DnsConfigTest, ARetryBaseAboveTheDefaultMaxRaisesIt) {
  const DnsConfig c = parse("dns: {retry: {base: 1m}}");
  EXPECT_EQ(c.retry_base, milliseconds(60000));
  EXPECT_EQ(c.retry_max, milliseconds(60000));
}

TEST(DnsConfigTest, ToJson) {
  const nlohmann::json j = parse("dns: {resolvers: ['127.0.0.1:5353'], refresh: 10s}").toJson();
  EXPECT_EQ(j["resolvers"], nlohmann::json::array({"127.0.0.1:5353"}));
  EXPECT_EQ(j["refresh"], "10s");
  EXPECT_EQ(j["min_refresh"], "1s");
  EXPECT_EQ(j["timeout"], "5s");
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["retry"]["max"], "30s");
}

TEST(DnsConfigTest, AnUnknownKeyIsRefused) {
  expectError("dns:\n  refresh: 30s\n  ttl: 5s\n", "dns.ttl", 3, 3, "");
}

TEST(DnsConfigTest, ResolversMustBeAList) {
  expectError("dns:\n  resolvers: 127.0.0.1:53\n", "dns.resolvers", 2, 14, "sequence");
}

TEST(DnsConfigTest, AnEmptyResolverListIsRefused) {
  expectError("dns:\n  resolvers: []\n", "dns.resolvers", 2, 14, "must not be empty");
}

TEST(DnsConfigTest, AResolverGivenByNameIsRefused) {
  expectError("dns:\n  resolvers:\n    - 127.0.0.1:53\n    - dns.internal:53\n", "dns.resolvers[1]",
              4, 7, "numeric IP address");
}

TEST(DnsConfigTest, AResolverWithABadPortIsRefused) {
  expectError("dns:\n  resolvers: ['127.0.0.1:0']\n", "dns.resolvers[0]", 2, 15,
              "numeric IP address");
  expectError("dns:\n  resolvers: ['127.0.0.1:65536']\n", "dns.resolvers[0]", 2, 15,
              "numeric IP address");
}

TEST(DnsConfigTest, AResolverListedTwiceIsRefused) {
  expectError("dns:\n  resolvers: ['10.0.0.53', '10.0.0.53:53']\n", "dns.resolvers[1]", 2, 28,
              "listed twice");
}

TEST(DnsConfigTest, BadDurationsAreRefused) {
  expectError("dns:\n  refresh: 0s\n", "dns.refresh", 2, 12, "must be above 0");
  expectError("dns:\n  refresh: 30\n", "dns.refresh", 2, 12, "expected a duration");
  expectError("dns:\n  timeout: 2m\n", "dns.timeout", 2, 12, "must be at most 1m");
  expectError("dns:\n  refresh: 10s\n  min_refresh: 20s\n", "dns.min_refresh", 3, 16,
              "must not be above refresh (10s)");
  expectError("dns:\n  retry: {base: 5s, max: 1s}\n", "dns.retry.max", 2, 26,
              "must not be below retry.base (5s)");
  expectError("dns:\n  retry: {base: 5s, cap: 1s}\n", "dns.retry.cap", 2, 21, "");
}

TEST(DnsConfigTest, AttemptsAreBounded) {
  expectError("dns:\n  attempts: 0\n", "dns.attempts", 2, 13, "");
  expectError("dns:\n  attempts: 6\n", "dns.attempts", 2, 13, "");
  expectError("dns:\n  attempts: many\n", "dns.attempts", 2, 13, "");
}

TEST(DnsConfigTest, TheBlockMustBeAMap) { expectError("dns: [127.0.0.1]\n", "dns", 1, 6, ""); }

}  // namespace
}  // namespace switchyard::upstream
