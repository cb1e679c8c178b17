#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/registry.h"
#include "proxy/common/time.h"
#include "proxy/rollback/rollout.h"
#include "proxy/router/weights.h"
#include "proxy/server/active_config.h"
#include "proxy/server/fleet.h"
#include "proxy/server/migration.h"
#include "proxy/upstream/runtime_state.h"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace switchyard::stats {
struct ProxyStats;
}
namespace switchyard::rollback {
class RollbackManager;
}  // namespace switchyard::rollback
namespace switchyard::admin {
class AdminServer;
struct AdminRequest;
struct AdminResponse;
}  // namespace switchyard::admin
namespace switchyard::event {
class LibeventDispatcher;
}

namespace switchyard::server {

class Worker;

// How the server reads its configuration file again (SIGHUP, POST /reload) and shows a
// configuration (GET /config; also how it tells what a reload changed). The loader sits above the
// server; main wires it in.
struct ConfigSource {
  // Reads, expands, validates and builds the file at `path`; throws config::ConfigErrors.
  std::function<config::ConfigConstSharedPtr(const std::string& path)> load;
  // The effective configuration as JSON, secrets redacted.
  std::function<nlohmann::json(const config::Config&)> dump;
};

// The process: workers, the admin listener and the signal handling of the main thread.
//   SIGTERM / SIGINT: stop accepting, report not ready, let in-flight requests finish (up to
//   drain_timeout), close idle keep-alive connections, then exit 0.
//   SIGHUP (and POST /reload): re-read the configuration file. A valid one replaces the old for
//   new requests on every worker while requests in flight finish under the old; an invalid one
//   is refused with the errors --validate would print and changes nothing. Listeners, the admin
//   listener and the worker count need a restart: a reload that changes them is refused.
// The runtime state of the filters (circuit breakers, bulkheads, retry budgets) belongs to the
// server, not to a configuration: a reload applies new settings to it and keeps its state (an
// open breaker stays open), and a cluster's state goes when a configuration without the cluster
// is in effect and no request under an older one still uses it.
class Server {
 public:
  Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
         const common::TimeSource& time, const filters::FilterRegistry& filters,
         ConfigSource source);
  ~Server();
  // Runs until drained after a signal or requestStop(); returns the process exit code.
  int run();
  // Starts the drain as SIGTERM would (thread-safe; for a server run inside another program,
  // such as a test).
  void requestStop();

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

  // The filters' runtime state (for tests and the admin page).
  const upstream::RuntimeStateRegistry& runtimeState() const { return state_; }

 private:
  struct Run;  // what run() sets up, torn down in reverse

  config::ConfigConstSharedPtr currentConfig() const;
  ActiveConfigPtr currentActive() const;
  ReloadResult reloadLocked(const char* trigger);
  // Sets switchyard_route_weight for every split in effect and saves the weight overrides to the
  // migration state file; call with mutex_ held.
  void publishWeights();
  // switchyard_tls_certificate_expiry_seconds for the certificates of the configuration in
  // effect (under mutex_).
  void publishCertificateExpiry();
  // The migration state file (migration.h): read once at start, before the workers route
  // anything; written after every change of the weight overrides or of the halt. Both with
  // mutex_ held.
  void loadMigrationStateLocked();
  void persistMigrationLocked();
  // POST /migration/halt and /migration/resume.
  admin::AdminResponse haltMigration(const admin::AdminRequest& request);
  admin::AdminResponse resumeMigration(const admin::AdminRequest& request);
  // The runtime weights and halt another replica of the fleet published (FleetSync): they
  // replace this replica's (weights that do not fit this configuration are left out).
  void applyFleetMigration(const nlohmann::json& migration);

  // The parts of run(), in the order they run.
  bool openSockets(Run& run);
  bool startObservability(Run& run);
  void installSignals(Run& run);
  void startRollback(Run& run);
  void startFleet(Run& run);
  void startRollout(Run& run);
  // POST /rollout/{pause,resume,promote,abort,restart}.
  admin::AdminResponse rolloutAction(const admin::AdminRequest& request,
                                     rollback::RolloutController::Action action);
  void startWorkers(Run& run);
  void registerAdmin(Run& run);
  void registerFilterAdmin(Run& run);
  void shutdown(Run& run);

  config::ConfigConstSharedPtr config_;  // the one in effect; guarded by mutex_
  ActiveConfigPtr active_;               // config_ activated; guarded by mutex_
  std::shared_ptr<prometheus::Registry> registry_;
  const common::TimeSource& time_;
  const filters::FilterRegistry& filters_;
  const ConfigSource source_;
  std::atomic<bool> ready_{false};
  router::WeightOverrides overrides_;
  upstream::RuntimeStateRegistry state_;
  mutable std::mutex mutex_;  // config_, active_, workers_ (as a list), weight gauges, reload
  std::vector<std::unique_ptr<Worker>> workers_;
  stats::ProxyStats* stats_ = nullptr;
  std::vector<prometheus::Gauge*> weight_gauges_;
  std::vector<prometheus::Gauge*> expiry_gauges_;
  HaltRecord halt_;                // guarded by mutex_
  std::string migration_file_;     // "" without a rollback state file
  bool migration_loaded_ = false;  // nothing is written before the file was read
  prometheus::Gauge* halted_gauge_ = nullptr;
  rollback::RollbackManager* rollback_ = nullptr;  // set while run() runs; null without plans
  FleetSync* fleet_ = nullptr;  // guarded by mutex_; set while the fleet's thread runs
  // Gated rollouts; set while run() runs. Never called with mutex_ held (it calls setWeights()).
  rollback::RolloutController* rollout_ = nullptr;
  std::atomic<event::LibeventDispatcher*> main_{nullptr};  // set while run()'s loop runs
  // What run() set up; set before any other thread starts and cleared after they stop.
  Run* run_ = nullptr;
};

}  // namespace switchyard::server
