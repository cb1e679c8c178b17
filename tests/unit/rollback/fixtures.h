#pragma once

// Shared pieces of the rollback manager tests: the routes the plans act on, a ProxyControl that
// records what it is asked, and a reader of metric values.

#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/rollback/manager.h"

namespace switchyard::rollback::test {

// api: v1 -> legacy, v2 -> {v2: 90, legacy: 10} (the captured alert names cluster v2);
// simple: one cluster, no versions. The clusters: legacy, v2, modern.
inline config::ConfigConstSharedPtr testRoutes() {
  auto c = std::make_shared<config::Config>();
  for (const char* name : {"legacy", "v2", "modern"}) {
    config::ClusterConfig cluster;
    cluster.name = name;
    c->clusters.push_back(cluster);
  }
  config::RouteConfig api;
  api.name = "api";
  config::VersionConfig v1;
  v1.name = "v1";
  v1.target.split = {{"legacy", 1}};
  config::VersionConfig v2;
  v2.name = "v2";
  v2.target.split = {{"v2", 90}, {"legacy", 10}};
  api.versions = {v1, v2};
  api.default_version = "v2";
  config::RouteConfig simple;
  simple.name = "simple";
  simple.cluster = "modern";
  simple.target.split = {{"modern", 1}};
  c->routes = {api, simple};
  return c;
}

class FakeProxyControl : public ProxyControl {
 public:
  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string text;
    for (const auto& [cluster, weight] : weights) {
      text += (text.empty() ? "" : ",") + cluster + "=" + std::to_string(weight);
    }
    calls_.push_back("set_weights " + route + " " + version + " " + text);
    return fail_set_weights_;
  }
  std::string pinVersion(const std::string& route, const std::string& version) override {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back("pin " + route + " " + version);
    return fail_pin_;
  }
  std::string resume(const std::string& route) override {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back("resume " + route);
    return fail_resume_;
  }
  // What responseCounts() reports for `route` from now on; a route never set has no figures.
  void setCounts(const std::string& route, uint64_t requests, uint64_t errors) {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[route] = ResponseCounts{requests, errors};
  }
  void addCounts(const std::string& route, uint64_t requests, uint64_t errors) {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[route].requests += requests;
    counts_[route].errors += errors;
  }
  std::optional<ResponseCounts> responseCounts(const std::string& route) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = counts_.find(route);
    if (it == counts_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.clear();
  }
  void failSetWeights(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_set_weights_ = std::move(error);
  }
  void failPin(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_pin_ = std::move(error);
  }
  void failResume(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_resume_ = std::move(error);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
  std::string fail_set_weights_;
  std::string fail_pin_;
  std::string fail_resume_;
  std::map<std::string, ResponseCounts> counts_;
};

// The value of the metric `name` with exactly `labels`, or -1 when there is none.
inline double metricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& l : metric.label) got[l.name] = l.value;
      if (got != labels) continue;
      if (family.type == prometheus::MetricType::Counter) return metric.counter.value;
      if (family.type == prometheus::MetricType::Gauge) return metric.gauge.value;
    }
  }
  return -1;
}

}  // namespace switchyard::rollback::test
