#pragma once

// The retry policy as pure decisions, for the router to apply on each upstream attempt:
//
//   backoff()          the jittered wait before a retry;
//   parseRetryAfter()  what a response's Retry-After asks for;
//   isIdempotent()     whether a request may be sent twice;
//   RetryBudget        how many retries a cluster may have in flight (shared by all workers);
//   RetryState         one request's attempts: after each failed attempt it says whether to
//                      retry, after how long, and with which timeout.
//
// Nothing here reads a clock, draws from a random device or arms a timer: the caller passes
// `now` and a Random, and arms the timers the decisions ask for.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "filters/retry/config.h"
#include "proxy/common/http_date.h"
#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::filters::retry {

// The longest wait backoff() can return for retry `attempt` (0 for the first retry):
// min(max_interval, base_interval * backoff_factor^attempt).
common::Duration backoffCap(uint32_t attempt, const RetryConfig& config);
// Full jitter: uniform in [0, backoffCap(attempt, config)], in nanoseconds.
common::Duration backoff(uint32_t attempt, const RetryConfig& config, common::Random& random);

// (proxy/common/http_date.h, named here for the tests of this filter's dates.)
using common::parseImfFixdate;
// A Retry-After value (RFC 9110 section 10.2.3): delta-seconds ("120") or an HTTP-date (an
// IMF-fixdate, or one of the two obsolete forms recipients accept), with surrounding blanks
// ignored. Returns the wait from `now` (zero for a date in the past; delays
// beyond ~30 years are cut there), or nullopt for anything else.
std::optional<common::Duration> parseRetryAfter(std::string_view value, common::SystemTime now);

// GET, HEAD, OPTIONS, PUT, DELETE and TRACE (RFC 9110 section 9.2.2); methods are
// case-sensitive.
bool isIdempotentMethod(std::string_view method);
// An idempotent method, or any other method carrying one of config.idempotency_headers with a
// value that is not blank.
bool isIdempotent(const http::RequestHeaders& request, const RetryConfig& config);
// Whether the body can be kept for a resend, as far as the head tells: no body, or a declared
// Content-Length within max_replay_body_bytes. A chunked body is replayable until it grows past
// the limit, which the router reports with RetryState::markBodyNotReplayable().
bool bodyFitsReplay(const http::RequestHeaders& request, const RetryConfig& config);

// Retries in flight to one cluster, against its active requests. Shared by every worker: all
// counters are atomics, no lock; a reload applies new settings with reconfigure() and keeps the
// counts. A request counts from startRequest() to endRequest(); a retry
// from a successful tryStartRetry() (taken when the retry is decided, so the backoff counts) to
// endRetry().
class RetryBudget {
 public:
  explicit RetryBudget(const RetryBudgetConfig& config);

  void startRequest() { requests_.fetch_add(1, std::memory_order_relaxed); }
  void endRequest() { requests_.fetch_sub(1, std::memory_order_relaxed); }
  // Takes a retry slot if fewer than limit() retries are in flight.
  bool tryStartRetry();
  void endRetry() { retries_.fetch_sub(1, std::memory_order_relaxed); }

  // max(min_retries, floor(active requests * percent / 100)).
  uint64_t limit() const;
  uint64_t activeRequests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t activeRetries() const { return retries_.load(std::memory_order_relaxed); }
  void reconfigure(const RetryBudgetConfig& config);

 private:
  // percent * 100, so the limit is integer arithmetic.
  std::atomic<uint64_t> percent_hundredths_;
  std::atomic<uint64_t> min_retries_;
  // Every request of every worker touches requests_: keep it off the line retries_ lives on.
  alignas(64) std::atomic<uint64_t> requests_{0};
  alignas(64) std::atomic<uint64_t> retries_{0};
};

// How an attempt ended, as far as retrying is concerned.
using router::AttemptOutcome;

// Why a failed attempt is not retried.
enum class NoRetry {
  None,               // it is retried
  NotRetriable,       // the outcome or status is not in retry_on
  MaxRetries,         // max_retries already spent
  BodyNotReplayable,  // the body was too large to keep
  NotIdempotent,      // e.g. a POST without an idempotency header (a connect failure is exempt:
                      // the request never left, so sending it now is its first delivery)
  RetryAfterTooLong,  // the upstream asked for a wait longer than max_retry_after
  Deadline,           // after the backoff (or Retry-After) less than 1ms would be left
  BudgetExhausted,    // the cluster's retry budget is spent
};
// Lower-case, underscored: "budget_exhausted", ... ("none" for None).
std::string_view noRetryName(NoRetry why);

// The metric families of the retry filter, registered once per factory (registration merges
// with families of the same name, e.g. those of the configuration this one replaces).
struct RetryMetrics {
  explicit RetryMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& retries;           // {cluster,reason}
  prometheus::Family<prometheus::Counter>& budget_exhausted;  // {cluster}
};

// One cluster's retry counters, resolved once and shared by every worker (counters are atomic).
// The counter of a status reason is made the first time a retry on that status happens.
// Made with null metrics, it counts nothing.
class RetryStats {
 public:
  RetryStats(RetryMetrics* metrics, const std::string& cluster);

  // switchyard_retries_total{reason}: "connect_failure", "reset", "timeout" or the status code.
  void countRetry(AttemptOutcome outcome, int status);
  void countBudgetExhausted();

 private:
  prometheus::Family<prometheus::Counter>* family_ = nullptr;
  std::string cluster_;
  prometheus::Counter* connect_failure_ = nullptr;
  prometheus::Counter* reset_ = nullptr;
  prometheus::Counter* timeout_ = nullptr;
  prometheus::Counter* budget_exhausted_ = nullptr;
  // Indexed by status - MinRetriableStatus. Two workers may race to fill a slot: the family
  // hands both the same counter, so either store is right.
  std::array<std::atomic<prometheus::Counter*>, MaxRetriableStatus - MinRetriableStatus + 1>
      by_status_{};
};

// The state one cluster's requests share: its budget and counters. Runtime state: it outlives
// configuration reloads (see upstream::RuntimeStateRegistry).
struct RetryCluster final : public upstream::RuntimeState {
  RetryCluster(const std::string& name, const RetryBudgetConfig& budget, RetryMetrics* metrics)
      : name(name), budget(budget), stats(metrics, name) {}
  const std::string name;
  RetryBudget budget;
  RetryStats stats;
};

struct RetryDecision {
  bool retry = false;
  // Wait this long before the next attempt (a dispatcher timer).
  common::Duration delay{0};
  // Give the next attempt this long to produce a response head: the per-try timeout clamped to
  // what is left before the deadline once the delay has passed.
  common::Duration attempt_timeout{0};
  // What failed, as the `reason` label of switchyard_retries_total: "connect_failure", "reset",
  // "timeout" or the status code ("503"). Static storage.
  std::string_view reason;
  NoRetry why_not = NoRetry::None;
};

// One request's retry bookkeeping, created by the router on its worker when it has picked the
// cluster, and destroyed with the request. Not thread-safe (one worker owns it); the cluster's
// budget it counts in is.
//
// The success path costs two relaxed atomic adds on the budget (this constructor and the
// destructor): the method and headers are looked at only once an attempt has failed.
//
// After each attempt that fails before its response reaches the client, the router calls
// onAttemptFailed() and either waits `delay` and starts the next attempt with
// `attempt_timeout`, or gives the failure to the client. A response whose status is not
// retriable (config.retriableStatus()) is a success as far as retries go: the router forwards it
// without asking. Once any response byte has gone to the client the router asks no more.
//
// It is the router's RetryState (router/upstream_policy.h): RetryPolicyImpl makes one per request
// in the storage the router lends.
class RetryState final : public router::RetryState {
 public:
  // `request` must outlive this object. `cluster` may be null (no budget, no metrics).
  // `route_timeout` is the attempt timeout when the policy has no per_try_timeout; zero means
  // none. The deadline is start + config.timeout.
  RetryState(const RetryConfig& config, RetryCluster* cluster, const http::RequestHeaders& request,
             bool body_replayable, common::MonotonicTime start, common::Duration route_timeout);
  ~RetryState() override;
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  common::MonotonicTime deadline() const { return deadline_; }
  // The timeout of an attempt starting at `attempt_start`: the per-try (or route) timeout, cut to
  // what is left before the deadline; zero when nothing is left.
  common::Duration attemptTimeout(common::MonotonicTime attempt_start) const override;
  bool retriableStatus(int status) const override { return config_.retriableStatus(status); }
  // As the head told at the start (markBodyNotReplayable() may end the retries later).
  bool bodyReplayable() const override { return head_replayable_; }
  uint64_t maxReplayBodyBytes() const override { return config_.max_replay_body_bytes; }
  // The body outgrew max_replay_body_bytes and is being streamed: no more retries.
  void markBodyNotReplayable() override { body_replayable_ = false; }

  // `status` and `response` matter for AttemptOutcome::Response only (response may be null);
  // `system_now` dates a Retry-After given as an HTTP-date. A retry decided here holds a slot in
  // the cluster's budget until the next call or the destructor. With the reason and why not.
  RetryDecision decide(AttemptOutcome outcome, int status, const http::ResponseHeaders* response,
                       common::MonotonicTime now, common::SystemTime system_now,
                       common::Random& random);
  // decide() as the router sees it.
  router::RetryDecision onAttemptFailed(AttemptOutcome outcome, int status,
                                        const http::ResponseHeaders* response,
                                        common::MonotonicTime now, common::SystemTime system_now,
                                        common::Random& random) override {
    const RetryDecision d = decide(outcome, status, response, now, system_now, random);
    return {d.retry, d.delay, d.attempt_timeout};
  }

  // Retries decided so far.
  uint32_t retries() const { return retries_; }

 private:
  bool retriable(AttemptOutcome outcome, int status) const;

  const RetryConfig& config_;
  RetryCluster* const cluster_;
  const http::RequestHeaders& request_;
  const bool head_replayable_;
  bool body_replayable_;
  const common::MonotonicTime deadline_;
  const common::Duration try_timeout_;  // zero: none
  uint32_t retries_ = 0;
  bool holds_retry_slot_ = false;
};

}  // namespace switchyard::filters::retry
