// The cache's Redis tier with the real binary, a real redis-server and a real upstream: two
// sidecars share what one of them stored, a purge on one reaches the other's memory, and a Redis
// that is gone or hung costs a trip upstream, never a failed request.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/redis_server.h"

namespace switchyard::test::integration {
namespace {

using namespace std::chrono_literals;

class CacheRedisTest : public ProxyTest {
 protected:
  ProxyConfig shared(const RedisServer& redis, const std::string& cache = "{redis: true}") {
    ProxyConfig config = defaultConfig();
    config.filters += "  - cache: " + cache + "\n";
    config.top_extra += "redis:\n  address: " + redis.address() +
                        "\n  timeout: 50ms\n  cooldown: 300ms\n"
                        "  reconnect: {base: 10ms, max: 100ms}\n";
    return config;
  }
  int64_t upstreamRequests() { return upstream().stats().requests; }
  Response get(uint16_t port, const std::string& path, Headers more = {}) {
    more.push_back({"X-Test-Response-Header", "Cache-Control: max-age=600"});
    more.push_back({"X-Test-Response-Header", "Surrogate-Key: shared"});
    return httpGet(port, path, more);
  }
  std::string metrics(uint16_t admin) { return httpGet(admin, "/metrics").body; }
  // Waits (bounded) until `text` is in the /metrics of `admin`.
  bool waitForMetric(uint16_t admin, const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (metrics(admin).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);  // another process; bounded
    }
    return false;
  }
};

TEST_F(CacheRedisTest, TwoSidecarsShareEntriesAndPurges) {
  RedisServer redis;
  const ProxyConfig config = shared(redis);
  startProxy(config);
  Sidecar second = startSecond(config);
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
  ASSERT_TRUE(redisHealthIs(second.admin_port, "ok"));

  // Stored by the first sidecar, in its memory and in Redis.
  const Response first = get(port(), "/shared/1");
  ASSERT_EQ(first.status, 200) << first.body;
  get(port(), "/shared/2");
  ASSERT_TRUE(waitForMetric(
      adminPort(), "switchyard_cache_redis_operations_total{op=\"store\",result=\"ok\"} 2"));
  // The second sidecar's miss is filled from Redis: the upstream is not asked again.
  const int64_t before = upstreamRequests();
  const Response filled = get(second.port, "/shared/1");
  EXPECT_EQ(filled.status, 200);
  EXPECT_EQ(filled.body, first.body);
  EXPECT_EQ(filled.header("cache-status").value_or("").rfind("Switchyard; hit", 0), 0u)
      << filled.header("cache-status").value_or("");
  EXPECT_EQ(upstreamRequests(), before);
  EXPECT_NE(metrics(second.admin_port)
                .find("switchyard_cache_redis_operations_total{op=\"fetch\",result=\"hit\"} 1"),
            std::string::npos);
  get(second.port, "/shared/2");  // now in the second one's memory too
  EXPECT_EQ(upstreamRequests(), before);

  // A purge by tag on the first one: its memory, Redis, and (through the purge log) the second
  // one's memory.
  Response purge =
      httpRequest(adminPort(), "POST", "/cache/purge",
                  {{"Authorization", "Bearer integration-secret-token"}}, R"({"tag":"shared"})");
  ASSERT_EQ(purge.status, 200) << purge.body;
  EXPECT_NE(purge.body.find("\"memory\": 2"), std::string::npos) << purge.body;
  EXPECT_NE(purge.body.find("\"redis\": 2"), std::string::npos) << purge.body;
  EXPECT_EQ(redis.cli({"--raw", "KEYS", "switchyard:cache:e:*"}).find("switchyard:cache:e:"),
            std::string::npos);
  ASSERT_TRUE(waitForMetric(second.admin_port, "switchyard_cache_entries 0"))
      << metrics(second.admin_port);
  const int64_t after_purge = upstreamRequests();
  get(second.port, "/shared/1");
  EXPECT_EQ(upstreamRequests(), after_purge + 1);
}

TEST_F(CacheRedisTest, ARedisThatIsGoneOrHungCostsATripUpstreamNotARequest) {
  RedisServer redis;
  startProxy(shared(redis, "{redis: true, redis_max_object_bytes: 1KiB}"));
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
  // Larger than redis_max_object_bytes: memory only.
  ASSERT_EQ(get(port(), "/bytes/4096").status, 200);
  EXPECT_EQ(redis.cli({"--raw", "DBSIZE"}), "0\n");

  redis.pause();  // hung: every command times out
  for (int i = 0; i < 5; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const Response r = get(port(), "/hung/" + std::to_string(i));
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  }
  redis.resume();
  redis.kill();  // gone
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get(port(), "/gone/" + std::to_string(i)).status, 200);
  // Stored in memory all the same: hits, without Redis.
  const int64_t before = upstreamRequests();
  EXPECT_EQ(get(port(), "/gone/1").status, 200);
  EXPECT_EQ(upstreamRequests(), before);
  const std::string m = metrics(adminPort());
  EXPECT_NE(m.find("switchyard_cache_redis_operations_total{op=\"fetch\",result=\"error\"}"),
            std::string::npos)
      << m;
  // A purge still purges the memory tier, and says that Redis could not be reached.
  const Response purge =
      httpRequest(adminPort(), "POST", "/cache/purge",
                  {{"Authorization", "Bearer integration-secret-token"}}, R"({"prefix":"/gone/"})");
  EXPECT_EQ(purge.status, 502) << purge.body;
  EXPECT_NE(purge.body.find("\"memory\": 5"), std::string::npos) << purge.body;
  EXPECT_NE(purge.body.find("redis_error"), std::string::npos) << purge.body;
}

}  // namespace
}  // namespace switchyard::test::integration
