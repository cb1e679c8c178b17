#include "config/loader.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "config/yaml_util.h"
#include "proxy/common/time.h"

namespace switchyard::config {
namespace {

using std::chrono::milliseconds;

// A stand-in filter so these tests depend on no real one: keys `text` and `secret`.
class GreetingFactory : public filters::FilterFactory {
 public:
  GreetingFactory(std::string text, std::string secret)
      : text_(std::move(text)), secret_(std::move(secret)) {}
  http::StreamFilterPtr create(filters::WorkerContext&, filters::WorkerLocal*) const override {
    return std::make_unique<http::StreamFilter>();
  }
  nlohmann::json toJson() const override {
    return {{"text", text_}, {"secret", secret_.empty() ? "" : "<redacted>"}};
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string secret_;
};

class LoaderTest : public ::testing::Test {
 protected:
  LoaderTest() {
    filters_.add("greeting", [this](const YAML::Node& node, filters::BuildContext& ctx) {
      build_paths_.push_back(ctx.path);
      expectMap(node, ctx.path, {"text", "secret"});
      std::string text = "hello";
      std::string secret;
      if (node["text"]) text = getString(node["text"], child(ctx.path, "text"));
      if (node["secret"]) secret = getString(node["secret"], child(ctx.path, "secret"));
      return std::make_shared<GreetingFactory>(text, secret);
    });
    filters_.add("noop", [](const YAML::Node& node, filters::BuildContext& ctx) {
      expectMap(node, ctx.path, {});
      return std::make_shared<GreetingFactory>("", "");
    });
  }

  ConfigConstSharedPtr load(const std::string& yaml) {
    return loadConfigString(yaml, "test.yaml", ctx_);
  }

  // Every formatted error the loader reports for `yaml`; empty if it loads.
  std::vector<std::string> errorsOf(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigErrors& e) {
      std::vector<std::string> out;
      for (const ConfigError& error : e.errors()) out.push_back(error.format(e.file()));
      return out;
    }
    return {};
  }

  // The only error for `yaml`, or a description of what was reported instead.
  std::string errorOf(const std::string& yaml) {
    std::vector<std::string> errors = errorsOf(yaml);
    if (errors.size() == 1) return errors.front();
    std::string all = std::to_string(errors.size()) + " errors:";
    for (const std::string& e : errors) all += "\n" + e;
    return all;
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
  LoadContext ctx_{filters_, metrics_, time_};
  std::vector<std::string> build_paths_;
};

// The smallest valid configuration; tests append to or edit it.
const char* const MinimalYaml = R"(listeners:
  - name: public
    address: 127.0.0.1:8080
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - name: default
    match: {prefix: /}
    cluster: backend
)";

const char* const FullYaml = R"(workers: 4
log_level: debug
drain_timeout: 20s
listeners:
  - name: public
    address: 0.0.0.0:8080
    max_connections: 5000
    request_headers_timeout: 5s
    idle_timeout: 2m
    request_timeout: 1m30s
    max_request_headers_bytes: 32KiB
    max_request_body_bytes: 1MiB
    max_requests_per_connection: 100
    forwarded_proto: https
  - name: internal
    address: "[::1]:8081"
admin:
  address: localhost:9902
  token: s3cret
clusters:
  - name: legacy
    endpoints: [127.0.0.1:9001, "[::1]:9003"]
    connect_timeout: 250ms
    response_timeout: 1500ms
    idle_timeout: 30s
    max_connections: 64
    max_pending_requests: 16
    max_requests_per_connection: 1000
  - name: modern.v2
    endpoints:
      - localhost:9002
routes:
  - name: health
    match: {prefix: /health}
    cluster: modern.v2
    timeout: 2s
  - name: api
    match:
      prefix: /api/
    cluster: legacy
filters:
  - greeting: {text: hi, secret: shh}
  - noop: {}
  - greeting:
)";

TEST_F(LoaderTest, FullConfiguration) {
  ConfigConstSharedPtr config = load(FullYaml);
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->source_file, "test.yaml");
  EXPECT_EQ(config->workers, 4u);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->drain_timeout, milliseconds(20'000));

  ASSERT_EQ(config->listeners.size(), 2u);
  const ListenerConfig& pub = config->listeners[0];
  EXPECT_EQ(pub.name, "public");
  EXPECT_EQ(pub.address.host, "0.0.0.0");
  EXPECT_EQ(pub.address.port, 8080);
  EXPECT_EQ(pub.address.text, "0.0.0.0:8080");
  EXPECT_EQ(pub.max_connections, 5000u);
  EXPECT_EQ(pub.request_headers_timeout, milliseconds(5'000));
  EXPECT_EQ(pub.idle_timeout, milliseconds(120'000));
  EXPECT_EQ(pub.request_timeout, milliseconds(90'000));
  EXPECT_EQ(pub.max_request_headers_bytes, 32u * 1024);
  EXPECT_EQ(pub.max_request_body_bytes, 1024u * 1024);
  EXPECT_EQ(pub.max_requests_per_connection, 100u);
  EXPECT_EQ(pub.forwarded_proto, "https");
  const ListenerConfig& internal = config->listeners[1];
  EXPECT_EQ(internal.address.host, "::1");
  EXPECT_EQ(internal.address.port, 8081);
  EXPECT_EQ(internal.address.text, "[::1]:8081");
  EXPECT_EQ(internal.max_connections, 10000u);  // defaults

  EXPECT_EQ(config->admin.address.host, "127.0.0.1");
  EXPECT_EQ(config->admin.address.port, 9902);
  EXPECT_EQ(config->admin.address.text, "localhost:9902");
  EXPECT_EQ(config->admin.token, "s3cret");

  ASSERT_EQ(config->clusters.size(), 2u);
  const ClusterConfig& legacy = config->clusters[0];
  EXPECT_EQ(legacy.name, "legacy");
  ASSERT_EQ(legacy.endpoints.size(), 2u);
  EXPECT_EQ(legacy.endpoints[0].text, "127.0.0.1:9001");
  EXPECT_EQ(legacy.endpoints[1].host, "::1");
  EXPECT_EQ(legacy.endpoints[1].port, 9003);
  EXPECT_EQ(legacy.connect_timeout, milliseconds(250));
  EXPECT_EQ(legacy.response_timeout, milliseconds(1500));
  EXPECT_EQ(legacy.idle_timeout, milliseconds(30'000));
  EXPECT_EQ(legacy.max_connections, 64u);
  EXPECT_EQ(legacy.max_pending_requests, 16u);
  EXPECT_EQ(legacy.max_requests_per_connection, 1000u);
  EXPECT_EQ(config->clusters[1].name, "modern.v2");
  EXPECT_EQ(config->clusters[1].endpoints[0].host, "127.0.0.1");

  ASSERT_EQ(config->routes.size(), 2u);
  EXPECT_EQ(config->routes[0].name, "health");
  EXPECT_EQ(config->routes[0].prefix, "/health");
  EXPECT_EQ(config->routes[0].cluster, "modern.v2");
  EXPECT_EQ(config->routes[0].timeout, milliseconds(2'000));
  EXPECT_EQ(config->routes[1].prefix, "/api/");
  EXPECT_EQ(config->routes[1].timeout, milliseconds(0));

  ASSERT_EQ(config->filters.size(), 3u);
  EXPECT_EQ(config->filters[0].name, "greeting");
  EXPECT_EQ(dynamic_cast<const GreetingFactory&>(*config->filters[0].factory).text(), "hi");
  EXPECT_EQ(config->filters[1].name, "noop");
  EXPECT_EQ(dynamic_cast<const GreetingFactory&>(*config->filters[2].factory).text(), "hello");
  EXPECT_EQ(build_paths_, (std::vector<std::string>{"filters[0].greeting", "filters[2].greeting"}));

  EXPECT_EQ(config->findCluster("legacy"), &config->clusters[0]);
  EXPECT_EQ(config->findCluster("modern.v2"), &config->clusters[1]);
  EXPECT_EQ(config->findCluster("nope"), nullptr);
}

TEST_F(LoaderTest, Defaults) {
  ConfigConstSharedPtr config = load(MinimalYaml);
  const Config defaults;
  EXPECT_EQ(config->workers, 0u);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->drain_timeout, defaults.drain_timeout);
  EXPECT_EQ(config->admin.address.host, "127.0.0.1");
  EXPECT_EQ(config->admin.address.port, 9901);
  EXPECT_EQ(config->admin.address.text, "127.0.0.1:9901");
  EXPECT_EQ(config->admin.token, "");
  EXPECT_TRUE(config->filters.empty());

  const ListenerConfig expected_listener;
  const ListenerConfig& l = config->listeners.at(0);
  EXPECT_EQ(l.max_connections, expected_listener.max_connections);
  EXPECT_EQ(l.request_headers_timeout, expected_listener.request_headers_timeout);
  EXPECT_EQ(l.idle_timeout, expected_listener.idle_timeout);
  EXPECT_EQ(l.request_timeout, expected_listener.request_timeout);
  EXPECT_EQ(l.max_request_headers_bytes, expected_listener.max_request_headers_bytes);
  EXPECT_EQ(l.max_request_body_bytes, expected_listener.max_request_body_bytes);
  EXPECT_EQ(l.max_requests_per_connection, expected_listener.max_requests_per_connection);
  EXPECT_EQ(l.forwarded_proto, "http");
  EXPECT_EQ(l.lingering_timeout, std::chrono::seconds(5));
  EXPECT_EQ(l.lingering_max_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(l.headers_with_underscores, ListenerConfig::Underscores::Drop);

  const ClusterConfig expected_cluster;
  const ClusterConfig& c = config->clusters.at(0);
  EXPECT_EQ(c.connect_timeout, expected_cluster.connect_timeout);
  EXPECT_EQ(c.response_timeout, expected_cluster.response_timeout);
  EXPECT_EQ(c.idle_timeout, expected_cluster.idle_timeout);
  EXPECT_EQ(c.max_connections, expected_cluster.max_connections);
  EXPECT_EQ(c.max_pending_requests, expected_cluster.max_pending_requests);
  EXPECT_EQ(c.max_requests_per_connection, expected_cluster.max_requests_per_connection);
  EXPECT_EQ(config->routes.at(0).timeout, milliseconds(0));
}

TEST_F(LoaderTest, JsonDumpRedactsTokenAndReloads) {
  ConfigConstSharedPtr config = load(FullYaml);
  nlohmann::json json = configToJson(*config);
  EXPECT_EQ(json["admin"]["token"], "<redacted>");
  EXPECT_EQ(json.dump().find("s3cret"), std::string::npos);
  EXPECT_EQ(json.dump().find("shh"), std::string::npos);
  EXPECT_EQ(json["admin"]["address"], "localhost:9902");
  EXPECT_EQ(json["workers"], 4);
  EXPECT_EQ(json["drain_timeout"], "20s");
  EXPECT_EQ(json["listeners"][0]["idle_timeout"], "2m");
  EXPECT_EQ(json["listeners"][0]["request_timeout"], "1m30s");
  EXPECT_EQ(json["listeners"][0]["max_request_headers_bytes"], 32 * 1024);
  EXPECT_EQ(json["listeners"][1]["request_timeout"], "0s");
  EXPECT_EQ(json["clusters"][0]["connect_timeout"], "250ms");
  EXPECT_EQ(json["clusters"][0]["response_timeout"], "1500ms");
  EXPECT_EQ(json["clusters"][0]["endpoints"][1], "[::1]:9003");
  EXPECT_EQ(json["routes"][1]["match"]["prefix"], "/api/");
  EXPECT_EQ(json["filters"][0]["greeting"]["text"], "hi");
  EXPECT_EQ(json["filters"][1], (nlohmann::json{{"noop", {{"text", ""}, {"secret", ""}}}}));

  // JSON is YAML: the dump (less the file name and the redacted secrets) loads back to itself.
  nlohmann::json reloadable = json;
  reloadable.erase("source_file");
  reloadable["admin"]["token"] = "s3cret";
  reloadable["filters"] = nlohmann::json::array({{{"noop", nlohmann::json::object()}}});
  nlohmann::json again = configToJson(*load(reloadable.dump()));
  again.erase("source_file");
  reloadable["filters"] = again["filters"];
  reloadable["admin"]["token"] = "<redacted>";
  EXPECT_EQ(again, reloadable);
}

TEST_F(LoaderTest, RedisBlock) {
  EXPECT_FALSE(load(MinimalYaml)->redis.has_value());
  EXPECT_FALSE(configToJson(*load(MinimalYaml)).contains("redis"));
  ConfigConstSharedPtr config = load(std::string(MinimalYaml) +
                                     "redis:\n"
                                     "  address: 127.0.0.1:6380\n"
                                     "  password: pa55\n"
                                     "  database: 2\n");
  ASSERT_TRUE(config->redis.has_value());
  EXPECT_EQ(config->redis->address.port, 6380);
  EXPECT_EQ(config->redis->password, "pa55");
  EXPECT_EQ(config->redis->database, 2u);
  const nlohmann::json json = configToJson(*config);
  EXPECT_EQ(json["redis"]["address"], "127.0.0.1:6380");
  EXPECT_EQ(json["redis"]["password"], "<redacted>");
  EXPECT_EQ(json.dump().find("pa55"), std::string::npos);
}

TEST_F(LoaderTest, RedisErrorsAtTheirPosition) {
  EXPECT_EQ(
      errorOf(std::string(MinimalYaml) + "redis:\n  address: 127.0.0.1:6379\n  timeout: 0s\n"),
      "test.yaml:13:12: redis.timeout: must be above 0");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "redis:\n"),
            "test.yaml:11:1: redis.address: required (e.g. 127.0.0.1:6379)");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "redis: {address: redis:6379}\n"),
            "test.yaml:11:18: redis.address: expected host:port with a numeric IP address or "
            "localhost (no name is looked up), e.g. 127.0.0.1:6379 or [::1]:6379, got "
            "\"redis:6379\"");
}

TEST_F(LoaderTest, JsonDumpEmptyToken) {
  EXPECT_EQ(configToJson(*load(MinimalYaml))["admin"]["token"], "");
  EXPECT_EQ(configToJson(*load(MinimalYaml))["filters"], nlohmann::json::array());
}

TEST_F(LoaderTest, EnvironmentExpansion) {
  setenv("SWITCHYARD_TEST_TOKEN", "from-env", 1);
  setenv("SWITCHYARD_TEST_PORT", "9100", 1);
  unsetenv("SWITCHYARD_TEST_UNSET");
  ConfigConstSharedPtr config = load(std::string(MinimalYaml) +
                                     "admin:\n"
                                     "  address: 127.0.0.1:${SWITCHYARD_TEST_PORT}\n"
                                     "  token: ${SWITCHYARD_TEST_TOKEN}\n"
                                     "workers: ${SWITCHYARD_TEST_UNSET:-3}\n"
                                     "drain_timeout: ${SWITCHYARD_TEST_UNSET:-45s}\n");
  EXPECT_EQ(config->admin.token, "from-env");
  EXPECT_EQ(config->admin.address.port, 9100);
  EXPECT_EQ(config->workers, 3u);
  EXPECT_EQ(config->drain_timeout, milliseconds(45'000));

  setenv("SWITCHYARD_TEST_UNSET", "7", 1);  // now set: the default no longer applies
  EXPECT_EQ(load(std::string(MinimalYaml) + "workers: ${SWITCHYARD_TEST_UNSET:-3}\n")->workers, 7u);
  unsetenv("SWITCHYARD_TEST_UNSET");
  unsetenv("SWITCHYARD_TEST_TOKEN");
  unsetenv("SWITCHYARD_TEST_PORT");
}

TEST_F(LoaderTest, UnsetEnvironmentVariable) {
  unsetenv("SWITCHYARD_TEST_UNSET");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "admin:\n  token: ${SWITCHYARD_TEST_UNSET}\n"),
            "test.yaml:12:10: admin.token: environment variable \"SWITCHYARD_TEST_UNSET\" is not "
            "set (use ${SWITCHYARD_TEST_UNSET:-default} to give a default)");
}

TEST_F(LoaderTest, OverloadSettings) {
  const ConfigConstSharedPtr defaults_ptr = load(MinimalYaml);
  const Config& defaults = *defaults_ptr;
  EXPECT_EQ(defaults.overload.max_connections, 100000u);
  EXPECT_EQ(defaults.overload.max_buffer_bytes_per_worker, 256ull * 1024 * 1024);
  EXPECT_EQ(defaults.overload.retry_after, std::chrono::seconds(2));
  const ConfigConstSharedPtr set_ptr =
      load(std::string(MinimalYaml) +
           "overload:\n  max_connections: 5000\n"
           "  max_buffer_bytes_per_worker: 64MiB\n  retry_after: 5s\n");
  const Config& set = *set_ptr;
  EXPECT_EQ(set.overload.max_connections, 5000u);
  EXPECT_EQ(set.overload.max_buffer_bytes_per_worker, 64ull * 1024 * 1024);
  EXPECT_EQ(set.overload.retry_after, std::chrono::seconds(5));
  EXPECT_EQ(load(std::string(MinimalYaml) + "overload:\n  max_buffer_bytes_per_worker: 0\n")
                ->overload.max_buffer_bytes_per_worker,
            0u);
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "overload:\n  max_connections: 0\n"),
            "test.yaml:12:20: overload.max_connections: expected an integer between 1 and "
            "1000000, got \"0\"");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "overload:\n  max_buffer_bytes_per_worker: 10KiB\n"),
            "test.yaml:12:32: overload.max_buffer_bytes_per_worker: must be 0 (no limit) or at "
            "least 1MiB");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "overload:\n  retry_after: 1500ms\n"),
            "test.yaml:12:16: overload.retry_after: must be whole seconds, at least 1s (it is "
            "sent in Retry-After)");
}

TEST_F(LoaderTest, FleetSettings) {
  const std::string redis = "redis: {address: 127.0.0.1:6379}\n";
  const ConfigConstSharedPtr defaults = load(std::string(MinimalYaml) + redis);
  EXPECT_TRUE(defaults->fleet.enabled);
  EXPECT_EQ(defaults->fleet.key_prefix, "switchyard:fleet");
  EXPECT_EQ(defaults->fleet.reconcile_interval, std::chrono::seconds(5));
  EXPECT_EQ(defaults->fleet.instance, "");
  const ConfigConstSharedPtr set =
      load(std::string(MinimalYaml) + redis +
           "fleet: {enabled: false, key_prefix: 'orders:fleet', reconcile_interval: 1s, "
           "instance: pod-a}\n");
  EXPECT_FALSE(set->fleet.enabled);
  EXPECT_EQ(set->fleet.key_prefix, "orders:fleet");
  EXPECT_EQ(set->fleet.reconcile_interval, std::chrono::seconds(1));
  EXPECT_EQ(set->fleet.instance, "pod-a");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "fleet: {enabled: true}\n"),
            "test.yaml:11:8: fleet: fleet-wide state lives in Redis: add a redis: block (or "
            "remove fleet:)");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + redis + "fleet: {key_prefix: 'a b'}\n"),
            "test.yaml:12:21: fleet.key_prefix: must be 1-200 characters without spaces");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + redis + "fleet: {reconcile_interval: 50ms}\n"),
            "test.yaml:12:29: fleet.reconcile_interval: must be between 100ms and 10m");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + redis + "fleet: {instance: ''}\n"),
            "test.yaml:12:19: fleet.instance: must be 1-200 characters");
}

TEST_F(LoaderTest, UnknownKeyAtItsPosition) {
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    max_conections: 10
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)"),
            "test.yaml:4:5: listeners[0].max_conections: unknown key \"max_conections\" (expected "
            "one of: name, address, max_connections, request_headers_timeout, idle_timeout, "
            "request_timeout, max_request_headers_bytes, max_request_body_bytes, "
            "max_requests_per_connection, forwarded_proto, lingering_timeout, "
            "lingering_max_bytes, headers_with_underscores, tls)");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "colors: 3\n"),
            "test.yaml:11:1: colors: unknown key \"colors\" (expected one of: workers, log_level, "
            "drain_timeout, listeners, admin, clusters, routes, filters, tracing, access_log, "
            "rollback, redis, dns, overload, fleet)");
}

TEST_F(LoaderTest, WrongTypes) {
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "workers: [2]\n"),
            "test.yaml:11:10: workers: expected an integer between 1 and 256");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "workers: 0\n"),
            "test.yaml:11:10: workers: expected an integer between 1 and 256, got \"0\"");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "admin: 127.0.0.1:9901\n"),
            "test.yaml:11:8: admin: expected a map");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "filters: {greeting: {}}\n"),
            "test.yaml:11:10: filters: expected a sequence");
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "log_level: verbose\n"),
            "test.yaml:11:12: log_level: invalid value \"verbose\" (expected one of: debug, info, "
            "warn, error)");
  EXPECT_EQ(errorOf("- just\n- a list\n"), "test.yaml:1:1: expected a map");
}

TEST_F(LoaderTest, UnknownClusterReference) {
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
  - name: other
    endpoints: [127.0.0.1:9002]
routes:
  - name: default
    match: {prefix: /}
    cluster: backnd
)"),
            "test.yaml:12:14: routes[0].cluster: unknown cluster \"backnd\" (defined clusters: "
            "backend, other)");
}

TEST_F(LoaderTest, BadAddresses) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - name: public
    address: 127.0.0.1
  - name: other
    address: 127.0.0.1:70000
clusters:
  - name: backend
    endpoints: [-bad.example:80, "::1:80", 300.1.2.3:80, api.example.com:0, 10.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)");
  const std::string expected = " (expected IPv4:port, [IPv6]:port or localhost:port, port 1-65535)";
  const std::string endpoint = " (expected IPv4:port, [IPv6]:port or hostname:port, port 1-65535)";
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:3:14: listeners[0].address: invalid address \"127.0.0.1\"" + expected,
          "test.yaml:5:14: listeners[1].address: invalid address \"127.0.0.1:70000\"" + expected,
          "test.yaml:8:17: clusters[0].endpoints[0]: invalid endpoint \"-bad.example:80\"" +
              endpoint,
          "test.yaml:8:34: clusters[0].endpoints[1]: invalid endpoint \"::1:80\"" + endpoint,
          "test.yaml:8:44: clusters[0].endpoints[2]: invalid endpoint \"300.1.2.3:80\"" + endpoint,
          "test.yaml:8:58: clusters[0].endpoints[3]: invalid endpoint \"api.example.com:0\"" +
              endpoint,
      }));
}

TEST_F(LoaderTest, EndpointsMayBeNames) {
  const auto config = load(R"(listeners:
  - {name: public, address: 127.0.0.1:8080}
clusters:
  - name: modern
    endpoints: [Orders-V2.prod.svc.:8080, 127.0.0.1:9001, localhost:9002]
routes:
  - {name: default, match: {prefix: /}, cluster: modern}
dns: {resolvers: ["127.0.0.1:5353"], refresh: 10s}
)");
  const config::ClusterConfig& c = config->clusters.at(0);
  ASSERT_EQ(c.named_endpoints.size(), 1u);
  EXPECT_EQ(c.named_endpoints[0].host, "orders-v2.prod.svc");
  EXPECT_EQ(c.named_endpoints[0].port, 8080);
  EXPECT_EQ(c.named_endpoints[0].text, "Orders-V2.prod.svc.:8080");
  ASSERT_EQ(c.endpoints.size(), 2u);
  EXPECT_EQ(c.endpoints[1].host, "127.0.0.1");
  ASSERT_TRUE(config->dns.has_value());
  EXPECT_EQ(config->dns->refresh, std::chrono::seconds(10));
  EXPECT_EQ(config->dns->resolvers.at(0).port, 5353);
}

TEST_F(LoaderTest, BadDurations) {
  std::vector<std::string> errors = errorsOf(std::string(MinimalYaml) +
                                             "drain_timeout: 15\n"
                                             "admin: {address: 127.0.0.1:9901}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "test.yaml:11:16: drain_timeout: expected a duration such as \"250ms\", \"30s\", "
            "\"1m\" or \"1m30s\", got \"15\"");
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    request_headers_timeout: 0s
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
    connect_timeout: -1s
routes:
  - {name: default, match: {prefix: /}, cluster: backend, timeout: 0s}
)"),
            "2 errors:\n"
            "test.yaml:4:30: listeners[0].request_headers_timeout: must be greater than 0s\n"
            "test.yaml:8:22: clusters[0].connect_timeout: expected a duration such as \"250ms\", "
            "\"30s\", \"1m\" or \"1m30s\", got \"-1s\"");
}

TEST_F(LoaderTest, DuplicateNames) {
  EXPECT_EQ(errorsOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
  - name: public
    address: 127.0.0.1:8081
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
  - name: backend
    endpoints: [127.0.0.1:9002]
routes:
  - {name: r, match: {prefix: /a}, cluster: backend}
  - {name: r, match: {prefix: /b}, cluster: backend}
)"),
            (std::vector<std::string>{
                "test.yaml:4:11: listeners[1].name: duplicate listener name \"public\" (first "
                "defined on line 2)",
                "test.yaml:9:11: clusters[1].name: duplicate cluster name \"backend\" (first "
                "defined on line 7)",
                "test.yaml:13:12: routes[1].name: duplicate route name \"r\" (first defined on "
                "line 12)",
            }));
}

TEST_F(LoaderTest, DuplicateKeyInOneMap) {
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "workers: 2\nworkers: 3\n"),
            "test.yaml:12:1: workers: duplicate key \"workers\" (first set on line 11)");
}

TEST_F(LoaderTest, UnknownFilter) {
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "filters:\n  - noop: {}\n  - greting: {}\n"),
            "test.yaml:13:5: filters[1].greting: unknown filter \"greting\" (known filters: "
            "greeting, noop)");
  filters::FilterRegistry empty;
  LoadContext ctx{empty, metrics_, time_};
  try {
    loadConfigString(std::string(MinimalYaml) + "filters: [{greeting: {}}]\n", "e.yaml", ctx);
    FAIL() << "expected an error";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(e.format(),
              "e.yaml:11:12: filters[0].greeting: unknown filter \"greeting\" (no filters are "
              "registered)");
  }
}

TEST_F(LoaderTest, FilterErrorsAreCollected) {
  EXPECT_EQ(errorsOf(std::string(MinimalYaml) + "filters:\n"
                                                "  - greeting: {text: hi, colour: red}\n"
                                                "  - greeting: {text: [a]}\n"
                                                "  - noop\n"
                                                "  - {noop: {}, greeting: {}}\n"
                                                "  - noop: {x: 1}\n"),
            (std::vector<std::string>{
                "test.yaml:12:26: filters[0].greeting.colour: unknown key \"colour\" (expected one "
                "of: text, secret)",
                "test.yaml:13:22: filters[1].greeting.text: expected a string",
                "test.yaml:14:5: filters[2]: expected a map with one key, the filter's name, "
                "e.g. \"- noop: {}\"",
                "test.yaml:15:5: filters[3]: expected a map with one key, the filter's name, "
                "e.g. \"- correlation_id: {}\"",
                "test.yaml:16:12: filters[4].noop.x: unknown key \"x\" (this map takes no keys)",
            }));
}

TEST_F(LoaderTest, FilterUsingYamlCppConversionsKeepsPosition) {
  filters_.add("strict", [](const YAML::Node& node, filters::BuildContext&) {
    node["n"].as<int>();  // throws YAML::TypedBadConversion for a non-number
    return std::make_shared<GreetingFactory>("", "");
  });
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "filters:\n  - strict: {n: abc}\n"),
            "test.yaml:12:17: filters[0].strict: bad conversion");
}

TEST_F(LoaderTest, EmptyConfiguration) {
  EXPECT_EQ(errorOf(""), "test.yaml: empty configuration");
  EXPECT_EQ(errorOf("# nothing but a comment\n\n"), "test.yaml: empty configuration");
  EXPECT_EQ(errorOf("~\n"), "test.yaml: empty configuration");
}

TEST_F(LoaderTest, YamlSyntaxError) {
  EXPECT_EQ(errorOf("listeners:\n  - name: [public\n"),
            "test.yaml:3:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(errorOf("workers: 2\n  log_level: info: debug\n"),
            "test.yaml:2:12: invalid YAML: illegal map value");
}

TEST_F(LoaderTest, MultipleDocuments) {
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "---\nworkers: 2\n"),
            "test.yaml:11:1: expected one YAML document, found more");
}

// Found by the config fuzz target: yaml-cpp 0.7's LoadAll() loops forever (and grows) on a stray
// ',' at the start of a line. The loader reads at most two documents, so it answers at once.
TEST_F(LoaderTest, AStrayCommaIsAnErrorNotAHang) {
  for (const char* text : {",\n", "# rate limits\n, per user)\n", "workers: 2\n,\n"}) {
    EXPECT_NE(errorOf(text), "") << text;
  }
}

TEST_F(LoaderTest, MissingAndEmptySections) {
  EXPECT_EQ(errorsOf("workers: 2\n"), (std::vector<std::string>{
                                          "test.yaml:1:1: missing required key \"listeners\"",
                                          "test.yaml:1:1: missing required key \"clusters\"",
                                          "test.yaml:1:1: missing required key \"routes\"",
                                      }));
  EXPECT_EQ(errorsOf("listeners: []\nclusters:\nroutes:\n  - name: r\n"),
            (std::vector<std::string>{
                "test.yaml:1:12: listeners: at least one listener is required",
                "test.yaml:2:1: clusters: at least one cluster is required",
                "test.yaml:4:5: routes[0]: missing required key \"match\"",
                "test.yaml:4:5: routes[0]: missing required key \"cluster\" (or \"split\" or "
                "\"versions\")",
            }));
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
clusters:
  - name: backend
    endpoints: []
routes:
  - {name: default, match: {}, cluster: backend}
)"),
            "2 errors:\n"
            "test.yaml:6:16: clusters[0].endpoints: at least one endpoint is required\n"
            "test.yaml:8:28: routes[0].match: missing required key \"prefix\"");
}

TEST_F(LoaderTest, EmptyValueReportedAtItsKey) {
  EXPECT_EQ(errorOf(std::string(MinimalYaml) + "admin:\n  token:\n\n\nworkers: 2\n"),
            "test.yaml:12:3: admin.token: expected a string");
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
clusters:
  - name: backend
    endpoints:

routes:
  - name: default
    match:
    cluster: backend
)"),
            "2 errors:\n"
            "test.yaml:6:5: clusters[0].endpoints: at least one endpoint is required\n"
            "test.yaml:10:5: routes[0].match: missing required key \"prefix\"");
}

TEST_F(LoaderTest, BadNamesAndPrefixes) {
  EXPECT_EQ(errorsOf(R"(listeners:
  - name: ""
    address: 127.0.0.1:8080
clusters:
  - name: back end
    endpoints: [127.0.0.1:9001]
routes:
  - {name: a, match: {prefix: api}, cluster: back end}
  - {name: b, match: {prefix: /x}, cluster: back end}
  - {name: c, match: {prefix: /x}, cluster: back end}
)"),
            (std::vector<std::string>{
                "test.yaml:2:11: listeners[0].name: must not be empty",
                "test.yaml:5:11: clusters[0].name: invalid name \"back end\" (use letters, digits, "
                "'_', '.' and '-' only)",
                "test.yaml:8:31: routes[0].match.prefix: invalid prefix \"api\" (must start with "
                "\"/\")",
                "test.yaml:10:31: routes[2].match.prefix: prefix \"/x\" is already matched by "
                "route \"b\"",
            }));
}

TEST_F(LoaderTest, LingeringAndUnderscoreNamesPerListener) {
  auto config = load(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    lingering_timeout: 0s
    lingering_max_bytes: 1MiB
    headers_with_underscores: reject
  - name: internal
    address: 127.0.0.1:8081
    headers_with_underscores: allow
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].lingering_timeout, std::chrono::milliseconds(0));
  EXPECT_EQ(config->listeners[0].lingering_max_bytes, 1024u * 1024);
  EXPECT_EQ(config->listeners[0].headers_with_underscores, ListenerConfig::Underscores::Reject);
  EXPECT_EQ(config->listeners[1].headers_with_underscores, ListenerConfig::Underscores::Allow);
  EXPECT_EQ(errorsOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    lingering_timeout: soon
    headers_with_underscores: fold
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)"),
            (std::vector<std::string>{
                "test.yaml:4:24: listeners[0].lingering_timeout: expected a duration such as "
                "\"250ms\", \"30s\", \"1m\" or \"1m30s\", got \"soon\"",
                "test.yaml:5:31: listeners[0].headers_with_underscores: invalid value \"fold\" "
                "(expected one of: drop, reject, allow)",
            }));
}

TEST_F(LoaderTest, OutOfRangeLimits) {
  EXPECT_EQ(errorsOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    max_connections: 0
    max_request_headers_bytes: 100
    forwarded_proto: ftp
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
    max_connections: 0
    max_pending_requests: -1
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)"),
            (std::vector<std::string>{
                "test.yaml:4:22: listeners[0].max_connections: expected an integer between 1 and "
                "1000000, got \"0\"",
                "test.yaml:5:32: listeners[0].max_request_headers_bytes: must be between 1024 and "
                "1048576 bytes, got 100",
                "test.yaml:6:22: listeners[0].forwarded_proto: invalid value \"ftp\" (expected one "
                "of: http, https)",
                "test.yaml:10:22: clusters[0].max_connections: expected an integer between 1 and "
                "1000000, got \"0\"",
                "test.yaml:11:27: clusters[0].max_pending_requests: expected an integer between 0 "
                "and 1000000, got \"-1\"",
            }));
}

TEST_F(LoaderTest, AddressConflicts) {
  EXPECT_EQ(errorsOf(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
  - name: again
    address: localhost:8080
  - name: any
    address: 0.0.0.0:8081
  - name: specific
    address: 10.0.0.1:8081
  - name: v6
    address: "[::1]:8082"
  - name: v6-again
    address: "[0::1]:8082"
admin:
  address: 127.0.0.1:8080
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)"),
            (std::vector<std::string>{
                "test.yaml:5:14: listeners[1].address: address \"localhost:8080\" conflicts with "
                "listener \"public\" (127.0.0.1:8080)",
                "test.yaml:9:14: listeners[3].address: address \"10.0.0.1:8081\" conflicts with "
                "listener \"any\" (0.0.0.0:8081)",
                "test.yaml:13:14: listeners[5].address: address \"[0::1]:8082\" conflicts with "
                "listener \"v6\" ([::1]:8082)",
                "test.yaml:15:12: admin.address: address \"127.0.0.1:8080\" conflicts with "
                "listener \"public\" (127.0.0.1:8080)",
            }));
}

TEST_F(LoaderTest, ListenerOnDefaultAdminAddress) {
  EXPECT_EQ(errorOf(R"(listeners:
  - name: public
    address: 127.0.0.1:9901
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
routes:
  - {name: default, match: {prefix: /}, cluster: backend}
)"),
            "test.yaml:3:14: listeners[0].address: address \"127.0.0.1:9901\" conflicts with the "
            "admin listener (default 127.0.0.1:9901; set admin.address)");
}

TEST_F(LoaderTest, ManyErrorsReportedTogetherInFileOrder) {
  unsetenv("SWITCHYARD_TEST_UNSET");
  std::vector<std::string> errors = errorsOf(R"(routes:
  - name: default
    match: {prefix: /}
    cluster: missing
workers: 1000
listeners:
  - name: public
    address: nowhere
    idle_timeout: forever
clusters:
  - name: backend
    endpoints: [127.0.0.1:9001]
    bogus: true
admin:
  token: ${SWITCHYARD_TEST_UNSET}
filters:
  - nope: {}
)");
  ASSERT_EQ(errors.size(), 7u);
  EXPECT_EQ(errors[0].substr(0, 33), "test.yaml:4:14: routes[0].cluster");
  EXPECT_EQ(errors[1].substr(0, 24), "test.yaml:5:10: workers:");
  EXPECT_EQ(errors[2].substr(0, 36), "test.yaml:8:14: listeners[0].address");
  EXPECT_EQ(errors[3].substr(0, 41), "test.yaml:9:19: listeners[0].idle_timeout");
  EXPECT_EQ(errors[4].substr(0, 35), "test.yaml:13:5: clusters[0].bogus: ");
  EXPECT_EQ(errors[5].substr(0, 29), "test.yaml:15:10: admin.token:");
  EXPECT_EQ(errors[6].substr(0, 30), "test.yaml:17:5: filters[0].nop");

  try {
    load("workers: 0\nlog_level: loud\n" + std::string(MinimalYaml));
    FAIL() << "expected errors";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(std::string(e.what()),
              "test.yaml:1:10: workers: expected an integer between 1 and 256, got \"0\"\n"
              "test.yaml:2:12: log_level: invalid value \"loud\" (expected one of: debug, info, "
              "warn, error)");
  }
}

TEST_F(LoaderTest, LoadFromFile) {
  const std::string path =
      ::testing::TempDir() + "switchyard_loader_test_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << MinimalYaml << "workers: 3\n";
  }
  ConfigConstSharedPtr config = loadConfigFile(path, ctx_);
  EXPECT_EQ(config->source_file, path);
  EXPECT_EQ(config->workers, 3u);
  {
    std::ofstream out(path);
    out << MinimalYaml << "workers: many\n";
  }
  try {
    loadConfigFile(path, ctx_);
    FAIL() << "expected an error";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(e.format(),
              path + ":11:10: workers: expected an integer between 1 and 256, got \"many\"");
  }
  std::remove(path.c_str());
}

TEST_F(LoaderTest, UnreadableFile) {
  try {
    loadConfigFile("/nonexistent/switchyard.yaml", ctx_);
    FAIL() << "expected an error";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(e.format(),
              "/nonexistent/switchyard.yaml: cannot read file: No such file or directory");
  }
  try {
    loadConfigFile(::testing::TempDir(), ctx_);  // a directory
    FAIL() << "expected an error";
  } catch (const ConfigErrors& e) {
    EXPECT_NE(e.format().find(": cannot read file: Is a directory"), std::string::npos)
        << e.format();
  }
}

TEST(ParseSocketAddressTest, Accepts) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  const Case cases[] = {
      {"127.0.0.1:8080", "127.0.0.1", 8080}, {"0.0.0.0:1", "0.0.0.0", 1},
      {"[::1]:8080", "::1", 8080},           {"[::]:65535", "::", 65535},
      {"localhost:9901", "127.0.0.1", 9901}, {"[2001:db8::1]:443", "2001:db8::1", 443},
  };
  for (const Case& c : cases) {
    SocketAddress out;
    ASSERT_TRUE(parseSocketAddress(c.text, out)) << c.text;
    EXPECT_EQ(out.host, c.host) << c.text;
    EXPECT_EQ(out.port, c.port) << c.text;
    EXPECT_EQ(out.text, c.text);
  }
}

TEST(ParseSocketAddressTest, Rejects) {
  const char* cases[] = {
      "",
      "127.0.0.1",
      "127.0.0.1:",
      "127.0.0.1:0",
      "127.0.0.1:65536",
      "127.0.0.1:-1",
      "127.0.0.1:+80",
      "127.0.0.1:80x",
      ":8080",
      "::1:8080",
      "[::1]",
      "[::1]8080",
      "[127.0.0.1]:80",
      "[localhost]:80",
      "example.com:80",
      "LOCALHOST:80",
      "256.0.0.1:80",
      "1.2.3:80",
      "[fe80::1%eth0]:80",
      " 127.0.0.1:80",
  };
  for (const char* text : cases) {
    SocketAddress out;
    EXPECT_FALSE(parseSocketAddress(text, out)) << text;
  }
}

}  // namespace
}  // namespace switchyard::config
