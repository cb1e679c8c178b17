#pragma once

#include "proxy/common/time.h"

namespace switchyard::router {

// Told about every request that a route target (one version of a route) finished, on the
// worker's thread: the rollback guard watches the new version this way. Implementations are
// shared by the workers and must be thread-safe.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void record(common::MonotonicTime now, int status, common::Duration duration) = 0;
};

}  // namespace switchyard::router
