#pragma once

// Whether each configured endpoint accepts a TCP connection, checked on the prober's own thread
// every `interval` with non-blocking connects (at most `timeout` each, all of a round at once),
// so that GET /health answers from the last round and never waits on a socket. Active health
// checks with HTTP probes and ejection from load balancing are the upstream layer's job; this is
// the admin page's reachability column.
//
// Threads: the constructor and the destructor on the owner's thread; setClusters(), results()
// and waitForFirstRound() from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/socket_address.h"
#include "proxy/common/time.h"

namespace switchyard::server {

class EndpointProber {
 public:
  struct Result {
    std::string address;            // as configured
    std::optional<bool> reachable;  // nullopt: not probed yet
    std::string error;              // why not, when unreachable
  };
  using Clusters = std::map<std::string, std::vector<common::SocketAddress>>;

  EndpointProber(Clusters clusters, std::chrono::milliseconds interval,
                 std::chrono::milliseconds timeout, const common::TimeSource& time);
  ~EndpointProber();
  EndpointProber(const EndpointProber&) = delete;
  EndpointProber& operator=(const EndpointProber&) = delete;

  // The clusters of a new configuration; probed at once.
  void setClusters(Clusters clusters);
  // Each cluster's endpoints as last probed, in configuration order.
  std::map<std::string, std::vector<Result>> results() const;
  // Waits until `rounds` rounds have finished (the first starts at construction, the next on
  // setClusters() or every `interval`), at most `timeout`. Returns the rounds finished.
  uint64_t waitForRounds(uint64_t rounds, std::chrono::milliseconds timeout);

 private:
  void loop();
  std::map<std::string, std::vector<Result>> probe(const Clusters& clusters) const;

  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
  const common::TimeSource& time_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Clusters clusters_;
  bool changed_ = true;
  bool stopping_ = false;
  uint64_t rounds_ = 0;
  std::map<std::string, std::vector<Result>> results_;
  std::thread thread_;
};

}  // namespace switchyard::server
