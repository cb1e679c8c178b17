#pragma once

// The cache's metric families, and publishing a store's sizes to them.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>

#include "filters/cache/memory_store.h"

namespace switchyard::filters::cache {

// The filter's metric families (process-wide, shared by every configuration).
struct CacheMetrics {
  explicit CacheMetrics(prometheus::Registry& registry);
  // switchyard_cache_lookups_total{route,result}: hit, miss, stale, revalidated, coalesced
  // (answered after waiting for another request's response) and bypass (forwarded at once: the
  // key's last answer could not be stored).
  prometheus::Family<prometheus::Counter>& lookups;
  prometheus::Gauge& bytes;    // switchyard_cache_bytes
  prometheus::Gauge& entries;  // switchyard_cache_entries
  // switchyard_cache_evictions_total{reason}: capacity (to stay within max_bytes), variants (over
  // max_variants).
  prometheus::Family<prometheus::Counter>& evictions;
  prometheus::Counter& evictions_capacity;
  prometheus::Counter& evictions_variants;
  // switchyard_cache_purges_total{mode}: entries removed (hard) or marked stale (soft) by
  // POST /cache/purge.
  prometheus::Family<prometheus::Counter>& purges;
  // switchyard_cache_refreshes_total{result}: background refreshes (stale-while-revalidate) by
  // outcome: stored, uncacheable, failed.
  prometheus::Family<prometheus::Counter>& refreshes;
  // switchyard_cache_redis_operations_total{op,result}: the Redis tier's fetch (hit, miss,
  // error), store (ok, error), purge (ok, error) and purge log reads (ok, error).
  prometheus::Family<prometheus::Counter>& redis_operations;
};

// Counts one operation of the Redis tier (any thread).
void countRedisOperation(CacheMetrics& metrics, const char* op, const char* result);

// Sets the size gauges from `store` and adds the evictions since the last call to the counters.
// `reported` holds the store's eviction counts (capacity, variants) already added; any thread.
void publishStoreStats(const MemoryStore& store, CacheMetrics& metrics,
                       std::atomic<uint64_t>* reported);

}  // namespace switchyard::filters::cache
