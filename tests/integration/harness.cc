#include "tests/integration/harness.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace switchyard::test::integration {

std::string ProxyConfig::render(uint16_t listen_port, uint16_t admin_port) const {
  std::ostringstream out;
  out << "workers: " << workers << "\n";
  out << "drain_timeout: " << drain_timeout << "\n";
  out << "listeners:\n";
  out << "  - name: public\n";
  out << "    address: 127.0.0.1:" << listen_port << "\n";
  out << listener_extra;
  out << "admin:\n";
  out << "  address: 127.0.0.1:" << admin_port << "\n";
  out << "  token: " << admin_token << "\n";
  out << "clusters:\n";
  for (const auto& c : clusters) {
    out << "  - name: " << c.name << "\n";
    out << "    endpoints: [";
    for (size_t i = 0; i < c.endpoints.size(); ++i) out << (i ? ", " : "") << c.endpoints[i];
    out << "]\n";
    out << c.extra;
  }
  out << "routes:\n";
  for (const auto& r : routes) {
    out << "  - name: " << r.name << "\n";
    out << "    match: {prefix: " << r.prefix << "}\n";
    if (!r.cluster.empty()) out << "    cluster: " << r.cluster << "\n";
    out << r.extra;
  }
  if (!filters.empty()) out << "filters:\n" << filters;
  out << top_extra;
  return out.str();
}

bool waitForSignalHandler(pid_t pid, int signal, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const uint64_t bit = uint64_t{1} << (signal - 1);
  // One look at /proc/PID/status per 5 ms until the deadline.
  while (true) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigCgt:", 0) == 0) {
        if (std::strtoull(line.c_str() + 7, nullptr, 16) & bit) return true;
        break;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

void ProxyTest::SetUp() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/switchyard-integration-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp failed";
  dir_ = tmpl;
}

void ProxyTest::TearDown() {
  if (proxy_ && proxy_->running()) stopProxy();
  if (HasFailure() && proxy_) {
    std::string output = proxy_->output();
    constexpr size_t MaxDump = 16 * 1024;
    if (output.size() > MaxDump) output = "...\n" + output.substr(output.size() - MaxDump);
    std::cerr << "---- switchyard output (" << configPath() << ") ----\n"
              << output << "\n---- end of switchyard output ----\n";
    std::ifstream config(configPath());
    std::cerr << "---- config ----\n" << config.rdbuf() << "\n---- end of config ----\n";
  }
  proxy_.reset();
  upstreams_.clear();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

TestUpstream& ProxyTest::addUpstream(const std::string& name) {
  upstreams_.push_back(std::make_unique<TestUpstream>(TEST_UPSTREAM_BIN, name));
  return *upstreams_.back();
}

ProxyConfig ProxyTest::defaultConfig() {
  if (upstreams_.empty()) addUpstream("main");
  ProxyConfig config;
  config.clusters.push_back({"main", {upstreams_.front()->address()}, ""});
  config.routes.push_back({"default", "/", "main", ""});
  return config;
}

std::string ProxyTest::writeFile(const std::string& name, const std::string& content) const {
  std::string path = dir_ + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return path;
}

void ProxyTest::startProxy(const ProxyConfig& config) {
  // A port picked by freePort() could be taken by someone else before the proxy binds it; try
  // again with fresh ports a couple of times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    int listen = freePort();
    int admin = freePort();
    ASSERT_GT(listen, 0);
    ASSERT_GT(admin, 0);
    if (listen == admin) continue;
    listen_port_ = static_cast<uint16_t>(listen);
    admin_port_ = static_cast<uint16_t>(admin);
    writeFile("switchyard.yaml", config.render(listen_port_, admin_port_));
    proxy_ = std::make_unique<Process>(SWITCHYARD_BIN,
                                       std::vector<std::string>{"--config", configPath()});
    if (waitForPort(listen_port_, 10s) && waitForPort(admin_port_, 10s) && proxy_->running()) {
      // Ready means the workers run; as an orchestrator would, wait for it before any traffic.
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (httpGet(admin_port_, "/ready", {}, 1s).status != 200) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "switchyard never became ready; output:\n"
            << proxy_->output();
        // Polling a process that is starting up (not a timer of ours): a short, bounded pause.
        std::this_thread::sleep_for(20ms);
      }
      ASSERT_TRUE(waitForSignalHandler(proxy_->pid(), SIGTERM, 5s))
          << "switchyard never installed its SIGTERM handler; output:\n"
          << proxy_->output();
      return;
    }
    const std::string output = proxy_->output();
    const bool port_clash = output.find("cannot listen") != std::string::npos ||
                            output.find("cannot bind") != std::string::npos;
    if (!port_clash || attempt == 2) {
      proxy_->stop(2s);
      FAIL() << "switchyard did not start; output:\n" << output;
    }
    proxy_->stop(2s);
  }
  FAIL() << "switchyard did not start";
}

void ProxyTest::stopProxy(std::chrono::milliseconds timeout) {
  ASSERT_TRUE(proxy_);
  std::optional<int> code = proxy_->stop(timeout);
  EXPECT_EQ(code, std::optional<int>(0)) << "switchyard did not exit cleanly on SIGTERM";
}

std::optional<Response> ProxyTest::sendRaw(std::string_view bytes,
                                           std::chrono::milliseconds timeout, RawConnection* keep) {
  RawConnection local;
  RawConnection& conn = keep ? *keep : local;
  if (!conn.connect(port(), timeout)) {
    ADD_FAILURE() << "connect: " << conn.error();
    return std::nullopt;
  }
  if (!conn.send(bytes)) {
    // The proxy may answer and close before reading everything; the answer may still be there.
  }
  // Interim responses are skipped; at most a few.
  for (int i = 0; i < 5; ++i) {
    auto response = conn.readResponse(timeout);
    if (!response) {
      ADD_FAILURE() << "no response: " << conn.error();
      return std::nullopt;
    }
    if (response->status >= 200) return response;
  }
  ADD_FAILURE() << "too many interim responses";
  return std::nullopt;
}

void ProxyTest::expectProxyServes(const std::string& path) {
  Response r = httpGet(port(), path);
  EXPECT_EQ(r.status, 200) << "follow-up request failed: " << r.reason << "\n" << r.raw_head;
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>(path)) << r.body;
}

ProxyTest::Sidecar ProxyTest::startSecond(const ProxyConfig& config) {
  Sidecar s;
  s.port = static_cast<uint16_t>(freePort());
  s.admin_port = static_cast<uint16_t>(freePort());
  const std::string path = writeFile("second.yaml", config.render(s.port, s.admin_port));
  s.process = std::make_unique<Process>(SWITCHYARD_BIN, std::vector<std::string>{"--config", path});
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (httpGet(s.admin_port, "/ready", {}, 1s).status != 200) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the second sidecar never became ready:\n" << s.process->output();
      break;
    }
    std::this_thread::sleep_for(20ms);  // another process starting up; bounded
  }
  return s;
}

bool ProxyTest::redisHealthIs(uint16_t admin, const std::string& status) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const nlohmann::json h = nlohmann::json::parse(httpGet(admin, "/health").body, nullptr, false);
    if (h.is_object() && h["components"]["redis"]["status"] == status) return true;
    std::this_thread::sleep_for(20ms);  // reconnects of another process; bounded
  }
  return false;
}

int64_t ProxyTest::proxyRssBytes() const {
  if (!proxy_) return -1;
  std::ifstream status("/proc/" + std::to_string(proxy_->pid()) + "/status");
  std::string line;
  // One line per iteration; /proc/PID/status is a few dozen lines.
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;  // "VmRSS:   1234 kB"
    }
  }
  return -1;
}

KeepAliveProbe::KeepAliveProbe(uint16_t port) {
  if (!conn_.connect(port)) return;
  if (!conn_.send(buildRequest("GET", "/probe-first"))) return;
  auto r = conn_.readResponse();
  ok_ = r && r->status == 200 && jsonString(r->body, "path") == "/probe-first";
}

::testing::AssertionResult KeepAliveProbe::stillWorks(const std::string& path) {
  if (!conn_.send(buildRequest("GET", path))) {
    return ::testing::AssertionFailure() << "send on the keep-alive connection: " << conn_.error();
  }
  auto r = conn_.readResponse();
  if (!r) return ::testing::AssertionFailure() << "keep-alive connection: " << conn_.error();
  if (r->status != 200 || jsonString(r->body, "path") != path) {
    return ::testing::AssertionFailure()
           << "keep-alive connection got " << r->status << ": " << r->body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult isProblem(const Response& r, int status) {
  if (r.status != status) {
    return ::testing::AssertionFailure()
           << "expected status " << status << ", got " << r.status << " " << r.reason << "\n"
           << r.raw_head << r.body;
  }
  auto type = r.header("content-type");
  if (!type || type->rfind("application/problem+json", 0) != 0) {
    return ::testing::AssertionFailure() << "expected content-type application/problem+json, got '"
                                         << type.value_or("(none)") << "'\n"
                                         << r.raw_head;
  }
  if (r.body.find("\"correlation_id\"") == std::string::npos) {
    return ::testing::AssertionFailure() << "no correlation_id in the body: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult isProblem(const std::optional<Response>& r, int status) {
  if (!r) return ::testing::AssertionFailure() << "no response (expected " << status << ")";
  return isProblem(*r, status);
}

std::string upstreamPattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

std::string rawHead(std::string_view method, std::string_view path, std::string_view header_lines) {
  std::string out;
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  out.append(header_lines);
  out.append("\r\n");
  return out;
}

std::string chunkedBody(std::string_view body, size_t chunk) {
  std::string out;
  char size[32];
  // One chunk per iteration.
  while (!body.empty()) {
    size_t n = std::min(chunk, body.size());
    std::snprintf(size, sizeof(size), "%zx\r\n", n);
    out.append(size).append(body.substr(0, n)).append("\r\n");
    body.remove_prefix(n);
  }
  out.append("0\r\n\r\n");
  return out;
}

std::optional<std::string> jsonString(const std::string& json_body, const std::string& key) {
  auto json = nlohmann::json::parse(json_body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains(key) || !json[key].is_string()) {
    return std::nullopt;
  }
  return json[key].get<std::string>();
}

std::optional<std::string> upstreamHeader(const std::string& json_body, const std::string& name) {
  auto json = nlohmann::json::parse(json_body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("headers")) return std::nullopt;
  const auto& headers = json["headers"];
  if (!headers.is_object() || !headers.contains(name) || !headers[name].is_string()) {
    return std::nullopt;
  }
  return headers[name].get<std::string>();
}

}  // namespace switchyard::test::integration
