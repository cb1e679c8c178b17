#pragma once

#include <prometheus/counter.h>

#include <atomic>
#include <cstdint>

namespace switchyard::filters::circuit_breaker {

// A cap on how many of something (requests, retries) one cluster has in flight, over all
// workers. Lock-free: a compare-and-swap to enter, an atomic decrement to leave. A limit of 0 means
// unlimited (still counted, for the admin page).
class Bulkhead {
 public:
  // `overflow` (may be null) counts refusals.
  Bulkhead(uint32_t limit, prometheus::Counter* overflow) : limit_(limit), overflow_(overflow) {}
  // A new limit (a reload) applies to the slots taken from now on; those held stay held.
  void reconfigure(uint32_t limit, prometheus::Counter* overflow) {
    overflow_.store(overflow, std::memory_order_relaxed);
    limit_.store(limit, std::memory_order_relaxed);
  }
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  // Takes a slot unless `limit` are taken; every success needs one release().
  bool tryAcquire();
  void release() { active_.fetch_sub(1, std::memory_order_relaxed); }

  uint32_t active() const { return active_.load(std::memory_order_relaxed); }
  uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> limit_;
  std::atomic<prometheus::Counter*> overflow_;
  std::atomic<uint32_t> active_{0};
};

// Holds one slot of a Bulkhead and gives it back when destroyed. Empty (false) when the
// bulkhead was full. Movable, so the router can keep it for the life of a request or an attempt.
class BulkheadGuard {
 public:
  BulkheadGuard() = default;
  // Tries to take a slot of `bulkhead`.
  explicit BulkheadGuard(Bulkhead& bulkhead)
      : bulkhead_(bulkhead.tryAcquire() ? &bulkhead : nullptr) {}
  ~BulkheadGuard() { reset(); }
  BulkheadGuard(BulkheadGuard&& other) noexcept : bulkhead_(other.bulkhead_) {
    other.bulkhead_ = nullptr;
  }
  BulkheadGuard& operator=(BulkheadGuard&& other) noexcept {
    if (this != &other) {
      reset();
      bulkhead_ = other.bulkhead_;
      other.bulkhead_ = nullptr;
    }
    return *this;
  }

  explicit operator bool() const { return bulkhead_ != nullptr; }
  // Gives the slot back now.
  void reset() {
    if (bulkhead_ != nullptr) bulkhead_->release();
    bulkhead_ = nullptr;
  }

 private:
  Bulkhead* bulkhead_ = nullptr;
};

}  // namespace switchyard::filters::circuit_breaker
