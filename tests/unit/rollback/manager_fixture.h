#pragma once

// The fixture of the rollback manager tests (manager_test.cc) and of its admin handlers
// (admin_handlers_test.cc): managers built from YAML on simulated time, with a fake ProxyControl,
// an HTTP sink for the webhook and notify steps, and the state file in a temporary directory.

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/rollback/alertmanager.h"
#include "proxy/rollback/config.h"
#include "proxy/rollback/manager.h"
#include "proxy/rollback/state_file.h"
#include "tests/support/http_sink.h"
#include "tests/unit/rollback/fixtures.h"
#include "tests/unit/rollback/payloads.h"
#include "tests/unit/rollback/temp_dir.h"

namespace switchyard::rollback::test {

using nlohmann::json;

class ManagerFixture : public ::testing::Test {
 protected:
  std::string statePath() const { return dir_.path() + "/rollback.json"; }

  // The standard plan for route api: move v2's traffic to legacy, pin v1, call the deployment
  // webhook and the chat hook (both the sink).
  std::string standardPlan(const std::string& extra_top = "") const {
    return "rollback:\n"
           "  state_file: " +
           statePath() + "\n" + extra_top +
           "  plans:\n"
           "    - route: api\n"
           "      steps:\n"
           "        - set_weights: {version: v2, weights: {legacy: 100}}\n"
           "        - pin_version: {version: v1}\n"
           "        - webhook:\n"
           "            url: " +
           sink_.url("/deploy/rollback") +
           "\n"
           "            body: {service: orders, why: '{reason}', id: '{execution_id}', n: 2}\n"
           "          timeout: 1s\n"
           "        - notify: {url: '" +
           sink_.url("/chat") +
           "', message: 'rolled back {route} {version} ({trigger}): {reason}'}\n";
  }

  RollbackManager& make(const std::string& yaml, ManagerOptions options = {}) {
    RollbackConfig config = parseRollbackConfig(YAML::Load(yaml)["rollback"], "rollback");
    for (const auto& error : validateRollbackConfig(config, *routes_)) {
      ADD_FAILURE() << error.format("test.yaml");
    }
    // A fresh registry per manager: a restarted manager registers the same families again.
    registries_.push_back(std::make_unique<prometheus::Registry>());
    registry_ = registries_.back().get();
    managers_.push_back(std::make_unique<RollbackManager>(std::move(config), routes_, control_,
                                                          time_, *registry_, std::move(options)));
    return *managers_.back();
  }

  // The captured payload with `edit` applied.
  static std::string payload(const std::function<void(json&)>& edit = nullptr) {
    json doc = json::parse(CapturedPayload);
    if (edit) edit(doc);
    return doc.dump();
  }
  // The alerts of `body`, an Alertmanager webhook payload, handed to `m` as the webhook handler
  // does once the request is accepted.
  static std::vector<AlertDecision> receive(RollbackManager& m, const std::string& body) {
    AlertmanagerPayload parsed;
    std::string error;
    if (!parseAlertmanagerPayload(body, parsed, error)) {
      ADD_FAILURE() << error;
      return {};
    }
    return m.receiveAlerts(parsed);
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return metricValue(*registry_, name, labels);
  }
  std::string readState() const {
    std::string text;
    std::string error;
    readWholeFile(statePath(), text, error);
    return text;
  }

  TempDir dir_;
  ::switchyard::test::HttpSink sink_;
  common::SimulatedTimeSource time_;
  FakeProxyControl control_;
  config::ConfigConstSharedPtr routes_ = testRoutes();
  std::vector<std::unique_ptr<prometheus::Registry>> registries_;
  prometheus::Registry* registry_ = nullptr;
  std::vector<std::unique_ptr<RollbackManager>> managers_;
};

}  // namespace switchyard::rollback::test
