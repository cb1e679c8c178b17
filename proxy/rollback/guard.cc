#include "proxy/rollback/guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace switchyard::rollback {
namespace {

constexpr uint64_t TagMask = (1ULL << 24) - 1;
constexpr uint64_t CountMask = (1ULL << 40) - 1;

std::string trimZeroDecimal(std::string s) {
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

std::string formatPercent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", ratio * 100);
  return trimZeroDecimal(buf) + "%";
}

std::string formatSeconds(double seconds) {
  char buf[32];
  if (seconds < 1) {
    std::snprintf(buf, sizeof(buf), "%.0fms", seconds * 1000);
    return buf;
  }
  std::snprintf(buf, sizeof(buf), "%.1f", seconds);
  return trimZeroDecimal(buf) + "s";
}

Guard::Guard(const GuardConfig& config)
    : config_(config),
      window_seconds_(std::max<int64_t>(1, config.window.count() / 1000)),
      bounds_ms_(DefaultBoundsMs.begin(), DefaultBoundsMs.end()),
      ring_(static_cast<size_t>(window_seconds_ + 2)) {
  if (config_.max_latency.count() > 0) {
    bounds_ms_.push_back(config_.max_latency.count());
    std::sort(bounds_ms_.begin(), bounds_ms_.end());
    bounds_ms_.erase(std::unique(bounds_ms_.begin(), bounds_ms_.end()), bounds_ms_.end());
    slow_bucket_ = static_cast<size_t>(
        std::find(bounds_ms_.begin(), bounds_ms_.end(), config_.max_latency.count()) -
        bounds_ms_.begin() + 1);
  }
  for (Bucket& b : ring_) {
    b.latency = std::make_unique<std::atomic<uint64_t>[]>(bounds_ms_.size() + 1);
  }
}

int64_t Guard::secondOf(common::MonotonicTime t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

void Guard::add(std::atomic<uint64_t>& word, uint64_t tag, std::memory_order order) noexcept {
  uint64_t current = word.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t current_tag = current >> CountBits;
    if (current_tag == tag) {
      word.fetch_add(1, order);
      return;
    }
    // The bucket already counts a later second: this sample is older than the window's ring
    // (a worker that stalled); dropping it is right.
    if (current != 0 && ((tag - current_tag) & TagMask) >= (1ULL << 23)) return;
    if (word.compare_exchange_weak(current, (tag << CountBits) | 1, order,
                                   std::memory_order_relaxed)) {
      return;
    }
  }
}

uint64_t Guard::countFor(const std::atomic<uint64_t>& word, uint64_t tag,
                         std::memory_order order) noexcept {
  const uint64_t value = word.load(order);
  return (value >> CountBits) == tag ? (value & CountMask) : 0;
}

void Guard::record(common::MonotonicTime now, int status, common::Duration latency) noexcept {
  const int64_t second = secondOf(now);
  const auto n = static_cast<int64_t>(ring_.size());
  Bucket& bucket = ring_[static_cast<size_t>(((second % n) + n) % n)];
  const uint64_t tag = static_cast<uint64_t>(second) & TagMask;
  add(bucket.requests, tag);
  // Released after the request is counted, and read (acquire) before the requests in
  // evaluate(): a reader that sees an error also sees its request, so errors <= requests.
  if (status >= 500) add(bucket.errors, tag, std::memory_order_release);
  size_t index = 0;
  while (index < bounds_ms_.size() && latency > std::chrono::milliseconds(bounds_ms_[index])) {
    ++index;
  }
  add(bucket.latency[index], tag);
}

GuardStatus Guard::evaluate(common::MonotonicTime now) const {
  GuardStatus out;
  const int64_t now_second = secondOf(now);
  const int64_t first =
      std::max(now_second - window_seconds_ + 1, floor_second_.load(std::memory_order_relaxed));
  const auto n = static_cast<int64_t>(ring_.size());
  std::vector<uint64_t> histogram(bounds_ms_.size() + 1, 0);
  for (int64_t second = first; second <= now_second; ++second) {
    const Bucket& bucket = ring_[static_cast<size_t>(((second % n) + n) % n)];
    const uint64_t tag = static_cast<uint64_t>(second) & TagMask;
    out.errors += countFor(bucket.errors, tag, std::memory_order_acquire);
    out.requests += countFor(bucket.requests, tag);
    for (size_t i = 0; i < histogram.size(); ++i) histogram[i] += countFor(bucket.latency[i], tag);
  }
  uint64_t total = 0;
  for (uint64_t c : histogram) total += c;
  if (slow_bucket_ > 0) {
    for (size_t i = slow_bucket_; i < histogram.size(); ++i) out.slow += histogram[i];
  }
  if (total > 0) {
    // Nearest rank, placed linearly inside its bucket; the unbounded bucket reports its floor.
    const auto rank = static_cast<uint64_t>(std::ceil(0.95 * static_cast<double>(total)));
    uint64_t below = 0;
    for (size_t i = 0; i < histogram.size(); ++i) {
      if (below + histogram[i] < rank) {
        below += histogram[i];
        continue;
      }
      const double lower = i == 0 ? 0.0 : static_cast<double>(bounds_ms_[i - 1]);
      if (i == bounds_ms_.size()) {
        out.p95_seconds = lower / 1000;
      } else {
        const double upper = static_cast<double>(bounds_ms_[i]);
        const double fraction =
            static_cast<double>(rank - below) / static_cast<double>(histogram[i]);
        out.p95_seconds = (lower + (upper - lower) * fraction) / 1000;
      }
      break;
    }
  }
  if (out.requests == 0) return out;
  out.error_ratio = static_cast<double>(out.errors) / static_cast<double>(out.requests);
  if (out.requests < config_.min_requests) return out;

  const std::string window = formatSeconds(static_cast<double>(window_seconds_));
  if (out.error_ratio > config_.max_error_ratio) {
    out.breached = true;
    out.reason = "error ratio " + formatPercent(out.error_ratio) + " over " + window + " (" +
                 std::to_string(out.errors) + "/" + std::to_string(out.requests) + ") above " +
                 formatPercent(config_.max_error_ratio);
    return out;
  }
  // "p95 above max_latency" is "more than 5% of the requests slower than max_latency".
  if (slow_bucket_ > 0 && total > 0 &&
      static_cast<double>(out.slow) > 0.05 * static_cast<double>(total)) {
    const std::string limit =
        formatSeconds(static_cast<double>(config_.max_latency.count()) / 1000);
    out.breached = true;
    out.reason = "p95 latency " + formatSeconds(out.p95_seconds) + " over " + window + " (" +
                 std::to_string(out.slow) + "/" + std::to_string(total) + " slower than " + limit +
                 ") above " + limit;
  }
  return out;
}

void Guard::reset(common::MonotonicTime now) noexcept {
  floor_second_.store(secondOf(now), std::memory_order_relaxed);
}

}  // namespace switchyard::rollback
