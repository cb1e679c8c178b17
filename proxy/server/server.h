#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/registry.h"
#include "proxy/common/time.h"
#include "proxy/router/weights.h"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace switchyard::stats {
struct ProxyStats;
}
namespace switchyard::rollback {
class RollbackManager;
}
namespace switchyard::tracing {
class BatchSpanExporter;
}

namespace switchyard::server {

class Worker;

// The process: workers, the admin listener and the signal handling of the main thread.
//   SIGTERM / SIGINT: stop accepting, report not ready, let in-flight requests finish (up to
//   drain_timeout), close idle keep-alive connections, then exit 0.
//   SIGHUP (and POST /reload): re-read the configuration file. A valid one replaces the old for
//   new requests on every worker while requests in flight finish under the old; an invalid one
//   is refused with the errors --validate would print and changes nothing. Listeners, the admin
//   listener and the worker count need a restart: a reload that changes them is refused.
class Server {
 public:
  Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
         const common::TimeSource& time, const filters::FilterRegistry& filters);
  ~Server();
  // Runs until drained after a signal; returns the process exit code.
  int run();

  struct ReloadResult {
    bool ok = false;
    std::vector<std::string> errors;   // formatted "file:line:col: path: message"
    std::vector<std::string> dropped;  // weight overrides that no longer fit
  };
  // Thread-safe (the main thread on SIGHUP, the admin thread on POST /reload).
  ReloadResult reload(const char* trigger);

  // What rollback plans do to traffic (rollback::ProxyControl); thread-safe. Each returns "" or
  // why it could not.
  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights);
  std::string pinVersion(const std::string& route, const std::string& version);
  std::string resumeRoute(const std::string& route);

 private:
  config::ConfigConstSharedPtr currentConfig() const;
  ReloadResult reloadLocked(const char* trigger);
  // Sets switchyard_route_weight for every split in effect; call with mutex_ held.
  void publishWeights();
  nlohmann::json routesJson();
  // Each cluster's endpoints, open connections, breaker state and bulkhead occupancy, retry
  // budget (admin GET /clusters).
  nlohmann::json clustersJson();
  // GET /health: each cluster (endpoints reachable now, breaker state), the trace exporter, the
  // rollback state, Redis, and an overall status ("ok", "degraded"; "down", with a 503, when a
  // cluster has no reachable endpoint).
  nlohmann::json healthJson(const tracing::BatchSpanExporter* exporter,
                            const rollback::RollbackManager* rollback, int& status);
  nlohmann::json setWeightsFromAdmin(const nlohmann::json& body, int& status);

  config::ConfigConstSharedPtr config_;  // the one in effect; guarded by mutex_
  std::shared_ptr<prometheus::Registry> registry_;
  const common::TimeSource& time_;
  const filters::FilterRegistry& filters_;
  std::atomic<bool> ready_{false};
  router::WeightOverrides overrides_;
  mutable std::mutex mutex_;  // config_, workers_ (as a list), weight gauges, reload
  std::vector<std::unique_ptr<Worker>> workers_;
  stats::ProxyStats* stats_ = nullptr;
  std::vector<prometheus::Gauge*> weight_gauges_;
  rollback::RollbackManager* rollback_ = nullptr;  // set while run() runs; null without plans
};

}  // namespace switchyard::server
