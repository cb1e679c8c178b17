// The process around the data path: admin endpoints, --validate, graceful drain on SIGTERM and
// upstream connection reuse.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using Clock = std::chrono::steady_clock;

class AdminTest : public ProxyTest {};
class ValidateTest : public ProxyTest {};
class DrainTest : public ProxyTest {};
class PoolTest : public ProxyTest {};

TEST_F(AdminTest, HealthAndReadiness) {
  startProxy();
  Response health = httpGet(adminPort(), "/healthz");
  EXPECT_EQ(health.status, 200) << health.reason;
  Response ready = httpGet(adminPort(), "/ready");
  EXPECT_EQ(ready.status, 200) << ready.reason;
  auto json = nlohmann::json::parse(ready.body, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << ready.body;
  EXPECT_EQ(json["ready"], true) << ready.body;
}

TEST_F(AdminTest, MetricsCoverTraffic) {
  startProxy();
  for (int i = 0; i < 3; ++i) {
    Response r = httpGet(port(), "/metrics-traffic");
    ASSERT_EQ(r.status, 200) << r.reason;
  }
  Response m = httpGet(adminPort(), "/metrics");
  ASSERT_EQ(m.status, 200) << m.reason;
  const std::string& text = m.body;
  EXPECT_NE(text.find("switchyard_downstream_requests_total{code=\"200\",route=\"default\""),
            std::string::npos)
      << text.substr(0, 4000);
  EXPECT_NE(text.find("switchyard_upstream_requests_total"), std::string::npos);
  EXPECT_NE(text.find("switchyard_upstream_requests_total{cluster=\"main\",code=\"200\"}"),
            std::string::npos);
  EXPECT_NE(text.find("switchyard_downstream_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(text.find("switchyard_active_connections"), std::string::npos);
  EXPECT_NE(text.find("switchyard_build_info"), std::string::npos);
  // The three requests are counted (across both workers).
  std::regex counter(
      R"re(switchyard_downstream_requests_total\{code="200",route="default"[^}]*\} (\d+))re");
  int64_t total = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), counter), end; it != end; ++it) {
    total += std::stoll((*it)[1]);
  }
  EXPECT_EQ(total, 3) << text.substr(0, 4000);
}

TEST_F(AdminTest, LocalRepliesAreCountedByCode) {
  startProxy();
  Response r = httpGet(port(), "/garbage");
  EXPECT_EQ(r.status, 502);
  Response m = httpGet(adminPort(), "/metrics");
  EXPECT_NE(m.body.find("switchyard_downstream_requests_total{code=\"502\""), std::string::npos)
      << m.body.substr(0, 4000);
}

TEST_F(AdminTest, ConfigDumpRedactsTheToken) {
  ProxyConfig config = defaultConfig();
  config.admin_token = "super-secret-value-123";
  startProxy(config);
  Response r = httpGet(adminPort(), "/config");
  ASSERT_EQ(r.status, 200) << r.reason;
  auto json = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.body;
  EXPECT_EQ(r.body.find("super-secret-value-123"), std::string::npos) << "the token leaked";
  ASSERT_TRUE(json.contains("admin")) << r.body;
  EXPECT_EQ(json["admin"]["token"], "<redacted>") << r.body;
  EXPECT_NE(r.body.find("main"), std::string::npos);
}

std::string runValidate(const std::string& path, int& exit_code) {
  Process p(SWITCHYARD_BIN, {"--validate", "--config", path});
  std::optional<int> code = p.waitExit(10s);
  if (!code) {
    p.stop(1s);
    exit_code = -1;
  } else {
    exit_code = *code;
  }
  return p.output();
}

TEST_F(ValidateTest, ReportsEveryProblemWithPositionAndPath) {
  const int upstream_port = freePort();
  const std::string bad =
      "workers: 2\n"                    // 1
      "listeners:\n"                    // 2
      "  - name: public\n"              // 3
      "    address: 127.0.0.1:99999\n"  // 4 bad address
      "    max_conections: 10\n"        // 5 unknown key
      "admin:\n"                        // 6
      "  address: 127.0.0.1:19901\n"    // 7
      "clusters:\n"                     // 8
      "  - name: legacy\n"              // 9
      "    endpoints: [127.0.0.1:" +
      std::to_string(upstream_port) +
      "]\n"                        // 10
      "    connect_timeout: 30\n"  // 11 bad duration
      "routes:\n"                  // 12
      "  - name: default\n"        // 13
      "    match: {prefix: /}\n"   // 14
      "    cluster: legacyy\n";    // 15 missing cluster
  const std::string path = writeFile("bad.yaml", bad);
  int code = 0;
  const std::string output = runValidate(path, code);
  EXPECT_EQ(code, 1) << output;

  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto hasLine = [&](const std::string& key_path, int line_no) {
    const std::regex re(
        "^" + std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") + ":" +
        std::to_string(line_no) +
        ":[0-9]+: " + std::regex_replace(key_path, std::regex(R"([\[\].])"), R"(\$&)") + ": .+$");
    for (const auto& l : lines) {
      if (std::regex_match(l, re)) return true;
    }
    return false;
  };
  EXPECT_TRUE(hasLine("listeners[0].address", 4)) << output;
  EXPECT_TRUE(hasLine("listeners[0].max_conections", 5)) << output;
  EXPECT_TRUE(hasLine("clusters[0].connect_timeout", 11)) << output;
  EXPECT_TRUE(hasLine("routes[0].cluster", 15)) << output;
  EXPECT_NE(output.find("legacyy"), std::string::npos) << output;
}

TEST_F(ValidateTest, GoodFileExitsZero) {
  ProxyConfig config = defaultConfig();
  const std::string path = writeFile("good.yaml", config.render(18080, 19901));
  int code = -1;
  const std::string output = runValidate(path, code);
  EXPECT_EQ(code, 0) << output;
}

TEST_F(ValidateTest, EveryShippedExampleIsValid) {
  const std::string dir = std::string(SOURCE_DIR) + "/config/examples";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    int code = -1;
    const std::string output = runValidate(entry.path().string(), code);
    EXPECT_EQ(code, 0) << entry.path() << ": " << output;
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// Command-line mistakes: a clear message and a usage exit code (2), and an unreadable file is a
// configuration error (1); nothing starts.
TEST_F(ValidateTest, CommandLineMistakesAreRefused) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::string good = writeFile("good.yaml", defaultConfig().render(18080, 19901));
  const std::vector<Case> cases = {
      {{"--bogus"}, 2, "unknown argument: --bogus"},
      {{}, 2, "--config FILE is required"},
      {{"--validate"}, 2, "--config FILE is required"},
      {{"--config", tempDir() + "/missing.yaml"}, 1, "missing.yaml: cannot read file"},
      {{"--config", good, "--log-level", "loud"}, 2, "unknown log level: loud"},
  };
  for (const Case& c : cases) {
    Process p(SWITCHYARD_BIN, c.args);
    const std::optional<int> code = p.waitExit(10s);
    EXPECT_EQ(code, std::optional<int>(c.code)) << p.output();
    EXPECT_NE(p.output().find(c.message), std::string::npos) << p.output();
  }
}

TEST_F(ValidateTest, ProxyRefusesToStartWithBadConfig) {
  const std::string path = writeFile("bad.yaml", "workers: 2\nlisteners: []\n");
  Process p(SWITCHYARD_BIN, {"--config", path});
  std::optional<int> code = p.waitExit(10s);
  EXPECT_EQ(code, std::optional<int>(1)) << p.output();
  EXPECT_NE(p.output().find(path), std::string::npos) << p.output();
}

TEST_F(DrainTest, SigtermFinishesInFlightRequestsAndClosesIdleOnes) {
  ProxyConfig config = defaultConfig();
  config.drain_timeout = "3s";
  startProxy(config);

  // An idle keep-alive connection.
  RawConnection idle;
  ASSERT_TRUE(idle.connect(port()));
  ASSERT_TRUE(idle.send(buildRequest("GET", "/idle-first")));
  auto first = idle.readResponse();
  ASSERT_TRUE(first && first->status == 200) << idle.error();

  // A request in flight: the upstream answers after 500 ms.
  RawConnection busy;
  ASSERT_TRUE(busy.connect(port()));
  const auto sent = Clock::now();
  ASSERT_TRUE(busy.send(buildRequest("GET", "/delay/500")));
  // Wait (bounded) until the upstream has it.
  for (int i = 0; i < 100 && upstream().stats().requests < 2; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(upstream().stats().requests, 2) << "the delayed request did not reach the upstream";

  ASSERT_TRUE(proxy().terminate(SIGTERM));
  const auto term = Clock::now();

  // Readiness goes down while draining (polled, bounded).
  int ready_status = 0;
  for (int i = 0; i < 20 && ready_status != 503; ++i) {
    ready_status = httpGet(adminPort(), "/ready", {}, 500ms).status;
    if (ready_status != 503) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ready_status, 503) << "/ready did not report the drain";

  // New connections are refused once the listeners are closed (polled, bounded).
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {
    RawConnection late;
    if (!late.connect(port(), 200ms)) {
      refused = true;
    } else if (late.send(buildRequest("GET", "/late")) && !late.readResponse(300ms)) {
      refused = true;  // accepted by a closing socket, then dropped unanswered
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(refused) << "the proxy still accepts connections while draining";

  // The idle keep-alive connection is closed by the drain.
  EXPECT_TRUE(idle.closedByPeer(1s)) << "an idle keep-alive connection survived the drain";

  // The in-flight request completes normally, marked as the last on its connection.
  auto r = busy.readResponse(3s);
  ASSERT_TRUE(r.has_value()) << "the in-flight request was dropped: " << busy.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(jsonString(r->body, "path"), std::optional<std::string>("/delay/500"));
  EXPECT_EQ(r->header("connection"), std::optional<std::string>("close"));
  EXPECT_GE(Clock::now() - sent, 450ms);
  EXPECT_TRUE(busy.closedByPeer(1s));

  // And the process exits 0 well within the drain timeout.
  std::optional<int> code = proxy().waitExit(3500ms);
  EXPECT_EQ(code, std::optional<int>(0)) << "no clean exit after the drain";
  EXPECT_LT(Clock::now() - term, 3500ms);
}

TEST_F(DrainTest, DrainTimeoutBoundsAHangingRequest) {
  ProxyConfig config = defaultConfig();
  config.drain_timeout = "500ms";
  startProxy(config);
  RawConnection hanging;
  ASSERT_TRUE(hanging.connect(port()));
  ASSERT_TRUE(hanging.send(buildRequest("GET", "/hang")));
  for (int i = 0; i < 100 && upstream().stats().requests < 1; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  const auto term = Clock::now();
  ASSERT_TRUE(proxy().terminate(SIGTERM));
  std::optional<int> code = proxy().waitExit(3s);
  EXPECT_EQ(code, std::optional<int>(0));
  const auto elapsed = Clock::now() - term;
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_TRUE(hanging.closedByPeer(1s));
}

TEST_F(PoolTest, UpstreamConnectionsAreReused) {
  startProxy();
  upstream().recover();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(conn.send(buildRequest("GET", "/reuse/" + std::to_string(i)))) << conn.error();
    auto r = conn.readResponse();
    ASSERT_TRUE(r.has_value()) << "request " << i << ": " << conn.error();
    ASSERT_EQ(r->status, 200);
  }
  TestUpstream::Stats stats = upstream().stats();
  EXPECT_EQ(stats.requests, 50);
  // One pooled connection (plus the one asking for the stats); allow a little slack.
  EXPECT_LE(stats.connections, 4) << "the pool opened a connection per request";
}

TEST_F(PoolTest, UpstreamConnectionsAreReusedForRequestsWithBodies) {
  startProxy();
  upstream().recover();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(conn.send(buildRequest("POST", "/echo", {}, "body-" + std::to_string(i))));
    auto r = conn.readResponse(3s);
    ASSERT_TRUE(r.has_value()) << conn.error();
    ASSERT_EQ(r->body, "body-" + std::to_string(i));
  }
  TestUpstream::Stats stats = upstream().stats();
  EXPECT_EQ(stats.requests, 20);
  EXPECT_LE(stats.connections, 4);
}

}  // namespace
}  // namespace switchyard::test::integration
