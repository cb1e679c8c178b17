#include "proxy/redis/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::redis {
namespace {

using std::chrono::milliseconds;

RedisConfig parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseRedisConfig(root["redis"], "redis");
}

void expectError(const std::string& yaml, const std::string& path, int line, int column,
                 const std::string& message_part) {
  const config::ConfigError e = test::configErrorOf([&] { parse(yaml); }, yaml);
  test::expectConfigError(e, path, line, message_part, yaml);
  EXPECT_EQ(e.column(), column) << yaml;
}

TEST(RedisConfigTest, DefaultsWithAnAddress) {
  const RedisConfig c = parse("redis: {address: 127.0.0.1:6379}");
  EXPECT_EQ(c.address.host, "127.0.0.1");
  EXPECT_EQ(c.address.port, 6379);
  EXPECT_EQ(c.timeout, milliseconds(20));
  EXPECT_EQ(c.connect_timeout, milliseconds(1000));
  EXPECT_EQ(c.username, "");
  EXPECT_EQ(c.password, "");
  EXPECT_EQ(c.database, 0u);
  EXPECT_EQ(c.failures_before_cooldown, 3u);
  EXPECT_EQ(c.cooldown, milliseconds(1000));
  EXPECT_EQ(c.reconnect_base, milliseconds(100));
  EXPECT_EQ(c.reconnect_max, milliseconds(5000));
}

TEST(RedisConfigTest, EveryKey) {
  setenv("SWITCHYARD_TEST_REDIS_PASSWORD", "s3cret", 1);
  const RedisConfig c = parse(R"(
redis:
  address: "[::1]:6380"
  timeout: 50ms
  connect_timeout: 2s
  username: proxy
  password: ${SWITCHYARD_TEST_REDIS_PASSWORD}
  database: 4
  failures_before_cooldown: 0
  cooldown: 5s
  reconnect: {base: 10ms, max: 1s}
)");
  unsetenv("SWITCHYARD_TEST_REDIS_PASSWORD");
  EXPECT_EQ(c.address.host, "::1");
  EXPECT_EQ(c.address.port, 6380);
  EXPECT_EQ(c.timeout, milliseconds(50));
  EXPECT_EQ(c.connect_timeout, milliseconds(2000));
  EXPECT_EQ(c.username, "proxy");
  EXPECT_EQ(c.password, "s3cret");
  EXPECT_EQ(c.database, 4u);
  EXPECT_EQ(c.failures_before_cooldown, 0u);
  EXPECT_EQ(c.cooldown, milliseconds(5000));
  EXPECT_EQ(c.reconnect_base, milliseconds(10));
  EXPECT_EQ(c.reconnect_max, milliseconds(1000));
}

TEST(RedisConfigTest, LocalhostIsTheLoopbackAddress) {
  const RedisConfig c = parse("redis: {address: 'localhost:6379'}");
  EXPECT_EQ(c.address.host, "127.0.0.1");
  EXPECT_EQ(c.address.text, "localhost:6379");
}

TEST(RedisConfigTest, ABaseAboveTheDefaultMaxRaisesIt) {
  const RedisConfig c = parse("redis: {address: '127.0.0.1:6379', reconnect: {base: 10s}}");
  EXPECT_EQ(c.reconnect_base, milliseconds(10000));
  EXPECT_EQ(c.reconnect_max, milliseconds(10000));
}

TEST(RedisConfigTest, ToJsonRedactsThePassword) {
  const RedisConfig with = parse("redis: {address: '127.0.0.1:6379', password: hunter2}");
  const nlohmann::json j = with.toJson();
  EXPECT_EQ(j["password"], "<redacted>");
  EXPECT_EQ(j.dump().find("hunter2"), std::string::npos);
  EXPECT_EQ(j["address"], "127.0.0.1:6379");
  EXPECT_EQ(j["timeout"], "20ms");
  EXPECT_EQ(j["reconnect"]["max"], "5s");
  EXPECT_FALSE(parse("redis: {address: '127.0.0.1:6379'}").toJson().contains("password"));
}

TEST(RedisConfigTest, AHostNameIsRefused) {
  expectError("redis:\n  address: redis.internal:6379\n", "redis.address", 2, 12,
              "numeric IP address or localhost");
}

TEST(RedisConfigTest, AnAddressWithoutAPortIsRefused) {
  expectError("redis:\n  address: 127.0.0.1\n", "redis.address", 2, 12, "host:port");
}

TEST(RedisConfigTest, TheAddressIsRequired) {
  expectError("redis:\n  timeout: 20ms\n", "redis.address", 2, 3, "required");
}

TEST(RedisConfigTest, AZeroTimeoutIsRefused) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  timeout: 0ms\n", "redis.timeout", 3, 12,
              "must be above 0");
}

TEST(RedisConfigTest, AnUnparsableTimeoutIsRefused) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  timeout: fast\n", "redis.timeout", 3, 12,
              "expected a duration");
  expectError("redis:\n  address: 127.0.0.1:6379\n  timeout: 20\n", "redis.timeout", 3, 12,
              "expected a duration");
}

TEST(RedisConfigTest, ANegativeDatabaseIsRefused) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  database: -1\n", "redis.database", 3, 13,
              "expected an integer between 0 and");
}

TEST(RedisConfigTest, AnUnknownKeyIsRefused) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  pasword: x\n", "redis.pasword", 3, 3,
              "unknown key \"pasword\"");
  expectError("redis:\n  address: 127.0.0.1:6379\n  reconnect: {base: 1s, min: 1s}\n",
              "redis.reconnect.min", 3, 25, "unknown key \"min\"");
}

TEST(RedisConfigTest, AReconnectMaxBelowTheBaseIsRefused) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  reconnect: {base: 1s, max: 500ms}\n",
              "redis.reconnect.max", 3, 30, "must not be below reconnect.base (1s)");
}

TEST(RedisConfigTest, AUsernameNeedsAPassword) {
  expectError("redis:\n  address: 127.0.0.1:6379\n  username: proxy\n", "redis.username", 3, 13,
              "needs a password");
}

TEST(RedisConfigTest, NotAMap) {
  expectError("redis: 127.0.0.1:6379\n", "redis", 1, 8, "expected a map");
}

}  // namespace
}  // namespace switchyard::redis
