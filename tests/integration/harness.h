#pragma once

// Integration test harness: runs the real `switchyard` binary, with a configuration written to a
// temporary directory, in front of real `switchyard-test-upstream` processes on 127.0.0.1.
// Every process it starts is stopped by PID (through Process / TestUpstream) when the test ends.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace switchyard::test::integration {

using namespace std::chrono_literals;

// What goes into the proxy's YAML. Extra keys are raw YAML lines indented as the comment says.
struct ProxyConfig {
  struct Cluster {
    std::string name;
    std::vector<std::string> endpoints;  // "127.0.0.1:PORT"
    std::string extra;  // lines indented by 4 spaces, e.g. "    response_timeout: 300ms\n"
  };
  struct Route {
    std::string name;
    std::string prefix;
    std::string cluster;  // empty: the route's form (split, versions) is in `extra`
    std::string extra;    // lines indented by 4 spaces, e.g. "    timeout: 300ms\n"
  };

  int workers = 2;
  std::string drain_timeout = "2s";
  std::string listener_extra;  // lines indented by 4 spaces
  std::string admin_token = "integration-secret-token";
  std::vector<Cluster> clusters;
  std::vector<Route> routes;
  // The `filters:` list items, each line indented by 2 spaces.
  std::string filters = "  - correlation_id: {}\n";
  // Top-level blocks (tracing:, access_log:, ...), written as they are at the end.
  std::string top_extra;

  // Renders the file for the given listener and admin ports.
  std::string render(uint16_t listen_port, uint16_t admin_port) const;
};

// A gtest fixture owning the upstreams, the temporary directory and the proxy of one test.
class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts a test upstream named `name` (kept until the test ends).
  TestUpstream& addUpstream(const std::string& name);

  // A config with one upstream `main` (started if needed) behind a catch-all route `default`.
  ProxyConfig defaultConfig();

  // Writes `config` (for fresh ports), starts the proxy and waits until both the listener and the
  // admin port accept connections. Fails the test (fatally) if it does not come up.
  void startProxy(const ProxyConfig& config);
  void startProxy() { startProxy(defaultConfig()); }

  // SIGTERM, then expects exit code 0 within `timeout`. Called by TearDown if still running.
  void stopProxy(std::chrono::milliseconds timeout = 8s);

  // Writes `content` to `name` in the test's temporary directory; returns the path.
  std::string writeFile(const std::string& name, const std::string& content) const;

  uint16_t port() const { return listen_port_; }
  uint16_t adminPort() const { return admin_port_; }
  Process& proxy() { return *proxy_; }
  TestUpstream& upstream() { return *upstreams_.front(); }
  const std::string& tempDir() const { return dir_; }

  // Sends `bytes` on a fresh connection and reads one final response (1xx skipped).
  std::optional<Response> sendRaw(std::string_view bytes, std::chrono::milliseconds timeout = 5s,
                                  RawConnection* keep = nullptr);

  // Asserts a normal GET on a new connection is proxied: 200 from the upstream, path echoed.
  void expectProxyServes(const std::string& path = "/still-alive");

  // Resident set size of the proxy, in bytes (from /proc/PID/status VmRSS); -1 if unreadable.
  int64_t proxyRssBytes() const;

  // A second sidecar (a replica) with `config`, on ports of its own, once it is ready.
  struct Sidecar {
    std::unique_ptr<Process> process;
    uint16_t port = 0;
    uint16_t admin_port = 0;
  };
  Sidecar startSecond(const ProxyConfig& config);
  // Waits (at most 10 s) until /health on `admin` reports the redis component as `status`.
  bool redisHealthIs(uint16_t admin, const std::string& status);

  std::string configPath() const { return dir_ + "/switchyard.yaml"; }

  std::vector<std::unique_ptr<TestUpstream>> upstreams_;
  std::unique_ptr<Process> proxy_;
  std::string dir_;
  uint16_t listen_port_ = 0;
  uint16_t admin_port_ = 0;
};

// A keep-alive connection opened before something disruptive happens, used afterwards to show it
// was not affected.
class KeepAliveProbe {
 public:
  // Connects and makes a first request; check ok() after.
  explicit KeepAliveProbe(uint16_t port);
  bool ok() const { return ok_; }
  // Makes another request on the same connection; true if it got a 200 with the path echoed.
  ::testing::AssertionResult stillWorks(const std::string& path = "/probe-again");

 private:
  RawConnection conn_;
  bool ok_ = false;
};

// Waits until process `pid` catches `signal` (its bit in SigCgt of /proc/PID/status).
bool waitForSignalHandler(pid_t pid, int signal, std::chrono::milliseconds timeout);

// Asserts a local reply: `status`, problem+json content type, "correlation_id" in the body.
::testing::AssertionResult isProblem(const std::optional<Response>& response, int status);
::testing::AssertionResult isProblem(const Response& response, int status);

// The 'a'..'z' pattern the test upstream sends for /bytes/N, /chunked/N, /close-delimited/N.
std::string upstreamPattern(size_t n);

// "METHOD path HTTP/1.1\r\nHost: 127.0.0.1\r\n" + raw header lines (each ending CRLF) + CRLF.
std::string rawHead(std::string_view method, std::string_view path, std::string_view header_lines);

// Encodes `body` as chunks of at most `chunk` bytes plus the last chunk.
std::string chunkedBody(std::string_view body, size_t chunk);

// The value of a string field in the test upstream's JSON description of a request, e.g.
// upstreamHeader(body, "x-forwarded-for"); nullopt if absent or the body is not JSON.
std::optional<std::string> upstreamHeader(const std::string& json_body, const std::string& name);
std::optional<std::string> jsonString(const std::string& json_body, const std::string& key);

}  // namespace switchyard::test::integration
