#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/common/time.h"

namespace prometheus {
class Registry;
}

namespace switchyard::server {

// The process: workers, the admin listener and the signal handling of the main thread.
//   SIGTERM / SIGINT: stop accepting, report not ready, let in-flight requests finish (up to
//   drain_timeout), close idle keep-alive connections, then exit 0.
class Server {
 public:
  Server(config::ConfigConstSharedPtr config, std::shared_ptr<prometheus::Registry> registry,
         const common::TimeSource& time);
  ~Server();
  // Runs until drained after a signal; returns the process exit code.
  int run();

 private:
  config::ConfigConstSharedPtr config_;
  std::shared_ptr<prometheus::Registry> registry_;
  const common::TimeSource& time_;
  std::atomic<bool> ready_{false};
};

}  // namespace switchyard::server
