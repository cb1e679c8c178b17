#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proxy/stats/histogram.h"

namespace switchyard::redis {

// The Redis clients' metric families, registered once per process and shared by every worker's
// client. The duration histogram is ours (stats/histogram.h): /metrics serves it beside the
// registry.
struct RedisStats {
  explicit RedisStats(prometheus::Registry& registry);

  // switchyard_redis_command_duration_seconds: issue to reply, for commands that got one
  // (including error replies); timeouts and failures are counted in `errors` instead.
  std::shared_ptr<stats::LatencyHistogramFamily> command_duration;
  // switchyard_redis_errors_total{kind}: timeout, disconnected, unavailable, server_error,
  // protocol per command; connect per failed connection attempt.
  prometheus::Family<prometheus::Counter>& errors;
  // switchyard_redis_connected{worker}: 1 while the worker's connection is ready.
  prometheus::Family<prometheus::Gauge>& connected;
};

// Where a client is, for /health and the logs.
enum class ClientState : uint8_t {
  Connecting,    // a connection attempt (or its AUTH/SELECT/SCRIPT LOAD) is under way
  Connected,     // ready; commands go out at once
  Disconnected,  // waiting for the next attempt; commands are answered Unavailable
  CoolingDown,   // too many failures in a row; commands are answered Unavailable
  Stopped,       // the client is gone (worker stopped), or was never made
};
std::string_view clientStateName(ClientState state);

// One client's state as other threads see it (the admin /health page). The client's thread
// writes, any thread reads; writes happen on state changes and failures, never per success.
class ClientStatus {
 public:
  struct View {
    ClientState state = ClientState::Stopped;
    uint32_t consecutive_failures = 0;
    std::string last_error;  // "" until the first failure
    nlohmann::json toJson() const;
  };
  View read() const;

  void setState(ClientState state) { state_.store(state, std::memory_order_relaxed); }
  void setConsecutiveFailures(uint32_t n) {
    if (failures_.load(std::memory_order_relaxed) != n) {
      failures_.store(n, std::memory_order_relaxed);
    }
  }
  void setLastError(std::string error);

 private:
  std::atomic<ClientState> state_{ClientState::Stopped};
  std::atomic<uint32_t> failures_{0};
  mutable std::mutex mutex_;
  std::string last_error_;  // guarded by mutex_
};

}  // namespace switchyard::redis
