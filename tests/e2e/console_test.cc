// The migration console (GET /ui on the admin listener) in a real browser: Debian's headless
// Chromium driven by tests/browser/console.test.mjs (puppeteer-core from npm), against the real
// sidecar in front of v1 and v2 test upstreams. The script loads the page, checks that nothing
// can be changed without the token (from the page or from another origin), moves v2 to 100% with
// the slider, breaks v2 until the guard rolls the route back, resumes it from the page and saves
// screenshots in <build dir>/test-artifacts/console/.
//
// Needs /usr/bin/chromium, node and npm: tests/browser/setup.sh installs them (as root) and
// puppeteer-core. Without Chromium the test is skipped unless SWITCHYARD_REQUIRE_BROWSER=1
// (scripts/test.sh sets it).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

const std::string Token = "console-test-token";

bool browserRequired() {
  const char* v = std::getenv("SWITCHYARD_REQUIRE_BROWSER");
  return v != nullptr && std::string(v) == "1";
}

// The absolute path of `name` on PATH, or "".
std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// build*/test-artifacts/console: next to the test binary, whichever build this is.
std::filesystem::path artifactDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path base = ec ? std::filesystem::current_path() : exe.parent_path();
  return base / "test-artifacts" / "console";
}

class ConsoleTest : public ProxyTest {
 protected:
  void SetUp() override {
    const bool required = browserRequired();
    if (::access("/usr/bin/chromium", X_OK) != 0 && !required) {
      GTEST_SKIP() << "/usr/bin/chromium is missing (tests/browser/setup.sh installs it; "
                      "SWITCHYARD_REQUIRE_BROWSER=1 makes this a failure)";
    }
    // Chromium, node, npm and puppeteer-core; quiet and quick when everything is there.
    Process setup("/bin/bash", {std::string(SOURCE_DIR) + "/tests/browser/setup.sh"});
    const std::optional<int> code = setup.waitExit(std::chrono::seconds(300));
    if (!code) setup.stop(std::chrono::seconds(2));
    if (code != std::optional<int>(0)) {
      if (!required) {
        GTEST_SKIP() << "tests/browser/setup.sh failed (exit "
                     << (code ? std::to_string(*code) : "timeout") << "):\n"
                     << setup.output();
      }
      FAIL() << "tests/browser/setup.sh failed (exit " << (code ? std::to_string(*code) : "timeout")
             << "):\n"
             << setup.output();
    }
    node_ = findOnPath("node");
    if (node_.empty()) FAIL() << "node is not on PATH after tests/browser/setup.sh";
    ProxyTest::SetUp();
  }

  std::string node_;
};

TEST_F(ConsoleTest, OperatorMovesTrafficWatchesARollbackAndResumesInABrowser) {
  auto& v1 = addUpstream("v1");
  auto& v2 = addUpstream("v2");
  ProxyConfig c;
  c.admin_token = Token;
  c.clusters.push_back({"v1", {v1.address()}, ""});
  c.clusters.push_back({"v2", {v2.address()}, ""});
  c.routes.push_back({"api", "/", "",
                      "    versions:\n"
                      "      default: v2\n"
                      "      v1:\n"
                      "        cluster: v1\n"
                      "        deprecated: {since: 2025-01-01T00:00:00Z, sunset: "
                      "2099-06-30T00:00:00Z}\n"
                      "      v2:\n"
                      "        split: [{cluster: v1, weight: 10}, {cluster: v2, weight: 90}]\n"
                      "        sticky: {header: X-User-Id}\n"});
  // The quickstart's filters plus the cache, so that every panel of the page has something.
  c.filters =
      "  - correlation_id: {}\n"
      "  - deprecation: {}\n"
      "  - retry: {base_interval: 1ms, max_interval: 2ms}\n"
      "  - circuit_breaker: {cooldown: 2s}\n"
      "  - rate_limit:\n"
      "      policies:\n"
      "        - {name: per-user, key: {header: X-User-Id}, limit: 1000, window: 1m}\n"
      "        - {name: login, limit: 5, window: 1m, match: {path_prefix: /login, methods: "
      "[POST]}}\n"
      "  - cache: {max_bytes: 16MiB}\n";
  c.top_extra =
      "rollback:\n"
      "  state_file: " +
      tempDir() +
      "/rollback.json\n"
      "  plans:\n"
      "    - route: api\n"
      "      steps:\n"
      "        - set_weights: {version: v2, weights: {v1: 100}}\n"
      "      guard: {version: v2, window: 2s, min_requests: 10, max_error_ratio: 0.2}\n";
  startProxy(c);

  const std::filesystem::path artifacts = artifactDir();
  std::error_code ec;
  std::filesystem::remove_all(artifacts, ec);
  std::filesystem::create_directories(artifacts, ec);
  ASSERT_FALSE(ec) << "cannot create " << artifacts << ": " << ec.message();

  const std::string script = std::string(SOURCE_DIR) + "/tests/browser/console.test.mjs";
  Process browser(node_, {script},
                  {{"ADMIN_URL", "http://127.0.0.1:" + std::to_string(adminPort())},
                   {"DATA_URL", "http://127.0.0.1:" + std::to_string(port())},
                   {"TOKEN", Token},
                   {"V2_CONTROL_URL", "http://127.0.0.1:" + std::to_string(v2.port())},
                   {"ARTIFACT_DIR", artifacts.string()}});
  // The script bounds itself to 58 s; this is the backstop.
  std::optional<int> code = browser.waitExit(std::chrono::seconds(75));
  if (!code) code = browser.stop(std::chrono::seconds(5));
  const std::string output = browser.output();
  std::cout << "---- console.test.mjs ----\n" << output << "---- end ----\n";
  ASSERT_EQ(code, std::optional<int>(0)) << "the browser test failed:\n" << output;
  for (const char* name : {"console-1280x800.png", "console-420x900.png"}) {
    EXPECT_GT(std::filesystem::file_size(artifacts / name, ec), 10000u) << name;
  }
  // The route is back as configured and the sidecar is still serving.
  const nlohmann::json routes = nlohmann::json::parse(httpGet(adminPort(), "/routes").body);
  EXPECT_EQ(routes["routes"][0]["versions"]["v2"]["overridden"], false) << routes.dump();
  Response served = httpGet(port(), "/orders/after", {{"X-API-Version", "v1"}});
  EXPECT_EQ(served.status, 200);
}

}  // namespace
}  // namespace switchyard::test::integration
