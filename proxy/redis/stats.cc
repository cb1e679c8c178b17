#include "proxy/redis/stats.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

namespace switchyard::redis {
namespace {

// Seconds; a loopback round trip is ~0.1 ms, and the default timeout is 20 ms.
const std::vector<double>& commandBuckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
  return buckets;
}

}  // namespace

RedisStats::RedisStats(prometheus::Registry& registry)
    : command_duration(std::make_shared<stats::LatencyHistogramFamily>(
          "switchyard_redis_command_duration_seconds",
          "Time from issuing a Redis command to its reply, by the workers' clients",
          commandBuckets())),
      errors(prometheus::BuildCounter()
                 .Name("switchyard_redis_errors_total")
                 .Help("Redis commands that got no reply, by kind; failed connection attempts "
                       "(kind=\"connect\")")
                 .Register(registry)),
      connected(prometheus::BuildGauge()
                    .Name("switchyard_redis_connected")
                    .Help("Whether the worker's Redis connection is ready (1) or not (0)")
                    .Register(registry)) {}

std::string_view clientStateName(ClientState state) {
  switch (state) {
    case ClientState::Connecting:
      return "connecting";
    case ClientState::Connected:
      return "connected";
    case ClientState::Disconnected:
      return "disconnected";
    case ClientState::CoolingDown:
      return "cooling_down";
    case ClientState::Stopped:
      return "stopped";
  }
  return "unknown";
}

nlohmann::json ClientStatus::View::toJson() const {
  return {{"state", clientStateName(state)},
          {"consecutive_failures", consecutive_failures},
          {"last_error", last_error}};
}

ClientStatus::View ClientStatus::read() const {
  View out;
  out.state = state_.load(std::memory_order_relaxed);
  out.consecutive_failures = failures_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  out.last_error = last_error_;
  return out;
}

void ClientStatus::setLastError(std::string error) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = std::move(error);
}

}  // namespace switchyard::redis
