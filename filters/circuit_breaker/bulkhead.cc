#include "filters/circuit_breaker/bulkhead.h"

namespace switchyard::filters::circuit_breaker {

bool Bulkhead::tryAcquire() {
  const uint32_t limit = limit_.load(std::memory_order_relaxed);
  if (limit == 0) {
    active_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // A compare-and-swap rather than add-then-undo: a refused caller never shows a count above
  // the limit, which would make a concurrent caller fail while a slot is free.
  uint32_t current = active_.load(std::memory_order_relaxed);
  do {
    if (current >= limit) {
      if (prometheus::Counter* c = overflow_.load(std::memory_order_relaxed)) c->Increment();
      return false;
    }
  } while (!active_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

}  // namespace switchyard::filters::circuit_breaker
