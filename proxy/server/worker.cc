#include "proxy/server/worker.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "proxy/common/logging.h"
#include "proxy/event/libevent.h"
#include "proxy/server/http_connection_manager.h"
#include "proxy/upstream/conn_pool_impl.h"

namespace switchyard::server {

struct Worker::Listener {
  Worker* worker;
  ListenerShared* shared;
  int fd;
  event::EventPtr ev;
};

int openListenSocket(const config::SocketAddress& address) {
  event::SocketAddr addr;
  if (!event::toSocketAddr(address.host, address.port, addr)) {
    throw std::runtime_error("cannot listen on " + address.text + ": not a numeric address");
  }
  const int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, addr.get(), addr.length) != 0 || listen(fd, 4096) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on " + address.text + ": " + strerror(err));
  }
  return fd;
}

Worker::Worker(uint32_t index, ActiveConfigPtr config, stats::ProxyStats& stats,
               std::vector<std::unique_ptr<ListenerShared>>& listeners, std::vector<int> listen_fds,
               const common::TimeSource& time, const router::WeightOverrides& overrides,
               const Observability& observability, redis::RedisStats* redis_stats)
    : index_(index),
      stats_(stats),
      overrides_(overrides),
      observability_(observability),
      dispatcher_(time),
      redis_stats_(redis_stats),
      initial_(std::move(config)),
      router_ctx_{time},
      filter_ctx_{dispatcher_, random_, time, index, nullptr, nullptr},
      idle_(dispatcher_, active_,
            [this](ListenerShared& l, int fd, std::string peer, uint32_t requests) {
              wakeConnection(l, fd, std::move(peer), requests);
            }) {
  filter_ctx_.upstream_pool =
      [this](std::string_view cluster) -> std::shared_ptr<upstream::ConnPool> {
    if (!snapshot_) return nullptr;
    const auto& clusters = snapshot_->config->clusters;
    for (size_t i = 0; i < clusters.size(); ++i) {
      if (clusters[i].name == cluster) return snapshot_->pools[i];
    }
    return nullptr;
  };
  unmatched_stats_ = routeStats("unmatched", "");
  if (initial_->config->redis && redis_stats_ != nullptr) {
    redis_status_.setState(redis::ClientState::Connecting);
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    auto l = std::make_unique<Listener>();
    l->worker = this;
    l->shared = listeners[i].get();
    l->fd = listen_fds[i];
    l->ev.reset(
        event_new(dispatcher_.base(), l->fd, EV_READ | EV_PERSIST, &Worker::onAccept, l.get()));
    event_add(l->ev.get(), nullptr);
    listeners_.push_back(std::move(l));
    rejected_.push_back(std::make_unique<stats::CodeCounters>(
        stats_.downstream_rejected, prometheus::Labels{{"listener", listeners[i]->config.name}}));
  }
}

Worker::~Worker() {
  stop();
  for (auto& l : listeners_) {
    l->ev.reset();
    if (l->fd >= 0) ::close(l->fd);
  }
  // Connections the drain did not end (it timed out) go now, with the configurations and filter
  // objects their streams still hold.
  connections_.clear();
  snapshot_.reset();
  locals_.clear();
}

std::string Worker::localKey(const config::Config& config, size_t position) {
  const std::string& name = config.filters[position].name;
  size_t before = 0;
  for (size_t i = 0; i < position; ++i) before += config.filters[i].name == name;
  return name + "#" + std::to_string(before);
}

stats::RouteStats* Worker::routeStats(const std::string& route, const std::string& version) {
  auto& slot = route_stats_[route + "\n" + version];
  if (!slot) slot = std::make_unique<stats::RouteStats>(stats_, route, version);
  return slot.get();
}

WorkerSnapshotPtr Worker::buildSnapshot(ActiveConfigPtr active) {
  auto snap = std::make_shared<WorkerSnapshot>();
  snap->active = std::move(active);
  snap->config = snap->active->config;
  const auto& endpoint_lists = snap->active->endpoints;
  for (size_t i = 0; i < snap->config->clusters.size(); ++i) {
    const config::ClusterConfig& c = snap->config->clusters[i];
    const std::shared_ptr<upstream::ClusterEndpoints> endpoints =
        i < endpoint_lists.size() ? endpoint_lists[i] : nullptr;
    std::shared_ptr<upstream::ConnPool> pool;
    if (snapshot_) {
      for (const auto& old : snapshot_->pools) {
        if (old->config() == c && (endpoints == nullptr || old->endpoints() == endpoints)) {
          pool = old;
        }
      }
    }
    if (!pool) {
      auto& stats = cluster_stats_[c.name];
      if (!stats) stats = std::make_unique<stats::ClusterStats>(stats_, c.name);
      pool =
          std::make_shared<upstream::ConnPoolImpl>(dispatcher_, connector_, c, *stats, endpoints);
    }
    snap->pools.push_back(std::move(pool));
  }
  const config::Config& cfg = *snap->config;
  // The filters' objects on this worker: kept from the previous configuration where the filter
  // wants them (same chain entry), made anew otherwise; the ones no entry claims go when the last
  // snapshot holding them does.
  std::map<std::string, filters::WorkerLocalPtr> locals;
  for (size_t i = 0; i < cfg.filters.size(); ++i) {
    const std::string key = localKey(cfg, i);
    auto previous = locals_.find(key);
    filters::WorkerLocalPtr local = cfg.filters[i].factory->workerLocal(
        filter_ctx_, previous != locals_.end() ? previous->second : nullptr);
    snap->locals.push_back(local);
    if (local) locals[key] = std::move(local);
  }
  locals_ = std::move(locals);
  for (size_t i = 0; i < cfg.filters.size(); ++i) {
    if (cfg.filters[i].stream_filter) {
      snap->stream_filters.push_back({cfg.filters[i].factory.get(), snap->locals[i].get()});
    }
  }
  auto findPool = [&](const std::string& name) -> upstream::ConnPool* {
    for (size_t i = 0; i < cfg.clusters.size(); ++i) {
      if (cfg.clusters[i].name == name) return snap->pools[i].get();
    }
    return nullptr;
  };
  const ActiveConfig& active_config = *snap->active;
  snap->routes = std::make_unique<router::RouteTable>(
      cfg, findPool,
      [&active_config](const std::string& route, const std::string& version,
                       const std::string& cluster) {
        return active_config.policy(route, version, cluster);
      },
      [this](const std::string& route, const std::string& version) {
        return routeStats(route, version);
      },
      observability_.observers, observability_.cluster_observers);
  snap->routes->applyWeights(overrides_);
  return snap;
}

void Worker::installConfig(ActiveConfigPtr config) {
  dispatcher_.post([this, config = std::move(config)]() mutable {
    WorkerSnapshotPtr next = buildSnapshot(std::move(config));
    WorkerSnapshotPtr previous = std::move(snapshot_);
    snapshot_ = std::move(next);
    // Idle connections of pools the new snapshot does not use are of no further use; busy ones
    // finish their request under the old snapshot.
    for (const auto& pool : previous->pools) {
      bool kept = false;
      for (const auto& p : snapshot_->pools) kept = kept || p == pool;
      if (!kept) pool->closeIdle();
    }
  });
}

void Worker::postToLocal(const std::string& key, std::function<void(filters::WorkerLocal*)> fn) {
  dispatcher_.post([this, key, fn = std::move(fn)] {
    auto it = locals_.find(key);
    fn(it != locals_.end() ? it->second.get() : nullptr);
  });
}

void Worker::start() {
  thread_ = std::thread([this] {
    memory_counter_ = event::threadEventCounter();
    // Before the first snapshot: the filters' worker-local objects may use it.
    const std::optional<redis::RedisConfig>& redis_config = initial_->config->redis;
    if (redis_config && redis_stats_ != nullptr) {
      redis_ = std::make_unique<redis::Client>(dispatcher_, random_, *redis_config, *redis_stats_,
                                               redis_status_, index_);
      filter_ctx_.redis = redis_.get();
    }
    snapshot_ = buildSnapshot(std::move(initial_));
    dispatcher_.run();
  });
}

void Worker::drain() {
  dispatcher_.post([this] { doDrain(); });
}

void Worker::doDrain() {
  draining_ = true;
  for (auto& l : listeners_) {
    l->ev.reset();
    if (l->fd >= 0) {
      ::close(l->fd);
      l->fd = -1;
    }
  }
  // startDrain() may remove the connection from the list: walk a copy of the pointers.
  std::vector<HttpConnectionManager*> conns;
  for (auto& c : connections_) conns.push_back(c.get());
  for (auto* c : conns) c->startDrain();
  idle_.closeAll();
  if (snapshot_) {
    for (auto& p : snapshot_->pools) p->closeIdle();
  }
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  dispatcher_.post([this] {
    // The worker's own hold on its configuration and filter objects ends on its thread; streams
    // still open (a drain that timed out) keep theirs until the destructor closes them.
    snapshot_.reset();
    locals_.clear();
    idle_.closeAll();
    // Streams still waiting for Redis hear Disconnected now, while the loop still runs.
    filter_ctx_.redis = nullptr;
    redis_.reset();
    dispatcher_.exit();
  });
  thread_.join();
}

void Worker::onAccept(int, short, void* arg) noexcept {
  auto* l = static_cast<Listener*>(arg);
  l->worker->acceptOn(*l);
}

void Worker::acceptOn(Listener& l) {
  // A bounded batch per wakeup keeps one busy listener from starving the loop.
  for (int i = 0; i < 64 && l.fd >= 0; ++i) {
    const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        SY_LOG(Warn, "accept on %s: %s", l.shared->config.address.text.c_str(), strerror(errno));
      }
      return;
    }
    ListenerShared& shared = *l.shared;
    const bool over_listener =
        shared.connections.fetch_add(1, std::memory_order_relaxed) >= shared.config.max_connections;
    const bool over_total = shared.all_connections.fetch_add(1, std::memory_order_relaxed) >=
                            shared.overload.max_connections;
    if (over_listener || over_total) {
      // A fair share for newcomers: slow or idle connections cannot hold every place.
      if (evictWaiting(over_listener ? &shared : nullptr)) {
        shared.evicted.Increment();
      } else {
        shared.connections.fetch_sub(1, std::memory_order_relaxed);
        shared.all_connections.fetch_sub(1, std::memory_order_relaxed);
        shared.rejected_limit.Increment();
        ::close(fd);
        continue;
      }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l.shared->accepted.Increment();
    active_.fetch_add(1, std::memory_order_relaxed);
    connections_.push_front(std::make_unique<HttpConnectionManager>(*this, *l.shared, fd));
    connections_.front()->self_ = connections_.begin();
  }
}

void Worker::parkConnection(HttpConnectionManager& conn, ListenerShared& listener, int fd,
                            std::string peer, uint32_t requests,
                            std::chrono::milliseconds idle_for) {
  idle_.park(listener, fd, std::move(peer), requests, idle_for);
  std::unique_ptr<HttpConnectionManager> owned = std::move(*conn.self_);
  connections_.erase(conn.self_);
  dispatcher_.deferredDelete(std::move(owned));
}

void Worker::wakeConnection(ListenerShared& listener, int fd, std::string peer, uint32_t requests) {
  connections_.push_front(
      std::make_unique<HttpConnectionManager>(*this, listener, fd, std::move(peer), requests));
  connections_.front()->self_ = connections_.begin();
}

bool Worker::evictWaiting(const ListenerShared* listener) {
  if (idle_.closeOldest(listener)) return true;
  // The oldest connections are at the back. A bounded look: past it, the worker's old
  // connections are all busy, and the newcomer is refused instead.
  int looked = 0;
  for (auto it = connections_.rbegin(); it != connections_.rend() && looked < 64; ++it, ++looked) {
    HttpConnectionManager& c = **it;
    if ((listener == nullptr || &c.listener() == listener) && c.waitingForRequest()) {
      c.evict();
      return true;
    }
  }
  return false;
}

void Worker::removeConnection(HttpConnectionManager& conn) {
  std::unique_ptr<HttpConnectionManager> owned = std::move(*conn.self_);
  connections_.erase(conn.self_);
  active_.fetch_sub(1, std::memory_order_relaxed);
  dispatcher_.deferredDelete(std::move(owned));
}

}  // namespace switchyard::server
