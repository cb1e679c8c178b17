#include "filters/rate_limit/local_limiter.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <stdexcept>

#include "proxy/common/random.h"

namespace switchyard::filters::rate_limit {
namespace {

static_assert(sizeof(size_t) == 8, "shards are picked by the upper half of a 64-bit hash");

size_t shardCountFor(size_t max_keys) {
  const size_t wanted = std::bit_floor(max_keys / LocalLimiter::MinKeysPerShard);
  return std::clamp<size_t>(wanted, 1, LocalLimiter::MaxShards);
}

size_t checkedMaxKeys(size_t max_keys) {
  if (max_keys == 0) throw std::invalid_argument("max_keys must be at least 1");
  return max_keys;
}

}  // namespace

LocalLimiter::LocalLimiter(const GcraParams& params, size_t max_keys)
    : params_(params),
      max_keys_(checkedMaxKeys(max_keys)),
      seed_(common::RealRandom().next()),
      shard_count_(shardCountFor(max_keys)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {
  for (size_t i = 0; i < shard_count_; ++i) {
    shards_[i].map = Map(0, common::SeededHash(seed_));
    shards_[i].hand = shards_[i].map.end();
  }
}

LocalLimiter::~LocalLimiter() = default;

GcraDecision LocalLimiter::insert(Shard& shard, const HashedKey& key, int64_t now, int64_t cost) {
  // A request denied on a full bucket (cost > burst) is denied whatever the state: store nothing.
  GcraDecision fresh = gcraDecide(0, now, params_, cost);
  if (!fresh.allowed) return fresh;
  {
    std::unique_lock lock(shard.mutex);
    // Another thread may have inserted the key since the shared lookup.
    auto it = shard.map.find(key);
    if (it != shard.map.end()) return admitEntry(it->second, now, cost);
    bool slot = reserveSlot();
    if (!slot) {
      // The first slot freed here is this key's, whatever other shards do meanwhile.
      const size_t evicted = evictSome(shard, now);
      if (evicted > 0) size_.fetch_sub(evicted - 1, std::memory_order_relaxed);
      slot = evicted > 0;
    }
    if (slot) {
      const size_t buckets = shard.map.bucket_count();
      it = shard.map.try_emplace(std::string(key.key)).first;
      if (shard.map.bucket_count() != buckets) shard.hand = shard.map.end();
      it->second.tat.store(fresh.tat, std::memory_order_relaxed);
      return fresh;
    }
  }
  overflowed_.fetch_add(1, std::memory_order_relaxed);
  return admitEntry(overflow_, now, cost);
}

bool LocalLimiter::reserveSlot() {
  size_t taken = size_.load(std::memory_order_relaxed);
  do {
    if (taken >= max_keys_) return false;
  } while (!size_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return true;
}

size_t LocalLimiter::evictSome(Shard& shard, int64_t now) {
  size_t evicted = 0;
  auto it = shard.hand;
  for (size_t examined = 0; examined < EvictionScan && !shard.map.empty(); ++examined) {
    if (it == shard.map.end()) it = shard.map.begin();
    if (it->second.tat.load(std::memory_order_relaxed) <= now) {
      it = shard.map.erase(it);
      ++evicted;
    } else {
      ++it;
    }
  }
  shard.hand = it;
  evictions_.fetch_add(evicted, std::memory_order_relaxed);
  return evicted;
}

size_t LocalLimiter::sweep(int64_t now) {
  size_t dropped = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::unique_lock lock(shard.mutex);
    size_t dropped_here = 0;
    for (auto it = shard.map.begin(); it != shard.map.end();) {
      if (it->second.tat.load(std::memory_order_relaxed) <= now) {
        it = shard.map.erase(it);
        ++dropped_here;
      } else {
        ++it;
      }
    }
    shard.hand = shard.map.begin();
    size_.fetch_sub(dropped_here, std::memory_order_relaxed);
    dropped += dropped_here;
  }
  swept_.fetch_add(dropped, std::memory_order_relaxed);
  return dropped;
}

}  // namespace switchyard::filters::rate_limit
