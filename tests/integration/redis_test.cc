// The Redis client in a real server, in this process, against a real redis-server: a filter that
// exists only in this test counts requests in Redis through its worker's client
// (WorkerContext::redis), waiting for the reply before the request goes on; /health, /metrics
// and /config show the connections; a reload cannot change `redis:`; Redis killed, the proxy
// still serves and says it is degraded; Redis back, every worker reconnects by itself.

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "config/yaml_util.h"
#include "filters/registry.h"
#include "proxy/common/logging.h"
#include "proxy/common/time.h"
#include "proxy/redis/client.h"
#include "proxy/server/server.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace switchyard::test::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* Password = "integration-redis-password";
constexpr const char* AdminToken = "secret";

// INCR "hits" before the request goes upstream; the reply (or why there is none) comes back in
// the response's x-redis header.
class CountingFilter final : public http::StreamFilter {
 public:
  explicit CountingFilter(redis::Client* redis) : redis_(redis) {}

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders&, bool) override {
    if (redis_ == nullptr) {
      result_ = "no client";
      return http::FilterHeadersStatus::Continue;
    }
    request_ = redis_->command({"INCR", "hits"}, [this](redis::Result r) {
      request_ = {};
      result_ = r.ok() ? std::to_string(r.value.integer) : std::string(errorKindName(r.error));
      callbacks_->continueDecoding();
    });
    return http::FilterHeadersStatus::StopIteration;
  }
  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response, bool) override {
    response.headers.add("x-redis", result_);
    return http::FilterHeadersStatus::Continue;
  }
  void onDestroy() override { request_.cancel(); }

 private:
  redis::Client* const redis_;
  redis::Request request_;
  std::string result_ = "no reply";
};

class CountingFactory final : public filters::FilterFactory {
 public:
  http::StreamFilterPtr create(filters::WorkerContext& worker,
                               filters::WorkerLocal*) const override {
    return std::make_unique<CountingFilter>(worker.redis);
  }
  json toJson() const override { return json::object(); }
};

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "redis-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    filters_.add("count_in_redis", [](const YAML::Node& node, filters::BuildContext& ctx) {
      config::expectMap(node, ctx.path, {});
      return std::make_shared<CountingFactory>();
    });
    setenv("SWITCHYARD_TEST_REDIS_PASSWORD", Password, 1);
    saved_level_ = common::logLevel();
    common::setLogLevel(common::LogLevel::Error);
  }
  void TearDown() override {
    stop();
    common::setLogLevel(saved_level_);
    unsetenv("SWITCHYARD_TEST_REDIS_PASSWORD");
    std::filesystem::remove_all(dir_);
  }

  std::string yaml(const std::string& upstream, const std::string& redis,
                   const std::string& timeout = "500ms") const {
    return "workers: 2\n"
           "listeners: [{name: main, address: 127.0.0.1:" +
           std::to_string(port_) +
           "}]\n"
           "admin: {address: 127.0.0.1:" +
           std::to_string(admin_port_) + ", token: " + AdminToken +
           "}\n"
           "clusters: [{name: live, endpoints: [" +
           upstream +
           "]}]\n"
           "routes: [{name: all, match: {prefix: /}, cluster: live}]\n"
           "filters: [{count_in_redis: {}}]\n"
           "redis:\n"
           "  address: " +
           redis +
           "\n"
           "  password: ${SWITCHYARD_TEST_REDIS_PASSWORD}\n"
           "  timeout: " +
           timeout +
           "\n"
           "  cooldown: 200ms\n"
           "  reconnect: {base: 10ms, max: 50ms}\n";
  }

  void start(const std::string& text) {
    std::ofstream(configPath()) << text;
    config::ConfigConstSharedPtr config =
        config::loadConfigFile(configPath(), {filters_, *registry_, time_});
    server::ConfigSource source{
        [this](const std::string& file) {
          return config::loadConfigFile(file, {filters_, *registry_, time_});
        },
        [](const config::Config& c) { return config::configToJson(c); }};
    server_ = std::make_unique<server::Server>(config, registry_, time_, filters_, source);
    thread_ = std::thread([this] { exit_code_ = server_->run(); });
    ASSERT_TRUE(eventually([this] { return httpGet(admin_port_, "/ready", {}, 1s).status == 200; }))
        << "the server never became ready";
  }

  void stop() {
    if (!server_) return;
    server_->requestStop();
    thread_.join();
    server_.reset();
    EXPECT_EQ(exit_code_, 0);
  }

  // Polls `done` (another thread's work, or another process's) for up to 10 s.
  static bool eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);  // waiting on other threads, bounded by the deadline
    }
    return true;
  }

  json health(int* status = nullptr) {
    const Response r = httpGet(admin_port_, "/health");
    if (status != nullptr) *status = r.status;
    return json::parse(r.body, nullptr, false);
  }
  bool redisHealthIs(const std::string& want) {
    return eventually([&] { return health()["components"]["redis"]["status"] == want; });
  }

  std::string configPath() const { return dir_ + "/switchyard.yaml"; }

  std::string dir_;
  filters::FilterRegistry filters_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  common::RealTimeSource time_;
  uint16_t port_ = static_cast<uint16_t>(freePort());
  uint16_t admin_port_ = static_cast<uint16_t>(freePort());
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int exit_code_ = -1;
  common::LogLevel saved_level_ = common::LogLevel::Info;
};

TEST_F(RedisServerTest, EveryWorkerHasAClientThatSurvivesARedisRestart) {
  TestUpstream upstream(TEST_UPSTREAM_BIN, "live");
  RedisServer redis({.password = Password});
  start(yaml(upstream.address(), redis.address()));

  ASSERT_TRUE(redisHealthIs("ok")) << health().dump(2);
  int status = 0;
  json h = health(&status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "ok") << h.dump(2);
  EXPECT_EQ(h["components"]["redis"]["address"], redis.address());
  ASSERT_EQ(h["components"]["redis"]["workers"].size(), 2u);
  EXPECT_EQ(h["components"]["redis"]["workers"][1]["state"], "connected");

  // Each request waits for its INCR; the counts of both workers' connections are one sequence.
  std::vector<int> counts;
  for (int i = 0; i < 6; ++i) {
    const Response r = httpGet(port_, "/count");
    ASSERT_EQ(r.status, 200) << r.body;
    counts.push_back(std::atoi(r.header("x-redis").value_or("").c_str()));
  }
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<int>{1, 2, 3, 4, 5, 6}));

  const std::string metrics = httpGet(admin_port_, "/metrics").body;
  EXPECT_NE(metrics.find("switchyard_redis_connected{worker=\"0\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("switchyard_redis_connected{worker=\"1\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("switchyard_redis_command_duration_seconds_count 6"), std::string::npos)
      << metrics;

  const Response config = httpGet(admin_port_, "/config");
  EXPECT_EQ(json::parse(config.body)["redis"]["password"], "<redacted>");
  EXPECT_EQ(config.body.find(Password), std::string::npos);

  // A reload cannot change it.
  std::ofstream(configPath()) << yaml(upstream.address(), redis.address(), "50ms");
  const Response reload =
      httpRequest(admin_port_, "POST", "/reload", {{"Authorization", "Bearer secret"}});
  EXPECT_EQ(reload.status, 400) << reload.body;
  EXPECT_NE(reload.body.find("redis: changing it needs a restart"), std::string::npos)
      << reload.body;

  // Redis gone: still serving, without counts; degraded, not down.
  redis.kill();
  ASSERT_TRUE(redisHealthIs("down")) << health().dump(2);
  h = health(&status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_NE(h["components"]["redis"]["workers"][0]["last_error"], "");
  const Response without = httpGet(port_, "/count");
  EXPECT_EQ(without.status, 200);
  const std::string why = without.header("x-redis").value_or("");
  EXPECT_TRUE(why == "unavailable" || why == "disconnected") << why;
  EXPECT_NE(
      httpGet(admin_port_, "/metrics").body.find("switchyard_redis_connected{worker=\"0\"} 0"),
      std::string::npos);

  // Back: every worker reconnects by itself.
  redis.start();
  ASSERT_TRUE(redisHealthIs("ok")) << health().dump(2);
  EXPECT_EQ(health()["status"], "ok");
  EXPECT_EQ(httpGet(port_, "/count").header("x-redis").value_or(""), "1");  // nothing was persisted
}

}  // namespace
}  // namespace switchyard::test::integration
