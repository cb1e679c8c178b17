#include "filters/cache/memory_store.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <shared_mutex>  // std::shared_lock
#include <stdexcept>

#include "proxy/common/random.h"

namespace switchyard::filters::cache {
namespace {

static_assert(sizeof(size_t) == 8, "shards are picked by the upper half of a 64-bit hash");

constexpr auto Relaxed = std::memory_order_relaxed;

const MemoryStoreOptions& checked(const MemoryStoreOptions& options) {
  if (options.max_bytes == 0) throw std::invalid_argument("max_bytes must be at least 1");
  if (options.max_object_bytes == 0) {
    throw std::invalid_argument("max_object_bytes must be at least 1");
  }
  if (options.max_variants == 0) throw std::invalid_argument("max_variants must be at least 1");
  if (options.max_object_bytes > options.max_bytes) {
    throw std::invalid_argument("max_object_bytes must not exceed max_bytes");
  }
  if (options.shards != 0) {
    if (!std::has_single_bit(options.shards) || options.shards > MemoryStore::MaxShards) {
      throw std::invalid_argument("shards must be a power of two, at most 64");
    }
    if (options.max_object_bytes > options.max_bytes / options.shards) {
      throw std::invalid_argument("max_object_bytes must not exceed max_bytes / shards");
    }
  }
  return options;
}

size_t shardCountFor(const MemoryStoreOptions& options) {
  if (options.shards != 0) return options.shards;
  const size_t largest_objects = options.max_bytes / options.max_object_bytes;
  const size_t wanted = std::bit_floor(largest_objects / MemoryStore::LargestObjectsPerShard);
  return std::clamp<size_t>(wanted, 1, MemoryStore::MaxShards);
}

}  // namespace

MemoryStore::MemoryStore(const MemoryStoreOptions& options)
    : max_bytes_(checked(options).max_bytes),
      max_object_bytes_(options.max_object_bytes),
      max_variants_(options.max_variants),
      seed_(common::RealRandom().next()),
      shard_count_(shardCountFor(options)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {
  // The budget's remainder goes to the first shards, so the parts add up to max_bytes.
  const size_t part = max_bytes_ / shard_count_;
  const size_t remainder = max_bytes_ % shard_count_;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    shard.keys = KeyMap(0, Hash(seed_), Equal{});
    shard.tags = TagMap(0, Hash(seed_), Equal{});
    shard.max_bytes = part + (i < remainder ? 1 : 0);
  }
}

MemoryStore::~MemoryStore() = default;

size_t MemoryStore::chargeOf(std::string_view primary, std::string_view secondary,
                             std::string_view path, const CachedResponse& response) {
  size_t bytes = EntryOverhead + primary.size() + secondary.size() + path.size() +
                 response.body.size() + response.etag.size() + response.last_modified.size() +
                 response.secondary_key.size();
  for (const auto& [name, value] : response.headers) {
    bytes += ItemOverhead + name.size() + value.size();
  }
  for (const std::string& tag : response.tags) bytes += ItemOverhead + tag.size();
  for (const std::string& name : response.vary_names) bytes += ItemOverhead + name.size();
  return bytes;
}

MemoryStore::Variant* MemoryStore::findVariant(const KeyEntry& key, std::string_view secondary) {
  for (const auto& variant : key.variants) {
    if (variant->secondary == secondary) return variant.get();
  }
  return nullptr;
}

CacheHit MemoryStore::lookup(std::string_view primary, std::string_view secondary) const {
  const HashedKey key = hashed(primary);
  Shard& shard = shardOf(key.hash);
  std::shared_lock lock(shard.mutex);
  auto it = shard.keys.find(key);
  if (it == shard.keys.end()) return {};
  Variant* variant = findVariant(it->second, secondary);
  if (variant == nullptr) {
    CacheHit other;
    other.other_variants = true;
    return other;
  }
  // Written only when it changes (once per insert into the shard at most), so a hot entry's
  // cache line is not bounced between the workers that read it. The tick is written under the
  // exclusive lock only, so reading it here is not a race.
  const uint64_t tick = shard.tick;
  if (variant->last_used.load(Relaxed) < tick) variant->last_used.store(tick, Relaxed);
  CacheHit hit;
  hit.response = variant->response;
  hit.soft_purged = variant->soft_purged.load(Relaxed);
  return hit;
}

std::vector<std::vector<std::string>> MemoryStore::varyNames(std::string_view primary) const {
  std::vector<std::vector<std::string>> lists;
  const HashedKey key = hashed(primary);
  Shard& shard = shardOf(key.hash);
  std::shared_lock lock(shard.mutex);
  auto it = shard.keys.find(key);
  if (it == shard.keys.end()) return lists;
  const auto& variants = it->second.variants;
  for (auto v = variants.rbegin(); v != variants.rend(); ++v) {
    const std::vector<std::string>& names = (*v)->response->vary_names;
    if (std::find(lists.begin(), lists.end(), names) == lists.end()) lists.push_back(names);
  }
  return lists;
}

InsertStatus MemoryStore::insert(std::string_view primary, std::string_view secondary,
                                 std::string_view path,
                                 std::shared_ptr<const CachedResponse> response) {
  if (response == nullptr) return InsertStatus::Invalid;
  const size_t charge = chargeOf(primary, secondary, path, *response);
  if (charge > max_object_bytes_) {
    refused_too_large_.fetch_add(1, Relaxed);
    return InsertStatus::TooLarge;
  }
  const HashedKey key = hashed(primary);
  Shard& shard = shardOf(key.hash);
  auto variant = std::make_unique<Variant>();
  variant->secondary = std::string(secondary);
  variant->response = std::move(response);
  variant->charge = charge;

  Graveyard dead;  // released after the lock (declared first, destroyed last)
  std::unique_lock lock(shard.mutex);
  bool replaced = false;
  auto it = shard.keys.find(key);
  if (it != shard.keys.end()) {
    KeyEntry& entry = it->second;
    if (Variant* old = findVariant(entry, secondary)) {
      unlink(shard, old, dead);
      evictions_replaced_.fetch_add(1, Relaxed);
      replaced = true;
    } else if (entry.variants.size() >= max_variants_) {
      Variant* victim = entry.variants.front().get();
      for (const auto& v : entry.variants) {
        if (v->last_used.load(Relaxed) < victim->last_used.load(Relaxed)) victim = v.get();
      }
      unlink(shard, victim, dead);
      evictions_variants_.fetch_add(1, Relaxed);
    }
  }
  // Terminates: charge <= max_object_bytes <= shard.max_bytes, so an empty shard has room.
  while (shard.bytes + charge > shard.max_bytes) evictOne(shard, dead);

  // The unlinks above may have freed the key's entry: look it up again.
  it = shard.keys.find(key);
  if (it == shard.keys.end()) {
    it = shard.keys.emplace(std::string(primary), KeyEntry{}).first;
    KeyEntry& entry = it->second;
    entry.key = it->first;
    entry.hash = key.hash;
    entry.path = std::string(path);
    shard.paths.emplace(entry.path, &entry);
    keys_.fetch_add(1, Relaxed);
  } else if (it->second.path != path) {
    KeyEntry& entry = it->second;
    shard.paths.erase(PathEntry{entry.path, &entry});
    entry.path = std::string(path);
    shard.paths.emplace(entry.path, &entry);
  }
  KeyEntry& entry = it->second;
  Variant* v = variant.get();
  v->owner = &entry;
  v->last_used.store(shard.tick, Relaxed);
  v->seen = shard.tick;
  ++shard.tick;
  v->ring_pos = shard.ring.insert(shard.ring.end(), v);
  for (const std::string& tag : v->response->tags) {
    auto tag_it = shard.tags.find(std::string_view(tag));
    if (tag_it == shard.tags.end()) tag_it = shard.tags.try_emplace(tag).first;
    tag_it->second.insert(v);
  }
  entry.variants.push_back(std::move(variant));
  shard.bytes += charge;
  bytes_.fetch_add(charge, Relaxed);
  entries_.fetch_add(1, Relaxed);
  inserts_.fetch_add(1, Relaxed);
  return replaced ? InsertStatus::Replaced : InsertStatus::Stored;
}

void MemoryStore::unlink(Shard& shard, Variant* variant, Graveyard& dead) {
  KeyEntry* key = variant->owner;
  shard.ring.erase(variant->ring_pos);
  for (const std::string& tag : variant->response->tags) {
    auto it = shard.tags.find(std::string_view(tag));
    // Absent for a tag listed twice whose set the first occurrence emptied.
    if (it == shard.tags.end()) continue;
    it->second.erase(variant);
    if (it->second.empty()) shard.tags.erase(it);
  }
  shard.bytes -= variant->charge;
  bytes_.fetch_sub(variant->charge, Relaxed);
  entries_.fetch_sub(1, Relaxed);
  dead.push_back(std::move(variant->response));

  auto& variants = key->variants;
  variants.erase(std::find_if(variants.begin(), variants.end(),
                              [variant](const auto& v) { return v.get() == variant; }));
  if (variants.empty()) {
    shard.paths.erase(PathEntry{key->path, key});
    shard.keys.erase(shard.keys.find(HashedKey{key->hash, key->key}));
    keys_.fetch_sub(1, Relaxed);
  }
}

size_t MemoryStore::unlinkKey(Shard& shard, KeyEntry* key, Graveyard& dead) {
  // The last unlink frees `key`: count first, and do not read it after.
  const size_t count = key->variants.size();
  for (size_t i = 0; i < count; ++i) unlink(shard, key->variants.back().get(), dead);
  return count;
}

void MemoryStore::evictOne(Shard& shard, Graveyard& dead) {
  // Ends within one turn of the ring: nobody can look an entry up while the exclusive lock is
  // held, so every entry passed over is evictable when the ring comes back to it.
  for (;;) {
    Variant* front = shard.ring.front();
    const uint64_t used = front->last_used.load(Relaxed);
    if (used == front->seen || front->soft_purged.load(Relaxed)) {
      unlink(shard, front, dead);
      evictions_capacity_.fetch_add(1, Relaxed);
      return;
    }
    front->seen = used;
    shard.ring.splice(shard.ring.end(), shard.ring, shard.ring.begin());
  }
}

bool MemoryStore::remove(std::string_view primary, std::string_view secondary) {
  const HashedKey key = hashed(primary);
  Shard& shard = shardOf(key.hash);
  Graveyard dead;
  std::unique_lock lock(shard.mutex);
  auto it = shard.keys.find(key);
  if (it == shard.keys.end()) return false;
  Variant* variant = findVariant(it->second, secondary);
  if (variant == nullptr) return false;
  unlink(shard, variant, dead);
  removals_.fetch_add(1, Relaxed);
  return true;
}

size_t MemoryStore::purgeKey(std::string_view primary, PurgeMode mode) {
  const HashedKey key = hashed(primary);
  Shard& shard = shardOf(key.hash);
  if (mode == PurgeMode::Soft) {
    std::shared_lock lock(shard.mutex);
    auto it = shard.keys.find(key);
    if (it == shard.keys.end()) return 0;
    for (const auto& v : it->second.variants) v->soft_purged.store(true, Relaxed);
    const size_t count = it->second.variants.size();
    purges_soft_.fetch_add(count, Relaxed);
    return count;
  }
  Graveyard dead;
  std::unique_lock lock(shard.mutex);
  auto it = shard.keys.find(key);
  if (it == shard.keys.end()) return 0;
  const size_t count = unlinkKey(shard, &it->second, dead);
  purges_hard_.fetch_add(count, Relaxed);
  return count;
}

size_t MemoryStore::purgePrefix(std::string_view path_prefix, PurgeMode mode) {
  return purgePaths(path_prefix, false, {}, mode);
}

size_t MemoryStore::purgeTarget(std::string_view path, std::string_view target, PurgeMode mode) {
  return purgePaths(path, true, target, mode);
}

size_t MemoryStore::purgePaths(std::string_view path, bool exact, std::string_view target,
                               PurgeMode mode) {
  // A key matches when its path starts with `path` (equals it when `exact`) and, given a
  // target, its primary key ends with that target as its own last field.
  const auto matches = [&](const PathEntry& entry) {
    if (exact && entry.first != path) return false;
    if (target.empty()) return true;
    const std::string_view key = entry.second->key;
    return key.size() > target.size() && key.ends_with(target) &&
           key[key.size() - target.size() - 1] == '\n';
  };
  size_t total = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    size_t count = 0;
    if (mode == PurgeMode::Soft) {
      std::shared_lock lock(shard.mutex);
      for (auto it = shard.paths.lower_bound(path);
           it != shard.paths.end() && it->first.starts_with(path); ++it) {
        if (!matches(*it)) continue;
        for (const auto& v : it->second->variants) v->soft_purged.store(true, Relaxed);
        count += it->second->variants.size();
      }
    } else {
      Graveyard dead;
      std::unique_lock lock(shard.mutex);
      // Unlinking edits the index: collect first.
      std::vector<KeyEntry*> matched;
      for (auto it = shard.paths.lower_bound(path);
           it != shard.paths.end() && it->first.starts_with(path); ++it) {
        if (matches(*it)) matched.push_back(it->second);
      }
      for (KeyEntry* key : matched) count += unlinkKey(shard, key, dead);
    }
    total += count;
  }
  (mode == PurgeMode::Soft ? purges_soft_ : purges_hard_).fetch_add(total, Relaxed);
  return total;
}

size_t MemoryStore::purgeTag(std::string_view tag, PurgeMode mode) {
  size_t total = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    if (mode == PurgeMode::Soft) {
      std::shared_lock lock(shard.mutex);
      auto it = shard.tags.find(tag);
      if (it == shard.tags.end()) continue;
      for (Variant* v : it->second) v->soft_purged.store(true, Relaxed);
      total += it->second.size();
    } else {
      Graveyard dead;
      std::unique_lock lock(shard.mutex);
      auto it = shard.tags.find(tag);
      if (it == shard.tags.end()) continue;
      // Unlinking edits (and may erase) the set: copy it first.
      const std::vector<Variant*> matched(it->second.begin(), it->second.end());
      for (Variant* v : matched) unlink(shard, v, dead);
      total += matched.size();
    }
  }
  (mode == PurgeMode::Soft ? purges_soft_ : purges_hard_).fetch_add(total, Relaxed);
  return total;
}

MemoryStoreStats MemoryStore::stats() const {
  MemoryStoreStats s;
  s.bytes = bytes_.load(Relaxed);
  s.entries = entries_.load(Relaxed);
  s.keys = keys_.load(Relaxed);
  s.inserts = inserts_.load(Relaxed);
  s.refused_too_large = refused_too_large_.load(Relaxed);
  s.evictions_capacity = evictions_capacity_.load(Relaxed);
  s.evictions_variants = evictions_variants_.load(Relaxed);
  s.evictions_replaced = evictions_replaced_.load(Relaxed);
  s.removals = removals_.load(Relaxed);
  s.purges_hard = purges_hard_.load(Relaxed);
  s.purges_soft = purges_soft_.load(Relaxed);
  return s;
}

void MemoryStore::forEach(const std::function<void(const MemoryStoreEntryView&)>& fn) const {
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::shared_lock lock(shard.mutex);
    for (const Variant* v : shard.ring) {
      fn(MemoryStoreEntryView{v->owner->key, v->secondary, v->owner->path, v->charge,
                              v->soft_purged.load(Relaxed), *v->response});
    }
  }
}

MemoryStoreSnapshot MemoryStore::snapshot(size_t largest) const {
  MemoryStoreSnapshot snap;
  snap.max_bytes = max_bytes_;
  snap.shards.reserve(shard_count_);
  // A min-heap on bytes of the largest entries seen so far; strings are copied only for entries
  // that get in.
  const auto larger = [](const MemoryStoreSnapshot::Entry& a, const MemoryStoreSnapshot::Entry& b) {
    return a.bytes > b.bytes;
  };
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::shared_lock lock(shard.mutex);
    snap.shards.push_back({shard.keys.size(), shard.ring.size(), shard.bytes, shard.max_bytes});
    snap.keys += shard.keys.size();
    snap.entries += shard.ring.size();
    snap.bytes += shard.bytes;
    for (const Variant* v : shard.ring) {
      const bool soft = v->soft_purged.load(Relaxed);
      if (soft) ++snap.soft_purged;
      if (largest == 0) continue;
      if (snap.largest.size() == largest) {
        if (v->charge <= snap.largest.front().bytes) continue;
        std::pop_heap(snap.largest.begin(), snap.largest.end(), larger);
        snap.largest.pop_back();
      }
      snap.largest.push_back({std::string(v->owner->key), v->secondary, v->owner->path, v->charge,
                              v->response->status, soft});
      std::push_heap(snap.largest.begin(), snap.largest.end(), larger);
    }
  }
  std::sort_heap(snap.largest.begin(), snap.largest.end(), larger);
  return snap;
}

}  // namespace switchyard::filters::cache
