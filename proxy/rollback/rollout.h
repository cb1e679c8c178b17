#pragma once

// Gated progressive rollout (`rollout:` of a versioned route): the new side's share of the new
// version's split goes up step by step (10% -> 50% -> 100%); each step is held for `hold` and
// judged by gates that compare the new side with the old side over the same window. A failed gate
// aborts the rollout and runs the route's rollback plan.
//
// Which side is which. The stable version S of the route is the one its rollback would pin
// (server::stableVersion(): the last `pin_version` of its plan, else the oldest version). The new
// version N is the route's highest-numbered version other than S. N's split must have exactly
// two clusters: the old side, a cluster S also sends to, and the new side, one S does not. A step
// of p% sets N's runtime weights to {new: p, old: 100 - p}, as POST /routes/weights would.
//
// States: pending (configured, not started: it starts at the first evaluation unless the
// migration is halted), progressing, paused (by an operator, a manual weight change of N's split
// or the migration kill switch), completed (100% on the new side) and aborted (by an operator, a
// failed gate, or a rollback of the route however it was triggered). An ended rollout stays ended
// until an operator restarts it (back to pending).
//
// Gates. The figures are the route's N requests served by each side since the current step's
// hold began (a resume, a restart and each new step begin a new hold). Until the new side has
// min_requests the gates are not judged and the step holds, past `hold` if need be. From then on,
// at each evaluation: the new side's error ratio (5xx) must be at most max_error_ratio_vs_baseline
// times the old side's, where an old side ratio below BaselineFloor counts as BaselineFloor (so
// an old side without errors still allows some); more than 5% of the new side's requests slower
// than max_p95 fails (its p95 is above it); the mismatch ratio is judged only when a
// MismatchSource is attached (the shadow comparison, not built yet) and is reported as not
// evaluated otherwise. A failure aborts at once; a step advances once `hold` has passed with
// every gate holding.
//
// Persistence: the state, step, history and the rollout's settings go to `<state_file>.rollout`
// (written atomically) on every transition. The figures are not kept: after a restart the current
// step's hold starts again in full, so a restart can delay a step but never promote it early. A
// state saved for other settings than the configured ones is dropped (the rollout starts anew).
//
// Threads: every public method may be called from any thread; they take the controller's mutex.
// tick() (the server's main loop) and the admin operations call RolloutControl under it, so
// RolloutControl must never call back into the controller, and whoever calls the controller must
// not hold a lock RolloutControl takes. observer() takes only a leaf lock of its own, so it may
// be called under any lock (route tables are built under the server's). The observers are fed by
// the workers with atomics only and live as long as the controller.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/common/time.h"
#include "proxy/rollback/records.h"
#include "proxy/router/request_observer.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace switchyard::rollback {

struct RolloutSides {
  std::string version;         // N, whose split the rollout weighs
  std::string stable_version;  // S
  std::string new_cluster;
  std::string old_cluster;
  bool operator==(const RolloutSides&) const = default;
};

// The sides of `route`'s rollout given its stable version; "" on success, else what is wrong
// (for the configuration error).
std::string rolloutSides(const config::RouteConfig& route, const std::string& stable_version,
                         RolloutSides& out);

// Where the mismatch gate's figures will come from (the shadow comparison of issue 18 plugs in
// here). Counts are cumulative since the source started; called under the controller's lock.
class MismatchSource {
 public:
  virtual ~MismatchSource() = default;
  struct Counts {
    uint64_t comparisons = 0;
    uint64_t mismatches = 0;
  };
  // None when the route is not compared.
  virtual std::optional<Counts> counts(const std::string& route) const = 0;
};

// How the rollout acts on the proxy; the server implements it. Must not call the controller.
class RolloutControl {
 public:
  virtual ~RolloutControl() = default;
  // Sets the runtime weights of `route`'s `version`; "" or why it could not.
  virtual std::string setWeights(const std::string& route, const std::string& version,
                                 const std::map<std::string, uint32_t>& weights) = 0;
  virtual bool migrationHalted() const = 0;
  // The route's rollback state; none when it has no rollback plan.
  virtual std::optional<RouteStatus> rollbackStatus(const std::string& route) const = 0;
  // Runs the route's rollback plan (trigger kind rollout_gate); "" when started, else why not.
  virtual std::string triggerRollback(const std::string& route, const std::string& reason) = 0;
};

// Counts one side's requests (cumulative, atomics only): requests, 5xx and a latency histogram
// whose bounds include the gate's max_p95, so "more than 5% slower than max_p95" is exact.
class SideCounter final : public router::RequestObserver {
 public:
  explicit SideCounter(int64_t max_p95_ms);
  void record(common::MonotonicTime now, int status, common::Duration latency) noexcept override;

  struct Totals {
    uint64_t requests = 0;
    uint64_t errors = 0;
    std::vector<uint64_t> buckets;  // per bound, then the unbounded one
  };
  Totals totals() const;
  const std::vector<int64_t>& boundsMs() const { return bounds_ms_; }

 private:
  std::vector<int64_t> bounds_ms_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
};

enum class RolloutState { Pending, Progressing, Paused, Completed, Aborted };
inline constexpr RolloutState RolloutStates[] = {RolloutState::Pending, RolloutState::Progressing,
                                                 RolloutState::Paused, RolloutState::Completed,
                                                 RolloutState::Aborted};
std::string_view rolloutStateName(RolloutState state);
std::optional<RolloutState> rolloutStateFrom(std::string_view name);

struct RolloutTransition {
  std::string at;  // RFC 3339
  std::string from;
  std::string to;
  uint32_t weight = 0;  // on the new side, after the transition
  std::string reason;
  std::string by;  // "rollout", "api", "console", "halt", "rollback", "weights", ...
};

// What one route's rollout is doing, as persisted (figures aside).
struct RolloutRecord {
  RolloutState state = RolloutState::Pending;
  int step = -1;        // index into steps; -1 before the first
  uint32_t weight = 0;  // percent on the new side that the rollout last set
  std::string paused_reason;
  std::string step_started_at;  // RFC 3339, when the current hold began
  std::vector<RolloutTransition> history;
  nlohmann::json settings;  // the configuration it runs under (steps, hold, gates)
};

// The state file's content, and back.
nlohmann::json encodeRolloutState(const std::map<std::string, RolloutRecord>& routes);
bool decodeRolloutState(const nlohmann::json& doc, std::map<std::string, RolloutRecord>& out,
                        std::string& error);
nlohmann::json rolloutSettingsJson(const config::RolloutConfig& config);

class RolloutController {
 public:
  // Below it, the old side's error ratio counts as this much (see the top of the file).
  static constexpr double BaselineFloor = 0.01;
  static constexpr size_t MaxHistory = 50;

  // `state_file`: "" persists nothing.
  RolloutController(RolloutControl& control, const common::TimeSource& time,
                    prometheus::Registry& registry, std::string state_file);
  ~RolloutController();
  RolloutController(const RolloutController&) = delete;
  RolloutController& operator=(const RolloutController&) = delete;

  // Makes the observers of `config`'s rollouts findable; `stable` maps each versioned route to
  // its stable version. Call before route tables for `config` are built (leaf lock only).
  void prepare(const config::Config& config, const std::map<std::string, std::string>& stable);
  // Puts `config` in effect: a route whose rollout settings and sides are unchanged keeps its
  // state; a new or changed one starts pending; routes without a rollout are forgotten. The first
  // call also reads the state file (a file that cannot be used is moved aside and logged).
  void configure(const config::Config& config, const std::map<std::string, std::string>& stable);

  // Evaluates every rollout that is due; returns when it should run next.
  common::MonotonicTime tick();

  // Who counts the requests of (route, version, cluster), or null.
  router::RequestObserver* observer(const std::string& route, const std::string& version,
                                    const std::string& cluster);

  void setMismatchSource(const MismatchSource* source);

  // A weight change of (route, version) that the rollout did not make (POST /routes/weights):
  // pauses a pending or progressing rollout of that split.
  void onManualWeights(const std::string& route, const std::string& version, const std::string& by);

  // Restart: an ended (completed or aborted) rollout starts again from pending, unless its route
  // is still rolled back.
  enum class Action { Pause, Resume, Promote, Abort, Restart };
  struct ActionResult {
    int status = 200;     // 200, 404 (no rollout), 409 (wrong state), 502 (weights refused)
    std::string error;    // when not 200
    nlohmann::json view;  // the route's view when 200
  };
  ActionResult act(Action action, const std::string& route, const std::string& reason,
                   const std::string& by);

  // GET /rollout: {"routes": [...]}.
  nlohmann::json view() const;
  // Each route's state name, for the console.
  std::map<std::string, std::string> states() const;

 private:
  struct Baseline {
    SideCounter::Totals fresh;
    SideCounter::Totals stale;
    std::optional<MismatchSource::Counts> mismatches;
  };
  struct Entry {
    config::RolloutConfig config;
    RolloutSides sides;
    RolloutRecord record;
    SideCounter* new_side = nullptr;
    SideCounter* old_side = nullptr;
    Baseline baseline;
    common::MonotonicTime hold_started{};
    nlohmann::json figures;  // the latest evaluation; null before one
    bool holding_for_requests = false;
  };
  struct Metrics {
    prometheus::Family<prometheus::Gauge>& step;
    prometheus::Family<prometheus::Gauge>& state;
    prometheus::Family<prometheus::Counter>& transitions;
  };

  SideCounter* counterFor(const std::string& route, const std::string& cluster, int64_t p95_ms);
  void loadLocked();
  void persistLocked();
  void transitionLocked(const std::string& route, Entry& e, RolloutState to,
                        const std::string& reason, const std::string& by);
  void startHoldLocked(const std::string& route, Entry& e, common::MonotonicTime now);
  std::string applyWeightLocked(const std::string& route, Entry& e, uint32_t weight);
  void evaluateLocked(const std::string& route, Entry& e, common::MonotonicTime now);
  void abortLocked(const std::string& route, Entry& e, const std::string& reason,
                   const std::string& by, bool run_plan);
  void publishLocked(const std::string& route, const Entry& e);
  nlohmann::json routeViewLocked(const std::string& route, const Entry& e,
                                 common::MonotonicTime now) const;
  std::string nowText() const;

  RolloutControl& control_;
  const common::TimeSource& time_;
  const std::string state_file_;
  Metrics metrics_;

  // Leaf lock: the counters (never destroyed before the controller) and who they observe.
  mutable std::mutex counters_mutex_;
  std::map<std::string, std::unique_ptr<SideCounter>> counters_;  // "route|cluster|p95"
  std::map<std::string, SideCounter*> observed_;                  // "route|version|cluster"

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, RolloutRecord> loaded_;  // from the state file, until configured
  const MismatchSource* mismatch_ = nullptr;
  bool loaded_once_ = false;
};

}  // namespace switchyard::rollback
