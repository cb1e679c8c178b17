#include "proxy/server/endpoint_prober.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/event/connection.h"

namespace switchyard::server {

EndpointProber::EndpointProber(Clusters clusters, std::chrono::milliseconds interval,
                               std::chrono::milliseconds timeout, const common::TimeSource& time)
    : interval_(interval), timeout_(timeout), time_(time), clusters_(std::move(clusters)) {
  thread_ = std::thread([this] { loop(); });
}

EndpointProber::~EndpointProber() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void EndpointProber::setClusters(Clusters clusters) {
  {
    std::lock_guard lock(mutex_);
    clusters_ = std::move(clusters);
    changed_ = true;
  }
  wake_.notify_all();
}

std::map<std::string, std::vector<EndpointProber::Result>> EndpointProber::results() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::vector<Result>> out;
  for (const auto& [cluster, endpoints] : clusters_) {
    auto probed = results_.find(cluster);
    std::vector<Result>& row = out[cluster];
    for (const common::SocketAddress& e : endpoints) {
      Result r{e.text, std::nullopt, ""};
      if (probed != results_.end()) {
        for (const Result& p : probed->second) {
          if (p.address == e.text) r = p;
        }
      }
      row.push_back(std::move(r));
    }
  }
  return out;
}

uint64_t EndpointProber::waitForRounds(uint64_t rounds, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, timeout, [&] { return rounds_ >= rounds || stopping_; });
  return rounds_;
}

void EndpointProber::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    Clusters clusters = clusters_;
    changed_ = false;
    lock.unlock();
    auto results = probe(clusters);
    lock.lock();
    results_ = std::move(results);
    ++rounds_;
    wake_.notify_all();
    wake_.wait_for(lock, interval_, [this] { return stopping_ || changed_; });
  }
}

std::map<std::string, std::vector<EndpointProber::Result>> EndpointProber::probe(
    const Clusters& clusters) const {
  struct Probe {
    std::string cluster;
    Result result;
    int fd = -1;
  };
  std::vector<Probe> probes;
  for (const auto& [cluster, endpoints] : clusters) {
    for (const common::SocketAddress& e : endpoints) {
      Probe p{cluster, {e.text, std::nullopt, ""}, event::Connection::connectTo(e.host, e.port)};
      if (p.fd < 0) p.result = {e.text, false, strerror(errno)};
      probes.push_back(std::move(p));
    }
  }
  // Every connect of the round is in flight at once; wait for them together.
  const common::MonotonicTime deadline = time_.monotonicNow() + timeout_;
  while (true) {
    std::vector<pollfd> fds;
    std::vector<Probe*> waiting;
    for (Probe& p : probes) {
      if (p.fd < 0) continue;
      fds.push_back({p.fd, POLLOUT, 0});
      waiting.push_back(&p);
    }
    if (fds.empty()) break;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - time_.monotonicNow()).count();
    const int ready = left > 0 ? poll(fds.data(), fds.size(), static_cast<int>(left)) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      for (Probe* p : waiting) {
        p->result.reachable = false;
        p->result.error = "connect timed out after " + std::to_string(timeout_.count()) + "ms";
        ::close(p->fd);
        p->fd = -1;
      }
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Probe& p = *waiting[i];
      int error = 0;
      socklen_t len = sizeof(error);
      getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &error, &len);
      p.result.reachable = error == 0;
      if (error != 0) p.result.error = strerror(error);
      ::close(p.fd);
      p.fd = -1;
    }
  }
  std::map<std::string, std::vector<Result>> out;
  for (Probe& p : probes) out[p.cluster].push_back(std::move(p.result));
  return out;
}

}  // namespace switchyard::server
