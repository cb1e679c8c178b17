#include "filters/retry/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace switchyard::filters::retry {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Shorter than this, an attempt could not get a response even from a loopback upstream.
constexpr common::Duration MinAttemptTimeout = std::chrono::milliseconds(1);
// Roughly 30 years: a Retry-After beyond it is no different from "never", and keeps the
// arithmetic far from overflowing nanoseconds.
constexpr int64_t MaxRetryAfterSeconds = 1'000'000'000;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view trimBlanks(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// "400".."599", built once; string_views into it outlive every caller.
std::string_view statusLabel(int status) {
  static const auto labels = [] {
    std::array<std::string, MaxRetriableStatus - MinRetriableStatus + 1> out;
    for (size_t i = 0; i < out.size(); ++i) out[i] = std::to_string(MinRetriableStatus + i);
    return out;
  }();
  if (status < MinRetriableStatus || status > MaxRetriableStatus) return "response";
  return labels[static_cast<size_t>(status - MinRetriableStatus)];
}

std::string_view reasonLabel(AttemptOutcome outcome, int status) {
  switch (outcome) {
    case AttemptOutcome::ConnectFailure:
      return "connect_failure";
    case AttemptOutcome::Reset:
      return "reset";
    case AttemptOutcome::Timeout:
      return "timeout";
    case AttemptOutcome::Response:
      break;
  }
  return statusLabel(status);
}

}  // namespace

common::Duration backoffCap(uint32_t attempt, const RetryConfig& config) {
  const double base = static_cast<double>(duration_cast<nanoseconds>(config.base_interval).count());
  const double max = static_cast<double>(duration_cast<nanoseconds>(config.max_interval).count());
  // pow() of a factor >= 1 only grows, and reaches infinity rather than wrapping; min() then
  // keeps the cap.
  const double cap = std::min(max, base * std::pow(config.backoff_factor, attempt));
  return common::Duration(static_cast<int64_t>(cap));
}

common::Duration backoff(uint32_t attempt, const RetryConfig& config, common::Random& random) {
  const auto cap = static_cast<uint64_t>(backoffCap(attempt, config).count());
  return common::Duration(static_cast<int64_t>(random.uniform(cap + 1)));
}

std::optional<common::Duration> parseRetryAfter(std::string_view value, common::SystemTime now) {
  value = trimBlanks(value);
  if (value.empty()) return std::nullopt;
  int64_t wait_s = 0;
  if (std::all_of(value.begin(), value.end(), isDigit)) {
    for (char c : value) {
      wait_s = std::min<int64_t>(MaxRetryAfterSeconds, wait_s * 10 + (c - '0'));
    }
    return common::Duration(seconds(wait_s));
  }
  // An HTTP-date in any of the three forms recipients must accept (RFC 9110 section 5.6.7).
  const std::optional<common::SystemTime> date = common::parseHttpDate(value, now);
  if (!date) return std::nullopt;
  // Whole seconds first: a date far in the future does not fit in nanoseconds.
  const auto now_s = std::chrono::floor<seconds>(now);
  const auto date_s = std::chrono::floor<seconds>(*date);
  wait_s = std::clamp<int64_t>((date_s - now_s).count(), 0, MaxRetryAfterSeconds);
  const common::Duration wait = seconds(wait_s) - duration_cast<common::Duration>(now - now_s);
  return std::max(wait, common::Duration::zero());
}

bool isIdempotentMethod(std::string_view method) {
  static constexpr std::string_view Methods[] = {"GET", "HEAD",   "OPTIONS",
                                                 "PUT", "DELETE", "TRACE"};
  return std::find(std::begin(Methods), std::end(Methods), method) != std::end(Methods);
}

bool isIdempotent(const http::RequestHeaders& request, const RetryConfig& config) {
  if (isIdempotentMethod(request.method)) return true;
  for (const std::string& name : config.idempotency_headers) {
    for (const http::HeaderMap::Entry& entry : request.headers.entries()) {
      if (entry.name == name && !trimBlanks(entry.value).empty()) return true;
    }
  }
  return false;
}

bool bodyFitsReplay(const http::RequestHeaders& request, const RetryConfig& config) {
  if (request.chunked || request.content_length <= 0) return true;
  return static_cast<uint64_t>(request.content_length) <= config.max_replay_body_bytes;
}

RetryBudget::RetryBudget(const RetryBudgetConfig& config)
    : percent_hundredths_(static_cast<uint64_t>(std::llround(config.percent * 100))),
      min_retries_(config.min_retries) {}

void RetryBudget::reconfigure(const RetryBudgetConfig& config) {
  percent_hundredths_.store(static_cast<uint64_t>(std::llround(config.percent * 100)),
                            std::memory_order_relaxed);
  min_retries_.store(config.min_retries, std::memory_order_relaxed);
}

uint64_t RetryBudget::limit() const {
  return std::max(min_retries_.load(std::memory_order_relaxed),
                  activeRequests() * percent_hundredths_.load(std::memory_order_relaxed) / 10000);
}

bool RetryBudget::tryStartRetry() {
  uint64_t current = retries_.load(std::memory_order_relaxed);
  do {
    if (current >= limit()) return false;
  } while (!retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

std::string_view noRetryName(NoRetry why) {
  switch (why) {
    case NoRetry::None:
      return "none";
    case NoRetry::NotRetriable:
      return "not_retriable";
    case NoRetry::MaxRetries:
      return "max_retries";
    case NoRetry::BodyNotReplayable:
      return "body_not_replayable";
    case NoRetry::NotIdempotent:
      return "not_idempotent";
    case NoRetry::RetryAfterTooLong:
      return "retry_after_too_long";
    case NoRetry::Deadline:
      return "deadline";
    case NoRetry::BudgetExhausted:
      return "budget_exhausted";
  }
  return "unknown";
}

RetryMetrics::RetryMetrics(prometheus::Registry& registry)
    : retries(prometheus::BuildCounter()
                  .Name("switchyard_retries_total")
                  .Help("Upstream retries started, by cluster and by what failed (connect_failure, "
                        "reset, timeout or the status code)")
                  .Register(registry)),
      budget_exhausted(prometheus::BuildCounter()
                           .Name("switchyard_retry_budget_exhausted_total")
                           .Help("Retries not made because the cluster's retry budget was spent")
                           .Register(registry)) {}

RetryStats::RetryStats(RetryMetrics* metrics, const std::string& cluster) : cluster_(cluster) {
  if (metrics == nullptr) return;
  family_ = &metrics->retries;
  connect_failure_ = &family_->Add({{"cluster", cluster}, {"reason", "connect_failure"}});
  reset_ = &family_->Add({{"cluster", cluster}, {"reason", "reset"}});
  timeout_ = &family_->Add({{"cluster", cluster}, {"reason", "timeout"}});
  budget_exhausted_ = &metrics->budget_exhausted.Add({{"cluster", cluster}});
}

void RetryStats::countRetry(AttemptOutcome outcome, int status) {
  if (family_ == nullptr) return;
  switch (outcome) {
    case AttemptOutcome::ConnectFailure:
      connect_failure_->Increment();
      return;
    case AttemptOutcome::Reset:
      reset_->Increment();
      return;
    case AttemptOutcome::Timeout:
      timeout_->Increment();
      return;
    case AttemptOutcome::Response:
      break;
  }
  if (status < MinRetriableStatus || status > MaxRetriableStatus) return;
  std::atomic<prometheus::Counter*>& slot =
      by_status_[static_cast<size_t>(status - MinRetriableStatus)];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &family_->Add({{"cluster", cluster_}, {"reason", std::string(statusLabel(status))}});
    slot.store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void RetryStats::countBudgetExhausted() {
  if (budget_exhausted_ != nullptr) budget_exhausted_->Increment();
}

RetryState::RetryState(const RetryConfig& config, RetryCluster* cluster,
                       const http::RequestHeaders& request, bool body_replayable,
                       common::MonotonicTime start, common::Duration route_timeout)
    : config_(config),
      cluster_(cluster),
      request_(request),
      head_replayable_(body_replayable),
      body_replayable_(body_replayable),
      deadline_(start + config.timeout),
      try_timeout_(config.per_try_timeout ? common::Duration(*config.per_try_timeout)
                                          : route_timeout) {
  if (cluster_ != nullptr) cluster_->budget.startRequest();
}

RetryState::~RetryState() {
  if (cluster_ == nullptr) return;
  if (holds_retry_slot_) cluster_->budget.endRetry();
  cluster_->budget.endRequest();
}

common::Duration RetryState::attemptTimeout(common::MonotonicTime attempt_start) const {
  const common::Duration left = deadline_ - attempt_start;
  if (left <= common::Duration::zero()) return common::Duration::zero();
  return try_timeout_ > common::Duration::zero() ? std::min(try_timeout_, left) : left;
}

bool RetryState::retriable(AttemptOutcome outcome, int status) const {
  switch (outcome) {
    case AttemptOutcome::ConnectFailure:
      return config_.retry_connect_failure;
    case AttemptOutcome::Reset:
      return config_.retry_reset;
    case AttemptOutcome::Timeout:
      return config_.retry_timeout;
    case AttemptOutcome::Response:
      return config_.retriableStatus(status);
  }
  return false;
}

RetryDecision RetryState::decide(AttemptOutcome outcome, int status,
                                 const http::ResponseHeaders* response, common::MonotonicTime now,
                                 common::SystemTime system_now, common::Random& random) {
  // The attempt that held the slot is over, whatever comes next.
  if (holds_retry_slot_) {
    cluster_->budget.endRetry();
    holds_retry_slot_ = false;
  }
  RetryDecision d;
  d.reason = reasonLabel(outcome, status);
  auto refuse = [&d](NoRetry why) {
    d.why_not = why;
    return d;
  };
  if (!retriable(outcome, status)) return refuse(NoRetry::NotRetriable);
  if (retries_ >= config_.max_retries) return refuse(NoRetry::MaxRetries);
  if (!body_replayable_) return refuse(NoRetry::BodyNotReplayable);
  if (outcome != AttemptOutcome::ConnectFailure && !isIdempotent(request_, config_)) {
    return refuse(NoRetry::NotIdempotent);
  }

  common::Duration delay = backoff(retries_, config_, random);
  if (outcome == AttemptOutcome::Response && config_.honor_retry_after && response != nullptr) {
    if (const std::string_view* value = response->headers.get("retry-after")) {
      // An unreadable Retry-After is ignored, as if it were absent.
      if (std::optional<common::Duration> wait = parseRetryAfter(*value, system_now)) {
        if (*wait > config_.max_retry_after) return refuse(NoRetry::RetryAfterTooLong);
        // Never sooner than the upstream asked, nor than our own backoff: a Retry-After of 0
        // from an overloaded server must not make every client come back at once.
        delay = std::max(delay, *wait);
      }
    }
  }
  const common::Duration timeout = attemptTimeout(now + delay);
  if (timeout < MinAttemptTimeout) return refuse(NoRetry::Deadline);

  // Last, because it takes a slot: a retry refused for any other reason must not count as one
  // the budget stopped.
  if (cluster_ != nullptr) {
    if (!cluster_->budget.tryStartRetry()) {
      cluster_->stats.countBudgetExhausted();
      return refuse(NoRetry::BudgetExhausted);
    }
    holds_retry_slot_ = true;
    cluster_->stats.countRetry(outcome, status);
  }
  ++retries_;
  d.retry = true;
  d.delay = delay;
  d.attempt_timeout = timeout;
  return d;
}

}  // namespace switchyard::filters::retry
