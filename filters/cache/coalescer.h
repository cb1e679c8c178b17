#pragma once

// Collapsing concurrent misses for one key, across workers (what Varnish's waiting list and
// nginx's proxy_cache_lock do). The first request for a primary key that has nothing usable
// stored (the leader) goes upstream; requests for the same key that come while it is in flight
// (the waiters) wait for its outcome instead of sending the same request again. When the leader's
// response is stored, each waiter looks the key up again and is answered from the store; when it
// could not be stored, the waiters go upstream themselves.
//
// Threads: one Coalescer per process, called from every worker under one mutex (only misses come
// here, never hits). A waiter is never called from the leader's thread: finish() posts the
// outcome to each waiter's own dispatcher, where it runs only if the waiting request still exists
// (CoalesceTicket::waiter is cleared on that same thread when the request ends).
//
// An uncacheable outcome marks the key for `pass_for`: its later misses go upstream at once
// instead of queueing behind a leader whose answer will not be shared (Varnish's hit-for-miss).
// A response stored for the key clears the mark.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/hash.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"

namespace switchyard::filters::cache {

enum class CoalesceOutcome : uint8_t {
  Stored,       // the leader's response is in the store: look the key up again
  Uncacheable,  // it may not be shared: go upstream (the key is marked)
  Failed,       // no answer to share this time (an upstream error, a reset, a client gone)
};

// A request waiting on a leader; implemented by the cache filter.
class CoalesceWaiter {
 public:
  virtual ~CoalesceWaiter() = default;
  // On the waiter's own dispatcher thread.
  virtual void onCoalesced(CoalesceOutcome outcome) = 0;
};

// A waiter's place in a queue, shared by the request and the coalescer. `waiter` is read and
// cleared only on `dispatcher`'s thread.
struct CoalesceTicket {
  CoalesceTicket(event::Dispatcher& d, CoalesceWaiter* w) : dispatcher(d), waiter(w) {}
  event::Dispatcher& dispatcher;
  CoalesceWaiter* waiter;
};
using CoalesceTicketPtr = std::shared_ptr<CoalesceTicket>;

class Coalescer {
 public:
  enum class Join : uint8_t {
    Leader,   // nobody is in flight for the key: go upstream, then call finish() exactly once
    Waiting,  // queued: onCoalesced() will come, unless leave() is called first
    Full,     // `max_waiters` are already queued: go upstream
    Pass,     // the key is marked uncacheable: go upstream
  };
  // Marks kept at most; beyond it an uncacheable outcome marks nothing.
  static constexpr size_t MaxMarks = 65536;

  explicit Coalescer(std::chrono::milliseconds pass_for = std::chrono::seconds(30));
  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // Queues `waiter` (on `dispatcher`) behind the key's leader: its ticket is then in `*ticket`
  // (made only when the request waits).
  Join join(std::string_view key, event::Dispatcher& dispatcher, CoalesceWaiter* waiter,
            size_t max_waiters, common::MonotonicTime now, CoalesceTicketPtr* ticket);
  // Leads the key if nobody is in flight for it and it is not marked (then finish() must follow),
  // without queueing otherwise: a background refresh, one per key.
  bool tryLead(std::string_view key, common::MonotonicTime now);
  // The leader's outcome: every waiter is woken on its own dispatcher.
  void finish(std::string_view key, CoalesceOutcome outcome, common::MonotonicTime now);
  // A waiter that stopped waiting (its timeout, or its request ended) before being woken.
  void leave(std::string_view key, const CoalesceTicket* ticket);
  // A response was stored for the key: its misses coalesce again.
  void clearMark(std::string_view key);

  size_t inFlight() const;
  size_t waiting() const;
  size_t marked() const;

 private:
  struct Slot {
    bool in_flight = false;
    std::vector<CoalesceTicketPtr> waiters;
    common::MonotonicTime pass_until{};  // marked uncacheable until then
  };
  using Map = std::unordered_map<std::string, Slot, common::SeededHash, common::HashedKeyEqual>;

  common::HashedKey hashed(std::string_view key) const {
    return {common::seededHash(key, seed_), key};
  }
  void sweepMarks(common::MonotonicTime now);
  // Under mutex_: the key's slot (made when missing), and making the caller its leader unless
  // it is marked (false).
  Slot& slotFor(std::string_view key);
  bool lead(Slot& slot, common::MonotonicTime now);

  const std::chrono::milliseconds pass_for_;
  const uint64_t seed_;
  mutable std::mutex mutex_;
  Map slots_;
  size_t in_flight_ = 0;
  size_t waiting_ = 0;
  size_t marked_ = 0;
};

}  // namespace switchyard::filters::cache
