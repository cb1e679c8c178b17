#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/filter.h"

namespace prometheus {
class Registry;
}

namespace switchyard::filters {

// What a filter instance may use on its worker. Lives as long as the worker.
struct WorkerContext {
  event::Dispatcher& dispatcher;
  common::Random& random;
  const common::TimeSource& time;
  uint32_t worker_index;
};

// Built once per configuration load from the filter's YAML; immutable and shared by all workers,
// so anything mutable it holds must be thread-safe. create() runs on a worker thread per request.
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  virtual http::StreamFilterPtr create(WorkerContext& ctx) const = 0;
  // False for a filter whose work the router does on each upstream attempt (retry,
  // circuit_breaker): the proxy then makes no instance of it per request.
  virtual bool createsStreamFilters() const { return true; }
  // The effective configuration, for the admin /config dump (secrets redacted).
  virtual nlohmann::json toJson() const = 0;
};
using FilterFactoryPtr = std::shared_ptr<const FilterFactory>;

// What a filter's build function gets besides its YAML node.
struct BuildContext {
  std::string path;  // YAML key path of the filter's node, for ConfigError, e.g.
                     // "filters[0].correlation_id"
  prometheus::Registry& metrics;
  const common::TimeSource& time;
};

// Parses the filter's own YAML node and returns its factory; throws config::ConfigError.
using FilterBuildFn = std::function<FilterFactoryPtr(const YAML::Node& node, BuildContext& ctx)>;

// Filters known by name. Built in main (no global registry); each filter adds itself with one
// line in filters/builtin.cc.
class FilterRegistry {
 public:
  void add(std::string name, FilterBuildFn build) { entries_[std::move(name)] = std::move(build); }
  const FilterBuildFn* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, fn] : entries_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, FilterBuildFn> entries_;
};

// Registers every filter that ships with Switchyard.
void registerBuiltinFilters(FilterRegistry& registry);

}  // namespace switchyard::filters
