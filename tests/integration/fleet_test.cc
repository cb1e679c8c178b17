// Fleet-wide migration state against the real binary: three replicas sharing a real Redis
// (started by the test). A webhook to one rolls back all three; Alertmanager's second copy of
// the alert, sent to another replica, is a duplicate; a replica started later comes up rolled
// back; runtime weights and the halt travel too; with Redis killed each replica keeps its state
// and nothing rolls forward, and the change made meanwhile goes out once Redis is back.

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/redis_server.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

// An Alertmanager notification asking for the rollback of route api.
const char* const RollbackAlert = R"json({
  "version": "4", "groupKey": "{}:{alertname=\"V2Errors\"}", "truncatedAlerts": 0,
  "status": "firing", "receiver": "sidecar", "groupLabels": {"alertname": "V2Errors"},
  "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
  "alerts": [{"status": "firing",
              "labels": {"alertname": "V2Errors", "route": "api", "action": "rollback"},
              "annotations": {"summary": "v2 fails"}, "startsAt": "2026-12-07T10:00:00Z",
              "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "f1"}]})json";

class FleetTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    v1_ = &addUpstream("v1");
    v2_ = &addUpstream("v2");
  }

  // Replica `n` (its own state file) of route api (v2 on modern, its rollback to legacy).
  ProxyConfig config(int n) {
    ProxyConfig c;
    c.clusters.push_back({"legacy", {v1_->address()}, ""});
    c.clusters.push_back({"modern", {v2_->address()}, ""});
    c.routes.push_back({"api", "/api/", "",
                        "    versions:\n"
                        "      default: v2\n"
                        "      v1: {cluster: legacy}\n"
                        "      v2: {split: [{cluster: modern, weight: 100}, "
                        "{cluster: legacy, weight: 0}]}\n"});
    c.top_extra = "redis: {address: '" + redis_.address() +
                  "', timeout: 200ms}\n"
                  "fleet: {reconcile_interval: 500ms, instance: replica-" +
                  std::to_string(n) +
                  "}\n"
                  "rollback:\n"
                  "  state_file: " +
                  tempDir() + "/rollback-" + std::to_string(n) +
                  ".json\n"
                  "  plans:\n"
                  "    - route: api\n"
                  "      steps: [{set_weights: {version: v2, weights: {legacy: 100}}}]\n";
    return c;
  }

  static std::string side(uint16_t port) {
    Response r = httpGet(port, "/api/orders");
    return r.status == 200 ? r.header("x-upstream-name").value_or("?") : std::to_string(r.status);
  }
  static Response admin(uint16_t port, std::string_view method, std::string_view path,
                        std::string_view body = {}) {
    Headers h = {{"Authorization", "Bearer " + Token}};
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    return httpRequest(port, method, path, h, body);
  }
  static json getJson(uint16_t port, const std::string& path) {
    return json::parse(httpGet(port, path).body, nullptr, false);
  }
  // Waits (bounded by `limit`) until every replica's /fleet says `connected`.
  static bool allConnected(const std::vector<uint16_t>& admins, bool connected,
                           std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool all = true;
      for (uint16_t a : admins)
        all = all && getJson(a, "/fleet").value("connected", !connected) == connected;
      if (all) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);  // another process's thread; bounded
    }
  }
  // Waits (bounded by `limit`) until every listener answers from `want`; the time it took.
  static std::optional<std::chrono::milliseconds> allOn(const std::vector<uint16_t>& ports,
                                                        const std::string& want,
                                                        std::chrono::milliseconds limit) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      bool all = true;
      for (uint16_t p : ports) all = all && side(p) == want;
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      if (all) return took;
      if (took > limit) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  RedisServer redis_;
  TestUpstream* v1_ = nullptr;
  TestUpstream* v2_ = nullptr;
};

TEST_F(FleetTest, AWebhookToOneReplicaRollsBackEveryReplicaWithinASecond) {
  startProxy(config(0));
  Sidecar b = startSecond(config(1));
  Sidecar c = startSecond(config(2));
  const std::vector<uint16_t> ports = {port(), b.port, c.port};
  const std::vector<uint16_t> admins = {adminPort(), b.admin_port, c.admin_port};
  ASSERT_TRUE(allConnected(admins, true));
  for (uint16_t p : ports) EXPECT_EQ(side(p), "v2");

  // The webhook reaches replica 1 only, as behind a Service.
  Response r = admin(b.admin_port, "POST", "/alerts/alertmanager", RollbackAlert);
  ASSERT_EQ(r.status, 200) << r.body;
  std::optional<std::chrono::milliseconds> took = allOn(ports, "v1", 3s);
  ASSERT_TRUE(took.has_value());
  EXPECT_LT(*took, 1000ms);

  // Each replica records the rollback; the others say where it came from.
  json s0;
  for (int i = 0; i < 100; ++i) {  // at most ~1 s
    s0 = getJson(adminPort(), "/rollback");
    if (s0["routes"]["api"]["state"] == "rolled_back") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(s0["routes"]["api"]["state"], "rolled_back") << s0.dump(2);
  EXPECT_EQ(s0["executions"][0]["trigger"]["kind"], "alertmanager");
  EXPECT_NE(s0["executions"][0]["log"][0].get<std::string>().find("another replica"),
            std::string::npos)
      << s0.dump(2);
  EXPECT_EQ(getJson(c.admin_port, "/rollback")["routes"]["api"]["state"], "rolled_back");

  // Alertmanager's peer sends the same alert to replica 2: a duplicate for the fleet.
  r = admin(c.admin_port, "POST", "/alerts/alertmanager", RollbackAlert);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["results"][0]["result"], "duplicate") << r.body;

  // A replica started later comes up in the fleet's state.
  Sidecar d = startSecond(config(3));
  ASSERT_TRUE(allConnected({d.admin_port}, true));
  EXPECT_TRUE(allOn({d.port}, "v1", 2s).has_value());
  EXPECT_EQ(getJson(d.admin_port, "/rollback")["routes"]["api"]["state"], "rolled_back");

  // A resume on replica 3 resumes them all.
  r = admin(d.admin_port, "POST", "/rollback/resume", R"({"route":"api"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(allOn({port(), b.port, c.port, d.port}, "v2", 2s).has_value());
  const std::string m = httpGet(adminPort(), "/metrics").body;
  EXPECT_NE(m.find("switchyard_fleet_connected 1"), std::string::npos) << m;
  EXPECT_NE(m.find("switchyard_fleet_updates_total{direction=\"applied\"}"), std::string::npos);
}

TEST_F(FleetTest, WeightsAndTheHaltTravelAndRedisDownRollsNothingForward) {
  startProxy(config(0));
  Sidecar b = startSecond(config(1));
  const std::vector<uint16_t> admins = {adminPort(), b.admin_port};
  ASSERT_TRUE(allConnected(admins, true));

  // Runtime weights set on one replica apply on the other.
  Response r = admin(adminPort(), "POST", "/routes/weights",
                     R"({"route":"api","version":"v2","weights":{"legacy":100,"modern":0}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(allOn({port(), b.port}, "v1", 2s).has_value());
  // The halt too, and its resume.
  r = admin(b.admin_port, "POST", "/migration/halt", R"({"reason":"drill"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!getJson(adminPort(), "/migration").value("halted", false) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(getJson(adminPort(), "/migration").value("halted", false));
  r = admin(adminPort(), "POST", "/migration/resume");
  ASSERT_EQ(r.status, 200) << r.body;
  r = admin(adminPort(), "POST", "/routes/weights",
            R"({"route":"api","version":"v2","weights":{"legacy":0,"modern":100}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(allOn({port(), b.port}, "v2", 2s).has_value());
  EXPECT_FALSE(getJson(b.admin_port, "/migration").value("halted", true));

  // Roll back through replica 0, then kill Redis.
  r = admin(adminPort(), "POST", "/rollback/trigger", R"({"route":"api","reason":"drill"})");
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(allOn({port(), b.port}, "v1", 2s).has_value());
  redis_.kill();
  ASSERT_TRUE(allConnected(admins, false));
  // Both keep their state; the guard-less replica 1 does not roll forward by itself. An
  // operator resumes replica 0 meanwhile: only replica 0 moves.
  r = admin(adminPort(), "POST", "/rollback/resume", R"({"route":"api"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side(port()), "v2");
  std::this_thread::sleep_for(600ms);  // longer than reconcile_interval: nothing may change
  EXPECT_EQ(side(b.port), "v1");
  // Redis is back (empty): replica 0's resume goes out and replica 1 follows.
  redis_.start();
  ASSERT_TRUE(allConnected(admins, true));
  EXPECT_TRUE(allOn({port(), b.port}, "v2", 5s).has_value());
  EXPECT_EQ(getJson(b.admin_port, "/rollback")["routes"]["api"]["state"], "active");
}

TEST_F(FleetTest, FleetNeedsRedisAndBadSettingsAreRefused) {
  ProxyConfig c = config(0);
  c.top_extra = "fleet: {reconcile_interval: 500ms}\n";
  const std::string file = writeFile("no-redis.yaml", c.render(18080, 19901));
  Process validate(SWITCHYARD_BIN, {"--validate", "--config", file});
  EXPECT_EQ(validate.waitExit(10s), std::optional<int>(1));
  EXPECT_NE(validate.output().find("fleet: fleet-wide state lives in Redis: add a redis: block"),
            std::string::npos)
      << validate.output();
  c.top_extra = "redis: {address: '127.0.0.1:1'}\nfleet: {reconcile_interval: 10ms}\n";
  const std::string file2 = writeFile("bad-interval.yaml", c.render(18080, 19901));
  Process validate2(SWITCHYARD_BIN, {"--validate", "--config", file2});
  EXPECT_EQ(validate2.waitExit(10s), std::optional<int>(1));
  EXPECT_NE(validate2.output().find("fleet.reconcile_interval: must be between 100ms and 10m"),
            std::string::npos)
      << validate2.output();
}

// Redis unreachable from the start: the replica serves, its guard and admin API work alone.
TEST_F(FleetTest, WithoutRedisAReplicaServesAndRollsBackAlone) {
  ProxyConfig c = config(0);
  redis_.kill();
  startProxy(c);
  EXPECT_EQ(side(port()), "v2");
  Response r = admin(adminPort(), "POST", "/rollback/trigger", R"({"route":"api"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(allOn({port()}, "v1", 2s).has_value());
  const json f = getJson(adminPort(), "/fleet");
  EXPECT_EQ(f["connected"], false) << f.dump();
  EXPECT_EQ(f["instance"], "replica-0");
}

}  // namespace
}  // namespace switchyard::test::integration
