#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>  // std::shared_lock
#include <string>
#include <string_view>
#include <unordered_map>

#include "filters/rate_limit/gcra.h"
#include "proxy/common/hash.h"
#include "proxy/common/shared_spin_lock.h"

namespace switchyard::filters::rate_limit {

// The keyed GCRA state of one policy in this process, shared by every worker thread: a client
// gets the policy's limit whatever worker its connections land on (a limit split into per-worker
// parts would be unfair when the load is not spread evenly). Thread-safe; every method is a
// function of the `now` passed in (monotonic nanoseconds), so tests drive it with plain numbers.
//
// Cost: admit() of a key already in the table hashes the key once, takes its shard's lock shared
// (one atomic add on that shard's lock word; no other shard is touched), looks the key up without
// allocating, and moves the key's TAT with one compare-exchange (a loop only while other threads
// admit the same key). A new key takes its shard's lock exclusively to insert.
//
// Memory is bounded: at most `max_keys` keys in all (any shard may hold more than its share),
// about 80 bytes each plus the key's length beyond 15 bytes, allocated as keys come. A
// key whose bucket is full again (TAT <= now) carries no information, since forgetting it and
// meeting it again gives the same decisions, so that is the only kind of key ever dropped:
//   - a new key that finds the table full evicts the full buckets among the next EvictionScan
//     keys of its own shard (a clock hand that goes round the shard, so an insert costs O(1));
//   - sweep(now) drops every full bucket (the owner calls it from time to time).
// A key partly used is never dropped, so a client cannot win a fresh bucket by making the proxy
// forget it (sending requests under many other keys).
//
// Overflow: a new key that finds the table full and no full bucket where it looked gets no
// entry; it is decided against one bucket shared by all such keys (same policy), and
// overflowed() counts those decisions. So an attacker who fills the table and then sprays new keys
// gets one key's limit in all, not one per key. The price: while the table stays full, new
// legitimate clients share that bucket with the attacker and may see 429s; the overflow counter
// says when that happens (raise max_keys, or shorten the window so buckets refill sooner).
class LocalLimiter {
 public:
  // Keys examined per insert into a full shard (see above).
  static constexpr size_t EvictionScan = 32;
  // Shards are a power of two, at most MaxShards, with room for at least MinKeysPerShard keys each
  // when max_keys allows: an insert into a full table looks for full buckets in its own shard
  // only, so a shard must hold enough keys for that to find them (a tiny table has one shard).
  static constexpr size_t MaxShards = 64;
  static constexpr size_t MinKeysPerShard = 64;

  // Throws std::invalid_argument if max_keys is 0.
  LocalLimiter(const GcraParams& params, size_t max_keys);
  LocalLimiter(const LocalLimiter&) = delete;
  LocalLimiter& operator=(const LocalLimiter&) = delete;
  ~LocalLimiter();

  // Decides a request of `cost` by `key` at `now` (see gcraDecide()) and records it if allowed.
  // A new key is inserted only if its request is allowed on a full bucket.
  GcraDecision admit(std::string_view key, int64_t now, int64_t cost = 1);

  // Drops every key whose bucket is full at `now`; returns how many. Takes each shard's lock
  // exclusively in turn (admits of that shard wait for its scan, others do not).
  size_t sweep(int64_t now);

  // Keys in the table (the overflow bucket is not one), at most maxKeys().
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t maxKeys() const { return max_keys_; }
  size_t shardCount() const { return shard_count_; }
  const GcraParams& params() const { return params_; }

  // Keys dropped to make room for new ones.
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  // Keys dropped by sweep().
  uint64_t swept() const { return swept_.load(std::memory_order_relaxed); }
  // Decisions made on the shared overflow bucket.
  uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::atomic<int64_t> tat{0};
  };
  using HashedKey = common::HashedKey;
  using Map = std::unordered_map<std::string, Entry, common::SeededHash, common::HashedKeyEqual>;

  // Invariant: an Entry is only read or written under its shard's mutex, shared by admit() for
  // the lookup and the whole compare-exchange loop, exclusive to insert and to erase. So erasing
  // never frees an entry another thread is using, and the `tat <= now` check before an erase
  // cannot race with an admit of the same key. `hand` (where the next eviction scan starts) is
  // an iterator of `map`, used and moved only under the exclusive lock; erases move it on, and an
  // insert that rehashes the map sends it back to the start.
  struct alignas(64) Shard {
    common::SharedSpinLock mutex;
    Map map;
    Map::iterator hand;
  };

  GcraDecision admitEntry(Entry& entry, int64_t now, int64_t cost);
  GcraDecision insert(Shard& shard, const HashedKey& key, int64_t now, int64_t cost);
  // Takes one of the max_keys slots; false if all are taken.
  bool reserveSlot();
  // Evicts the full buckets among the next EvictionScan keys of `shard` (exclusive lock held);
  // returns how many. Their slots are not released: the caller does that.
  size_t evictSome(Shard& shard, int64_t now);
  Shard& shardOf(size_t hash) { return shards_[(hash >> 32) & (shard_count_ - 1)]; }

  const GcraParams params_;
  const size_t max_keys_;
  const uint64_t seed_;
  const size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
  alignas(64) Entry overflow_;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> swept_{0};
  std::atomic<uint64_t> overflowed_{0};
};

// Inline: the lookup runs on every request of a local policy.
inline GcraDecision LocalLimiter::admit(std::string_view key, int64_t now, int64_t cost) {
  const HashedKey hashed{common::seededHash(key, seed_), key};
  Shard& shard = shardOf(hashed.hash);
  {
    std::shared_lock lock(shard.mutex);
    auto it = shard.map.find(hashed);
    if (it != shard.map.end()) return admitEntry(it->second, now, cost);
  }
  return insert(shard, hashed, now, cost);
}

inline GcraDecision LocalLimiter::admitEntry(Entry& entry, int64_t now, int64_t cost) {
  // The TAT is the only shared datum (it publishes nothing else), so relaxed ordering is
  // enough: compare-exchange always acts on the latest value. A denial may be decided on a
  // slightly stale load; TATs only grow, so the latest value would deny too.
  int64_t tat = entry.tat.load(std::memory_order_relaxed);
  for (;;) {
    GcraDecision decision = gcraDecide(tat, now, params_, cost);
    if (!decision.allowed) return decision;
    if (entry.tat.compare_exchange_weak(tat, decision.tat, std::memory_order_relaxed)) {
      return decision;
    }
  }
}

}  // namespace switchyard::filters::rate_limit
