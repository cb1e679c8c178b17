// The rate_limit filter in the real binary: local limits shared by a process's workers, global
// limits shared through a real redis-server by two sidecar processes, and what happens when that
// Redis loses its scripts, stops answering, dies and comes back.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/support/redis_server.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;

constexpr const char* QuotaExceeded =
    "https://iana.org/assignments/http-problem-types#quota-exceeded";

// The value of series `series` (name and labels exactly as /metrics prints them); 0 when absent.
double metricValue(const std::string& metrics, const std::string& series) {
  const std::string prefix = series + " ";
  size_t at = 0;
  while ((at = metrics.find(prefix, at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') {
      return std::stod(metrics.substr(at + prefix.size()));
    }
    at += prefix.size();
  }
  return 0;
}

// Calls of the GCRA script a Redis has served (EVALSHA, and EVAL after a NOSCRIPT).
int64_t scriptCalls(const RedisServer& redis) {
  const std::string info = redis.cli({"INFO", "commandstats"});
  int64_t calls = 0;
  for (const char* command : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
    const size_t at = info.find(command);
    if (at != std::string::npos) calls += std::stoll(info.substr(at + std::strlen(command)));
  }
  return calls;
}

// The p99 of `samples` (milliseconds).
double p99(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
}

class RateLimitTest : public ProxyTest {
 protected:
  // A configuration with `policies` (YAML list items, indented by 8 spaces) in the chain's
  // rate_limit block and, when `redis` is not empty, a redis: block for that address.
  ProxyConfig limited(const std::string& policies, const std::string& redis = "",
                      const std::string& more = "") {
    ProxyConfig config = defaultConfig();
    config.filters += "  - rate_limit:\n" + more + "      policies:\n" + policies;
    if (!redis.empty()) {
      config.top_extra += "redis:\n  address: " + redis +
                          "\n  timeout: 20ms\n  cooldown: 300ms\n"
                          "  reconnect: {base: 10ms, max: 100ms}\n";
    }
    return config;
  }

  std::string metrics(uint16_t admin) { return httpGet(admin, "/metrics").body; }
};

TEST_F(RateLimitTest, ALocalLimitIsSharedByTheWorkersAndAnswers429) {
  ProxyConfig config = limited(
      "        - {name: per-ip, key: client_address, limit: 5, window: 1h}\n"
      "        - {name: login, key: client_address, limit: 2, window: 1h, shadow: true,\n"
      "           match: {path_prefix: /api/login, methods: [POST]}}\n",
      "", "      headers: true\n");
  const std::string log = tempDir() + "/access.log";
  config.top_extra += "access_log: {path: " + log + "}\n";
  startProxy(config);

  // New connections land on either worker: five in all, not five each.
  for (int i = 0; i < 5; ++i) {
    const Response r = httpGet(port(), "/orders/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << i << r.body;
    EXPECT_EQ(r.header("ratelimit-policy").value_or(""), "\"per-ip\";q=5;w=3600");
    EXPECT_EQ(r.header("ratelimit").value_or(""),
              "\"per-ip\";r=" + std::to_string(4 - i) + ";t=720");
  }
  const Response denied = httpGet(port(), "/orders/5");
  ASSERT_TRUE(isProblem(denied, 429)) << denied.body;
  json body = json::parse(denied.body);
  EXPECT_EQ(body["type"], QuotaExceeded);
  EXPECT_EQ(body["violated-policies"], json::array({"per-ip"}));
  EXPECT_EQ(denied.header("retry-after").value_or(""), "720");
  EXPECT_EQ(denied.header("ratelimit-policy").value_or(""), "\"per-ip\";q=5;w=3600");
  EXPECT_EQ(denied.header("ratelimit").value_or(""), "\"per-ip\";r=0;t=720");
  EXPECT_EQ(upstream().stats().requests, 5);

  const std::string m = metrics(adminPort());
  EXPECT_EQ(metricValue(m, "switchyard_rate_limited_total{policy=\"per-ip\",route=\"default\"}"), 1)
      << m;

  // The decision is in the access-log line.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      last = line;
      ++lines;
    }
    if (lines >= 6) break;
    std::this_thread::sleep_for(10ms);  // the log writer of another process; bounded
  }
  json line = json::parse(last, nullptr, false);
  EXPECT_EQ(line["status"], 429) << last;
  EXPECT_EQ(line["rate_limit"], "limited per-ip=denied") << last;
}

TEST_F(RateLimitTest, ShadowPoliciesNeverAnswer429) {
  startProxy(limited(
      "        - {name: login, key: client_address, limit: 2, window: 1h, shadow: true}\n"));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(httpGet(port(), "/api/login").status, 200) << i;
  const std::string m = metrics(adminPort());
  EXPECT_EQ(metricValue(m,
                        "switchyard_rate_limit_shadow_denied_total{policy=\"login\",route="
                        "\"default\"}"),
            18)
      << m;
  EXPECT_EQ(metricValue(m, "switchyard_rate_limited_total{policy=\"login\",route=\"default\"}"), 0);
}

TEST_F(RateLimitTest, TwoSidecarsShareOneGlobalLimit) {
  RedisServer redis;
  const ProxyConfig config = limited(
      "        - {name: per-user, key: {header: X-User-Id}, limit: 100, window: 1h,\n"
      "           scope: global}\n",
      redis.address());
  startProxy(config);
  Sidecar second = startSecond(config);
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
  ASSERT_TRUE(redisHealthIs(second.admin_port, "ok"));

  // 300 requests of one user, alternating between the sidecars; the script cache is flushed
  // after the first 50, which must cost nothing but a reload.
  int admitted = 0;
  int denied = 0;
  for (int i = 0; i < 300; ++i) {
    if (i == 50) redis.cli({"SCRIPT", "FLUSH"});
    const uint16_t p = i % 2 == 0 ? port() : second.port;
    const Response r = httpGet(p, "/orders", {{"X-User-Id", "alice"}});
    if (r.status == 200) {
      ++admitted;
    } else {
      ASSERT_TRUE(isProblem(r, 429)) << i << " " << r.status << r.body;
      const int retry_after = std::stoi(r.header("retry-after").value_or("0"));
      EXPECT_GE(retry_after, 1);
      EXPECT_LE(retry_after, 36);  // one emission interval: 1h / 100
      ++denied;
    }
  }
  EXPECT_NEAR(admitted, 100, 1);
  EXPECT_EQ(admitted + denied, 300);

  // The denials were remembered: after the first one each worker of each sidecar saw, an
  // over-limit client cost no round trip.
  EXPECT_LE(scriptCalls(redis), admitted + 4 + 4)
      << "2 sidecars x 2 workers: a first denial each, and a NOSCRIPT each after the flush";

  // Another user has a bucket of their own.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(httpGet(i % 2 == 0 ? port() : second.port, "/orders", {{"X-User-Id", "bob"}}).status,
              200);
  }
  for (uint16_t admin : {adminPort(), second.admin_port}) {
    const std::string m = metrics(admin);
    EXPECT_EQ(metricValue(m,
                          "switchyard_rate_limit_redis_errors_total{kind=\"server_error\","
                          "policy=\"per-user\"}"),
              0)
        << m;
  }
  // Every key expires by itself.
  const std::string keys = redis.cli({"--scan", "--pattern", "switchyard:rl:*"});
  ASSERT_NE(keys.find("{h:alice}"), std::string::npos) << keys;
  std::string first_key = keys.substr(0, keys.find('\n'));
  const int64_t ttl = std::stoll(redis.cli({"PTTL", first_key}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 3600 * 1000);
  second.process->stop();
}

TEST_F(RateLimitTest, RedisFailuresApplyEachPolicysChoiceAndGlobalLimitsResume) {
  RedisServer redis;
  ProxyConfig config = limited(
      "        - {name: open, key: {header: X-User-Id}, limit: 3, window: 1h,\n"
      "           scope: global}\n",
      redis.address());
  config.routes.front().extra +=
      "    filters:\n"
      "      rate_limit:\n"
      "        policies:\n"
      "          - {name: closed, limit: 1000, window: 1h, scope: global,\n"
      "             on_redis_error: deny, match: {path_prefix: /closed}}\n";
  startProxy(config);
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
  const Headers alice = {{"X-User-Id", "alice"}};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(httpGet(port(), "/open", alice).status, 200);
  ASSERT_EQ(httpGet(port(), "/open", alice).status, 429);

  // Killed: `open` lets everything through at once, `closed` answers 503 (not 429).
  redis.kill();
  std::vector<double> admitted_ms;
  for (int i = 0; i < 200; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Response r = httpGet(port(), "/open", {{"X-User-Id", "u" + std::to_string(i)}});
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(r.status, 200) << i << r.body;
    EXPECT_EQ(r.header("ratelimit"), std::nullopt) << "no fields from missing data";
    admitted_ms.push_back(ms);
  }
  EXPECT_LT(p99(admitted_ms), 10.0);
  const Response closed = httpGet(port(), "/closed");
  ASSERT_TRUE(isProblem(closed, 503)) << closed.body;
  EXPECT_EQ(closed.header("retry-after").value_or(""), "1");
  std::string m = metrics(adminPort());
  const double errors =
      metricValue(
          m, "switchyard_rate_limit_redis_errors_total{kind=\"unavailable\",policy=\"open\"}") +
      metricValue(
          m, "switchyard_rate_limit_redis_errors_total{kind=\"disconnected\",policy=\"open\"}");
  EXPECT_GE(errors, 1) << m;

  // Back: limiting resumes by itself (the restarted Redis remembers nothing).
  redis.start();
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
  int limited_now = 0;
  for (int i = 0; i < 10; ++i) {
    limited_now += httpGet(port(), "/open", {{"X-User-Id", "z"}}).status == 429;
  }
  EXPECT_EQ(limited_now, 10 - 3);

  // Stopped (SIGSTOP): nothing answers; each request gets the policy's choice within the
  // timeout, then the cooldown spares the next ones the wait.
  redis.pause();
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Response open = httpGet(port(), "/open-again", {{"X-User-Id", "y"}});
    const Response shut = httpGet(port(), "/closed", {{"X-User-Id", "y"}});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(open.status, 200) << i;
    EXPECT_EQ(shut.status, 503) << i;
    EXPECT_LT(took, 20ms * 2 + 100ms) << i;
  }
  m = metrics(adminPort());
  EXPECT_GE(metricValue(m,
                        "switchyard_rate_limit_redis_errors_total{kind=\"timeout\",policy="
                        "\"closed\"}") +
                metricValue(m,
                            "switchyard_rate_limit_redis_errors_total{kind=\"timeout\","
                            "policy=\"open\"}"),
            1)
      << m;
  redis.resume();
  ASSERT_TRUE(redisHealthIs(adminPort(), "ok"));
}

TEST_F(RateLimitTest, ValidateRefusesBadPoliciesWithPositions) {
  struct Case {
    std::string policy;  // one list item
    std::string error;   // the line's position, path and message
  };
  const Case cases[] = {
      {"{name: a, limit: 0, window: 1m}",
       ":7:28: filters[0].rate_limit.policies[0].limit: expected an integer between 1 and"},
      {"{name: b, limit: 5, window: 0s}",
       ":7:39: filters[0].rate_limit.policies[0].window: must be greater than 0s"},
      {"{name: c, limit: 5, window: soon}", ":7:39: filters[0].rate_limit.policies[0].window: "},
      {"{name: d, limit: 5, window: 1m, key: cookie}",
       ":7:48: filters[0].rate_limit.policies[0].key: unknown key 'cookie'"},
      {"{name: e, limit: 5, window: 1m, scope: global}",
       ":7:50: filters[0].rate_limit.policies[0].scope: policy 'e' has scope: global, which needs "
       "a top-level redis: block"},
      {"{name: f, limit: 5, window: 1m}\n        - {name: f, limit: 1, window: 1s}",
       ":8:18: filters[0].rate_limit.policies[1].name: duplicate policy name 'f'"},
      {"{name: g, limit: 5, window: 1m, match: {route: nope}}",
       ":7:58: filters[0].rate_limit.policies[0].match.route: policy 'g' matches route 'nope', "
       "which is not defined"},
  };
  for (const Case& c : cases) {
    const std::string path =
        writeFile("bad.yaml",
                  "listeners: [{name: main, address: 127.0.0.1:1}]\n"
                  "clusters: [{name: main, endpoints: [127.0.0.1:2]}]\n"
                  "routes: [{name: default, match: {prefix: /}, cluster: main}]\n"
                  "filters:\n"
                  "  - rate_limit:\n"
                  "      policies:\n"
                  "        - " +
                      c.policy + "\n");
    Process validate(SWITCHYARD_BIN, {"--validate", "--config", path});
    EXPECT_EQ(validate.waitExit(10s), 1) << c.policy;
    const std::string out = validate.output();
    EXPECT_NE(out.find(path + c.error), std::string::npos) << c.error << "\n" << out;
  }
}

}  // namespace
}  // namespace switchyard::test::integration
