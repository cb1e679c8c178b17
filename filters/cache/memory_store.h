#pragma once

// The cache's memory tier: one store per process, shared by every worker thread. It knows no HTTP:
// callers build the keys (filters/cache/key.h), decide freshness, and fill a CachedResponse; the
// store keeps it under a byte bound, hands it out, forgets it, and purges it. No I/O and no clock
// reads: the times in an entry are the caller's.
//
// Ownership: a stored response is immutable and shared. lookup() returns a shared_ptr, so a worker
// streaming a hit keeps its copy alive while another thread evicts, replaces or purges the entry.
//
// Threads: every method may be called from any thread. The entries are spread over shards by a
// seeded hash of the primary key, each behind its own SharedSpinLock. lookup() takes its shard's
// lock shared and writes nothing shared but one relaxed atomic in the entry (and not even that when
// the entry was already marked since the last insert into its shard); insert(), remove() and hard
// purges take one shard's lock exclusively at a time, so work on one shard (evicting, purging)
// never holds up the others. Responses dropped under a lock are released after it.
//
// Bytes: every entry is charged chargeOf(): its body, header names and values, validators, tags,
// Vary names, its keys and path, plus ItemOverhead per header field, tag and Vary name and
// EntryOverhead for the bookkeeping around it (the response struct, its control block, the index
// node, the eviction ring node). The primary key and path are charged to each variant although
// variants share one copy, so that each entry's charge stands alone. The bound is split evenly
// across the shards; each shard evicts its own entries to stay within its part. The shard count is
// chosen so that each part holds at least one object of max_object_bytes (four when max_bytes
// allows), so any entry under the object limit fits after evictions. Under a skewed load a shard
// may evict while others have room: that is the price of never locking two shards at once.
//
// Eviction is CLOCK (second chance), an approximate LRU: each shard keeps its entries in a ring in
// insertion order, and each entry records its shard's tick at its last lookup. To make room, the
// entry at the front of the ring is evicted unless it was looked up since the ring last passed it
// (or since it was inserted), in which case it goes to the back. So an entry looked up between two
// evictions survives one more round, and one nobody asked for goes first; a lookup needs no
// exclusive lock and moves nothing in a list. The tick advances on each insert, so "recent" has the
// resolution of one insert into that shard. One eviction may turn over a whole shard in the worst
// case, but every entry it passes over must have been looked up since, so the cost per insert is
// constant on average. Soft-purged entries get no second chance.
//
// Variants: a primary key holds up to max_variants responses told apart by their secondary key
// (the normalized values of the request headers the response varies on). A new variant over the
// cap evicts the key's variant looked up least recently (oldest inserted on a tie).
//
// Purges: by primary key (every variant), by path prefix (through a per-shard ordered index of the
// paths callers pass to insert()), by tag (through a per-shard tag -> entries index); none scans
// entries that do not match, and each holds one shard's lock at a time. Hard removes the entries.
// Soft leaves them and sets a flag beside the response (the response itself is never written):
// lookup() reports it, and the caller may use such an entry only as a stale fallback
// (stale-if-error, stale-while-revalidate) and must revalidate it otherwise. A new insert of the
// same variant clears it.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "filters/cache/cache_control.h"
#include "proxy/common/hash.h"
#include "proxy/common/shared_spin_lock.h"
#include "proxy/common/time.h"

namespace switchyard::filters::cache {

// One stored response, filled by the caller before insert() and never changed after.
struct CachedResponse {
  int status = 200;
  // As stored (names lower-case), framing and hop-by-hop fields already removed by the caller.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // RFC 9111 4.2.3 age arithmetic: when the request was sent and the response received
  // (system clock), and when the entry was made (monotonic, for the resident time).
  common::SystemTime request_time{};
  common::SystemTime response_time{};
  common::MonotonicTime stored_at{};
  // The age of the response when it was received (corrected_initial_age).
  std::chrono::seconds initial_age{0};
  // Decided by the caller from the response and the route's config.
  std::chrono::seconds freshness_lifetime{0};
  std::chrono::seconds stale_while_revalidate{0};
  std::chrono::seconds stale_if_error{0};
  // The response's Cache-Control, parsed once by the caller (every reuse decision reads it).
  ResponseCacheControl cache_control;
  // Validators for a conditional request; empty when the response had none.
  std::string etag;
  std::string last_modified;
  // Purge tags (from the configured tag header).
  std::vector<std::string> tags;
  // The header names the response varies on, and the secondary key built from the request's
  // values of them (what the caller passes to insert() as `secondary`).
  std::vector<std::string> vary_names;
  std::string secondary_key;
};

struct MemoryStoreOptions {
  size_t max_bytes = size_t{256} << 20;
  size_t max_object_bytes = size_t{2} << 20;  // a charge above this is refused
  size_t max_variants = 16;                   // per primary key
  // 0: picked from the sizes (see the top of this file). Otherwise a power of two, at most
  // MemoryStore::MaxShards, with max_object_bytes <= max_bytes / shards.
  size_t shards = 0;
};

enum class InsertStatus {
  Stored,    // a new variant
  Replaced,  // over a variant with the same keys
  TooLarge,  // chargeOf() > max_object_bytes; nothing stored
  Invalid,   // a null response; nothing stored
};

enum class PurgeMode {
  Hard,  // remove the entries
  Soft,  // keep them, marked stale (usable only as a stale fallback)
};

// What lookup() found: a response (null on a miss) and whether it was soft-purged since it was
// stored.
struct CacheHit {
  std::shared_ptr<const CachedResponse> response;
  bool soft_purged = false;
  // No variant under that secondary key, but the primary key has others.
  bool other_variants = false;
  explicit operator bool() const { return response != nullptr; }
};

// Counters since construction and current sizes, each read on its own (relaxed): a snapshot
// taken while other threads work is not consistent across fields.
struct MemoryStoreStats {
  uint64_t bytes = 0;    // sum of the charges of the entries held
  uint64_t entries = 0;  // variants held
  uint64_t keys = 0;     // primary keys held
  uint64_t inserts = 0;  // Stored + Replaced
  uint64_t refused_too_large = 0;
  uint64_t evictions_capacity = 0;  // to stay within max_bytes
  uint64_t evictions_variants = 0;  // to stay within max_variants
  uint64_t evictions_replaced = 0;  // replaced by an insert of the same variant
  uint64_t removals = 0;            // entries removed by remove()
  uint64_t purges_hard = 0;         // entries removed by purges
  uint64_t purges_soft = 0;         // entries marked by soft purges
};

// One entry as forEach() shows it; the views are valid during the callback only.
struct MemoryStoreEntryView {
  std::string_view primary;
  std::string_view secondary;
  std::string_view path;
  size_t bytes;  // its charge
  bool soft_purged;
  const CachedResponse& response;
};

// For the admin page.
struct MemoryStoreSnapshot {
  struct Shard {
    size_t keys = 0;
    size_t entries = 0;
    size_t bytes = 0;
    size_t max_bytes = 0;
  };
  struct Entry {
    std::string primary;
    std::string secondary;
    std::string path;
    size_t bytes = 0;
    int status = 0;
    bool soft_purged = false;
  };
  size_t keys = 0;
  size_t entries = 0;
  size_t bytes = 0;
  size_t soft_purged = 0;
  size_t max_bytes = 0;
  std::vector<Shard> shards;
  std::vector<Entry> largest;  // largest first
};

class MemoryStore {
 public:
  // Charged to every entry on top of its strings (see the top of this file): with libstdc++ on
  // x86-64, an entry that is its key's only variant takes about 680 bytes of bookkeeping and
  // allocator headers. Measured against the process's RSS (60000 entries of 330-byte bodies
  // and 6 fields, December 2026), 768 charged 7% less than the process grew by; 864 covers it.
  static constexpr size_t EntryOverhead = 864;
  // Charged per header field, tag and Vary name.
  static constexpr size_t ItemOverhead = 64;
  static constexpr size_t MaxShards = 64;
  // When max_bytes allows, each shard can hold this many objects of max_object_bytes.
  static constexpr size_t LargestObjectsPerShard = 4;

  // Throws std::invalid_argument when max_bytes, max_object_bytes or max_variants is 0,
  // max_object_bytes > max_bytes, or `shards` is not one of the values described above.
  explicit MemoryStore(const MemoryStoreOptions& options);
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;
  ~MemoryStore();

  // What an entry is charged against max_bytes and max_object_bytes.
  static size_t chargeOf(std::string_view primary, std::string_view secondary,
                         std::string_view path, const CachedResponse& response);

  // The variant of `primary` stored under `secondary` (empty when the response varies on
  // nothing), or an empty hit. Marks it recently used. Whether it is fresh is for the caller to
  // judge from its times.
  CacheHit lookup(std::string_view primary, std::string_view secondary) const;

  // The distinct Vary name lists of the variants of `primary`, the most recently inserted
  // variant's first; empty when the key has no entry. A caller builds the secondary key of a
  // request from each in turn (usually there is one) and looks it up.
  std::vector<std::vector<std::string>> varyNames(std::string_view primary) const;

  // Stores `response` as the variant `secondary` of `primary`, replacing one stored under the
  // same keys. `path` is the path of the request-target (filters/cache/key.h keyPath()), which
  // purgePrefix() matches; it is the same for every insert of one primary key (a new one moves
  // the key in the index). May evict the key's least recently used variant (over max_variants)
  // and other entries of the shard (over its share of max_bytes).
  InsertStatus insert(std::string_view primary, std::string_view secondary, std::string_view path,
                      std::shared_ptr<const CachedResponse> response);

  // Removes one variant (invalidation after an unsafe method); false if there was none.
  bool remove(std::string_view primary, std::string_view secondary);

  // Each returns the number of entries (variants) that matched: removed (Hard) or marked (Soft,
  // counting those already marked).
  size_t purgeKey(std::string_view primary, PurgeMode mode);
  // Entries whose path starts with `path_prefix` ("" matches every entry).
  size_t purgePrefix(std::string_view path_prefix, PurgeMode mode);
  // Entries whose path is `path` and whose primary key ends with the field `target` (the
  // request-target with its query, the last field of filters/cache/key.h's primary key): one URL,
  // whatever host, route or version it was stored under.
  size_t purgeTarget(std::string_view path, std::string_view target, PurgeMode mode);
  size_t purgeTag(std::string_view tag, PurgeMode mode);

  MemoryStoreStats stats() const;

  // Calls `fn` for every entry, one shard at a time under that shard's lock (shared): `fn` must
  // be quick and must not call into the store.
  void forEach(const std::function<void(const MemoryStoreEntryView&)>& fn) const;
  // Sizes per shard and the `largest` entries by charge.
  MemoryStoreSnapshot snapshot(size_t largest = 10) const;

  size_t maxBytes() const { return max_bytes_; }
  size_t maxObjectBytes() const { return max_object_bytes_; }
  size_t maxVariants() const { return max_variants_; }
  size_t shardCount() const { return shard_count_; }

 private:
  struct KeyEntry;
  struct Variant;
  using Ring = std::list<Variant*>;
  using Graveyard = std::vector<std::shared_ptr<const CachedResponse>>;

  // An index entry. The response is immutable; what changes lives here.
  struct Variant {
    KeyEntry* owner = nullptr;
    std::string secondary;
    std::shared_ptr<const CachedResponse> response;
    size_t charge = 0;
    // The shard's tick at the last lookup (or the insert); written by lookups under the shared
    // lock, hence atomic.
    std::atomic<uint64_t> last_used{0};
    // last_used when the ring last passed this entry; exclusive lock only.
    uint64_t seen = 0;
    std::atomic<bool> soft_purged{false};
    Ring::iterator ring_pos;
  };

  struct KeyEntry {
    std::string_view key;  // the map's key
    size_t hash = 0;       // of `key`
    std::string path;
    std::vector<std::unique_ptr<Variant>> variants;  // in insertion order
  };

  using HashedKey = common::HashedKey;
  using Hash = common::SeededHash;
  using Equal = common::HashedKeyEqual;
  using KeyMap = std::unordered_map<std::string, KeyEntry, Hash, Equal>;
  using TagMap = std::unordered_map<std::string, std::unordered_set<Variant*>, Hash, Equal>;
  // (path, key) pairs ordered by path: a prefix is a contiguous range, found by lower_bound() on
  // the prefix alone. The views point into KeyEntry::path, which lives as long as the pair.
  using PathEntry = std::pair<std::string_view, KeyEntry*>;
  struct PathOrder {
    using is_transparent = void;
    bool operator()(const PathEntry& a, const PathEntry& b) const noexcept {
      if (a.first != b.first) return a.first < b.first;
      return std::less<KeyEntry*>{}(a.second, b.second);
    }
    bool operator()(const PathEntry& a, std::string_view b) const noexcept { return a.first < b; }
    bool operator()(std::string_view a, const PathEntry& b) const noexcept { return a < b.first; }
  };
  using PathIndex = std::set<PathEntry, PathOrder>;

  // Invariant: the maps, the ring, `bytes` and `tick` change only under the exclusive lock; a
  // Variant's atomics may change under the shared one. `bytes` is the sum of the charges of the
  // ring's entries and never exceeds `max_bytes`.
  struct alignas(64) Shard {
    common::SharedSpinLock mutex;
    KeyMap keys;
    TagMap tags;
    PathIndex paths;
    Ring ring;
    size_t bytes = 0;
    size_t max_bytes = 0;
    uint64_t tick = 1;
  };

  // The part of EntryOverhead that sizeof can tell: the response with its control block, the
  // index entry, its ring node and its slot in the key's vector.
  static_assert(sizeof(CachedResponse) + 2 * sizeof(void*) + sizeof(Variant) + 3 * sizeof(void*) +
                    sizeof(void*) <=
                EntryOverhead);

  Shard& shardOf(size_t hash) const { return shards_[(hash >> 32) & (shard_count_ - 1)]; }
  HashedKey hashed(std::string_view key) const { return {common::seededHash(key, seed_), key}; }
  static Variant* findVariant(const KeyEntry& key, std::string_view secondary);

  // purgePrefix() and purgeTarget(): the keys under `path` (exactly `path` when `exact`), and
  // given a `target`, only those whose primary key ends with it.
  size_t purgePaths(std::string_view path, bool exact, std::string_view target, PurgeMode mode);

  // The next three run under the shard's exclusive lock and move the responses they drop to
  // `dead`, for the caller to release after unlocking.

  // Unlinks `variant` from every index and frees it; frees its KeyEntry when it was the last.
  void unlink(Shard& shard, Variant* variant, Graveyard& dead);
  // Unlinks every variant of `key` (which is freed); returns how many.
  size_t unlinkKey(Shard& shard, KeyEntry* key, Graveyard& dead);
  // Evicts one entry chosen by the clock (the ring must not be empty).
  void evictOne(Shard& shard, Graveyard& dead);

  const size_t max_bytes_;
  const size_t max_object_bytes_;
  const size_t max_variants_;
  const uint64_t seed_;
  const size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;

  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> keys_{0};
  std::atomic<uint64_t> inserts_{0};
  std::atomic<uint64_t> refused_too_large_{0};
  std::atomic<uint64_t> evictions_capacity_{0};
  std::atomic<uint64_t> evictions_variants_{0};
  std::atomic<uint64_t> evictions_replaced_{0};
  std::atomic<uint64_t> removals_{0};
  std::atomic<uint64_t> purges_hard_{0};
  std::atomic<uint64_t> purges_soft_{0};
};

}  // namespace switchyard::filters::cache
