#pragma once

// Active health checks of one cluster's endpoints: an HTTP GET of the configured path on every
// endpoint, off the data path, on one dispatcher (the writer of the cluster's EndpointHealth).
//
// - HealthStateMachine: one endpoint's state from its probes' results (pure).
// - Prober: runs one probe. HttpProber, the production one, is a non-blocking HTTP/1.1 GET over
//   the event layer's connections and the HTTP codec; tests use fakes.
// - HealthChecker: schedules each endpoint's probes with jitter on the dispatcher's timers, feeds
//   the results to the state machines, writes the conclusions to EndpointHealth (which every
//   worker reads), counts results and reports transitions.
//
// New endpoints (at start, or added by a DNS change) are Unknown, which load balancing treats as
// healthy, until their first probe: a success makes them Healthy at once, and it takes
// unhealthy_threshold failures to make them Unhealthy, as for a Healthy one. Envoy starts them
// unhealthy instead; here a sidecar that starts (or a DNS answer that replaces every address)
// would then send its first requests nowhere until every endpoint had answered a probe, and
// outlier detection already takes out an endpoint that fails real requests meanwhile.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/health_check.h"
#include "proxy/common/random.h"
#include "proxy/common/socket_address.h"
#include "proxy/event/connector.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/endpoint_health.h"

namespace switchyard::upstream {

// How one probe went. The names are the `result` label of
// switchyard_upstream_health_checks_total{cluster,result}.
enum class ProbeResult : uint8_t {
  Success,         // an expected status
  FailureStatus,   // another status, or an answer that is not valid HTTP
  FailureConnect,  // no connection, or it closed or broke before a response
  Timeout,         // no response head within the timeout
};
inline constexpr size_t ProbeResultCount = 4;
const char* probeResultName(ProbeResult result);

// One probe to run.
struct ProbeRequest {
  common::SocketAddress address;
  std::string host;  // the Host header
  std::string path;
  std::chrono::milliseconds timeout{1000};
};

// What a prober saw; the checker decides whether a status is expected.
struct ProbeResponse {
  enum class Kind : uint8_t { Responded, ConnectFailed, TimedOut };
  Kind kind = Kind::Responded;
  int status = 0;      // Responded: the status; 0 when the answer was not valid HTTP
  std::string detail;  // for logs: "status 503", "connect failed: Connection refused", ...
};

ProbeResult classifyProbe(const ProbeResponse& response, const HealthCheckConfig& config);

using ProbeId = uint64_t;

// Runs probes on one dispatcher, on its thread. probe() never calls back before it returns;
// `done` is called exactly once, within the request's timeout (a TimedOut response), unless
// cancel() comes first or the prober is destroyed, which abandon the probe silently.
class Prober {
 public:
  using Done = std::function<void(const ProbeResponse&)>;
  virtual ~Prober() = default;
  virtual ProbeId probe(const ProbeRequest& request, Done done) = 0;
  // Unknown or finished ids are ignored.
  virtual void cancel(ProbeId id) = 0;
};

// GET <path> over a fresh connection (Connection: close) with the request's Host and a
// User-Agent of its own; the status is read from the response head and the connection closed
// there, without the body. Connections come from `connector`, timers from `dispatcher`, both of
// which must outlive the prober; finished probes are deleted deferred, through the dispatcher.
class HttpProber final : public Prober {
 public:
  static constexpr std::string_view UserAgent = "Switchyard-HealthCheck/1";

  HttpProber(event::Dispatcher& dispatcher, event::Connector& connector);
  ~HttpProber() override;
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;

  ProbeId probe(const ProbeRequest& request, Done done) override;
  void cancel(ProbeId id) override;
  size_t inFlight() const { return probes_.size(); }

 private:
  class Probe;
  // Takes a probe out of the table and hands it to the dispatcher for deletion.
  void retire(ProbeId id);

  event::Dispatcher& dispatcher_;
  event::Connector& connector_;
  std::unordered_map<ProbeId, std::unique_ptr<Probe>> probes_;
  ProbeId next_id_ = 1;
};

// One endpoint's active health, from its probes' results. Thresholds are passed with each result
// so a new configuration applies from the next probe.
class HealthStateMachine {
 public:
  // `initial` is where an earlier checker left the endpoint (a reload), counts at zero.
  explicit HealthStateMachine(ActiveHealth initial = ActiveHealth::Unknown) : state_(initial) {}
  // Returns true if the state changed.
  bool onResult(bool success, uint32_t healthy_threshold, uint32_t unhealthy_threshold);
  ActiveHealth state() const { return state_; }
  uint32_t consecutiveSuccesses() const { return successes_; }
  uint32_t consecutiveFailures() const { return failures_; }

 private:
  ActiveHealth state_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

// The wait before an endpoint's next probe, from the end of its last one: the interval less a
// uniform share of up to `jitter` of it, and at least 1ms. Never above the interval, so that
// thresholds times the interval (plus timeouts) bounds how long a failing endpoint stays in.
std::chrono::milliseconds nextProbeDelay(const HealthCheckConfig& config, common::Random& random);
// The wait before a new endpoint's first probe: uniform from 0 to `jitter` of the interval.
std::chrono::milliseconds firstProbeDelay(const HealthCheckConfig& config, common::Random& random);

// An endpoint to probe: its address, and the authority its Host header names unless the
// configuration sets `host` (empty: the address as written).
struct HealthCheckTarget {
  common::SocketAddress address;
  std::string authority;
};

// A change of an endpoint's active health.
struct HealthTransition {
  size_t endpoint;
  std::string address;  // as written
  ActiveHealth from;
  ActiveHealth to;
  ProbeResult cause;     // the result of the probe that decided it
  std::string detail;    // the prober's detail of that probe
  uint32_t consecutive;  // successes or failures in a row, that probe included
};

// The active health checks of one cluster. Everything on the dispatcher's thread, except
// count(), which any thread may read. Probes start as soon as it is constructed; destroying it
// cancels the probes in flight. `random`, `prober` and the dispatcher must outlive it.
//
// Each endpoint starts from the verdict `health` holds for it: Unknown in a new EndpointHealth,
// and where a previous checker left it when a reload replaces the checker (so an Unhealthy
// endpoint still needs healthy_threshold successes). A cluster whose checks are removed should
// have its endpoints set back to Unknown.
class HealthChecker {
 public:
  struct Callbacks {
    // After EndpointHealth has the new state. Must not destroy the checker or change its
    // endpoints.
    std::function<void(const HealthTransition&)> on_transition;
    // Every probe's result (metrics).
    std::function<void(size_t endpoint, ProbeResult result)> on_probe;
  };

  HealthChecker(event::Dispatcher& dispatcher, common::Random& random, Prober& prober,
                const HealthCheckConfig& config, std::vector<HealthCheckTarget> targets,
                std::shared_ptr<EndpointHealth> health, Callbacks callbacks = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // A new endpoint list and its EndpointHealth (see EndpointHealth::carryOver(), with the same
  // `previous_index`): endpoints that stay keep their state, probe schedule and probe in flight;
  // new ones are Unknown and probed within the jitter; the probes of removed ones are cancelled.
  void setEndpoints(std::vector<HealthCheckTarget> targets, std::shared_ptr<EndpointHealth> health,
                    const std::vector<size_t>& previous_index);

  size_t size() const { return endpoints_.size(); }
  ActiveHealth state(size_t i) const { return endpoints_[i]->machine.state(); }
  const HealthStateMachine& machine(size_t i) const { return endpoints_[i]->machine; }
  // Every endpoint is Unhealthy: each has failed unhealthy_threshold probes in a row and none has
  // since had healthy_threshold successes (the rollback trigger). False without endpoints.
  // EndpointHealth::allActiveUnhealthy() says the same from any thread.
  bool allUnhealthy() const;
  const std::shared_ptr<EndpointHealth>& health() const { return health_; }
  const HealthCheckConfig& config() const { return config_; }

  uint64_t count(ProbeResult result) const {
    return counts_[static_cast<size_t>(result)].load(std::memory_order_relaxed);
  }

 private:
  struct Endpoint {
    HealthCheckTarget target;
    size_t index = 0;
    HealthStateMachine machine;
    event::TimerPtr timer;
    bool in_flight = false;
    ProbeId probe = 0;
  };

  std::unique_ptr<Endpoint> makeEndpoint(HealthCheckTarget target, size_t index);
  void startProbe(Endpoint& e);
  void onProbeDone(Endpoint& e, const ProbeResponse& response);

  event::Dispatcher& dispatcher_;
  common::Random& random_;
  Prober& prober_;
  const HealthCheckConfig config_;
  std::shared_ptr<EndpointHealth> health_;
  Callbacks callbacks_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::array<std::atomic<uint64_t>, ProbeResultCount> counts_{};
};

}  // namespace switchyard::upstream
