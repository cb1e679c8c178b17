#pragma once

// Where a worker sends the decisions of `scope: global` policies: one GCRA script call per
// decision, against the bucket shared by every replica (Redis; a fake in unit tests).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "filters/rate_limit/gcra.h"

namespace switchyard::filters::rate_limit {

struct StoreResult {
  bool ok = false;
  // When !ok, what went wrong, as the `kind` label of switchyard_rate_limit_redis_errors_total:
  // the Redis client's kinds ("timeout", "disconnected", "unavailable" during its cooldown or
  // while it reconnects, "server_error", "protocol"). A static string.
  std::string_view error_kind;
  // When ok: the decision, with the meaning of GcraDecision (tat is not reported).
  GcraDecision decision;
};

class GcraStore {
 public:
  using Callback = std::function<void(const StoreResult&)>;
  using Handle = uint64_t;

  virtual ~GcraStore() = default;
  // Decides one request against `key`. `done` is called exactly once unless cancel() is called
  // first: later on the worker's loop, or before decide() returns (a failure known at once, such
  // as the cooldown). Returns a handle for cancel(); 0 when `done` has already been called.
  virtual Handle decide(std::string_view key, const GcraScriptArgs& args, Callback done) = 0;
  // Forgets a decision still outstanding: its callback will not be called.
  virtual void cancel(Handle handle) = 0;
};

}  // namespace switchyard::filters::rate_limit
