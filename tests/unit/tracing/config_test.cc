#include "proxy/tracing/config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::tracing {
namespace {

using std::chrono::milliseconds;

constexpr const char* Path = "tracing";

TracingConfig parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseTracingConfig(root["tracing"], Path);
}

// Parses `yaml`, which must fail, and returns the error.
config::ConfigError parseError(const std::string& yaml) {
  return test::configErrorOf([&] { parse(yaml); }, yaml);
}

TEST(TracingConfigTest, AbsentBlockDisablesTracing) {
  const TracingConfig c = parse("workers: 2");
  EXPECT_FALSE(c.enabled);
  EXPECT_EQ(c.collector.url, "");
}

TEST(TracingConfigTest, DefaultsWithACollector) {
  const TracingConfig c = parse("tracing: {collector: 'http://127.0.0.1:4318/v1/traces'}");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.collector.host, "127.0.0.1");
  EXPECT_EQ(c.collector.port, 4318);
  EXPECT_EQ(c.collector.path, "/v1/traces");
  EXPECT_EQ(c.collector.url, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(c.sampling_ratio, 1.0);
  EXPECT_EQ(c.service_name, "switchyard");
  EXPECT_EQ(c.max_queue_spans, 2048u);
  EXPECT_EQ(c.max_batch_spans, 512u);
  EXPECT_EQ(c.flush_interval, milliseconds(1000));
  EXPECT_EQ(c.export_timeout, milliseconds(2000));
}

TEST(TracingConfigTest, EveryKey) {
  const TracingConfig c = parse(R"(
tracing:
  enabled: true
  collector: http://[::1]:14318/otlp/v1/traces
  sampling_ratio: 0.05
  service_name: edge-proxy
  max_queue_spans: 100
  max_batch_spans: 10
  flush_interval: 250ms
  export_timeout: 5s
)");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.collector.host, "::1");
  EXPECT_EQ(c.collector.port, 14318);
  EXPECT_EQ(c.collector.path, "/otlp/v1/traces");
  EXPECT_DOUBLE_EQ(c.sampling_ratio, 0.05);
  EXPECT_EQ(c.service_name, "edge-proxy");
  EXPECT_EQ(c.max_queue_spans, 100u);
  EXPECT_EQ(c.max_batch_spans, 10u);
  EXPECT_EQ(c.flush_interval, milliseconds(250));
  EXPECT_EQ(c.export_timeout, milliseconds(5000));
}

TEST(TracingConfigTest, DisabledNeedsNoCollector) {
  const TracingConfig c = parse("tracing: {enabled: false, sampling_ratio: 0.5}");
  EXPECT_FALSE(c.enabled);
  EXPECT_DOUBLE_EQ(c.sampling_ratio, 0.5);
}

TEST(TracingConfigTest, SmallQueueShrinksTheDefaultBatch) {
  EXPECT_EQ(
      parse("tracing: {collector: 'http://127.0.0.1:1', max_queue_spans: 64}").max_batch_spans,
      64u);
}

TEST(TracingConfigTest, EnvironmentIsExpanded) {
  setenv("SWITCHYARD_TEST_COLLECTOR_PORT", "4999", 1);
  const TracingConfig c =
      parse("tracing: {collector: 'http://127.0.0.1:${SWITCHYARD_TEST_COLLECTOR_PORT}'}");
  unsetenv("SWITCHYARD_TEST_COLLECTOR_PORT");
  EXPECT_EQ(c.collector.port, 4999);
}

TEST(TracingConfigTest, ToJson) {
  const TracingConfig c = parse(
      "tracing: {collector: 'http://127.0.0.1:4318', flush_interval: 1500ms, "
      "export_timeout: 1m}");
  const nlohmann::json expected = {
      {"enabled", true},
      {"collector", "http://127.0.0.1:4318"},
      {"sampling_ratio", 1.0},
      {"service_name", "switchyard"},
      {"max_queue_spans", 2048},
      {"max_batch_spans", 512},
      {"flush_interval", "1500ms"},
      {"export_timeout", "1m"},
  };
  EXPECT_EQ(c.toJson(), expected);
}

TEST(TracingConfigTest, MissingCollector) {
  config::ConfigError e = parseError("tracing:\n  sampling_ratio: 0.5\n");
  EXPECT_EQ(e.path(), "tracing.collector");
  EXPECT_NE(std::string(e.what()).find("required"), std::string::npos) << e.what();
  EXPECT_EQ(e.line(), 2);

  e = parseError("tracing:");
  EXPECT_EQ(e.path(), "tracing.collector");
}

TEST(TracingConfigTest, NotAMapAndUnknownKeys) {
  config::ConfigError e = parseError("tracing: [http://127.0.0.1:4318]");
  EXPECT_EQ(e.path(), "tracing");
  EXPECT_EQ(e.line(), 1);

  e = parseError("tracing:\n  collector: http://127.0.0.1:4318\n  sample_ratio: 0.5\n");
  EXPECT_EQ(e.path(), "tracing.sample_ratio");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 3);
  EXPECT_NE(std::string(e.what()).find("sampling_ratio"), std::string::npos) << e.what();
}

TEST(TracingConfigTest, BadValues) {
  struct Case {
    const char* yaml;
    const char* key;
    const char* message;  // a part of the message
  };
  for (const Case& c : {
           Case{"enabled: yes please", "enabled", "boolean"},
           Case{"sampling_ratio: 1.5", "sampling_ratio", "between 0 and 1"},
           Case{"sampling_ratio: -0.1", "sampling_ratio", "between 0 and 1"},
           Case{"sampling_ratio: half", "sampling_ratio", "between 0 and 1"},
           Case{"service_name: ''", "service_name", "empty"},
           Case{"service_name: [a]", "service_name", "string"},
           Case{"max_queue_spans: 0", "max_queue_spans", "between 1 and 1000000"},
           Case{"max_queue_spans: 1000001", "max_queue_spans", "between 1 and 1000000"},
           Case{"max_batch_spans: 0", "max_batch_spans", "between 1"},
           Case{"max_batch_spans: 4096", "max_batch_spans", "max_queue_spans (2048)"},
           Case{"flush_interval: 0s", "flush_interval", "above 0"},
           Case{"flush_interval: 2h", "flush_interval", "at most 1h"},
           Case{"flush_interval: 10", "flush_interval", "duration"},
           Case{"export_timeout: 0ms", "export_timeout", "above 0"},
           Case{"export_timeout: 61s", "export_timeout", "at most 1m"},
       }) {
    config::ConfigError e =
        parseError(std::string("tracing:\n  collector: http://127.0.0.1:4318\n  ") + c.yaml);
    EXPECT_EQ(e.path(), std::string("tracing.") + c.key) << c.yaml;
    EXPECT_EQ(e.line(), 3) << c.yaml;
    EXPECT_EQ(e.column(), 3 + static_cast<int>(std::string(c.key).size()) + 2) << c.yaml;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << c.yaml << ": " << e.what();
  }
}

TEST(TracingConfigTest, BadCollectorUrls) {
  struct Case {
    const char* url;
    const char* message;
  };
  for (const Case& c : {
           Case{"https://127.0.0.1:4318", "https is not supported"},
           Case{"127.0.0.1:4318", "starting with \"http://\""},
           Case{"grpc://127.0.0.1:4317", "starting with \"http://\""},
           Case{"http://collector:4318/v1/traces", "IP address or localhost"},
           Case{"http://:4318", "IP address or localhost"},
           Case{"http://127.0.0.1:0", "port must be 1 to 65535"},
           Case{"http://127.0.0.1:65536", "port must be 1 to 65535"},
           Case{"http://127.0.0.1:", "port must be 1 to 65535"},
           Case{"http://127.0.0.1:43a", "port must be 1 to 65535"},
           Case{"http://[::1", "unterminated '['"},
           Case{"http://[::1]4318", "expected ':'"},
           Case{"http://[zz]:4318", "not an IPv6 address"},
           Case{"http://user@127.0.0.1:4318", "user information"},
           Case{"http://127.0.0.1:4318/v1/traces#x", "fragment"},
           Case{"http://127.0.0.1:4318/v1 traces", "spaces or control characters"},
       }) {
    config::ConfigError e = parseError(std::string("tracing:\n  collector: '") + c.url + "'\n");
    EXPECT_EQ(e.path(), "tracing.collector") << c.url;
    EXPECT_EQ(e.line(), 2) << c.url;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << c.url << ": " << e.what();
  }
}

TEST(CollectorUrlTest, Forms) {
  CollectorEndpoint e;
  std::string error;
  ASSERT_TRUE(parseCollectorUrl("http://localhost:4318", e, error)) << error;
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.path, "/v1/traces");
  ASSERT_TRUE(parseCollectorUrl("http://10.0.0.7", e, error)) << error;
  EXPECT_EQ(e.host, "10.0.0.7");
  EXPECT_EQ(e.port, 80);
  ASSERT_TRUE(parseCollectorUrl("http://[::1]", e, error)) << error;
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 80);
  ASSERT_TRUE(parseCollectorUrl("http://127.0.0.1:4318/", e, error)) << error;
  EXPECT_EQ(e.path, "/");
  ASSERT_TRUE(parseCollectorUrl("http://127.0.0.1:4318?tenant=a", e, error)) << error;
  EXPECT_EQ(e.path, "/v1/traces?tenant=a");
  ASSERT_TRUE(parseCollectorUrl("http://127.0.0.1:4318/api/traces?x=1", e, error)) << error;
  EXPECT_EQ(e.path, "/api/traces?x=1");
  EXPECT_EQ(e.url, "http://127.0.0.1:4318/api/traces?x=1");
}

}  // namespace
}  // namespace switchyard::tracing
