#include "filters/cache/metrics.h"

namespace switchyard::filters::cache {

CacheMetrics::CacheMetrics(prometheus::Registry& registry)
    : lookups(prometheus::BuildCounter()
                  .Name("switchyard_cache_lookups_total")
                  .Help("Requests the cache looked up, by route and result (hit, miss, stale, "
                        "revalidated, coalesced, bypass)")
                  .Register(registry)),
      bytes(prometheus::BuildGauge()
                .Name("switchyard_cache_bytes")
                .Help("Bytes held by the cache's memory tier (headers, bodies and overhead)")
                .Register(registry)
                .Add({})),
      entries(prometheus::BuildGauge()
                  .Name("switchyard_cache_entries")
                  .Help("Responses held by the cache's memory tier")
                  .Register(registry)
                  .Add({})),
      evictions(prometheus::BuildCounter()
                    .Name("switchyard_cache_evictions_total")
                    .Help("Responses evicted from the memory tier, by reason (capacity: to stay "
                          "within max_bytes; variants: over max_variants)")
                    .Register(registry)),
      evictions_capacity(evictions.Add({{"reason", "capacity"}})),
      evictions_variants(evictions.Add({{"reason", "variants"}})),
      purges(prometheus::BuildCounter()
                 .Name("switchyard_cache_purges_total")
                 .Help("Entries removed (hard) or marked stale (soft) by POST /cache/purge")
                 .Register(registry)),
      refreshes(prometheus::BuildCounter()
                    .Name("switchyard_cache_refreshes_total")
                    .Help("Background refreshes of stale entries (stale-while-revalidate), by "
                          "result (stored, uncacheable, failed)")
                    .Register(registry)),
      redis_operations(prometheus::BuildCounter()
                           .Name("switchyard_cache_redis_operations_total")
                           .Help("Operations of the cache's Redis tier, by op (fetch, store, "
                                 "purge, purge_log) and result (hit, miss, ok, error)")
                           .Register(registry)) {}

void countRedisOperation(CacheMetrics& metrics, const char* op, const char* result) {
  metrics.redis_operations.Add({{"op", op}, {"result", result}}).Increment();
}

void publishStoreStats(const MemoryStore& store, CacheMetrics& metrics,
                       std::atomic<uint64_t>* reported) {
  const MemoryStoreStats s = store.stats();
  metrics.bytes.Set(static_cast<double>(s.bytes));
  metrics.entries.Set(static_cast<double>(s.entries));
  // Whichever thread moves the reported count forward adds the difference.
  const auto report = [](std::atomic<uint64_t>& done, uint64_t now, prometheus::Counter& c) {
    uint64_t before = done.load(std::memory_order_relaxed);
    while (now > before && !done.compare_exchange_weak(before, now)) {
    }
    if (now > before) c.Increment(static_cast<double>(now - before));
  };
  report(reported[0], s.evictions_capacity, metrics.evictions_capacity);
  report(reported[1], s.evictions_variants, metrics.evictions_variants);
}

}  // namespace switchyard::filters::cache
