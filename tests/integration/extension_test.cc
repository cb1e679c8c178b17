// The filter API from the outside: a filter that exists only in this test, registered by the
// test (not in filters/builtin.cc), uses every hook and runs in a real server, in this process,
// in front of a real upstream on loopback:
//   - its own configuration with validation against the whole configuration (an unknown cluster
//     name is refused with file:line:col);
//   - a per-route block (`routes[].filters.test_hooks`);
//   - admin endpoints under /test_hooks, with the token rule of the admin server;
//   - a filter-state value that appears in the access-log line;
//   - a worker-local object whose construction and destruction are counted;
//   - a local reply of the router (a 502) replaced by a full response of its own.

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "config/yaml_util.h"
#include "filters/registry.h"
#include "proxy/common/logging.h"
#include "proxy/common/strings.h"
#include "proxy/common/time.h"
#include "proxy/server/server.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace switchyard::test::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Made and destroyed by the workers, counted here.
std::atomic<int> g_locals_made{0};
std::atomic<int> g_locals_destroyed{0};
std::atomic<int> g_locals_destroyed_off_worker{0};

inline constexpr http::FilterState::Key<http::StringFilterState> LabelKey{"test_hooks"};

struct HooksRouteConfig final : public http::RouteFilterConfig {
  explicit HooksRouteConfig(std::string l) : label(std::move(l)) {}
  json toJson() const override { return {{"label", label}}; }
  const std::string label;
};

class HooksLocal final : public filters::WorkerLocal {
 public:
  explicit HooksLocal(std::thread::id thread) : thread_(thread) { ++g_locals_made; }
  ~HooksLocal() override {
    ++g_locals_destroyed;
    if (std::this_thread::get_id() != thread_) ++g_locals_destroyed_off_worker;
  }
  int requests = 0;

 private:
  const std::thread::id thread_;
};

class HooksFilter final : public http::StreamFilter {
 public:
  HooksFilter(const std::string& label, HooksLocal& local) : label_(label), local_(local) {}

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool) override {
    ++local_.requests;
    const http::RouteFilterConfig* routed = callbacks_->routeConfig();
    const std::string& label =
        routed != nullptr ? static_cast<const HooksRouteConfig*>(routed)->label : label_;
    callbacks_->streamInfo().filter_state.set(LabelKey,
                                              std::make_unique<http::StringFilterState>(label));
    replace_ = request.headers.get("x-replace") != nullptr;
    return http::FilterHeadersStatus::Continue;
  }

  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response, bool) override {
    if (!replace_ || !callbacks_->streamInfo().local_reply || response.status < 500) {
      return http::FilterHeadersStatus::Continue;
    }
    auto headers = http::makeResponseHeaders();
    headers->status = 200;
    headers->headers.add("content-type", "text/plain");
    headers->headers.add("content-length", "22");
    headers->headers.add("x-replaced-status", std::to_string(response.status));
    http::Buffer body;
    body.add("replaced by test_hooks");
    callbacks_->replaceResponse(std::move(headers), body);
    return http::FilterHeadersStatus::Continue;
  }

 private:
  const std::string& label_;
  HooksLocal& local_;
  bool replace_ = false;
};

class HooksFactory final : public filters::FilterFactory {
 public:
  HooksFactory(std::string label, std::string cluster, config::ConfigError cluster_at)
      : label_(std::move(label)),
        cluster_(std::move(cluster)),
        cluster_at_(std::move(cluster_at)) {}

  http::StreamFilterPtr create(filters::WorkerContext&,
                               filters::WorkerLocal* local) const override {
    return std::make_unique<HooksFilter>(label_, *static_cast<HooksLocal*>(local));
  }
  json toJson() const override { return {{"label", label_}, {"cluster", cluster_}}; }

  filters::RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                                 const http::RouteFilterConfig*) const override {
    config::expectMap(node, path, {"label"});
    return std::make_shared<HooksRouteConfig>(
        config::getString(node["label"], config::child(path, "label")));
  }

  std::vector<config::ConfigError> validate(const config::Config& config) const override {
    if (config.findCluster(cluster_) != nullptr) return {};
    return {config::ConfigError(cluster_at_.path(), "unknown cluster " + common::quote(cluster_),
                                cluster_at_.line(), cluster_at_.column())};
  }

  filters::WorkerLocalPtr workerLocal(filters::WorkerContext&,
                                      filters::WorkerLocalPtr previous) const override {
    return previous ? previous : std::make_shared<HooksLocal>(std::this_thread::get_id());
  }

  admin::AdminResponse handleAdmin(const filters::AdminEndpoint& endpoint,
                                   const admin::AdminRequest&,
                                   filters::AdminContext& ctx) const override {
    std::vector<int> counts(16, -1);
    const bool reset = endpoint.method == "POST";
    const bool done = ctx.runOnWorkers(
        [&](uint32_t worker, filters::WorkerLocal* local) {
          auto* l = static_cast<HooksLocal*>(local);
          counts[worker] = l != nullptr ? l->requests : -1;
          if (reset && l != nullptr) l->requests = 0;
        },
        2s);
    if (!done) return admin::problemResponse(504, "a worker did not answer");
    json per_worker = json::array();
    for (int c : counts) {
      if (c >= 0) per_worker.push_back(c);
    }
    return admin::jsonResponse(200, {{"label", label_}, {"requests_per_worker", per_worker}});
  }

 private:
  const std::string label_;
  const std::string cluster_;
  const config::ConfigError cluster_at_;  // where `cluster` was written
};

void registerHooksFilter(filters::FilterRegistry& registry) {
  filters::FilterRegistration r;
  r.build = [](const YAML::Node& node, filters::BuildContext& ctx) {
    config::expectMap(node, ctx.path, {"label", "cluster"});
    const std::string cluster_path = config::child(ctx.path, "cluster");
    if (!node["cluster"]) throw config::ConfigError(node, ctx.path, "missing key \"cluster\"");
    return std::make_shared<HooksFactory>(
        config::getString(node["label"], config::child(ctx.path, "label")),
        config::getString(node["cluster"], cluster_path),
        config::ConfigError(node["cluster"], cluster_path, ""));
  };
  r.admin = {{"GET", "", false}, {"POST", "/reset", true}};
  registry.add("test_hooks", std::move(r));
}

class ExtensionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "extension-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    filters::registerBuiltinFilters(filters_);
    registerHooksFilter(filters_);
    g_locals_made = 0;
    g_locals_destroyed = 0;
    g_locals_destroyed_off_worker = 0;
  }
  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }

  std::string yaml(const std::string& upstream, int dead_port, const std::string& cluster) {
    return "workers: 2\n"
           "listeners: [{name: main, address: 127.0.0.1:" +
           std::to_string(port_) +
           "}]\n"
           "admin: {address: 127.0.0.1:" +
           std::to_string(admin_port_) +
           ", token: secret}\n"
           "clusters:\n"
           "  - {name: live, endpoints: [" +
           upstream +
           "]}\n"
           "  - {name: dead, endpoints: [127.0.0.1:" +
           std::to_string(dead_port) +
           "]}\n"
           "routes:\n"
           "  - name: api\n"
           "    match: {prefix: /api/}\n"
           "    cluster: live\n"
           "    filters: {test_hooks: {label: routed}}\n"
           "  - {name: dead, match: {prefix: /dead/}, cluster: dead}\n"
           "  - {name: other, match: {prefix: /}, cluster: live}\n"
           "filters:\n"
           "  - correlation_id: {}\n"
           "  - test_hooks: {label: global, cluster: " +
           cluster +
           "}\n"
           "access_log: {path: " +
           dir_ + "/access.log}\n";
  }

  void start(const std::string& text) {
    const std::string path = dir_ + "/switchyard.yaml";
    std::ofstream(path) << text;
    config::ConfigConstSharedPtr config =
        config::loadConfigFile(path, {filters_, *registry_, time_});
    server::ConfigSource source{
        [this](const std::string& file) {
          return config::loadConfigFile(file, {filters_, *registry_, time_});
        },
        [](const config::Config& c) { return config::configToJson(c); }};
    server_ = std::make_unique<server::Server>(config, registry_, time_, filters_, source);
    thread_ = std::thread([this] { exit_code_ = server_->run(); });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (httpGet(admin_port_, "/ready", {}, 1s).status != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the server never became ready";
      std::this_thread::sleep_for(10ms);  // another thread's start, bounded by the deadline
    }
  }

  void stop() {
    if (!server_) return;
    server_->requestStop();
    thread_.join();
    server_.reset();
  }

  std::vector<json> accessLog() {
    std::vector<json> out;
    std::ifstream in(dir_ + "/access.log");
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

  std::string dir_;
  filters::FilterRegistry filters_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  common::RealTimeSource time_;
  uint16_t port_ = static_cast<uint16_t>(freePort());
  uint16_t admin_port_ = static_cast<uint16_t>(freePort());
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int exit_code_ = -1;
};

TEST_F(ExtensionTest, ValidationAgainstTheWholeConfigurationHasAPosition) {
  const std::string text = yaml("127.0.0.1:1", 2, "livee");
  try {
    config::loadConfigString(text, "hooks.yaml", {filters_, *registry_, time_});
    ADD_FAILURE() << "no error";
  } catch (const config::ConfigErrors& e) {
    ASSERT_EQ(e.errors().size(), 1u) << e.format();
    EXPECT_EQ(e.errors()[0].format(e.file()),
              "hooks.yaml:16:42: filters[1].test_hooks.cluster: unknown cluster \"livee\"");
  }
}

TEST_F(ExtensionTest, EveryHookInARealServer) {
  TestUpstream upstream(TEST_UPSTREAM_BIN, "live");
  const common::LogLevel saved = common::logLevel();
  common::setLogLevel(common::LogLevel::Warn);
  start(yaml(upstream.address(), freePort(), "live"));
  // One object per worker, made on the worker's thread before it served anything.
  EXPECT_EQ(g_locals_made.load(), 2);

  // The route's block and the filter's own configuration, in the access log.
  EXPECT_EQ(httpGet(port_, "/api/items").status, 200);
  EXPECT_EQ(httpGet(port_, "/other").status, 200);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(httpGet(port_, "/api/more").status, 200);

  // The router's 502 (nothing listens behind `dead`) becomes the filter's own response.
  Response plain = httpGet(port_, "/dead/x");
  EXPECT_EQ(plain.status, 502);
  Response replaced = httpGet(port_, "/dead/replaced", {{"X-Replace", "1"}});
  EXPECT_EQ(replaced.status, 200);
  EXPECT_EQ(replaced.body, "replaced by test_hooks");
  EXPECT_EQ(replaced.header("x-replaced-status"), "502");
  EXPECT_TRUE(replaced.header("x-correlation-id").has_value());  // earlier filters still ran

  // Admin endpoints under the filter's name: reading needs no token, a reset does.
  Response view = httpGet(admin_port_, "/test_hooks");
  ASSERT_EQ(view.status, 200) << view.body;
  json v = json::parse(view.body);
  EXPECT_EQ(v["label"], "global");
  ASSERT_EQ(v["requests_per_worker"].size(), 2u);
  EXPECT_EQ(v["requests_per_worker"][0].get<int>() + v["requests_per_worker"][1].get<int>(), 12);
  EXPECT_EQ(httpRequest(admin_port_, "POST", "/test_hooks/reset", {}).status, 401);
  EXPECT_EQ(
      httpRequest(admin_port_, "POST", "/test_hooks/reset", {{"Authorization", "Bearer secret"}})
          .status,
      200);
  v = json::parse(httpGet(admin_port_, "/test_hooks").body);
  EXPECT_EQ(v["requests_per_worker"], json::parse("[0, 0]"));
  EXPECT_EQ(httpGet(admin_port_, "/test_hooks/nothing").status, 404);

  // A reload keeps the workers' objects (the filter returns `previous`): none made, none lost.
  EXPECT_EQ(
      httpRequest(admin_port_, "POST", "/reload", {{"Authorization", "Bearer secret"}}).status,
      200);
  EXPECT_EQ(httpGet(port_, "/api/after-reload").status, 200);
  EXPECT_EQ(g_locals_made.load(), 2);
  EXPECT_EQ(g_locals_destroyed.load(), 0);

  stop();
  EXPECT_EQ(exit_code_, 0);
  common::setLogLevel(saved);
  // Destroyed at worker stop, on the workers' threads.
  EXPECT_EQ(g_locals_destroyed.load(), 2);
  EXPECT_EQ(g_locals_destroyed_off_worker.load(), 0);

  // Lines of different workers may come in any order: find them by path.
  std::vector<json> lines = accessLog();
  ASSERT_EQ(lines.size(), 13u);
  auto line = [&lines](const std::string& path) {
    for (const json& l : lines) {
      if (l.value("path", "") == path) return l;
    }
    ADD_FAILURE() << "no access-log line for " << path;
    return json::object();
  };
  EXPECT_EQ(line("/api/items")["test_hooks"], "routed");
  EXPECT_EQ(line("/other")["test_hooks"], "global");
  EXPECT_EQ(line("/dead/x")["status"], 502);
  EXPECT_EQ(line("/dead/replaced")["status"], 200);  // the replaced 502
  EXPECT_EQ(line("/dead/replaced")["test_hooks"], "global");
}

}  // namespace
}  // namespace switchyard::test::integration
