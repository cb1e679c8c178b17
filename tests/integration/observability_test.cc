// Traces and access logs from the real binary: spans exported over OTLP/HTTP JSON to a test
// collector on loopback, trace context propagated upstream, a dead collector costing nothing,
// and JSON access-log lines that follow a log rotation (SIGUSR1).

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/otlp_receiver.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;

// The value of attribute `key` of an OTLP/JSON span, as JSON ({"stringValue": ...} unwrapped).
json attribute(const json& span, const std::string& key) {
  for (const auto& a : span.value("attributes", json::array())) {
    if (a.value("key", "") != key) continue;
    const json& v = a["value"];
    if (v.contains("stringValue")) return v["stringValue"];
    if (v.contains("intValue")) return std::stoll(v["intValue"].get<std::string>());
    if (v.contains("boolValue")) return v["boolValue"];
    if (v.contains("doubleValue")) return v["doubleValue"];
  }
  return nullptr;
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class ObservabilityTest : public ProxyTest {
 protected:
  ProxyConfig tracedConfig(const std::string& collector_url, const std::string& extra = "") {
    ProxyConfig config = defaultConfig();
    config.top_extra =
        "tracing:\n"
        "  collector: " +
        collector_url +
        "\n"
        "  sampling_ratio: 1.0\n"
        "  flush_interval: 100ms\n"
        "  export_timeout: 500ms\n" +
        extra;
    return config;
  }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
};

TEST_F(ObservabilityTest, ContinuesTheCallersTraceWithAServerAndAClientSpan) {
  OtlpReceiver collector;
  startProxy(tracedConfig(collector.url()));
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_span = "00f067aa0ba902b7";
  Response r = httpGet(port(), "/orders?x=1",
                       {{"traceparent", "00-" + trace_id + "-" + caller_span + "-01"},
                        {"tracestate", "rojo=00f067aa0ba902b7"},
                        {"X-Correlation-ID", "corr-123"},
                        {"User-Agent", "trace-test/1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  // Upstream sees the same trace, a new parent (the client span), sampled, tracestate kept.
  const auto upstream_tp = upstreamHeader(r.body, "traceparent");
  ASSERT_TRUE(upstream_tp.has_value()) << r.body;
  ASSERT_EQ(upstream_tp->size(), 55u);
  EXPECT_EQ(upstream_tp->substr(0, 36), "00-" + trace_id + "-");
  const std::string client_span_id = upstream_tp->substr(36, 16);
  EXPECT_NE(client_span_id, caller_span);
  EXPECT_EQ(upstream_tp->substr(52), "-01");
  EXPECT_EQ(upstreamHeader(r.body, "tracestate"), "rojo=00f067aa0ba902b7");

  ASSERT_TRUE(collector.waitForSpans(2, 5s));
  const auto spans = collector.spans();
  ASSERT_EQ(spans.size(), 2u);
  const json* server = nullptr;
  const json* client = nullptr;
  for (const auto& s : spans) (s["kind"] == 2 ? server : client) = &s;
  ASSERT_TRUE(server != nullptr && client != nullptr);
  EXPECT_EQ((*server)["traceId"], trace_id);
  EXPECT_EQ((*server)["parentSpanId"], caller_span);
  EXPECT_EQ((*client)["traceId"], trace_id);
  EXPECT_EQ((*client)["spanId"], client_span_id);
  EXPECT_EQ((*client)["parentSpanId"], (*server)["spanId"]);
  EXPECT_EQ((*server)["name"], "GET /");
  EXPECT_EQ(attribute(*server, "http.request.method"), "GET");
  EXPECT_EQ(attribute(*server, "url.path"), "/orders");
  EXPECT_EQ(attribute(*server, "http.route"), "/");
  EXPECT_EQ(attribute(*server, "http.response.status_code"), 200);
  EXPECT_EQ(attribute(*server, "switchyard.correlation_id"), "corr-123");
  EXPECT_EQ(attribute(*server, "switchyard.route"), "default");
  EXPECT_EQ(attribute(*server, "switchyard.cluster"), "main");
  EXPECT_EQ(attribute(*server, "user_agent.original"), "trace-test/1");
  EXPECT_EQ(attribute(*client, "switchyard.cluster"), "main");
  EXPECT_EQ(attribute(*client, "server.address"), "127.0.0.1");
  EXPECT_EQ(attribute(*client, "server.port"), upstream().port());
  EXPECT_EQ(attribute(*client, "http.response.status_code"), 200);
  EXPECT_EQ(attribute(*client, "switchyard.attempt"), 1);
  const auto requests = collector.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].path, "/v1/traces");
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(requests[0].json["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"], "switchyard");
}

TEST_F(ObservabilityTest, StartsATraceWhenThereIsNoneAndMarksFailedAttempts) {
  OtlpReceiver collector;
  ProxyConfig config = tracedConfig(collector.url());
  // A second route to a cluster nobody listens on.
  const int dead_port = freePort();
  config.clusters.push_back({"dead", {"127.0.0.1:" + std::to_string(dead_port)}, ""});
  config.routes.insert(config.routes.begin(), {"broken", "/broken/", "dead", ""});
  startProxy(config);

  Response ok = httpGet(port(), "/fine");
  ASSERT_EQ(ok.status, 200);
  Response bad = httpGet(port(), "/broken/x");
  ASSERT_EQ(bad.status, 502);
  ASSERT_TRUE(collector.waitForSpans(4, 5s));
  std::set<std::string> traces;
  int errors = 0;
  for (const auto& s : collector.spans()) {
    traces.insert(s["traceId"].get<std::string>());
    EXPECT_EQ(s["traceId"].get<std::string>().size(), 32u);
    EXPECT_EQ(s["spanId"].get<std::string>().size(), 16u);
    if (s["kind"] == 2 && attribute(s, "switchyard.route") == "default") {
      EXPECT_FALSE(s.contains("parentSpanId") && !s["parentSpanId"].get<std::string>().empty());
    }
    if (s.contains("status") && s["status"].value("code", 0) == 2) {
      ++errors;
      EXPECT_EQ(attribute(s, "switchyard.route").is_null() ? attribute(s, "switchyard.cluster")
                                                           : attribute(s, "switchyard.cluster"),
                "dead");
    }
  }
  EXPECT_EQ(traces.size(), 2u);  // one new trace per request
  EXPECT_EQ(errors, 2);          // the 502's server span and its failed attempt
}

TEST_F(ObservabilityTest, EachRetryIsItsOwnClientSpan) {
  OtlpReceiver collector;
  auto& good = addUpstream("good");
  auto& bad = addUpstream("bad");
  ProxyConfig config;
  config.clusters.push_back({"api", {good.address(), bad.address()}, ""});
  config.routes.push_back({"default", "/", "api", ""});
  config.filters = "  - correlation_id: {}\n  - retry: {base_interval: 5ms, max_interval: 10ms}\n";
  config.top_extra = "tracing:\n  collector: " + collector.url() + "\n  flush_interval: 100ms\n";
  startProxy(config);
  bad.control("fail?status=503");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(httpGet(port(), "/r").status, 200);
  // Four server spans and at least two retried requests (round-robin hits `bad` every other
  // attempt): 4 + 4 + retries client spans.
  ASSERT_TRUE(collector.waitForSpans(10, 5s));
  std::map<std::string, std::vector<json>> clients_by_parent;
  std::set<std::string> server_spans;
  for (const auto& s : collector.spans()) {
    if (s["kind"] == 2) server_spans.insert(s["spanId"].get<std::string>());
    if (s["kind"] == 3) clients_by_parent[s["parentSpanId"].get<std::string>()].push_back(s);
  }
  EXPECT_EQ(server_spans.size(), 4u);
  int retried = 0;
  for (const auto& [parent, attempts] : clients_by_parent) {
    EXPECT_TRUE(server_spans.count(parent)) << "client span without its server span";
    if (attempts.size() < 2) continue;
    ++retried;
    ASSERT_EQ(attempts.size(), 2u);
    std::set<int64_t> numbers;
    std::set<int64_t> statuses;
    for (const auto& a : attempts) {
      numbers.insert(attribute(a, "switchyard.attempt").get<int64_t>());
      statuses.insert(attribute(a, "http.response.status_code").get<int64_t>());
    }
    EXPECT_EQ(numbers, (std::set<int64_t>{1, 2}));
    EXPECT_EQ(statuses, (std::set<int64_t>{200, 503}));
  }
  EXPECT_GE(retried, 2);
}

TEST_F(ObservabilityTest, ADeadOrHungCollectorAddsNoLatencyAndDropsAreCounted) {
  OtlpReceiver collector;
  collector.setHang(true);  // accepts, reads, never answers
  startProxy(tracedConfig(collector.url(), "  max_queue_spans: 16\n  max_batch_spans: 4\n"));
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  std::vector<double> ms;
  for (int i = 0; i < 300; ++i) {
    const auto start = std::chrono::steady_clock::now();
    conn.send(buildRequest("GET", "/orders/" + std::to_string(i)));
    auto r = conn.readResponse();
    ASSERT_TRUE(r && r->status == 200) << conn.error();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  // Well under the 500 ms export timeout: nobody waits for the collector.
  EXPECT_LT(ms[ms.size() * 99 / 100], 100.0) << "p99 " << ms[ms.size() * 99 / 100] << " ms";
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_trace_spans_dropped_total{reason=\"queue_full\"}"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("switchyard_trace_spans_dropped_total{reason=\"queue_full\"} 0\n"),
            std::string::npos)
      << m;
  collector.setHang(false);
}

TEST_F(ObservabilityTest, AccessLogLinesFollowARotation) {
  ProxyConfig config = defaultConfig();
  const std::string path = tempDir() + "/access.log";
  config.top_extra = "access_log:\n  path: " + path + "\n";
  startProxy(config);
  Response r =
      httpGet(port(), "/first?q=1", {{"X-Correlation-ID", "log-1"}, {"User-Agent", "ua/1"}});
  ASSERT_EQ(r.status, 200);
  auto waitForLines = [&](const std::string& file, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (readLines(file).size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);  // the writer thread of another process; bounded
    }
    return readLines(file);
  };
  auto lines = waitForLines(path, 1);
  ASSERT_EQ(lines.size(), 1u);
  json line = json::parse(lines[0]);
  EXPECT_EQ(line["correlation_id"], "log-1");
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["path"], "/first?q=1");
  EXPECT_EQ(line["route"], "default");
  EXPECT_EQ(line["cluster"], "main");
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["attempts"], 1);
  EXPECT_EQ(line["retries"], 0);
  EXPECT_EQ(line["client"], "127.0.0.1");
  EXPECT_EQ(line["user_agent"], "ua/1");
  EXPECT_TRUE(line.contains("duration_ms"));
  EXPECT_TRUE(line.contains("upstream_duration_ms"));
  EXPECT_FALSE(line.contains("trace_id"));  // tracing is off
  EXPECT_EQ(line["time"].get<std::string>().back(), 'Z');

  // A rejected request is logged too (400 from the codec, no route).
  sendRaw("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  lines = waitForLines(path, 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1])["status"], 400);

  // Rotation: move the file away, SIGUSR1, and new lines go to a new file at the same path.
  const std::string rotated = path + ".1";
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  ASSERT_TRUE(proxy().terminate(SIGUSR1));
  // The reopen is asynchronous; requests until the new file shows up (bounded).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (readLines(path).empty() && std::chrono::steady_clock::now() < deadline) {
    httpGet(port(), "/after-rotation");
    std::this_thread::sleep_for(20ms);
  }
  lines = readLines(path);
  ASSERT_FALSE(lines.empty()) << proxy().output();
  EXPECT_EQ(json::parse(lines[0])["path"], "/after-rotation");
  // The rotated file keeps what was written before (requests sent while the reopen was on its
  // way may land there too); nothing is lost or written twice.
  const auto old_lines = readLines(rotated);
  ASSERT_GE(old_lines.size(), 2u);
  EXPECT_EQ(json::parse(old_lines[0])["path"], "/first?q=1");
  EXPECT_EQ(json::parse(old_lines[1])["status"], 400);
  for (const auto& l : lines) EXPECT_EQ(json::parse(l)["path"], "/after-rotation");
  EXPECT_TRUE(proxy().running());
}

TEST_F(ObservabilityTest, TraceIdsAppearInTheAccessLog) {
  OtlpReceiver collector;
  const std::string path = tempDir() + "/access.log";
  ProxyConfig config = tracedConfig(collector.url());
  config.top_extra += "access_log:\n  path: " + path + "\n";
  startProxy(config);
  const std::string trace_id = "0af7651916cd43dd8448eb211c80319c";
  ASSERT_EQ(
      httpGet(port(), "/t", {{"traceparent", "00-" + trace_id + "-b7ad6b7169203331-01"}}).status,
      200);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (readLines(path).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the writer thread of another process; bounded
  }
  auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0])["trace_id"], trace_id);
}

TEST_F(ObservabilityTest, HealthShowsEachComponent) {
  OtlpReceiver collector;
  ProxyConfig config = tracedConfig(collector.url());
  startProxy(config);
  Response r = httpGet(adminPort(), "/health");
  ASSERT_EQ(r.status, 200) << r.body;
  json h = json::parse(r.body);
  EXPECT_EQ(h["status"], "ok") << r.body;
  EXPECT_EQ(h["components"]["clusters"]["main"]["status"], "ok");
  EXPECT_EQ(h["components"]["clusters"]["main"]["endpoints"][0]["reachable"], true);
  EXPECT_EQ(h["components"]["trace_exporter"]["status"], "ok");
  EXPECT_EQ(h["components"]["rollback"]["status"], "disabled");
  EXPECT_EQ(h["components"]["redis"]["status"], "not_configured");
  stopProxy();

  // A cluster with nothing listening: down, 503, and which endpoint and why.
  config.clusters.push_back({"gone", {"127.0.0.1:" + std::to_string(freePort())}, ""});
  config.routes.insert(config.routes.begin(), {"gone", "/gone/", "gone", ""});
  startProxy(config);
  r = httpGet(adminPort(), "/health");
  EXPECT_EQ(r.status, 503) << r.body;
  h = json::parse(r.body);
  EXPECT_EQ(h["status"], "down");
  EXPECT_EQ(h["components"]["clusters"]["gone"]["status"], "down");
  EXPECT_EQ(h["components"]["clusters"]["gone"]["endpoints"][0]["reachable"], false);
  EXPECT_TRUE(h["components"]["clusters"]["gone"]["endpoints"][0].contains("error"));
  EXPECT_EQ(h["components"]["clusters"]["main"]["status"], "ok");
}

TEST_F(ObservabilityTest, BadTracingAndAccessLogConfigIsRefused) {
  ProxyConfig config = defaultConfig();
  config.top_extra =
      "tracing: {collector: https://collector.example:4318, sampling_ratio: 2}\n"
      "access_log: {max_queue_lines: 0}\n";
  const std::string file = writeFile("bad.yaml", config.render(18080, 19901));
  Process validate(SWITCHYARD_BIN, {"--validate", "--config", file});
  EXPECT_EQ(validate.waitExit(10s), std::optional<int>(1));
  const std::string out = validate.output();
  EXPECT_NE(out.find("tracing.collector: https is not supported"), std::string::npos) << out;
  EXPECT_NE(out.find("access_log.path: required"), std::string::npos) << out;

  config.top_extra = "tracing: {collector: http://127.0.0.1:4318, sampling_ratio: 2}\n";
  const std::string file1 = writeFile("bad1.yaml", config.render(18080, 19901));
  Process validate1(SWITCHYARD_BIN, {"--validate", "--config", file1});
  EXPECT_EQ(validate1.waitExit(10s), std::optional<int>(1));
  EXPECT_NE(validate1.output().find("tracing.sampling_ratio"), std::string::npos)
      << validate1.output();

  // An access log that cannot be opened stops the start with a message.
  config.top_extra = "access_log: {path: /nonexistent-dir/for/sure/access.log}\n";
  const std::string file2 = writeFile(
      "bad2.yaml",
      config.render(static_cast<uint16_t>(freePort()), static_cast<uint16_t>(freePort())));
  Process run(SWITCHYARD_BIN, {"--config", file2});
  EXPECT_EQ(run.waitExit(10s), std::optional<int>(1));
  EXPECT_NE(run.output().find("cannot open"), std::string::npos) << run.output();
}

}  // namespace
}  // namespace switchyard::test::integration
