#include "proxy/server/server.h"

#include <event2/event.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <functional>
#include <thread>

#include "config/config_error.h"
#include "proxy/accesslog/writer.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/console.h"
#include "proxy/common/logging.h"
#include "proxy/common/rfc3339.h"
#include "proxy/common/uuid.h"
#include "proxy/event/libevent.h"
#include "proxy/redis/stats.h"
#include "proxy/rollback/admin_handlers.h"
#include "proxy/rollback/manager.h"
#include "proxy/rollback/rollout.h"
#include "proxy/rollback/state_file.h"
#include "proxy/server/admin_views.h"
#include "proxy/server/endpoint_prober.h"
#include "proxy/server/worker.h"
#include "proxy/stats/stats.h"
#include "proxy/stats/traffic_window.h"
#include "proxy/tracing/exporter.h"
#include "proxy/tracing/sampler.h"
#include "proxy/upstream/cluster_manager.h"

namespace switchyard::server {

using nlohmann::json;

namespace {

// How often, and how patiently, /health's view of endpoint reachability is refreshed.
constexpr std::chrono::milliseconds ProbeInterval{5000};
constexpr std::chrono::milliseconds ProbeTimeout{250};

// What a reload cannot change without a restart: the sockets, the admin listener and the
// worker threads. Returns one message per part that changed.
std::vector<std::string> restartOnlyChanges(const ConfigSource& source, const config::Config& from,
                                            const config::Config& to) {
  std::vector<std::string> out;
  const json a = source.dump(from);
  const json b = source.dump(to);
  const std::string file = to.source_file + ": ";
  if (from.workers != to.workers) out.push_back(file + "workers: changing it needs a restart");
  if (a["listeners"] != b["listeners"]) {
    out.push_back(file + "listeners: changing them needs a restart");
  }
  if (a["admin"] != b["admin"] || from.admin.token != to.admin.token) {
    out.push_back(file + "admin: changing it needs a restart");
  }
  if (a.value("tracing", json()) != b.value("tracing", json())) {
    out.push_back(file + "tracing: changing it needs a restart");
  }
  if (a.value("access_log", json()) != b.value("access_log", json())) {
    out.push_back(file + "access_log: changing it needs a restart");
  }
  if (a.value("rollback", json()) != b.value("rollback", json())) {
    out.push_back(file + "rollback: changing the plans needs a restart");
  }
  // Each worker's Redis connection is made once, at start; the dump hides the password.
  const auto password = [](const config::Config& c) { return c.redis ? c.redis->password : ""; };
  if (a.value("redis", json()) != b.value("redis", json()) || password(from) != password(to)) {
    out.push_back(file + "redis: changing it needs a restart");
  }
  // The fleet's connections and thread are made once, at start.
  if (a.value("fleet", json()) != b.value("fleet", json())) {
    out.push_back(file + "fleet: changing it needs a restart");
  }
  // The resolver is made once, at start.
  if (a.value("dns", json()) != b.value("dns", json())) {
    out.push_back(file + "dns: changing it needs a restart");
  }
  return out;
}

// Rollback plans act on traffic through the server.
class ServerControl final : public rollback::ProxyControl {
 public:
  ServerControl(Server& server, const prometheus::Collectable& downstream_requests)
      : server_(server), downstream_requests_(downstream_requests) {}
  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights) override {
    return server_.setWeights(route, version, weights);
  }
  std::string pinVersion(const std::string& route, const std::string& version) override {
    return server_.pinVersion(route, version);
  }
  std::string resume(const std::string& route) override { return server_.resumeRoute(route); }
  std::optional<ResponseCounts> responseCounts(const std::string& route) override {
    const stats::ResponseTotals totals =
        stats::countResponses(downstream_requests_, "route", route);
    return ResponseCounts{totals.requests, totals.errors};
  }

 private:
  Server& server_;
  const prometheus::Collectable& downstream_requests_;
};

// Rollouts act on traffic through the server and ask it about the halt and the rollbacks.
class ServerRolloutControl final : public rollback::RolloutControl {
 public:
  ServerRolloutControl(Server& server, const router::WeightOverrides& overrides)
      : server_(server), overrides_(overrides) {}
  void setManager(rollback::RollbackManager* manager) { manager_ = manager; }

  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights) override {
    return server_.setWeights(route, version, weights);
  }
  bool migrationHalted() const override { return overrides_.halted(); }
  std::optional<rollback::RouteStatus> rollbackStatus(const std::string& route) const override {
    if (manager_ == nullptr) return std::nullopt;
    return manager_->routeStatus(route);
  }
  std::string triggerRollback(const std::string& route, const std::string& reason) override {
    if (manager_ == nullptr) return "no rollback plan";
    const auto r = manager_->trigger(
        route, rollback::Trigger{rollback::TriggerKind::RolloutGate, reason, {}, "", "", "", ""});
    switch (r.outcome) {
      case rollback::TriggerOutcome::Started:
        return "";
      case rollback::TriggerOutcome::NoPlan:
        return "the route has no rollback plan";
      default:
        return "the route is rolled back or rolling back already (" + r.execution_id + ")";
    }
  }

 private:
  Server& server_;
  const router::WeightOverrides& overrides_;
  rollback::RollbackManager* manager_ = nullptr;
};

std::string rolloutStateFile(const config::Config& config) {
  if (config.rollback == nullptr || config.rollback->state_file.empty()) return "";
  return config.rollback->state_file + ".rollout";
}

EndpointProber::Clusters proberClusters(const config::Config& config) {
  EndpointProber::Clusters out;
  for (const auto& c : config.clusters) out[c.name] = c.endpoints;
  return out;
}

// A filter's admin handler reaches the workers through this: each runs the task on its thread
// with its object of the filter's chain entry.
class WorkerTasks final : public filters::AdminContext {
 public:
  WorkerTasks(std::vector<Worker*> workers, std::string key)
      : workers_(std::move(workers)), key_(std::move(key)) {}

  bool runOnWorkers(const std::function<void(uint32_t, filters::WorkerLocal*)>& fn,
                    std::chrono::milliseconds timeout) override {
    // Shared with the posted tasks, which may outlive this call when it times out: then they
    // find `abandoned` and leave `fn` (and whatever it refers to) alone.
    struct Shared {
      std::mutex mutex;
      std::condition_variable done;
      size_t remaining = 0;
      bool abandoned = false;
      std::function<void(uint32_t, filters::WorkerLocal*)> fn;
    };
    auto shared = std::make_shared<Shared>();
    shared->remaining = workers_.size();
    shared->fn = fn;
    for (uint32_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->postToLocal(key_, [shared, i](filters::WorkerLocal* local) {
        std::lock_guard lock(shared->mutex);
        if (shared->abandoned) return;
        shared->fn(i, local);
        if (--shared->remaining == 0) shared->done.notify_all();
      });
    }
    std::unique_lock lock(shared->mutex);
    if (shared->done.wait_for(lock, timeout, [&] { return shared->remaining == 0; })) return true;
    shared->abandoned = true;
    return false;
  }

 private:
  std::vector<Worker*> workers_;
  std::string key_;
};

}  // namespace

// Everything run() sets up, owned for the length of the run.
struct Server::Run {
  config::ConfigConstSharedPtr initial;
  uint32_t workers = 1;
  std::unique_ptr<stats::ProxyStats> stats;
  std::unique_ptr<redis::RedisStats> redis_stats;  // with `redis:` only
  // The last minute of traffic per route version and per cluster (GET /traffic, the console).
  std::unique_ptr<stats::TrafficWindow> traffic;
  std::vector<std::unique_ptr<ListenerShared>> listeners;
  std::atomic<uint32_t> all_connections{0};  // every listener's, for overload.max_connections
  std::vector<std::vector<int>> fds;         // per worker, per listener
  Observability observability;
  std::unique_ptr<tracing::Sampler> sampler;
  std::unique_ptr<tracing::BatchSpanExporter> exporter;
  std::unique_ptr<accesslog::AccessLogWriter> access_log;
  std::unique_ptr<event::LibeventDispatcher> main;
  std::function<void(const char*)> start_drain;
  bool draining = false;
  common::MonotonicTime drain_deadline{};
  event::TimerPtr drain_timer;
  event::TimerPtr collect_timer;
  std::function<void(int)> on_signal;
  std::vector<event::EventPtr> signals;
  std::unique_ptr<ServerControl> control;
  std::unique_ptr<rollback::RollbackManager> rollback;
  std::unique_ptr<FleetSync> fleet;  // with `redis:` and fleet.enabled
  std::unique_ptr<ServerRolloutControl> rollout_control;
  // Destroyed after the workers (shutdown()): their route tables point at its observers.
  std::unique_ptr<rollback::RolloutController> rollout;
  event::TimerPtr rollout_timer;
  std::unique_ptr<EndpointProber> prober;
  // Endpoint lists, DNS and health checks, on `main`'s loop.
  std::unique_ptr<upstream::ClusterManager> clusters;
  std::unique_ptr<admin::AdminServer> admin;

  void closeSockets() {
    for (auto& v : fds) {
      for (int fd : v) ::close(fd);
      v.clear();
    }
  }
};

Server::Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
               const common::TimeSource& time, const filters::FilterRegistry& filters,
               ConfigSource source)
    : config_(std::move(config)),
      registry_(std::move(registry)),
      time_(time),
      filters_(filters),
      source_(std::move(source)) {}

Server::~Server() = default;

config::ConfigConstSharedPtr Server::currentConfig() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config_;
}

ActiveConfigPtr Server::currentActive() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

void Server::requestStop() {
  if (event::LibeventDispatcher* main = main_.load()) {
    main->post([this] {
      if (run_ != nullptr) run_->start_drain("stop requested");
    });
  }
}

Server::ReloadResult Server::reload(const char* trigger) {
  ReloadResult result = reloadLocked(trigger);
  if (!result.ok) return result;
  // Outside the lock: the manager calls back into setWeights() and friends under its own.
  if (rollback_ != nullptr) rollback_->setRoutes(currentConfig());
  if (rollout_ != nullptr) {
    const config::ConfigConstSharedPtr cfg = currentConfig();
    rollout_->configure(*cfg, stableVersions(*cfg));
  }
  if (run_ != nullptr && run_->prober) run_->prober->setClusters(proberClusters(*currentConfig()));
  return result;
}

Server::ReloadResult Server::reloadLocked(const char* trigger) {
  std::lock_guard<std::mutex> lock(mutex_);
  ReloadResult result;
  config::ConfigConstSharedPtr next;
  try {
    next = source_.load(config_->source_file);
    result.errors = restartOnlyChanges(source_, *config_, *next);
  } catch (const config::ConfigErrors& e) {
    for (const auto& error : e.errors()) result.errors.push_back(error.format(e.file()));
  }
  if (!result.errors.empty()) {
    stats_->config_reloads.Add({{"result", "failure"}}).Increment();
    SY_LOG(Error, "%s: reload refused, the configuration in effect is unchanged:", trigger);
    for (const auto& error : result.errors) SY_LOG(Error, "  %s", error.c_str());
    return result;
  }
  result.dropped = overrides_.retainValid(*next);
  for (const auto& dropped : result.dropped) {
    SY_LOG(Warn, "%s: weight override dropped: %s", trigger, dropped.c_str());
  }
  // A halted migration stays halted: every versioned route of the new configuration (new ones
  // too) goes to its stable version under it.
  if (halt_.halted) overrides_.halt(stableVersions(*next));
  // The new settings apply to the runtime state from here on; requests in flight keep the
  // configuration they started under.
  config_ = next;
  // The rollouts' observers are found by the route tables the workers are about to build.
  if (rollout_ != nullptr) rollout_->prepare(*next, stableVersions(*next));
  active_ = activateConfig(next, state_, run_ != nullptr ? run_->clusters.get() : nullptr);
  // Counted before the workers see it, so that whoever observes the new behaviour also finds
  // the reload in /metrics.
  stats_->config_reloads.Add({{"result", "success"}}).Increment();
  for (auto& w : workers_) w->installConfig(active_);
  publishWeights();
  publishCertificateExpiry();
  SY_LOG(Info, "%s: configuration reloaded from %s", trigger, next->source_file.c_str());
  result.ok = true;
  return result;
}

void Server::publishCertificateExpiry() {
  for (prometheus::Gauge* g : expiry_gauges_) stats_->tls_certificate_expiry.Remove(g);
  expiry_gauges_.clear();
  auto publish = [&](const char* kind, const std::string& name, const std::string& file) {
    int64_t not_after = 0;
    if (file.empty() || !event::certificateNotAfter(file, not_after)) return;
    auto& g = stats_->tls_certificate_expiry.Add({{kind, name}, {"certificate", file}});
    g.Set(static_cast<double>(not_after));
    expiry_gauges_.push_back(&g);
  };
  for (const config::ListenerConfig& l : config_->listeners) {
    if (!l.tls) continue;
    for (const event::TlsCertificateFiles& c : l.tls->certificates) {
      publish("listener", l.name, c.certificate);
    }
  }
  for (const config::ClusterConfig& c : config_->clusters) {
    if (c.tls) publish("cluster", c.name, c.tls->certificate);
  }
}

void Server::publishWeights() {
  for (prometheus::Gauge* g : weight_gauges_) stats_->route_weight.Remove(g);
  weight_gauges_.clear();
  auto publish = [&](const std::string& route, const std::string& version,
                     const config::TargetConfig& target) {
    auto override_weights = overrides_.get(route, version);
    const auto weights =
        router::effectiveWeights(target, override_weights ? &*override_weights : nullptr);
    double total = 0;
    for (uint32_t w : weights) total += w;
    for (size_t i = 0; i < weights.size(); ++i) {
      auto& g = stats_->route_weight.Add(
          {{"route", route}, {"version", version}, {"cluster", target.split[i].cluster}});
      g.Set(total > 0 ? 100.0 * weights[i] / total : 0);
      weight_gauges_.push_back(&g);
    }
  };
  for (const auto& r : config_->routes) {
    if (r.versions.empty()) publish(r.name, "", r.target);
    for (const auto& v : r.versions) publish(r.name, v.name, v.target);
  }
  persistMigrationLocked();
}

void Server::loadMigrationStateLocked() {
  migration_loaded_ = true;
  if (migration_file_.empty()) return;
  std::string content;
  std::string error;
  const rollback::ReadResult read = rollback::readWholeFile(migration_file_, content, error);
  if (read == rollback::ReadResult::Missing) return;
  MigrationState state;
  if (read == rollback::ReadResult::Failed) {
    SY_LOG(Error, "migration state %s: %s; starting without it", migration_file_.c_str(),
           error.c_str());
    return;
  }
  const json doc = json::parse(content, nullptr, false);
  if (doc.is_discarded() || !decodeMigrationState(doc, state, error)) {
    if (doc.is_discarded()) error = "not valid JSON";
    std::string move_error;
    const std::string aside = rollback::moveAside(migration_file_, time_.systemNow(), move_error);
    SY_LOG(Error, "migration state %s: %s; moved aside to %s, starting without it",
           migration_file_.c_str(), error.c_str(), aside.empty() ? "(failed)" : aside.c_str());
    return;
  }
  for (const auto& [key, weights] : state.weights) {
    const router::OverrideCheck check =
        router::checkOverride(*config_, key.first, key.second, weights);
    if (!check.ok()) {
      SY_LOG(Warn, "migration state: weight override of route %s%s%s ignored: %s",
             key.first.c_str(), key.second.empty() ? "" : " version ", key.second.c_str(),
             check.message.c_str());
      continue;
    }
    overrides_.set(key.first, key.second, weights);
    SY_LOG(Info, "migration state: weight override of route %s%s%s restored", key.first.c_str(),
           key.second.empty() ? "" : " version ", key.second.c_str());
  }
  if (state.halt.halted) {
    halt_ = state.halt;
    overrides_.halt(stableVersions(*config_));
    SY_LOG(Warn,
           "migration state: the migration is halted (since %s, by %s): every versioned "
           "route serves its stable version until POST /migration/resume",
           halt_.since.c_str(), halt_.by.c_str());
  }
}

void Server::persistMigrationLocked() {
  if (halted_gauge_ != nullptr) halted_gauge_->Set(halt_.halted ? 1 : 0);
  MigrationState state{halt_, overrides_.all()};
  // The fleet skips a state equal to the one it holds (the echo of one it applied here).
  if (fleet_ != nullptr) fleet_->publishMigration(encodeMigrationState(state));
  if (!migration_loaded_ || migration_file_.empty()) return;
  const std::string error =
      rollback::writeFileAtomically(migration_file_, encodeMigrationState(state).dump(2) + "\n");
  if (!error.empty()) {
    SY_LOG(Error, "migration state %s not saved: %s", migration_file_.c_str(), error.c_str());
  }
}

namespace {

std::string caller(const admin::AdminRequest& request) {
  auto it = request.headers.find("x-switchyard-client");
  if (it == request.headers.end() || it->second.empty()) return "api";
  return it->second.substr(0, 64);
}

}  // namespace

admin::AdminResponse Server::haltMigration(const admin::AdminRequest& request) {
  std::string reason;
  if (!request.body.empty()) {
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return admin::problemResponse(400,
                                    "the body must be a JSON object, e.g. {\"reason\": \"...\"}");
    }
    if (body.contains("reason")) {
      if (!body["reason"].is_string())
        return admin::problemResponse(400, "\"reason\" must be a string");
      reason = body["reason"].get<std::string>().substr(0, 500);
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (halt_.halted) {
    return admin::problemResponse(409, "Conflict",
                                  "the migration is already halted (since " + halt_.since + " by " +
                                      halt_.by + "); POST /migration/resume first");
  }
  halt_ = {true, common::formatRfc3339(time_.systemNow()), caller(request), reason};
  const auto pins = stableVersions(*config_);
  overrides_.halt(pins);
  persistMigrationLocked();
  std::string routes;
  for (const auto& [route, version] : pins) {
    routes += (routes.empty() ? "" : ", ") + route + "->" + version;
  }
  SY_LOG(Warn, "migration halted by %s%s%s: every versioned route serves its stable version (%s)",
         halt_.by.c_str(), reason.empty() ? "" : ": ", reason.c_str(),
         routes.empty() ? "no versioned route" : routes.c_str());
  return admin::jsonResponse(200, migrationView(*config_, halt_, overrides_));
}

void Server::applyFleetMigration(const json& migration) {
  MigrationState state;
  std::string error;
  if (!decodeMigrationState(migration, state, error)) {
    SY_LOG(Warn, "fleet: migration state from another replica ignored: %s", error.c_str());
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, weights] : overrides_.all()) {
    if (state.weights.count(key) == 0) overrides_.clear(key.first, key.second);
  }
  for (const auto& [key, weights] : state.weights) {
    const router::OverrideCheck check =
        router::checkOverride(*config_, key.first, key.second, weights);
    if (!check.ok()) {
      SY_LOG(Warn, "fleet: weight override of route %s%s%s left out: %s", key.first.c_str(),
             key.second.empty() ? "" : " version ", key.second.c_str(), check.message.c_str());
      continue;
    }
    overrides_.set(key.first, key.second, weights);
  }
  if (state.halt.halted && !halt_.halted) {
    halt_ = state.halt;
    overrides_.halt(stableVersions(*config_));
    SY_LOG(Warn, "fleet: the migration was halted by another replica (by %s%s%s)", halt_.by.c_str(),
           halt_.reason.empty() ? "" : ": ", halt_.reason.c_str());
  } else if (!state.halt.halted && halt_.halted) {
    overrides_.resume();
    halt_ = {};
    SY_LOG(Warn, "fleet: the migration was resumed by another replica");
  }
  publishWeights();
}

admin::AdminResponse Server::resumeMigration(const admin::AdminRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!halt_.halted) {
    return admin::problemResponse(409, "Conflict", "the migration is not halted");
  }
  overrides_.resume();
  const std::string since = halt_.since;
  halt_ = {};
  persistMigrationLocked();
  SY_LOG(Warn,
         "migration resumed by %s (halted since %s): routes follow their pins and weights again",
         caller(request).c_str(), since.c_str());
  return admin::jsonResponse(200, migrationView(*config_, halt_, overrides_));
}

std::string Server::setWeights(const std::string& route, const std::string& version,
                               const std::map<std::string, uint32_t>& weights) {
  std::lock_guard<std::mutex> lock(mutex_);
  router::WeightOverrides::Weights w(weights.begin(), weights.end());
  router::OverrideCheck check = router::checkOverride(*config_, route, version, w);
  if (!check.ok()) return check.message;
  overrides_.set(route, version, std::move(w));
  publishWeights();
  return {};
}

std::string Server::pinVersion(const std::string& route, const std::string& version) {
  std::lock_guard<std::mutex> lock(mutex_);
  const config::RouteConfig* r = nullptr;
  for (const auto& candidate : config_->routes) {
    if (candidate.name == route) r = &candidate;
  }
  if (r == nullptr) return "route \"" + route + "\" does not exist";
  if (r->findVersion(version) == nullptr) {
    return "route \"" + route + "\" has no version \"" + version + "\"";
  }
  overrides_.pin(route, version);
  return {};
}

std::string Server::resumeRoute(const std::string& route) {
  std::lock_guard<std::mutex> lock(mutex_);
  overrides_.unpin(route);
  overrides_.clear(route, "");
  for (const auto& r : config_->routes) {
    if (r.name != route) continue;
    for (const auto& v : r.versions) overrides_.clear(route, v.name);
  }
  publishWeights();
  return {};
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  Run run;
  run_ = &run;
  run.stats = std::make_unique<stats::ProxyStats>(*registry_);
  stats_ = run.stats.get();
  halted_gauge_ = &prometheus::BuildGauge()
                       .Name("switchyard_migration_halted")
                       .Help("1 while the migration is halted (POST /migration/halt), else 0")
                       .Register(*registry_)
                       .Add({});
  run.traffic = std::make_unique<stats::TrafficWindow>(
      std::vector<stats::TrafficWindow::Source>{
          {&run.stats->downstream_requests,
           run.stats->downstream_duration.get(),
           {"route", "version"}},
          {&run.stats->upstream_requests, run.stats->upstream_duration.get(), {"cluster"}}},
      std::chrono::seconds(60), std::chrono::seconds(5));
  // The baseline of the first minute: every counter is zero.
  run.traffic->sample(time_.monotonicNow());
  // The listeners keep pointing into the configuration they started with (a reload cannot
  // change them), so it stays alive until the end.
  run.initial = config_;
  if (run.initial->redis) run.redis_stats = std::make_unique<redis::RedisStats>(*registry_);
  run.workers = run.initial->workers;
  if (run.workers == 0) run.workers = std::max(1u, std::thread::hardware_concurrency());

  if (!openSockets(run) || !startObservability(run)) {
    run.closeSockets();
    stats_ = nullptr;
    run_ = nullptr;
    return 1;
  }
  installSignals(run);
  // From here on requestStop() reaches the loop (a post before it runs waits for it).
  main_ = run.main.get();
  run.clusters =
      std::make_unique<upstream::ClusterManager>(*run.main, run.initial->dns, *registry_);
  startRollback(run);
  startRollout(run);
  startWorkers(run);
  run.prober = std::make_unique<EndpointProber>(proberClusters(*run.initial), ProbeInterval,
                                                ProbeTimeout, time_);
  registerAdmin(run);
  try {
    run.admin->start();
  } catch (const std::exception& e) {
    SY_LOG(Error, "admin listener: %s", e.what());
    main_ = nullptr;
    shutdown(run);
    run_ = nullptr;
    return 1;
  }
  // /health answers from the first round of probes, which takes at most one probe timeout.
  run.prober->waitForRounds(1, ProbeTimeout * 2);
  for (auto& w : workers_) w->start();
  ready_ = true;
  for (const auto& l : run.initial->listeners) {
    SY_LOG(Info, "listening on %s (%s) with %u workers; admin on %s", l.address.text.c_str(),
           l.name.c_str(), run.workers, run.initial->admin.address.text.c_str());
  }

  run.main->run();
  main_ = nullptr;

  shutdown(run);
  run_ = nullptr;
  SY_LOG(Info, "stopped");
  return 0;
}

bool Server::openSockets(Run& run) {
  const config::Config& cfg = *run.initial;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    const prometheus::Labels labels{{"listener", l.name}};
    using Underscores = config::ListenerConfig::Underscores;
    const char* underscore_action = l.headers_with_underscores == Underscores::Reject  ? "rejected"
                                    : l.headers_with_underscores == Underscores::Allow ? "allowed"
                                                                                       : "dropped";
    run.listeners.push_back(std::unique_ptr<ListenerShared>(new ListenerShared{
        i, l, run.stats->active_connections.Add(labels),
        run.stats->downstream_connections.Add(labels),
        run.stats->downstream_connections_rejected.Add(labels),
        run.stats->downstream_underscore_headers.Add(
            {{"listener", l.name}, {"action", underscore_action}}),
        run.stats->downstream_connections_evicted.Add(labels),
        run.stats->downstream_requests_shed.Add(labels), run.all_connections, cfg.overload}));
    if (l.tls) {
      ListenerShared& shared = *run.listeners.back();
      shared.tls_handshakes = &run.stats->tls_handshakes;
      for (size_t f = 1; f < shared.tls_failures.size(); ++f) {
        shared.tls_failures[f] = &run.stats->tls_handshake_failures.Add(
            {{"listener", l.name},
             {"reason", event::tlsFailureName(static_cast<event::TlsFailure>(f))}});
      }
    }
  }
  // Every socket is bound before anything starts, so a taken port fails the start cleanly.
  run.fds.resize(run.workers);
  try {
    for (uint32_t w = 0; w < run.workers; ++w) {
      for (const auto& l : cfg.listeners) run.fds[w].push_back(openListenSocket(l.address));
    }
  } catch (const std::exception& e) {
    SY_LOG(Error, "%s", e.what());
    return false;
  }
  return true;
}

bool Server::startObservability(Run& run) {
  const config::Config& cfg = *run.initial;
  // Tracing and the access log live as long as the workers that feed them.
  if (cfg.tracing.enabled) {
    run.sampler = std::make_unique<tracing::Sampler>(cfg.tracing.sampling_ratio);
    common::RealRandom random;
    tracing::ResourceInfo resource{cfg.tracing.service_name, common::uuidV4(random),
                                   SWITCHYARD_VERSION};
    run.exporter = std::make_unique<tracing::BatchSpanExporter>(cfg.tracing, std::move(resource),
                                                                *registry_, time_);
    run.observability.sampler = run.sampler.get();
    run.observability.exporter = run.exporter.get();
  }
  if (cfg.access_log.enabled) {
    std::string error;
    run.access_log = accesslog::AccessLogWriter::open(cfg.access_log, *registry_, error);
    if (!run.access_log) {
      SY_LOG(Error, "access_log: %s", error.c_str());
      return false;
    }
    run.observability.access_log = run.access_log.get();
  }
  return true;
}

void Server::installSignals(Run& run) {
  // Signals are handled before anything listens, so a SIGTERM right after start drains too.
  run.main = std::make_unique<event::LibeventDispatcher>(time_);
  event::LibeventDispatcher& main = *run.main;
  const config::Config& cfg = *run.initial;
  run.drain_timer = main.createTimer([this, &run, &main] {
    uint32_t open = 0;
    for (auto& w : workers_) open += w->activeConnections();
    if (open == 0 || time_.monotonicNow() >= run.drain_deadline) {
      if (open > 0) SY_LOG(Warn, "drain timeout: closing %u connections", open);
      main.exit();
      return;
    }
    run.drain_timer->enable(std::chrono::milliseconds(20));
  });
  run.start_drain = [this, &run, &cfg](const char* why) {
    if (run.draining) return;
    run.draining = true;
    ready_ = false;
    SY_LOG(Info, "%s: draining (up to %lldms)", why,
           static_cast<long long>(cfg.drain_timeout.count()));
    run.drain_deadline = time_.monotonicNow() + cfg.drain_timeout;
    for (auto& w : workers_) w->drain();
    run.drain_timer->enable(std::chrono::milliseconds(20));
  };
  // Runtime state a reload retired goes once the requests still using it are done.
  run.collect_timer = main.createTimer([this, &run] {
    state_.collect();
    if (run.traffic) run.traffic->sample(time_.monotonicNow());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t w = 0; w < workers_.size(); ++w) {
        stats_->worker_buffer_bytes.Add({{"worker", std::to_string(w)}})
            .Set(static_cast<double>(workers_[w]->bufferBytes()));
      }
    }
    run.collect_timer->enable(std::chrono::seconds(5));
  });
  run.collect_timer->enable(std::chrono::seconds(5));

  run.on_signal = [this, &run, &cfg](int sig) {
    if (sig == SIGHUP) {
      if (!run.draining) reload("SIGHUP");
      return;
    }
    if (sig == SIGUSR1) {
      // Log rotation: the writer reopens the file at the same path before its next line.
      if (run.access_log) {
        SY_LOG(Info, "SIGUSR1: reopening the access log %s", cfg.access_log.path.c_str());
        run.access_log->reopen();
      }
      return;
    }
    run.start_drain(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  };
  auto onSignal = [](evutil_socket_t sig, short, void* arg) noexcept {
    (*static_cast<std::function<void(int)>*>(arg))(static_cast<int>(sig));
  };
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    run.signals.emplace_back(evsignal_new(main.base(), sig, onSignal, &run.on_signal));
    event_add(run.signals.back().get(), nullptr);
  }
}

void Server::startRollback(Run& run) {
  const config::Config& cfg = *run.initial;
  // Rollback plans: their guards exist before the workers' routes point at them.
  if (!cfg.rollback || cfg.rollback->plans.empty()) return;
  run.control = std::make_unique<ServerControl>(*this, run.stats->downstream_requests);
  run.rollback = std::make_unique<rollback::RollbackManager>(*cfg.rollback, run.initial,
                                                             *run.control, time_, *registry_);
  rollback::RollbackManager* manager = run.rollback.get();
  if (run.clusters != nullptr) {
    run.clusters->setHealthListener([manager](const std::string& cluster,
                                              bool every_endpoint_unhealthy,
                                              const std::string& detail) {
      manager->onClusterHealth(cluster, every_endpoint_unhealthy, detail);
    });
  }
  run.observability.observers = [manager](const std::string& route,
                                          const std::string& version) -> router::RequestObserver* {
    rollback::Guard* guard = manager->guard(route);
    return guard != nullptr && guard->config().version == version ? guard : nullptr;
  };
}

void Server::startWorkers(Run& run) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Halt and weight overrides of the last run apply before the first request is routed.
    migration_file_ = migrationStateFile(*config_);
    loadMigrationStateLocked();
    run.rollout->prepare(*config_, stableVersions(*config_));
    active_ = activateConfig(config_, state_, run.clusters.get());
    for (uint32_t w = 0; w < run.workers; ++w) {
      workers_.push_back(std::make_unique<Worker>(w, active_, *run.stats, run.listeners, run.fds[w],
                                                  time_, overrides_, run.observability,
                                                  run.redis_stats.get()));
      run.fds[w].clear();  // the worker owns them now
    }
    publishWeights();
    publishCertificateExpiry();
  }
  if (run.rollback) {
    // A route rolled back before a restart is rolled back again before any request arrives.
    run.rollback->load();
    run.rollback->start();
    rollback_ = run.rollback.get();
  }
  // After the rollback state is loaded: a rollout whose route was rolled back ends at its first
  // evaluation.
  const config::ConfigConstSharedPtr cfg = currentConfig();
  run.rollout->configure(*cfg, stableVersions(*cfg));
  rollout_ = run.rollout.get();
  run.rollout_timer = run.main->createTimer([this, &run] {
    const common::MonotonicTime next = run.rollout->tick();
    run.rollout_timer->enable(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(common::Duration(0), next - time_.monotonicNow())));
  });
  run.rollout_timer->enable(std::chrono::milliseconds(0));
  startFleet(run);
}

void Server::startFleet(Run& run) {
  const config::Config& cfg = *run.initial;
  if (!cfg.redis || !cfg.fleet.enabled) return;
  rollback::RollbackManager* manager = run.rollback.get();
  FleetSync::Hooks hooks;
  if (manager != nullptr) {
    hooks.apply_route = [manager](const std::string& route, const json& state) {
      manager->applyFleetState(route, state);
    };
  }
  hooks.apply_migration = [this](const json& migration) { applyFleetMigration(migration); };
  run.fleet = std::make_unique<FleetSync>(cfg.fleet, *cfg.redis, std::move(hooks), *registry_);
  FleetSync* fleet = run.fleet.get();
  if (manager != nullptr) {
    manager->setFleet(
        [fleet](const std::string& route, const json& state) { fleet->publishRoute(route, state); },
        [fleet](const std::string& key) { return fleet->claimAlertKey(key); });
  }
  {
    // From here on this replica's changes are the fleet's; what it started with is not
    // published (the fleet's state, read first, wins over a restarted replica's file).
    std::lock_guard<std::mutex> lock(mutex_);
    fleet_ = fleet;
  }
  fleet->start();
}

void Server::startRollout(Run& run) {
  run.rollout_control = std::make_unique<ServerRolloutControl>(*this, overrides_);
  run.rollout_control->setManager(run.rollback.get());
  run.rollout = std::make_unique<rollback::RolloutController>(
      *run.rollout_control, time_, *registry_, rolloutStateFile(*run.initial));
  rollback::RolloutController* rollout = run.rollout.get();
  run.observability.cluster_observers =
      [rollout](const std::string& route, const std::string& version, const std::string& cluster) {
        return rollout->observer(route, version, cluster);
      };
}

admin::AdminResponse Server::rolloutAction(const admin::AdminRequest& request,
                                           rollback::RolloutController::Action action) {
  const json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return admin::problemResponse(400, "expected a JSON object, e.g. {\"route\": \"api\"}");
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "route" && key != "reason") {
      return admin::problemResponse(400, "unknown key \"" + key + "\"");
    }
    if (!value.is_string()) return admin::problemResponse(400, "\"" + key + "\" must be a string");
  }
  const std::string route = body.value("route", "");
  if (route.empty()) return admin::problemResponse(400, "\"route\" is required");
  const std::string reason = body.value("reason", "").substr(0, 500);
  const rollback::RolloutController::ActionResult r =
      rollout_->act(action, route, reason, caller(request));
  if (r.status != 200) {
    return r.status == 409 ? admin::problemResponse(409, "Conflict", r.error)
                           : admin::problemResponse(r.status, r.error);
  }
  return admin::jsonResponse(200, r.view);
}

void Server::registerAdmin(Run& run) {
  const config::Config& cfg = *run.initial;
  run.admin = std::make_unique<admin::AdminServer>(cfg.admin, time_);
  admin::AdminServer& admin = *run.admin;
  stats::ProxyStats& stats = *run.stats;
  if (run.rollback) rollback::registerRollbackAdmin(admin, *run.rollback);
  FleetSync* fleet = run.fleet.get();
  admin.addHandler("GET", "/fleet", admin::jsonHandler([fleet] {
                     return fleet != nullptr ? fleet->view() : json{{"enabled", false}};
                   }));
  std::vector<std::shared_ptr<prometheus::Collectable>> histograms = {stats.downstream_duration,
                                                                      stats.upstream_duration};
  if (run.redis_stats) histograms.push_back(run.redis_stats->command_duration);
  admin.addHandler("GET", "/metrics", admin::metricsHandler(registry_, std::move(histograms)));
  admin.addHandler("GET", "/healthz", admin::healthzHandler());
  stats::TrafficWindow* traffic = run.traffic.get();
  admin.addHandler("GET", "/traffic", admin::jsonHandler([this, traffic] {
                     return trafficView(traffic->query(time_.monotonicNow()));
                   }));
  admin::registerConsole(admin);
  admin.addHandler("GET", "/ready", admin::readyHandler([this] { return ready_.load(); }));
  admin.addHandler("GET", "/config",
                   admin::jsonHandler([this] { return source_.dump(*currentConfig()); }));
  admin.addHandler("GET", "/routes", admin::jsonHandler([this] {
                     // Read before mutex_: the controller is never called under it.
                     const std::map<std::string, std::string> rollouts = rollout_->states();
                     std::lock_guard<std::mutex> lock(mutex_);
                     return routesView(*config_, overrides_, &rollouts);
                   }));
  upstream::ClusterManager* cluster_manager = run.clusters.get();
  admin.addHandler("GET", "/clusters", admin::jsonHandler([this, &stats, cluster_manager] {
                     const std::map<std::string, json> views = cluster_manager->clusterViews();
                     return clustersView(*currentConfig(), stats, nullptr, &views);
                   }));
  const tracing::BatchSpanExporter* exporter = run.exporter.get();
  const rollback::RollbackManager* rollback = run.rollback.get();
  EndpointProber* prober = run.prober.get();
  admin.addHandler(
      "GET", "/health",
      [this, &stats, exporter, rollback, prober, cluster_manager](const admin::AdminRequest&) {
        const config::ConfigConstSharedPtr cfg = currentConfig();
        std::map<std::string, std::string> routes;
        if (rollback != nullptr) {
          // Kept in a variable: items() of a temporary would outlive it.
          const nlohmann::json state = rollback->stateJson();
          for (const auto& [route, st] : state["routes"].items()) {
            routes[route] = st["state"];
          }
        }
        HealthInputs::Redis redis_health;
        if (cfg->redis) {
          redis_health.address = cfg->redis->address.text;
          std::lock_guard<std::mutex> lock(mutex_);
          for (auto& w : workers_) {
            redis_health.workers.push_back(w->redisStatus().read());
          }
        }
        HealthInputs in{*cfg,
                        stats,
                        prober->results(),
                        exporter,
                        rollback != nullptr ? &routes : nullptr,
                        ready_.load(),
                        cfg->redis ? &redis_health : nullptr};
        const std::map<std::string, json> views = cluster_manager->clusterViews();
        in.clusters = &views;
        int status = 200;
        json body = healthView(in, status);
        return admin::jsonResponse(status, body);
      });
  admin.addHandler(
      "POST", "/routes/weights",
      [this](const admin::AdminRequest& req) {
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded()) return admin::problemResponse(400, "the body is not valid JSON");
        AdminResult r;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          r = setWeightsRequest(body, *config_, overrides_);
          if (r.status != 200) return admin::problemResponse(r.status, r.body.value("error", ""));
          publishWeights();
        }
        // A hand-set split is no longer the rollout's to move (outside mutex_: the controller
        // calls setWeights()).
        if (rollout_ != nullptr && body.value("route", json()).is_string()) {
          const json version = body.value("version", json(""));
          rollout_->onManualWeights(body["route"].get<std::string>(),
                                    version.is_string() ? version.get<std::string>() : "",
                                    caller(req));
        }
        return admin::jsonResponse(200, r.body);
      },
      true);
  admin.addHandler("GET", "/rollout", admin::jsonHandler([this] { return rollout_->view(); }));
  const std::pair<const char*, rollback::RolloutController::Action> rollout_actions[] = {
      {"/rollout/pause", rollback::RolloutController::Action::Pause},
      {"/rollout/resume", rollback::RolloutController::Action::Resume},
      {"/rollout/promote", rollback::RolloutController::Action::Promote},
      {"/rollout/abort", rollback::RolloutController::Action::Abort},
      {"/rollout/restart", rollback::RolloutController::Action::Restart}};
  for (const auto& entry : rollout_actions) {
    const rollback::RolloutController::Action action = entry.second;
    admin.addHandler(
        "POST", entry.first,
        [this, action](const admin::AdminRequest& req) { return rolloutAction(req, action); },
        true);
  }
  admin.addHandler("GET", "/migration", admin::jsonHandler([this] {
                     std::lock_guard<std::mutex> lock(mutex_);
                     return migrationView(*config_, halt_, overrides_);
                   }));
  admin.addHandler(
      "POST", "/migration/halt",
      [this](const admin::AdminRequest& req) { return haltMigration(req); }, true);
  admin.addHandler(
      "POST", "/migration/resume",
      [this](const admin::AdminRequest& req) { return resumeMigration(req); }, true);
  admin.addHandler(
      "POST", "/reload",
      [this](const admin::AdminRequest&) {
        ReloadResult r = reload("POST /reload");
        json out = {{"result", r.ok ? "success" : "failure"}};
        if (!r.ok) out["errors"] = r.errors;
        if (!r.dropped.empty()) out["dropped_weight_overrides"] = r.dropped;
        return admin::jsonResponse(r.ok ? 200 : 400, out);
      },
      true);
  registerFilterAdmin(run);
}

void Server::registerFilterAdmin(Run& run) {
  // A filter's endpoints live under "/<name>" for as long as the process runs; each call is
  // answered by the filter of the configuration in effect, or with 404 while it has none.
  for (const auto& [name, registration] : filters_.entries()) {
    for (const filters::AdminEndpoint& endpoint : registration.admin) {
      const std::string filter = name;
      run.admin->addHandler(
          endpoint.method, "/" + name + endpoint.path,
          [this, filter, endpoint](const admin::AdminRequest& request) {
            const ActiveConfigPtr active = currentActive();
            const config::Config& cfg = *active->config;
            for (size_t i = 0; i < cfg.filters.size(); ++i) {
              if (cfg.filters[i].name != filter) continue;
              std::vector<Worker*> workers;
              {
                std::lock_guard<std::mutex> lock(mutex_);
                for (auto& w : workers_) workers.push_back(w.get());
              }
              WorkerTasks tasks(std::move(workers), Worker::localKey(cfg, i));
              return cfg.filters[i].factory->handleAdmin(endpoint, request, tasks);
            }
            return admin::problemResponse(
                404, "the " + filter + " filter is not in the configuration in effect");
          },
          endpoint.mutating);
    }
  }
}

void Server::shutdown(Run& run) {
  if (run.admin) run.admin->stop();
  if (run.fleet) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fleet_ = nullptr;
    }
    if (run.rollback) run.rollback->setFleet({}, {});
    run.fleet->stop();
  }
  run.rollout_timer.reset();
  rollout_ = nullptr;
  if (run.rollback) {
    run.rollback->stop();
    rollback_ = nullptr;
  }
  for (auto& w : workers_) w->stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers_.clear();
    active_.reset();
  }
  run.prober.reset();
  // After the workers: their pools held the endpoint lists.
  run.clusters.reset();
  // What the workers handed over is still worth sending.
  if (run.exporter) run.exporter->shutdown(run.initial->tracing.export_timeout);
  if (run.access_log) run.access_log->shutdown();
  run.closeSockets();
  stats_ = nullptr;
}

}  // namespace switchyard::server
