#pragma once

// What the router applies to each upstream attempt, as interfaces: the router depends on these and
// on nothing of the filters that implement them (the `retry` and `circuit_breaker` filters today),
// the way Envoy's router depends on RetryState and ResourceManager.
//
// A configuration snapshot gives the router one UpstreamPolicy per (route, version, cluster):
// filled at activation by the filters' FilterFactory::contributePolicy() hooks, owned by those
// factories, and kept alive by the snapshot for as long as any stream runs under it.
//
// Threads: RetryPolicy and AdmissionControl are shared by every worker (their implementations use
// atomics, never a lock on the success path); a RetryState belongs to one request on one worker.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"

namespace switchyard::router {

// How an upstream attempt ended.
enum class AttemptOutcome {
  ConnectFailure,  // no connection (refused, unreachable, connect timeout): nothing was sent
  Reset,           // the connection broke before the response head
  Timeout,         // the attempt's timeout expired before the response head
  Response,        // a response head arrived; its status decides
};

struct RetryDecision {
  bool retry = false;
  // Wait this long before the next attempt.
  common::Duration delay{0};
  // The next attempt's timeout to its response head.
  common::Duration attempt_timeout{0};
};

// One request's retries, made by a RetryPolicy when the router has picked the cluster, destroyed
// with the request. Used on its worker's thread only. It lives in storage the router lends it
// (RetryStateStorage), so a request's retries cost no allocation.
class RetryState {
 public:
  virtual ~RetryState() = default;

  // The timeout of an attempt starting at `attempt_start`; zero when no time is left.
  virtual common::Duration attemptTimeout(common::MonotonicTime attempt_start) const = 0;
  // Whether a response with this status is held back from the client and reported to
  // onAttemptFailed() as AttemptOutcome::Response. Any other status is passed on.
  virtual bool retriableStatus(int status) const = 0;
  // Whether the request's body may be kept for a resend, as far as its head tells, and how much
  // of it the router may keep; past that the body streams and markBodyNotReplayable() ends the
  // retries.
  virtual bool bodyReplayable() const = 0;
  virtual uint64_t maxReplayBodyBytes() const = 0;
  virtual void markBodyNotReplayable() = 0;
  // After an attempt failed before any of its response reached the client: retry (after
  // `delay`, with `attempt_timeout`) or give the failure to the client. `response` is set for
  // AttemptOutcome::Response (its Retry-After may matter); `system_now` dates an HTTP-date.
  virtual RetryDecision onAttemptFailed(AttemptOutcome outcome, int status,
                                        const http::ResponseHeaders* response,
                                        common::MonotonicTime now, common::SystemTime system_now,
                                        common::Random& random) = 0;
};
// Destroys a RetryState in place; the storage belongs to the router.
struct RetryStateDeleter {
  void operator()(RetryState* state) const { state->~RetryState(); }
};
using RetryStatePtr = std::unique_ptr<RetryState, RetryStateDeleter>;

// Room for one RetryState, lent by the router to RetryPolicy::newRetryState(). Must outlive the
// state made in it.
class RetryStateStorage {
 public:
  static constexpr size_t Size = 128;
  template <class T, class... Args>
  RetryStatePtr emplace(Args&&... args) {
    static_assert(sizeof(T) <= Size, "a RetryState must fit RetryStateStorage::Size");
    static_assert(alignof(T) <= alignof(std::max_align_t));
    return RetryStatePtr(new (bytes_) T(std::forward<Args>(args)...));
  }

 private:
  alignas(std::max_align_t) std::byte bytes_[Size];
};

// The retry policy of one (route, version, cluster).
class RetryPolicy {
 public:
  virtual ~RetryPolicy() = default;
  // The state of `request`'s retries, started at `now`, made in `storage`; `route_timeout` (zero:
  // none) is the attempt timeout when the policy sets none of its own. `request` and `storage`
  // outlive the state.
  virtual RetryStatePtr newRetryState(const http::RequestHeaders& request,
                                      common::MonotonicTime now, common::Duration route_timeout,
                                      RetryStateStorage& storage) const = 0;
};

// What admission control says about one attempt.
struct Admission {
  enum class Kind : uint8_t { Allowed, AllowedProbe, Rejected };
  Kind kind = Kind::Allowed;
  // Rejected: how long until attempts may be let through again (for Retry-After).
  common::Duration retry_after{0};

  bool allowed() const { return kind != Kind::Rejected; }
  bool probe() const { return kind == Kind::AllowedProbe; }
};

// A cluster's circuit breaker and bulkheads, shared by every worker (the state behind it
// outlives configuration reloads).
//
// Per request the router takes a request slot (tryStartRequest; false is a 503), per retry a
// retry slot, and gives each back exactly once. Per attempt it asks admit(); an admitted attempt
// is reported exactly once: onResult() with whether it succeeded (a response whose status
// isFailureStatus(), a timeout, a connection failure or a reset is a failure), or onCancelled()
// when it ended without a verdict (the client went away, a local limit refused it).
class AdmissionControl {
 public:
  virtual ~AdmissionControl() = default;

  virtual bool tryStartRequest() = 0;
  virtual void endRequest() = 0;
  virtual bool tryStartRetry() = 0;
  virtual void endRetry() = 0;
  // The concurrent-request limit (0: none), for the refusal's detail.
  virtual uint32_t maxConcurrentRequests() const = 0;

  virtual Admission admit(common::MonotonicTime now) = 0;
  virtual void onResult(common::MonotonicTime now, bool success, bool was_probe) = 0;
  virtual void onCancelled(bool was_probe) = 0;
  virtual bool isFailureStatus(int status) const = 0;
};

// Everything the router applies to the attempts of one (route, version, cluster); a null part is
// switched off.
struct UpstreamPolicy {
  const RetryPolicy* retry = nullptr;
  AdmissionControl* admission = nullptr;
};

}  // namespace switchyard::router
