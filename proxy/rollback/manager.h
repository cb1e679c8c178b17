#pragma once

// The rollback manager: runs a route's rollback plan when an Alertmanager webhook, an operator,
// the route's guard or the health of the plan's cluster asks for it, records every execution step
// by step, keeps each route's rollback state, and persists all of it so a rolled-back route stays
// rolled back across restarts until an operator resumes it.
//
// This is the engine only: the records and their JSON forms (also the state file's) are in
// records.h and codec.h, the admin endpoints that call into it in admin_handlers.h.
//
// Threads:
// - The manager's own thread (start()/stop()) runs the plans' steps, waits out retry backoffs
//   and polls the guards every `guard_interval`. Webhook and notify steps block this thread for
//   at most their timeout; nothing here ever runs on a worker.
// - trigger(), resume(), receiveAlerts(), recordRejectedWebhook(), onClusterHealth() and the JSON
//   views are called from any thread (normally the admin thread, through admin_handlers.h, and
//   the health checker's); they take the manager's mutex briefly, except that persisting the
//   state (a small fsync'd file) happens under it too.
// - guard(route)->record() is called by the workers: atomics only, no lock (see guard.h).
// - ProxyControl is called from the manager's thread (steps, and from load()) and from the
//   thread calling resume(); its implementation must be thread-safe and must not call back into
//   the manager.
//
// Tests drive it without the thread: load(), then trigger()/receiveAlerts() and runOnce() with a
// SimulatedTimeSource; a retry's backoff is a deadline runOnce() honours, never a sleep.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "proxy/common/time.h"
#include "proxy/rollback/alertmanager.h"
#include "proxy/rollback/config.h"
#include "proxy/rollback/guard.h"
#include "proxy/rollback/records.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace switchyard::rollback {

// How the rollback steps act on the proxy; the server implements it on top of its runtime weight
// overrides (and their metrics). Each call returns "" when done, else why it could not be done.
class ProxyControl {
 public:
  virtual ~ProxyControl() = default;
  // Sets the runtime weights of `route`'s `version` ("" for a route without versions).
  virtual std::string setWeights(const std::string& route, const std::string& version,
                                 const std::map<std::string, uint32_t>& weights) = 0;
  // Sends every request of `route` to `version`, whatever the request asks for.
  virtual std::string pinVersion(const std::string& route, const std::string& version) = 0;
  // Undoes the runtime changes on `route` (weight overrides of any of its versions, and the
  // pin): its traffic follows the configuration again.
  virtual std::string resume(const std::string& route) = 0;

  // The responses `route` has given since the start (every version), and how many of them were
  // errors (>= 500, or no response): what a verify step watches. Cumulative; nullopt when the
  // figures are not available.
  struct ResponseCounts {
    uint64_t requests = 0;
    uint64_t errors = 0;
  };
  virtual std::optional<ResponseCounts> responseCounts(const std::string& route) {
    (void)route;
    return std::nullopt;
  }
};

// What the webhook/notify steps call; httpPostJson() over real sockets unless replaced.
using HttpPoster = std::function<HttpPostResult(
    const HttpUrl& url, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, std::chrono::milliseconds timeout)>;

struct ManagerOptions {
  std::chrono::milliseconds guard_interval{250};
  HttpPoster http;                 // empty: httpPostJson() with the real clock for socket deadlines
  size_t max_alert_records = 100;  // recent webhook notifications shown on GET /rollback
};

class RollbackManager {
 public:
  using Outcome = TriggerOutcome;
  struct TriggerResult {
    Outcome outcome = Outcome::NoPlan;
    std::string execution_id;  // the new one when Started; the route's current one otherwise
  };

  // `routes` is the configuration the plans were validated against (cluster labels of alerts
  // are matched against its splits); replace it with setRoutes() after a reload. Metrics are
  // registered in `registry`, which must outlive the manager.
  RollbackManager(RollbackConfig config, config::ConfigConstSharedPtr routes, ProxyControl& control,
                  const common::TimeSource& time, prometheus::Registry& registry,
                  ManagerOptions options = {});
  ~RollbackManager();
  RollbackManager(const RollbackManager&) = delete;
  RollbackManager& operator=(const RollbackManager&) = delete;

  // Reads the state file (if configured): routes that were rolled back are rolled back again
  // through ProxyControl (set_weights and pin_version only; webhook and notify are not re-run)
  // and an execution cut short by a crash is marked failed. A file that cannot be read or
  // understood is renamed aside (".corrupt-<time>"), logged, and the manager starts empty.
  // Call once, before any trigger (start() calls it if it was not). Until it has run nothing is
  // written to the state file, so an early trigger cannot overwrite the state of the last run.
  void load();
  void start();
  // Stops the thread; waits for a step in progress (at most its timeout). Idempotent.
  void stop();

  // One pass of the thread: polls the guards if due, runs every step attempt that is due.
  // Returns when it should run next. For tests and for callers that bring their own thread.
  common::MonotonicTime runOnce();
  // True when no execution is running or waiting to retry.
  bool idle() const;

  // The guard of `route`, fed by the workers; null when its plan has none. Stable for the
  // manager's lifetime.
  Guard* guard(const std::string& route);
  void setRoutes(config::ConfigConstSharedPtr routes);

  // Starts the route's plan unless the route is rolled back or rolling back already. The
  // sidecar's own triggers (guard, cluster_unhealthy) also need the route to be active (a failed
  // rollback is not retried by them; an alert or an operator may retry it).
  TriggerResult trigger(const std::string& route, Trigger trigger);

  enum class ResumeOutcome { Resumed, NoPlan, Active, InProgress, ControlFailed };
  struct ResumeResult {
    ResumeOutcome outcome = ResumeOutcome::NoPlan;
    std::string execution_id;  // the route's execution (running one when InProgress), or ""
    std::string error;         // ControlFailed: what ProxyControl::resume() said
  };
  // Undoes the rollback of `route` (ProxyControl::resume) and makes it active again. Changes
  // nothing when the route has no plan, is active, is still rolling back, or ProxyControl fails.
  ResumeResult resume(const std::string& route);

  // The alerts of an Alertmanager notification (parsed and checked by the caller): each one is
  // dropped if its idempotency key was seen, recorded if resolved (never rolls forward), else
  // triggers every plan it matches. Counted in switchyard_rollback_webhooks_total and kept for
  // GET /rollback (except duplicates). One decision per alert, in the payload's order.
  std::vector<AlertDecision> receiveAlerts(const AlertmanagerPayload& payload);
  // Counts a webhook request refused before its alerts were read (result="invalid").
  void recordRejectedWebhook();

  // What the active health checks say of `cluster`: whether every one of its endpoints has failed
  // unhealthy_threshold consecutive probes. When that becomes true, starts the plan of every
  // route whose `trigger: {cluster_unhealthy: ...}` names the cluster, on the guard's terms (an
  // active route only), with trigger kind cluster_unhealthy and the reason "every endpoint of
  // cluster <name> failed its health checks[: <detail>]". Further true reports start nothing
  // until a false one re-arms the trigger; false never rolls anything forward. Clusters no plan
  // names are ignored, and every watched cluster counts as healthy until reported otherwise.
  void onClusterHealth(const std::string& cluster, bool every_endpoint_unhealthy,
                       std::string detail);

  // Fleet-wide state (proxy/server/fleet.h). `publish` gets each change of a route's state this
  // manager makes itself ({"state", "execution_id", "trigger"}); it is called under the
  // manager's lock and must only queue. `claim_alert` says whether an alert's idempotency key is
  // new to the whole fleet. Either may be empty; set before or after start().
  using FleetPublish = std::function<void(const std::string& route, const nlohmann::json& state)>;
  using FleetClaim = std::function<bool(const std::string& key)>;
  void setFleet(FleetPublish publish, FleetClaim claim_alert);
  // A route's state as another replica published it: a rollback there rolls this replica's
  // traffic back too (the plan's set_weights and pin_version steps; its calls ran there, once),
  // recorded as an execution of its own; a resume there resumes the route here. Nothing is
  // published back. A route rolling back here, or without a plan here, is left alone.
  void applyFleetState(const std::string& route, const nlohmann::json& state);

  // The configuration the manager was built with; immutable, so any thread may read it.
  const RollbackConfig& config() const { return config_; }

  std::optional<RouteStatus> routeStatus(const std::string& route) const;
  std::optional<Execution> execution(const std::string& id) const;
  std::vector<Execution> executions() const;  // oldest first

  // {"routes": {...}, "executions": [newest first], "alerts": [newest first]}
  nlohmann::json stateJson() const;
  nlohmann::json executionsJson() const;  // newest first

 private:
  struct Run {  // an execution in progress
    std::string execution_id;
    const PlanConfig* plan = nullptr;
    size_t step = 0;
    common::MonotonicTime next_at{};
    common::MonotonicTime started{};  // for the recovery time
    // The executions of the plans this one depends on that have not finished yet; the steps
    // wait for them.
    std::vector<std::string> waiting_for;
    // A verify step in progress: when it started, and the route's counts since (oldest first).
    common::MonotonicTime verify_started{};
    std::deque<std::pair<common::MonotonicTime, ProxyControl::ResponseCounts>> verify_samples;
  };
  struct Metrics {
    prometheus::Family<prometheus::Counter>& rollbacks;
    prometheus::Family<prometheus::Gauge>& active;
    prometheus::Family<prometheus::Counter>& step_failures;
    prometheus::Family<prometheus::Counter>& webhooks;
    prometheus::Family<prometheus::Gauge>& recovery;
    prometheus::Family<prometheus::Gauge>& estimated;
    prometheus::Family<prometheus::Counter>& over_estimate;
  };

  TriggerResult triggerLocked(const std::string& route, Trigger trigger);
  Execution* findLocked(const std::string& id);
  const Execution* findLocked(const std::string& id) const;
  void setRouteLocked(const std::string& route, RouteStatus status, const std::string& id);
  void finishLocked(Run& run, Execution& execution, bool succeeded);
  // Ends the runs whose dependencies failed; lets the others go once theirs have succeeded.
  void settleDependenciesLocked();
  // One poll of a verify step (under the lock): records the route's counts and decides.
  void verifyLocked(Run& run, Execution& execution);
  // After step `run.step` succeeded: the next step, or the end.
  void advanceLocked(std::vector<Run>::iterator run, Execution& execution);
  void pruneLocked();
  void persistLocked();
  // Takes the state read from the file; routes without a plan any more are forgotten.
  void takeLoadedLocked(RollbackState loaded);
  void reapplyLocked();
  void publishLocked(const std::string& route);
  bool rememberKeyLocked(const std::string& key);  // false when already seen
  void recordAlertLocked(AlertRecord record);
  std::string now() const;
  // Runs one attempt of a step; called without the lock.
  std::string runStep(const StepConfig& step, const std::map<std::string, std::string>& values,
                      std::vector<std::string>& log);
  void threadLoop();

  const RollbackConfig config_;
  ProxyControl& control_;
  const common::TimeSource& time_;
  // Socket deadlines of the webhook and notify steps are real time whatever clock the manager
  // is given.
  const common::RealTimeSource socket_time_;
  ManagerOptions options_;
  Metrics metrics_;
  std::map<std::string, std::unique_ptr<Guard>> guards_;  // fixed after construction

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  config::ConfigConstSharedPtr routes_;
  RollbackState state_;  // state_.routes has every planned route, and only those
  std::vector<Run> runs_;
  std::unordered_set<std::string> alert_key_set_;  // state_.alert_keys, for lookups
  // The clusters of cluster_unhealthy triggers (fixed after construction) -> whether the last
  // report said every endpoint was unhealthy.
  std::map<std::string, bool> cluster_unhealthy_;
  FleetPublish fleet_publish_;
  FleetClaim fleet_claim_;
  common::MonotonicTime next_guard_check_{};
  bool loaded_ = false;
  bool stopping_ = false;
  bool wakeup_ = false;
  std::thread thread_;
};

}  // namespace switchyard::rollback
