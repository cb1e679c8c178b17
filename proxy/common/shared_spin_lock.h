#pragma once

// A reader-writer lock for data read on every request and written rarely (a table of keys that
// gains one when a new client shows up): taking it to read is one atomic add and one subtract,
// against a pthread_rwlock's call pair. Writers take precedence, so a stream of readers cannot
// starve one; waiting (either side) yields the CPU between looks. Hold it only for short work
// that does not block. Meets SharedLockable, for std::shared_lock and std::unique_lock.

#include <atomic>
#include <cstdint>
#include <thread>

namespace switchyard::common {

class SharedSpinLock {
 public:
  SharedSpinLock() = default;
  SharedSpinLock(const SharedSpinLock&) = delete;
  SharedSpinLock& operator=(const SharedSpinLock&) = delete;

  void lock_shared() {
    for (;;) {
      // Announce the reader, then look for a writer; one that holds or wants the lock wins, and
      // the reader takes its announcement back and waits.
      if ((state_.fetch_add(1, std::memory_order_acquire) & Writer) == 0) return;
      state_.fetch_sub(1, std::memory_order_relaxed);
      while ((state_.load(std::memory_order_relaxed) & Writer) != 0) std::this_thread::yield();
    }
  }
  void unlock_shared() { state_.fetch_sub(1, std::memory_order_release); }

  void lock() {
    uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & Writer) != 0) {
        std::this_thread::yield();
        s = state_.load(std::memory_order_relaxed);
        continue;
      }
      if (state_.compare_exchange_weak(s, s | Writer, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        break;
      }
    }
    // No new reader gets in now; wait for those inside to leave.
    while ((state_.load(std::memory_order_acquire) & ~Writer) != 0) std::this_thread::yield();
  }
  // fetch_and, not a store: a reader that has just announced itself and is about to take it back
  // keeps its count straight.
  void unlock() { state_.fetch_and(~Writer, std::memory_order_release); }

 private:
  static constexpr uint32_t Writer = 1u << 31;
  std::atomic<uint32_t> state_{0};
};

}  // namespace switchyard::common
