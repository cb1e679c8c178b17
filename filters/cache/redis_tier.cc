#include "filters/cache/redis_tier.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

#include "proxy/redis/reply.h"
#include "proxy/redis/script.h"

namespace switchyard::filters::cache {
namespace {

using redis::Value;

// Times beyond this (ns since the epoch, about the year 2116) or durations beyond MaxSeconds
// (about 34,000 years) are not from an entry: rejecting them keeps the age arithmetic far from
// overflowing.
constexpr int64_t MaxTimeNs = int64_t{1} << 62;
constexpr int64_t MaxSeconds = int64_t{1} << 40;
// More items than this in one list is not an entry either (each takes 4 bytes at least, so the
// remaining length bounds them too).
constexpr uint32_t MaxItems = uint32_t{1} << 20;
constexpr size_t HeaderSize = 6;  // flags, magic, version

// ---- Encoding ----

void putU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}

void putU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void putI64(std::string& out, int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

uint32_t checkedLength(size_t n) {
  if (n > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("cache entry: a field of 4 GiB or more");
  }
  return static_cast<uint32_t>(n);
}

void putString(std::string& out, std::string_view s) {
  putU32(out, checkedLength(s.size()));
  out.append(s);
}

void putStrings(std::string& out, const std::vector<std::string>& list) {
  putU32(out, checkedLength(list.size()));
  for (const std::string& s : list) putString(out, s);
}

int64_t nanosSinceEpoch(common::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t nonNegativeSeconds(std::chrono::seconds s) { return std::max<int64_t>(0, s.count()); }

// ---- Decoding ----

// Reads `in` front to back; once a read fails, every later one fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }

  uint64_t fixed(int bytes) {
    if (!ok_ || remaining() < static_cast<size_t>(bytes)) return fail();
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= uint64_t{static_cast<unsigned char>(in_[pos_ + i])} << (8 * i);
    }
    pos_ += static_cast<size_t>(bytes);
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(fixed(2)); }
  uint32_t u32() { return static_cast<uint32_t>(fixed(4)); }
  int64_t i64() { return static_cast<int64_t>(fixed(8)); }

  std::string string() {
    const uint32_t n = u32();
    if (!ok_ || n > remaining()) {
      fail();
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  // A count of items that take at least `min_item_bytes` each.
  uint32_t count(size_t min_item_bytes) {
    const uint32_t n = u32();
    if (!ok_ || n > MaxItems || n > remaining() / min_item_bytes)
      return static_cast<uint32_t>(fail());
    return n;
  }

  std::vector<std::string> strings() {
    std::vector<std::string> out;
    const uint32_t n = count(4);
    out.reserve(n);
    for (uint32_t i = 0; i < n && ok_; ++i) out.push_back(string());
    return out;
  }

 private:
  uint64_t fail() {
    ok_ = false;
    return 0;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string hex64(uint64_t v) {
  static constexpr char Hex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = Hex[v & 0xf];
    v >>= 4;
  }
  return out;
}

// <prefix><kind>:<target>\0<hash(primary)>
std::string targetKey(std::string_view prefix, std::string_view kind, std::string_view primary) {
  const std::string_view target = primaryTarget(primary);
  std::string key;
  key.reserve(prefix.size() + kind.size() + target.size() + 20 + 17);
  key.append(prefix).append(kind).append(target);
  key.push_back('\0');
  key.append(hex64(stableHash64(primary)));
  return key;
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out.push_back(',');
    out.append(name);
  }
  return out;
}

std::vector<std::string> splitNames(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const size_t comma = joined.find(',');
    const std::string_view name = joined.substr(0, comma);
    if (!name.empty()) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    joined.remove_prefix(comma + 1);
  }
  return out;
}

std::string errorOf(const redis::Result& result) {
  std::string out(redis::errorKindName(result.error));
  if (!result.message.empty()) out.append(": ").append(result.message);
  return out;
}

const std::string Protocol = "protocol: unexpected reply";

bool isStringOrNil(const Value& v) { return v.type == Value::Type::String || v.isNil(); }

// ---- Scripts ----

// Marks one entry soft-purged in place (its TTL stays): true when `key` holds an entry, marked
// now or before.
std::string markFunction() {
  return R"lua(
local function mark(key)
  local head = redis.pcall('GETRANGE', key, 0, 5)
  if type(head) ~= 'string' or #head < 6 or string.sub(head, 2, 5) ~= ')lua" +
         std::string(EntryMagic) + R"lua(' then
    return false
  end
  local flags = string.byte(head, 1)
  if flags % 2 == 0 then
    redis.call('SETRANGE', key, 0, string.char(flags + 1))
  end
  return true
end
)lua";
}

// KEYS[1] entry, KEYS[2] vary key, KEYS[3..] tag sets. ARGV[1] the entry's bytes, ARGV[2] the TTL
// in ms, ARGV[3] the Vary names, ARGV[4] the tag prune threshold, ARGV[5] the prune sample.
const redis::Script& storeScript() {
  static const redis::Script script(R"lua(
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local vary_ttl = redis.call('PTTL', KEYS[2])
if vary_ttl < ttl then
  vary_ttl = ttl
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', string.format('%d', vary_ttl))
local threshold = tonumber(ARGV[4])
local sample = tonumber(ARGV[5])
for i = 3, #KEYS do
  local set = KEYS[i]
  redis.call('SADD', set, KEYS[1])
  if redis.call('PTTL', set) < ttl then
    redis.call('PEXPIRE', set, ARGV[2])
  end
  if redis.call('SCARD', set) > threshold then
    for _, member in ipairs(redis.call('SRANDMEMBER', set, sample)) do
      if redis.call('EXISTS', member) == 0 then
        redis.call('SREM', set, member)
      end
    end
  end
end
return 1
)lua");
  return script;
}

// One batch of a purge by pattern. ARGV[1] cursor, ARGV[2] MATCH pattern, ARGV[3] COUNT,
// ARGV[4] "hard" or "soft". Returns {next cursor, entries matched, keys returned by SCAN}.
const redis::Script& scanPurgeScript() {
  static const redis::Script script(markFunction() + R"lua(
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3], 'TYPE', 'string')
local matched = 0
for _, key in ipairs(page[2]) do
  if ARGV[4] == 'hard' then
    matched = matched + redis.call('UNLINK', key)
  elseif mark(key) then
    matched = matched + 1
  end
end
return {page[1], matched, #page[2]}
)lua");
  return script;
}

// One batch of a purge by tag. KEYS[1] the tag set; ARGV[1] cursor, ARGV[2] COUNT, ARGV[3]
// "hard" or "soft". Members whose entry is gone leave the set. Returns {next cursor, entries
// matched, members returned by SSCAN}.
const redis::Script& tagPurgeScript() {
  static const redis::Script script(markFunction() + R"lua(
local page = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local matched = 0
for _, key in ipairs(page[2]) do
  local hit
  if ARGV[3] == 'hard' then
    hit = redis.call('UNLINK', key) == 1
  else
    hit = mark(key)
  end
  if hit then
    matched = matched + 1
  end
  if ARGV[3] == 'hard' or not hit then
    redis.call('SREM', KEYS[1], key)
  end
end
return {page[1], matched, #page[2]}
)lua");
  return script;
}

// ---- Replies ----

FetchResult fetchResult(const redis::Result& result, const std::string& primary,
                        const std::string& secondary, common::SystemTime now_system,
                        common::MonotonicTime now_monotonic) {
  FetchResult out;
  if (!result.ok()) {
    out.kind = FetchResult::Error;
    out.error = errorOf(result);
    return out;
  }
  const Value& v = result.value;
  if (v.type != Value::Type::Array || v.array.size() != 2 || !isStringOrNil(v.array[0]) ||
      !isStringOrNil(v.array[1])) {
    out.kind = FetchResult::Error;
    out.error = Protocol;
    return out;
  }
  if (!v.array[0].isNil()) {
    out.vary_known = true;
    out.vary_names = splitNames(v.array[0].string);
  }
  if (!v.array[1].isNil()) {
    std::optional<DecodedEntry> decoded = decodeEntry(v.array[1].string, now_system, now_monotonic);
    if (!decoded || decoded->primary != primary) {
      out.kind = FetchResult::Miss;  // unreadable, or another primary key's (a collision)
      return out;
    }
    if (decoded->entry->secondary_key == secondary) {
      out.kind = FetchResult::Hit;
      out.entry = std::move(decoded);
      return out;
    }
  }
  out.kind = out.vary_names.empty() ? FetchResult::Miss : FetchResult::VaryMismatch;
  return out;
}

bool parsePurgeKind(std::string_view name, PurgeKind& kind) {
  for (PurgeKind k : {PurgeKind::Key, PurgeKind::Prefix, PurgeKind::Tag}) {
    if (purgeKindName(k) == name) {
      kind = k;
      return true;
    }
  }
  return false;
}

bool parsePurgeMode(std::string_view name, PurgeMode& mode) {
  for (PurgeMode m : {PurgeMode::Hard, PurgeMode::Soft}) {
    if (purgeModeName(m) == name) {
      mode = m;
      return true;
    }
  }
  return false;
}

// One stream entry, [id, [field, value, ...]]. False when it has another shape; `record` is
// left without a kind when the shape is right but the fields are not ours (it is skipped).
bool parseStreamEntry(const Value& entry, PurgeRecord& record, bool& readable) {
  if (entry.type != Value::Type::Array || entry.array.size() != 2 ||
      entry.array[0].type != Value::Type::String) {
    return false;
  }
  record.id = entry.array[0].string;
  const Value& fields = entry.array[1];
  readable = false;
  if (fields.isNil()) return true;  // an entry deleted by XDEL, as XREAD may show it
  if (fields.type != Value::Type::Array || fields.array.size() % 2 != 0) return false;
  bool kind = false;
  bool mode = false;
  bool value = false;
  for (size_t i = 0; i + 1 < fields.array.size(); i += 2) {
    const Value& name = fields.array[i];
    const Value& field = fields.array[i + 1];
    if (name.type != Value::Type::String || field.type != Value::Type::String) return false;
    if (name.string == "kind") {
      kind = parsePurgeKind(field.string, record.kind);
    } else if (name.string == "value") {
      record.value = field.string;
      value = true;
    } else if (name.string == "mode") {
      mode = parsePurgeMode(field.string, record.mode);
    } else if (name.string == "origin") {
      record.origin = field.string;
    }
  }
  readable = kind && mode && value;
  return true;
}

// Appends the entries of an XREAD or XRANGE entry list to `out`; false on another shape.
bool parseStreamEntries(const Value& entries, PurgeLogResult& out) {
  if (entries.type != Value::Type::Array) return false;
  for (const Value& entry : entries.array) {
    PurgeRecord record;
    bool readable = false;
    if (!parseStreamEntry(entry, record, readable)) return false;
    out.last_id = record.id;
    if (readable) out.records.push_back(std::move(record));
  }
  return true;
}

PurgeLogResult readResult(const redis::Result& result, const std::string& after_id) {
  PurgeLogResult out;
  out.last_id = after_id;
  if (!result.ok()) {
    out.error = errorOf(result);
    return out;
  }
  const Value& v = result.value;
  if (v.isNil()) return out;  // nothing after after_id
  // [[key, entries]]
  bool shape = v.type == Value::Type::Array && v.array.size() <= 1;
  if (shape && v.array.size() == 1) {
    const Value& stream = v.array[0];
    shape = stream.type == Value::Type::Array && stream.array.size() == 2 &&
            parseStreamEntries(stream.array[1], out);
  }
  if (!shape) {
    out = PurgeLogResult{};
    out.last_id = after_id;
    out.error = Protocol;
  }
  return out;
}

}  // namespace

// ---- Serialization ----

std::string encodeEntry(const CachedResponse& entry, std::string_view primary) {
  size_t size = HeaderSize + 2 + 6 * 8 + 4 * 4 + primary.size() + entry.secondary_key.size() +
                entry.etag.size() + entry.last_modified.size() + 3 * 4 + 4 + entry.body.size();
  for (const auto& [name, value] : entry.headers) size += 8 + name.size() + value.size();
  for (const std::string& tag : entry.tags) size += 4 + tag.size();
  for (const std::string& name : entry.vary_names) size += 4 + name.size();

  std::string out;
  out.reserve(size);
  out.push_back('\0');  // flags
  out.append(EntryMagic);
  out.push_back(static_cast<char>(EntryVersion));
  putU16(out, static_cast<uint16_t>(std::clamp(entry.status, 0, 0xffff)));
  putI64(out, nanosSinceEpoch(entry.request_time));
  putI64(out, nanosSinceEpoch(entry.response_time));
  putI64(out, nonNegativeSeconds(entry.initial_age));
  putI64(out, nonNegativeSeconds(entry.freshness_lifetime));
  putI64(out, nonNegativeSeconds(entry.stale_while_revalidate));
  putI64(out, nonNegativeSeconds(entry.stale_if_error));
  putString(out, primary);
  putString(out, entry.secondary_key);
  putString(out, entry.etag);
  putString(out, entry.last_modified);
  putU32(out, checkedLength(entry.headers.size()));
  for (const auto& [name, value] : entry.headers) {
    putString(out, name);
    putString(out, value);
  }
  putStrings(out, entry.tags);
  putStrings(out, entry.vary_names);
  putString(out, entry.body);
  return out;
}

std::optional<DecodedEntry> decodeEntry(std::string_view bytes, common::SystemTime now_system,
                                        common::MonotonicTime now_monotonic) {
  if (bytes.size() < HeaderSize || bytes.substr(1, EntryMagic.size()) != EntryMagic ||
      static_cast<uint8_t>(bytes[5]) != EntryVersion) {
    return std::nullopt;
  }
  DecodedEntry out;
  out.soft_purged = (static_cast<uint8_t>(bytes[EntryFlagsOffset]) & EntryFlagSoftPurged) != 0;
  auto entry = std::make_shared<CachedResponse>();
  Reader in(bytes.substr(HeaderSize));
  entry->status = in.u16();
  const int64_t request_ns = in.i64();
  const int64_t response_ns = in.i64();
  int64_t seconds[4];
  for (int64_t& s : seconds) s = in.i64();
  out.primary = in.string();
  entry->secondary_key = in.string();
  entry->etag = in.string();
  entry->last_modified = in.string();
  const uint32_t headers = in.count(8);
  entry->headers.reserve(headers);
  for (uint32_t i = 0; i < headers && in.ok(); ++i) {
    std::string name = in.string();
    std::string value = in.string();
    entry->headers.emplace_back(std::move(name), std::move(value));
  }
  entry->tags = in.strings();
  entry->vary_names = in.strings();
  entry->body = in.string();
  if (!in.ok() || in.remaining() != 0) return std::nullopt;
  if (entry->status < 100 || entry->status > 999) return std::nullopt;
  if (request_ns < 0 || request_ns > MaxTimeNs || response_ns < 0 || response_ns > MaxTimeNs) {
    return std::nullopt;
  }
  for (int64_t s : seconds) {
    if (s < 0 || s > MaxSeconds) return std::nullopt;
  }

  using std::chrono::nanoseconds;
  entry->request_time = common::SystemTime(
      std::chrono::duration_cast<common::SystemTime::duration>(nanoseconds(request_ns)));
  entry->response_time = common::SystemTime(
      std::chrono::duration_cast<common::SystemTime::duration>(nanoseconds(response_ns)));
  entry->initial_age = std::chrono::seconds(seconds[0]);
  entry->freshness_lifetime = std::chrono::seconds(seconds[1]);
  entry->stale_while_revalidate = std::chrono::seconds(seconds[2]);
  entry->stale_if_error = std::chrono::seconds(seconds[3]);
  // The response_time bound keeps this difference far from overflowing, whatever now_system is
  // within the same bound; a now_system before the epoch counts as no time since.
  const int64_t now_ns = std::max<int64_t>(0, nanosSinceEpoch(now_system));
  const int64_t resident_ns = std::max<int64_t>(0, std::min(now_ns, MaxTimeNs) - response_ns);
  entry->stored_at = now_monotonic - std::chrono::duration_cast<common::MonotonicTime::duration>(
                                         nanoseconds(resident_ns));
  out.entry = std::move(entry);
  return out;
}

// ---- Keys ----

uint64_t stableHash64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string_view primaryTarget(std::string_view primary) {
  const size_t nl = primary.rfind('\n');
  return nl == std::string_view::npos ? primary : primary.substr(nl + 1);
}

std::string escapeGlob(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string entryKey(std::string_view prefix, std::string_view primary,
                     std::string_view secondary) {
  std::string key = targetKey(prefix, "e:", primary);
  key.push_back(':');
  key.append(hex64(stableHash64(secondary)));
  return key;
}

std::string varyKey(std::string_view prefix, std::string_view primary) {
  return targetKey(prefix, "v:", primary);
}

std::string tagKey(std::string_view prefix, std::string_view tag) {
  std::string key;
  key.reserve(prefix.size() + 2 + tag.size());
  key.append(prefix).append("t:").append(tag);
  return key;
}

std::string purgeLogKey(std::string_view prefix) {
  std::string key(prefix);
  key.append("purges");
  return key;
}

std::string_view purgeKindName(PurgeKind kind) {
  switch (kind) {
    case PurgeKind::Key:
      return "key";
    case PurgeKind::Prefix:
      return "prefix";
    case PurgeKind::Tag:
      return "tag";
  }
  return "key";
}

std::string_view purgeModeName(PurgeMode mode) { return mode == PurgeMode::Soft ? "soft" : "hard"; }

// ---- Purges ----

namespace redis_tier_detail {

struct PurgeJob {
  PurgeJob(redis::Client& c, RedisTier::PurgeCallback callback)
      : client(c), cb(std::move(callback)) {}

  redis::Client& client;
  bool by_tag = false;
  std::string key_or_pattern;  // the tag set, or the MATCH pattern
  std::string mode;            // "hard" or "soft"
  std::string count;           // COUNT per batch
  uint64_t scan_count = 0;
  uint64_t max_visits = 0;
  std::string cursor = "0";
  PurgeResult result;
  RedisTier::PurgeCallback cb;  // null once finished or cancelled
  redis::Request request;       // the batch in flight
};

}  // namespace redis_tier_detail

namespace {

void finishPurge(const std::shared_ptr<redis_tier_detail::PurgeJob>& job) {
  RedisTier::PurgeCallback cb = std::move(job->cb);
  job->cb = nullptr;
  if (cb) cb(job->result);
}

void purgeStep(const std::shared_ptr<redis_tier_detail::PurgeJob>& job) {
  auto on_reply = [job](redis::Result result) {
    job->request = redis::Request();
    if (!job->cb) return;  // cancelled meanwhile
    if (!result.ok()) {
      job->result.error = errorOf(result);
      finishPurge(job);
      return;
    }
    const Value& v = result.value;
    if (v.type != Value::Type::Array || v.array.size() != 3 ||
        v.array[0].type != Value::Type::String || v.array[1].type != Value::Type::Integer ||
        v.array[2].type != Value::Type::Integer || v.array[1].integer < 0 ||
        v.array[2].integer < 0) {
      job->result.error = Protocol;
      finishPurge(job);
      return;
    }
    job->cursor = v.array[0].string;
    job->result.matched += static_cast<uint64_t>(v.array[1].integer);
    job->result.visited +=
        job->by_tag ? static_cast<uint64_t>(v.array[2].integer) : job->scan_count;
    if (job->cursor == "0") {
      finishPurge(job);
    } else if (job->result.visited >= job->max_visits) {
      job->result.truncated = true;
      finishPurge(job);
    } else {
      purgeStep(job);
    }
  };
  if (job->by_tag) {
    job->request = job->client.eval(tagPurgeScript(), {job->key_or_pattern},
                                    {job->cursor, job->count, job->mode}, std::move(on_reply));
  } else {
    job->request = job->client.eval(scanPurgeScript(), {},
                                    {job->cursor, job->key_or_pattern, job->count, job->mode},
                                    std::move(on_reply));
  }
}

}  // namespace

void PurgeHandle::cancel() {
  const std::shared_ptr<redis_tier_detail::PurgeJob> job = job_.lock();
  if (!job) return;
  job->cb = nullptr;
  redis::Request request = job->request;
  job->request = redis::Request();
  request.cancel();  // may free the job: its last owner is the batch's callback
}

bool PurgeHandle::active() const {
  const std::shared_ptr<redis_tier_detail::PurgeJob> job = job_.lock();
  return job && job->cb != nullptr;
}

// ---- The tier ----

RedisTier::RedisTier(redis::Client& client, const common::TimeSource& time,
                     RedisTierOptions options)
    : client_(client), time_(time), options_(std::move(options)) {
  if (options_.scan_count == 0 || options_.max_purge_visits == 0 ||
      options_.purge_log_max_len == 0 || options_.purge_log_read_count == 0 ||
      options_.tag_prune_sample == 0) {
    throw std::invalid_argument(
        "cache redis tier: scan_count, max_purge_visits, purge_log_max_len, "
        "purge_log_read_count and tag_prune_sample must be positive");
  }
  client_.loadScript(storeScript());
  client_.loadScript(scanPurgeScript());
  client_.loadScript(tagPurgeScript());
}

RedisTier::~RedisTier() {
  for (const std::weak_ptr<redis_tier_detail::PurgeJob>& job : purges_) PurgeHandle(job).cancel();
}

redis::Request RedisTier::fetch(std::string_view primary, std::string_view secondary_guess,
                                FetchCallback cb) {
  std::vector<std::string> argv = {"MGET", varyKey(options_.prefix, primary),
                                   entryKey(options_.prefix, primary, secondary_guess)};
  return client_.command(std::move(argv), [&time = time_, primary = std::string(primary),
                                           secondary = std::string(secondary_guess),
                                           cb = std::move(cb)](redis::Result result) {
    cb(fetchResult(result, primary, secondary, time.systemNow(), time.monotonicNow()));
  });
}

redis::Request RedisTier::store(std::string_view primary, std::string_view secondary,
                                const CachedResponse& entry, std::chrono::milliseconds ttl,
                                StoreCallback cb) {
  const std::string entry_key = entryKey(options_.prefix, primary, secondary);
  std::vector<std::string> keys = {entry_key, varyKey(options_.prefix, primary)};
  keys.reserve(2 + entry.tags.size());
  for (const std::string& tag : entry.tags) keys.push_back(tagKey(options_.prefix, tag));
  // The entry embeds the secondary key it is stored under, whatever the response says.
  std::string bytes;
  if (entry.secondary_key == secondary) {
    bytes = encodeEntry(entry, primary);
  } else {
    CachedResponse copy = entry;
    copy.secondary_key = std::string(secondary);
    bytes = encodeEntry(copy, primary);
  }
  const int64_t ttl_ms = std::max<int64_t>(1, ttl.count());
  std::vector<std::string> args = {
      std::move(bytes), std::to_string(ttl_ms), joinNames(entry.vary_names),
      std::to_string(options_.tag_prune_threshold), std::to_string(options_.tag_prune_sample)};
  return client_.eval(storeScript(), keys, args, [cb = std::move(cb)](redis::Result result) {
    cb(result.ok() && result.value.type == Value::Type::Integer && result.value.integer == 1);
  });
}

PurgeHandle RedisTier::purgeTarget(std::string_view target, PurgeMode mode, PurgeCallback cb) {
  std::string pattern = escapeGlob(options_.prefix) + "e:" + escapeGlob(target);
  pattern.push_back('\0');
  pattern.push_back('*');
  return startPurge(false, std::move(pattern), mode, std::move(cb));
}

PurgeHandle RedisTier::purgePrefix(std::string_view path_prefix, PurgeMode mode, PurgeCallback cb) {
  std::string pattern = escapeGlob(options_.prefix) + "e:" + escapeGlob(path_prefix) + "*";
  return startPurge(false, std::move(pattern), mode, std::move(cb));
}

PurgeHandle RedisTier::purgeTag(std::string_view tag, PurgeMode mode, PurgeCallback cb) {
  return startPurge(true, tagKey(options_.prefix, tag), mode, std::move(cb));
}

PurgeHandle RedisTier::startPurge(bool by_tag, std::string key_or_pattern, PurgeMode mode,
                                  PurgeCallback cb) {
  std::erase_if(purges_,
                [](const std::weak_ptr<redis_tier_detail::PurgeJob>& j) { return j.expired(); });
  auto job = std::make_shared<redis_tier_detail::PurgeJob>(client_, std::move(cb));
  job->by_tag = by_tag;
  job->key_or_pattern = std::move(key_or_pattern);
  job->mode = std::string(purgeModeName(mode));
  job->count = std::to_string(options_.scan_count);
  job->scan_count = options_.scan_count;
  job->max_visits = options_.max_purge_visits;
  purgeStep(job);
  purges_.push_back(job);
  return PurgeHandle(job);
}

redis::Request RedisTier::publishPurge(PurgeKind kind, std::string_view value, PurgeMode mode,
                                       std::string_view origin_id, PurgeLogCallback cb) {
  std::vector<std::string> argv = {"XADD",
                                   purgeLogKey(options_.prefix),
                                   "MAXLEN",
                                   "~",
                                   std::to_string(options_.purge_log_max_len),
                                   "*",
                                   "kind",
                                   std::string(purgeKindName(kind)),
                                   "value",
                                   std::string(value),
                                   "mode",
                                   std::string(purgeModeName(mode)),
                                   "origin",
                                   std::string(origin_id)};
  return client_.command(std::move(argv), [cb = std::move(cb)](redis::Result result) {
    PurgeLogResult out;
    if (!result.ok()) {
      out.error = errorOf(result);
    } else if (result.value.type != Value::Type::String) {
      out.error = Protocol;
    } else {
      out.last_id = result.value.string;
    }
    cb(std::move(out));
  });
}

redis::Request RedisTier::readPurges(std::string_view after_id, PurgeLogCallback cb) {
  std::vector<std::string> argv = {"XREAD",
                                   "COUNT",
                                   std::to_string(options_.purge_log_read_count),
                                   "STREAMS",
                                   purgeLogKey(options_.prefix),
                                   std::string(after_id)};
  return client_.command(std::move(argv),
                         [after_id = std::string(after_id), cb = std::move(cb)](
                             redis::Result result) { cb(readResult(result, after_id)); });
}

redis::Request RedisTier::latestPurgeId(PurgeLogCallback cb) {
  std::vector<std::string> argv = {"XREVRANGE", purgeLogKey(options_.prefix), "+", "-", "COUNT",
                                   "1"};
  return client_.command(std::move(argv), [cb = std::move(cb)](redis::Result result) {
    PurgeLogResult out;
    out.last_id = "0-0";
    if (!result.ok()) {
      out.error = errorOf(result);
    } else if (!parseStreamEntries(result.value, out)) {
      out = PurgeLogResult{};
      out.error = Protocol;
    } else {
      out.records.clear();  // the ID is the answer
    }
    cb(std::move(out));
  });
}

}  // namespace switchyard::filters::cache
