#pragma once

// The cache's shared tier: entries in Redis, behind the process-wide memory tier
// (filters/cache/memory_store.h), so that several replicas share what one of them stored. One
// RedisTier per worker, on the worker's thread, over the worker's redis::Client.
//
// Key layout (<prefix> is RedisTierOptions::prefix, "switchyard:cache:" by default; <target> is
// the primary key's last field, the request-target with its query; hashes are stableHash64() in
// 16 lower-case hex digits; "\0" is one NUL byte):
//
//   <prefix>e:<target>\0<hash(primary)>:<hash(secondary)>   one variant: a string, encodeEntry()
//                                                           bytes, with the TTL given to store()
//   <prefix>v:<target>\0<hash(primary)>                     the Vary names of the primary's
//                                                           latest stored response, comma-joined
//                                                           ("" = varies on nothing); its TTL is
//                                                           the longest of its variants'
//   <prefix>t:<tag>                                         a SET of the entry keys stored with
//                                                           the tag; its TTL at least its longest
//                                                           member's
//   <prefix>purges                                          a STREAM of purges for the other
//                                                           replicas (publishPurge(), trimmed to
//                                                           about purge_log_max_len entries)
//
// The target leads the entry key so that a purge of one URL or of a path prefix is one SCAN
// MATCH over the entry keys (the NUL ends the target: "/x" matches "/x\0*" but neither "/x?q"
// nor "/xy"). The hashes keep keys short whatever the host, route and Vary values; a blob embeds
// its primary and secondary key, and fetch() treats a blob stored for other keys (a collision) as
// a miss. The hash is FNV-1a 64, the same in every process (unlike proxy/common/hash.h's seeded
// hash).
//
// Entry bytes (encodeEntry(), all integers little-endian):
//   [0]      flags: bit 0 = soft-purged (flipped in place by a soft purge, SETRANGE, keeping the
//            TTL); other bits are ignored by this version
//   [1..4]   magic "SYRC"
//   [5]      version, 1
//   u16 status; i64 request_time, response_time (ns since the Unix epoch); i64 initial_age,
//   freshness_lifetime, stale_while_revalidate, stale_if_error (seconds); then length-prefixed
//   (u32) strings: primary, secondary_key, etag, last_modified; u32 count + name/value strings of
//   the headers; u32 count + strings of the tags; u32 count + strings of the Vary names; and last
//   the body (u32 length). Nothing may follow.
//
// Purges (purgeTarget(), purgePrefix(), purgeTag()) walk the keys in bounded batches, one Lua
// script call per batch (SCAN or SSCAN and the batch's deletes or flag flips together), the next
// batch issued from the previous one's callback: nothing blocks the worker or Redis for long. The
// SCAN-based ones need a standalone Redis (they touch keys a cluster would keep on other nodes).
// A hard purge by target or prefix leaves the purged keys in their tag sets; purgeTag() and
// store()'s pruning drop members whose key is gone.
//
// Callbacks: as redis::Client's, each is called at most once, on the worker's thread, never from
// inside the call that started the operation, and not after the operation was cancelled. Errors
// (Redis unreachable, cooling down, timeouts, error replies, replies of an unexpected shape) are
// reported to the callback; nothing here throws on them. The callbacks of fetch(), store() and the
// purge log's operations hold nothing of the RedisTier (only copies of the keys and the
// TimeSource), so the tier may go before them; purges still running when the tier is destroyed
// are cancelled. The tier must be destroyed before its client.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/cache/memory_store.h"
#include "proxy/common/time.h"
#include "proxy/redis/client.h"

namespace switchyard::filters::cache {

// ---- Serialization ----

// Byte 0 of an encoded entry and its bits.
constexpr size_t EntryFlagsOffset = 0;
constexpr uint8_t EntryFlagSoftPurged = 0x01;
// Bytes 1..4 and 5.
constexpr std::string_view EntryMagic = "SYRC";
constexpr uint8_t EntryVersion = 1;

// `entry` as stored in Redis, embedding `primary` (its secondary key is entry.secondary_key).
// stored_at is not stored (decodeEntry() derives it); negative durations are stored as 0. Throws
// std::length_error for a string or list of 4 GiB (2^32 items) or more.
std::string encodeEntry(const CachedResponse& entry, std::string_view primary);

struct DecodedEntry {
  std::shared_ptr<CachedResponse> entry;
  std::string primary;
  bool soft_purged = false;
};

// The entry in `bytes`, or nullopt when they are not an entry this version can read: too short,
// wrong magic or version, a length or count past the end, a status outside 100..999, a time or
// duration out of range, or bytes after the body. Never throws on malformed input. The entry's
// stored_at is `now_monotonic` less the time since its response_time (by `now_system`, 0 when
// the response_time is ahead), so its resident time carries across processes.
std::optional<DecodedEntry> decodeEntry(std::string_view bytes, common::SystemTime now_system,
                                        common::MonotonicTime now_monotonic);

// ---- Keys ----

// FNV-1a, 64 bits: the same in every process and on every machine.
uint64_t stableHash64(std::string_view data);
// The last '\n'-separated field of a primary key (filters/cache/key.h): its request-target.
std::string_view primaryTarget(std::string_view primary);
// `text` with Redis's glob characters (* ? [ ] \) escaped by a backslash, for SCAN MATCH.
std::string escapeGlob(std::string_view text);

std::string entryKey(std::string_view prefix, std::string_view primary, std::string_view secondary);
std::string varyKey(std::string_view prefix, std::string_view primary);
std::string tagKey(std::string_view prefix, std::string_view tag);
std::string purgeLogKey(std::string_view prefix);

// ---- The tier ----

struct RedisTierOptions {
  std::string prefix = "switchyard:cache:";
  // store(): a tag set with more members than this has up to `tag_prune_sample` random members
  // checked, and those whose key is gone removed.
  uint64_t tag_prune_threshold = 10000;
  uint64_t tag_prune_sample = 100;
  // Purges: the COUNT of each SCAN or SSCAN batch, and the most keys one purge visits (SCAN
  // batches count `scan_count` each, Redis's own measure of a batch's work; SSCAN batches count
  // the members they returned) before it stops, reporting itself truncated.
  uint64_t scan_count = 1000;
  uint64_t max_purge_visits = 1000000;
  // The purge log: trimmed to about this many entries (XADD MAXLEN ~), read this many at a time.
  uint64_t purge_log_max_len = 10000;
  uint64_t purge_log_read_count = 100;
};

struct FetchResult {
  enum Kind { Hit, Miss, VaryMismatch, Error };
  Kind kind = Miss;
  // Hit: the entry stored under the (primary, secondary) asked for.
  std::optional<DecodedEntry> entry;
  // The primary's Vary names when its vary key exists (vary_known), whatever the kind but Error.
  bool vary_known = false;
  std::vector<std::string> vary_names;
  // Error: what went wrong ("timeout: ...", "unavailable: ...", "protocol: ...").
  std::string error;
};

struct PurgeResult {
  // Entries removed (hard) or marked (soft, counting those marked already). On an error, those
  // done before it.
  uint64_t matched = 0;
  // Keys visited (see RedisTierOptions::max_purge_visits).
  uint64_t visited = 0;
  // Stopped at max_purge_visits before the end of the keys.
  bool truncated = false;
  std::string error;  // empty when the purge ran to its end (or its cap)
  bool ok() const { return error.empty(); }
};

// What a purge log entry's value is: a request-target (purgeTarget()), a path prefix
// (purgePrefix()) or a tag (purgeTag()).
enum class PurgeKind : uint8_t { Key, Prefix, Tag };
std::string_view purgeKindName(PurgeKind kind);  // "key", "prefix", "tag"
std::string_view purgeModeName(PurgeMode mode);  // "hard", "soft"

// One entry of the purge log.
struct PurgeRecord {
  std::string id;  // the stream entry's ID
  PurgeKind kind = PurgeKind::Key;
  std::string value;
  PurgeMode mode = PurgeMode::Hard;
  std::string origin;  // the publishing process's origin_id
};

struct PurgeLogResult {
  // readPurges(): the records after `after_id`, oldest first (entries this version cannot read
  // are skipped); latestPurgeId() and publishPurge(): none.
  std::vector<PurgeRecord> records;
  // readPurges(): the ID to read after next time (after_id when there was nothing new);
  // latestPurgeId(): the newest entry's ID, "0-0" when the log is empty; publishPurge(): the new
  // entry's ID.
  std::string last_id;
  std::string error;  // empty when ok
  bool ok() const { return error.empty(); }
};

namespace redis_tier_detail {
struct PurgeJob;
}  // namespace redis_tier_detail

// A purge in progress, as its caller holds it. A plain value: a handle whose purge has finished
// (or was cancelled) is harmless, and cancel() on it does nothing.
class PurgeHandle {
 public:
  PurgeHandle() = default;
  // The purge stops (a batch in flight still runs in Redis) and its callback will not be called.
  void cancel();
  // The purge has neither finished nor been cancelled.
  bool active() const;

 private:
  friend class RedisTier;
  explicit PurgeHandle(std::weak_ptr<redis_tier_detail::PurgeJob> job) : job_(std::move(job)) {}
  std::weak_ptr<redis_tier_detail::PurgeJob> job_;
};

class RedisTier {
 public:
  using FetchCallback = std::function<void(FetchResult)>;
  using StoreCallback = std::function<void(bool ok)>;
  using PurgeCallback = std::function<void(PurgeResult)>;
  using PurgeLogCallback = std::function<void(PurgeLogResult)>;

  // `client` and `time` must outlive the tier; `time` stamps decoded entries (decodeEntry()).
  // Registers the tier's scripts with the client (loaded on every connection). Throws
  // std::invalid_argument when a count in `options` is 0 (tag_prune_threshold may be).
  RedisTier(redis::Client& client, const common::TimeSource& time, RedisTierOptions options = {});
  ~RedisTier();
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  const RedisTierOptions& options() const { return options_; }

  // One round trip (MGET of the vary key and the entry key): the variant of `primary` stored
  // under `secondary_guess`, and the primary's Vary names.
  //   Hit: an entry stored for exactly these keys.
  //   Miss: no entry for the guess, and the vary key is missing or names nothing; or a blob that
  //     does not decode, or that was stored for another primary key (a hash collision: the blob
  //     is left as it is, its TTL ends it).
  //   VaryMismatch: no entry for the guess, and the vary key names headers: the caller builds the
  //     secondary key from vary_names and, when it differs from the guess, fetches again.
  //   Error: Redis did not answer, or answered an error.
  redis::Request fetch(std::string_view primary, std::string_view secondary_guess,
                       FetchCallback cb);

  // One script call: the entry under (primary, secondary) with PX `ttl` (at least 1 ms), the
  // primary's vary key set to the entry's Vary names with PX max(ttl, its remaining TTL), and the
  // entry key added to each tag's set, whose TTL is raised to `ttl` when shorter (the set pruned
  // as RedisTierOptions says). The bytes embed `secondary` as the entry's secondary key. cb(false)
  // on any error.
  redis::Request store(std::string_view primary, std::string_view secondary,
                       const CachedResponse& entry, std::chrono::milliseconds ttl,
                       StoreCallback cb);

  // Every entry of the request-target `target` (path and query, exactly), under any host, route,
  // version, cluster and secondary key.
  PurgeHandle purgeTarget(std::string_view target, PurgeMode mode, PurgeCallback cb);
  // Every entry whose request-target starts with `path_prefix` ("" matches every entry). For a
  // prefix without '?' that is the entries whose path starts with it, as in the memory tier; one
  // with '?' compares the query too (the memory tier's purgePrefix() matches nothing then).
  PurgeHandle purgePrefix(std::string_view path_prefix, PurgeMode mode, PurgeCallback cb);
  // Every entry stored with `tag`. Members of the tag's set whose entry is gone are removed from
  // it and not counted.
  PurgeHandle purgeTag(std::string_view tag, PurgeMode mode, PurgeCallback cb);

  // The purge log. publishPurge(): XADD <prefix>purges MAXLEN ~ purge_log_max_len * kind <kind>
  // value <value> mode <mode> origin <origin_id>. readPurges(): XREAD COUNT purge_log_read_count
  // (never BLOCK) of the entries after `after_id`. latestPurgeId(): the newest ID, for a starting
  // process to read after, not replaying history.
  redis::Request publishPurge(PurgeKind kind, std::string_view value, PurgeMode mode,
                              std::string_view origin_id, PurgeLogCallback cb);
  redis::Request readPurges(std::string_view after_id, PurgeLogCallback cb);
  redis::Request latestPurgeId(PurgeLogCallback cb);

 private:
  PurgeHandle startPurge(bool by_tag, std::string key_or_pattern, PurgeMode mode, PurgeCallback cb);

  redis::Client& client_;
  const common::TimeSource& time_;
  const RedisTierOptions options_;
  // The purges started, for the destructor to cancel those still running.
  std::vector<std::weak_ptr<redis_tier_detail::PurgeJob>> purges_;
};

}  // namespace switchyard::filters::cache
