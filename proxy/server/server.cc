#include "proxy/server/server.h"

#include <event2/event.h>
#include <prometheus/registry.h>

#include <csignal>
#include <thread>

#include "config/loader.h"
#include "proxy/admin/admin_server.h"
#include "proxy/common/logging.h"
#include "proxy/server/worker.h"
#include "proxy/stats/stats.h"

namespace switchyard::server {

Server::Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
               const common::TimeSource& time)
    : config_(std::move(config)), registry_(std::move(registry)), time_(time) {}

Server::~Server() = default;

namespace {

struct SignalEvent {
  ::event* ev;
  ~SignalEvent() { event_free(ev); }
};

}  // namespace

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  stats::ProxyStats stats(*registry_);
  const config::Config& cfg = *config_;
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

  // Signals are handled before anything listens, so a SIGTERM right after start drains too.
  std::vector<std::unique_ptr<Worker>> pool;
  event::LibeventDispatcher main(time_);
  bool draining = false;
  common::MonotonicTime drain_deadline{};
  event::TimerPtr drain_timer;
  drain_timer = main.createTimer([&] {
    uint32_t open = 0;
    for (auto& w : pool) open += w->activeConnections();
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
    for (auto& w : pool) w->drain();
    drain_timer->enable(std::chrono::milliseconds(20));
  };

  struct Ctx {
    std::function<void(int)> fn;
  } ctx{[&](int sig) {
    if (sig == SIGHUP) {
      SY_LOG(Warn, "SIGHUP: configuration reload is not supported by this build");
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
  event_add(term.ev, nullptr);
  event_add(intr.ev, nullptr);
  event_add(hup.ev, nullptr);

  admin::AdminServer admin(cfg.admin, time_);
  admin.addHandler("GET", "/metrics", admin::metricsHandler(registry_));
  admin.addHandler("GET", "/healthz", admin::healthzHandler());
  admin.addHandler("GET", "/ready", admin::readyHandler([this] { return ready_.load(); }));
  config::ConfigConstSharedPtr snapshot = config_;
  admin.addHandler("GET", "/config",
                   admin::jsonHandler([snapshot] { return config::configToJson(*snapshot); }));
  try {
    admin.start();
  } catch (const std::exception& e) {
    SY_LOG(Error, "admin listener: %s", e.what());
    closeAll();
    return 1;
  }

  for (uint32_t w = 0; w < workers; ++w) {
    pool.push_back(std::make_unique<Worker>(w, config_, stats, listeners, fds[w], time_));
  }
  for (auto& w : pool) w->start();
  ready_ = true;
  for (const auto& l : cfg.listeners) {
    SY_LOG(Info, "listening on %s (%s) with %u workers; admin on %s", l.address.text.c_str(),
           l.name.c_str(), workers, cfg.admin.address.text.c_str());
  }

  main.run();

  for (auto& w : pool) w->stop();
  pool.clear();
  admin.stop();
  SY_LOG(Info, "stopped");
  return 0;
}

}  // namespace switchyard::server
