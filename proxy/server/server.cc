#include "proxy/server/server.h"

#include <event2/event.h>
#include <prometheus/registry.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "config/loader.h"
#include "filters/circuit_breaker/circuit_breaker_filter.h"
#include "filters/retry/retry_filter.h"
#include "proxy/accesslog/writer.h"
#include "proxy/admin/admin_server.h"
#include "proxy/common/logging.h"
#include "proxy/common/uuid.h"
#include "proxy/rollback/admin_handlers.h"
#include "proxy/rollback/manager.h"
#include "proxy/server/worker.h"
#include "proxy/stats/stats.h"
#include "proxy/tracing/exporter.h"
#include "proxy/tracing/sampler.h"

namespace switchyard::server {

using nlohmann::json;

Server::Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
               const common::TimeSource& time, const filters::FilterRegistry& filters)
    : config_(std::move(config)), registry_(std::move(registry)), time_(time), filters_(filters) {}

Server::~Server() = default;

namespace {

struct SignalEvent {
  ::event* ev;
  ~SignalEvent() { event_free(ev); }
};

// What a reload cannot change without a restart: the sockets, the admin listener and the
// worker threads. Returns one message per part that changed.
std::vector<std::string> restartOnlyChanges(const config::Config& from, const config::Config& to) {
  std::vector<std::string> out;
  const json a = config::configToJson(from);
  const json b = config::configToJson(to);
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
  return out;
}

// Rollback plans act on traffic through the server.
class ServerControl final : public rollback::ProxyControl {
 public:
  explicit ServerControl(Server& server) : server_(server) {}
  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights) override {
    return server_.setWeights(route, version, weights);
  }
  std::string pinVersion(const std::string& route, const std::string& version) override {
    return server_.pinVersion(route, version);
  }
  std::string resume(const std::string& route) override { return server_.resumeRoute(route); }

 private:
  Server& server_;
};

// Whether a TCP connection to the endpoint opens within `timeout`: "" if it does, else why not.
// Runs on the admin thread, never on a worker.
std::string probeEndpoint(const config::SocketAddress& address, std::chrono::milliseconds timeout) {
  const int fd = event::Connection::connectTo(address.host, address.port);
  if (fd < 0) return strerror(errno);
  pollfd p{fd, POLLOUT, 0};
  const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
  int error = 0;
  socklen_t len = sizeof(error);
  if (ready == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  close(fd);
  if (ready == 0) return "connect timed out after " + std::to_string(timeout.count()) + "ms";
  if (ready < 0) return strerror(errno);
  return error == 0 ? "" : strerror(error);
}

admin::AdminResponse jsonResponse(int status, const json& body) {
  admin::AdminResponse r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

}  // namespace

config::ConfigConstSharedPtr Server::currentConfig() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config_;
}

Server::ReloadResult Server::reload(const char* trigger) {
  ReloadResult result = reloadLocked(trigger);
  // Outside the lock: the manager calls back into setWeights() and friends under its own.
  if (result.ok && rollback_ != nullptr) rollback_->setRoutes(currentConfig());
  return result;
}

Server::ReloadResult Server::reloadLocked(const char* trigger) {
  std::lock_guard<std::mutex> lock(mutex_);
  ReloadResult result;
  config::ConfigConstSharedPtr next;
  try {
    next = config::loadConfigFile(config_->source_file, {filters_, *registry_, time_});
    result.errors = restartOnlyChanges(*config_, *next);
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
  config_ = next;
  for (auto& w : workers_) w->installConfig(next);
  publishWeights();
  stats_->config_reloads.Add({{"result", "success"}}).Increment();
  SY_LOG(Info, "%s: configuration reloaded from %s", trigger, next->source_file.c_str());
  result.ok = true;
  return result;
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
}

std::string Server::setWeights(const std::string& route, const std::string& version,
                               const std::map<std::string, uint32_t>& weights) {
  std::lock_guard<std::mutex> lock(mutex_);
  router::WeightOverrides::Weights w(weights.begin(), weights.end());
  std::string error = router::validateOverride(*config_, route, version, w);
  if (!error.empty()) return error;
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

json Server::clustersJson() {
  const config::ConfigConstSharedPtr cfg = currentConfig();
  const filters::retry::RetryFilterFactory* retry = nullptr;
  const filters::circuit_breaker::CircuitBreakerFilterFactory* breaker = nullptr;
  for (const auto& f : cfg->filters) {
    if (retry == nullptr) {
      retry = dynamic_cast<const filters::retry::RetryFilterFactory*>(f.factory.get());
    }
    if (breaker == nullptr) {
      breaker = dynamic_cast<const filters::circuit_breaker::CircuitBreakerFilterFactory*>(
          f.factory.get());
    }
  }
  const json retries = retry != nullptr ? retry->clustersJson() : json::object();
  const json breakers = breaker != nullptr ? breaker->clustersJson() : json::object();
  json clusters = json::array();
  for (const auto& c : cfg->clusters) {
    json endpoints = json::array();
    for (const auto& e : c.endpoints) endpoints.push_back(e.text);
    const prometheus::Labels labels{{"cluster", c.name}};
    json out = {
        {"name", c.name},
        {"endpoints", std::move(endpoints)},
        {"connections",
         {{"open", stats_->upstream_connections.Add(labels).Value()},
          {"max_per_worker", c.max_connections},
          {"max_pending_per_worker", c.max_pending_requests}}},
        {"circuit_breaker", breakers.contains(c.name) ? breakers[c.name] : json(nullptr)},
        {"retry_budget", retries.contains(c.name) ? retries[c.name] : json(nullptr)},
    };
    clusters.push_back(std::move(out));
  }
  return {{"clusters", std::move(clusters)}};
}

json Server::healthJson(const tracing::BatchSpanExporter* exporter,
                        const rollback::RollbackManager* rollback, int& status) {
  const config::ConfigConstSharedPtr cfg = currentConfig();
  const json clusters_view = clustersJson()["clusters"];
  enum Level { Ok = 0, Degraded = 1, Down = 2 };
  Level overall = Ok;
  auto name = [](Level l) { return l == Ok ? "ok" : l == Degraded ? "degraded" : "down"; };
  json clusters = json::object();
  for (const auto& c : cfg->clusters) {
    json endpoints = json::array();
    size_t reachable = 0;
    for (const auto& e : c.endpoints) {
      const std::string error = probeEndpoint(e, std::chrono::milliseconds(250));
      reachable += error.empty();
      json ep = {{"address", e.text}, {"reachable", error.empty()}};
      if (!error.empty()) ep["error"] = error;
      endpoints.push_back(std::move(ep));
    }
    json breaker = nullptr;
    for (const auto& v : clusters_view) {
      if (v["name"] == c.name) breaker = v["circuit_breaker"];
    }
    const bool open = breaker.is_object() && breaker.value("state", "") == "open";
    Level level = reachable == 0 ? Down : (reachable < c.endpoints.size() || open) ? Degraded : Ok;
    overall = std::max(overall, level);
    clusters[c.name] = {
        {"status", name(level)},
        {"endpoints", std::move(endpoints)},
        {"circuit_breaker", breaker.is_object() ? breaker["state"] : json(nullptr)}};
  }
  json components = {{"clusters", std::move(clusters)}};
  if (exporter != nullptr) {
    const auto s = exporter->status();
    json t = s.toJson();
    t["status"] = s.healthy ? "ok" : "degraded";
    if (!s.healthy) overall = std::max(overall, Degraded);
    components["trace_exporter"] = std::move(t);
  } else {
    components["trace_exporter"] = {{"status", "disabled"}};
  }
  if (rollback != nullptr) {
    json routes = rollback->stateJson()["routes"];
    json r = json::object();
    bool rolled_back = false;
    for (const auto& [route, st] : routes.items()) {
      r[route] = st["state"];
      rolled_back = rolled_back || st["state"] != "active";
    }
    // A rolled-back route works (on its old version), but someone should look at it.
    if (rolled_back) overall = std::max(overall, Degraded);
    components["rollback"] = {{"status", rolled_back ? "degraded" : "ok"}, {"routes", r}};
  } else {
    components["rollback"] = {{"status", "disabled"}};
  }
  components["redis"] = {{"status", "not_configured"}};
  status = overall == Down ? 503 : 200;
  return {
      {"status", name(overall)}, {"ready", ready_.load()}, {"components", std::move(components)}};
}

json Server::routesJson() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto targetJson = [&](const std::string& route, const std::string& version,
                        const config::TargetConfig& target) {
    auto override_weights = overrides_.get(route, version);
    const auto weights =
        router::effectiveWeights(target, override_weights ? &*override_weights : nullptr);
    json split = json::array();
    for (size_t i = 0; i < target.split.size(); ++i) {
      split.push_back({{"cluster", target.split[i].cluster},
                       {"configured_weight", target.split[i].weight},
                       {"weight", weights[i]}});
    }
    json out = {{"split", std::move(split)}, {"overridden", override_weights.has_value()}};
    out["sticky"] = target.sticky_header.empty() ? "client address" : target.sticky_header;
    return out;
  };
  json routes = json::array();
  for (const auto& r : config_->routes) {
    json route = {{"name", r.name}, {"prefix", r.prefix}};
    if (r.versions.empty()) {
      route.update(targetJson(r.name, "", r.target));
    } else {
      route["default_version"] = r.default_version;
      auto pin = overrides_.pinned(r.name);
      route["pinned_version"] = pin ? json(*pin) : json(nullptr);
      json versions = json::object();
      for (const auto& v : r.versions) {
        json version = targetJson(r.name, v.name, v.target);
        version["deprecated"] = v.deprecated != nullptr || r.deprecated != nullptr;
        versions[v.name] = std::move(version);
      }
      route["versions"] = std::move(versions);
    }
    route["deprecated"] = r.deprecated != nullptr;
    routes.push_back(std::move(route));
  }
  return {{"routes", std::move(routes)}};
}

// {"route": "api", "version": "v2", "weights": {"modern": 20, "legacy": 80}} sets an override;
// "weights": null clears it (back to the configured split).
json Server::setWeightsFromAdmin(const json& body, int& status) {
  status = 400;
  if (!body.is_object()) return {{"error", "expected a JSON object"}};
  for (const auto& [key, value] : body.items()) {
    if (key != "route" && key != "version" && key != "weights") {
      return {{"error", "unknown key \"" + key + "\" (expected route, version, weights)"}};
    }
  }
  if (!body.contains("route") || !body["route"].is_string()) {
    return {{"error", "\"route\" (a string) is required"}};
  }
  const std::string route = body["route"];
  std::string version;
  if (body.contains("version")) {
    if (!body["version"].is_string()) return {{"error", "\"version\" must be a string"}};
    version = body["version"];
  }
  if (!body.contains("weights")) {
    return {{"error", "\"weights\" is required: an object of cluster: weight, or null"}};
  }
  const json& weights = body["weights"];
  std::lock_guard<std::mutex> lock(mutex_);
  if (weights.is_null()) {
    std::string error = router::validateOverride(*config_, route, version, {});
    if (!error.empty() && error.find("add up to 0") == std::string::npos) {
      status = 404;
      return {{"error", error}};
    }
    const bool cleared = overrides_.clear(route, version);
    publishWeights();
    SY_LOG(Info, "admin: weights of route %s%s%s reset to the configuration", route.c_str(),
           version.empty() ? "" : " version ", version.c_str());
    status = 200;
    return {{"route", route}, {"version", version}, {"cleared", cleared}};
  }
  if (!weights.is_object() || weights.empty()) {
    return {{"error", "\"weights\" must be an object of cluster: weight, or null"}};
  }
  router::WeightOverrides::Weights parsed;
  for (const auto& [cluster, w] : weights.items()) {
    if (!w.is_number_unsigned() || w.get<uint64_t>() > 1'000'000) {
      return {{"error", "weight of \"" + cluster + "\" must be an integer from 0 to 1000000"}};
    }
    parsed[cluster] = w.get<uint32_t>();
  }
  std::string error = router::validateOverride(*config_, route, version, parsed);
  if (!error.empty()) {
    status = error.find("does not exist") != std::string::npos ? 404 : 400;
    return {{"error", error}};
  }
  overrides_.set(route, version, parsed);
  publishWeights();
  std::string text;
  for (const auto& [cluster, w] : parsed) {
    text += (text.empty() ? "" : ", ") + cluster + "=" + std::to_string(w);
  }
  SY_LOG(Info, "admin: weights of route %s%s%s set to %s", route.c_str(),
         version.empty() ? "" : " version ", version.c_str(), text.c_str());
  status = 200;
  return {{"route", route}, {"version", version}, {"weights", weights}};
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  stats::ProxyStats stats(*registry_);
  stats_ = &stats;
  // The listeners keep pointing into the configuration they started with (a reload cannot
  // change them), so it stays alive until the end.
  const config::ConfigConstSharedPtr initial = config_;
  const config::Config& cfg = *initial;
  uint32_t workers = cfg.workers;
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());

  std::vector<std::unique_ptr<ListenerShared>> listeners;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    const prometheus::Labels labels{{"listener", l.name}};
    listeners.push_back(std::unique_ptr<ListenerShared>(new ListenerShared{
        i, l, stats.active_connections.Add(labels), stats.downstream_connections.Add(labels),
        stats.downstream_connections_rejected.Add(labels)}));
  }

  // Every socket is bound before anything starts, so a taken port fails the start cleanly.
  std::vector<std::vector<int>> fds(workers);
  auto closeAll = [&fds] {
    for (auto& v : fds) {
      for (int fd : v) close(fd);
    }
  };
  try {
    for (uint32_t w = 0; w < workers; ++w) {
      for (const auto& l : cfg.listeners) fds[w].push_back(openListenSocket(l.address));
    }
  } catch (const std::exception& e) {
    SY_LOG(Error, "%s", e.what());
    closeAll();
    return 1;
  }

  // Tracing and the access log live as long as the workers that feed them.
  Observability observability;
  std::unique_ptr<tracing::Sampler> sampler;
  std::unique_ptr<tracing::BatchSpanExporter> exporter;
  std::unique_ptr<accesslog::AccessLogWriter> access_log;
  if (cfg.tracing.enabled) {
    sampler = std::make_unique<tracing::Sampler>(cfg.tracing.sampling_ratio);
    common::RealRandom random;
    tracing::ResourceInfo resource{cfg.tracing.service_name, common::uuidV4(random),
                                   SWITCHYARD_VERSION};
    exporter = std::make_unique<tracing::BatchSpanExporter>(cfg.tracing, std::move(resource),
                                                            *registry_, time_);
    observability.sampler = sampler.get();
    observability.exporter = exporter.get();
  }
  if (cfg.access_log.enabled) {
    std::string error;
    access_log = accesslog::AccessLogWriter::open(cfg.access_log, *registry_, error);
    if (!access_log) {
      SY_LOG(Error, "access_log: %s", error.c_str());
      closeAll();
      return 1;
    }
    observability.access_log = access_log.get();
  }

  // Signals are handled before anything listens, so a SIGTERM right after start drains too.
  event::LibeventDispatcher main(time_);
  bool draining = false;
  common::MonotonicTime drain_deadline{};
  event::TimerPtr drain_timer;
  drain_timer = main.createTimer([&] {
    uint32_t open = 0;
    for (auto& w : workers_) open += w->activeConnections();
    if (open == 0 || time_.monotonicNow() >= drain_deadline) {
      if (open > 0) SY_LOG(Warn, "drain timeout: closing %u connections", open);
      main.exit();
      return;
    }
    drain_timer->enable(std::chrono::milliseconds(20));
  });
  auto startDrain = [&](const char* why) {
    if (draining) return;
    draining = true;
    ready_ = false;
    SY_LOG(Info, "%s: draining (up to %lldms)", why,
           static_cast<long long>(cfg.drain_timeout.count()));
    drain_deadline = time_.monotonicNow() + cfg.drain_timeout;
    for (auto& w : workers_) w->drain();
    drain_timer->enable(std::chrono::milliseconds(20));
  };

  struct Ctx {
    std::function<void(int)> fn;
  } ctx{[&](int sig) {
    if (sig == SIGHUP) {
      if (!draining) reload("SIGHUP");
      return;
    }
    if (sig == SIGUSR1) {
      // Log rotation: the writer reopens the file at the same path before its next line.
      if (access_log) {
        SY_LOG(Info, "SIGUSR1: reopening the access log %s", cfg.access_log.path.c_str());
        access_log->reopen();
      }
      return;
    }
    startDrain(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  }};
  auto onSignal = [](evutil_socket_t sig, short, void* arg) noexcept {
    static_cast<Ctx*>(arg)->fn(static_cast<int>(sig));
  };
  SignalEvent term{evsignal_new(main.base(), SIGTERM, onSignal, &ctx)};
  SignalEvent intr{evsignal_new(main.base(), SIGINT, onSignal, &ctx)};
  SignalEvent hup{evsignal_new(main.base(), SIGHUP, onSignal, &ctx)};
  SignalEvent usr1{evsignal_new(main.base(), SIGUSR1, onSignal, &ctx)};
  event_add(term.ev, nullptr);
  event_add(intr.ev, nullptr);
  event_add(hup.ev, nullptr);
  event_add(usr1.ev, nullptr);

  // Rollback plans: their guards exist before the workers' routes point at them.
  ServerControl control(*this);
  std::unique_ptr<rollback::RollbackManager> rollback;
  if (cfg.rollback && !cfg.rollback->plans.empty()) {
    rollback = std::make_unique<rollback::RollbackManager>(*cfg.rollback, initial, control, time_,
                                                           *registry_);
    rollback::RollbackManager* manager = rollback.get();
    observability.guards = [manager](const std::string& route) { return manager->guard(route); };
  }

  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint32_t w = 0; w < workers; ++w) {
      workers_.push_back(std::make_unique<Worker>(w, config_, stats, listeners, fds[w], time_,
                                                  overrides_, observability));
    }
    publishWeights();
  }

  if (rollback) {
    // A route rolled back before a restart is rolled back again before any request arrives.
    rollback->load();
    rollback->start();
    rollback_ = rollback.get();
  }

  admin::AdminServer admin(cfg.admin, time_);
  if (rollback) rollback::registerRollbackAdmin(admin, *rollback);
  admin.addHandler(
      "GET", "/metrics",
      admin::metricsHandler(registry_, {stats.downstream_duration, stats.upstream_duration}));
  admin.addHandler("GET", "/healthz", admin::healthzHandler());
  admin.addHandler("GET", "/ready", admin::readyHandler([this] { return ready_.load(); }));
  admin.addHandler("GET", "/config",
                   admin::jsonHandler([this] { return config::configToJson(*currentConfig()); }));
  admin.addHandler("GET", "/routes", admin::jsonHandler([this] { return routesJson(); }));
  admin.addHandler("GET", "/clusters", admin::jsonHandler([this] { return clustersJson(); }));
  {
    const tracing::BatchSpanExporter* exp = exporter.get();
    const rollback::RollbackManager* rb = rollback.get();
    admin.addHandler("GET", "/health", [this, exp, rb](const admin::AdminRequest&) {
      int status = 200;
      json body = healthJson(exp, rb, status);
      return jsonResponse(status, body);
    });
  }
  admin.addHandler(
      "POST", "/routes/weights",
      [this](const admin::AdminRequest& req) {
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded()) {
          return admin::problemResponse(400, "Bad Request", "the body is not valid JSON");
        }
        int status = 200;
        json out = setWeightsFromAdmin(body, status);
        if (status != 200) {
          return admin::problemResponse(status, http::reasonPhrase(status),
                                        out.value("error", std::string()));
        }
        return jsonResponse(200, out);
      },
      true);
  admin.addHandler(
      "POST", "/reload",
      [this](const admin::AdminRequest&) {
        ReloadResult r = reload("POST /reload");
        json out = {{"result", r.ok ? "success" : "failure"}};
        if (!r.ok) out["errors"] = r.errors;
        if (!r.dropped.empty()) out["dropped_weight_overrides"] = r.dropped;
        return jsonResponse(r.ok ? 200 : 400, out);
      },
      true);
  try {
    admin.start();
  } catch (const std::exception& e) {
    SY_LOG(Error, "admin listener: %s", e.what());
    closeAll();
    return 1;
  }

  for (auto& w : workers_) w->start();
  ready_ = true;
  for (const auto& l : cfg.listeners) {
    SY_LOG(Info, "listening on %s (%s) with %u workers; admin on %s", l.address.text.c_str(),
           l.name.c_str(), workers, cfg.admin.address.text.c_str());
  }

  main.run();

  admin.stop();
  if (rollback) {
    rollback->stop();
    rollback_ = nullptr;
  }
  for (auto& w : workers_) w->stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers_.clear();
  }
  // What the workers handed over is still worth sending.
  if (exporter) exporter->shutdown(cfg.tracing.export_timeout);
  if (access_log) access_log->shutdown();
  stats_ = nullptr;
  SY_LOG(Info, "stopped");
  return 0;
}

}  // namespace switchyard::server
