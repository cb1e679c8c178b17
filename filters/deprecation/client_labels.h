#pragma once

// The `client` label of switchyard_deprecated_requests_total, with a bounded set of values so a
// client that sends a fresh id on every request cannot grow the metric without limit.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::filters::deprecation {

// Maps a raw client-id header value to a label:
//   - missing or blank                                   -> "unknown"
//   - longer than MaxLength bytes, or any byte outside [A-Za-z0-9._:-]  -> "other"
//   - with an allow-list: a listed value itself, anything else         -> "other"
//   - without one: the first `max_clients` distinct values seen keep their own label, later
//     new values are "other" (for the life of the object, i.e. of one configuration)
// The literal values "unknown" and "other" map to those labels and take no slot. Surrounding
// spaces and tabs are ignored; values are case-sensitive.
//
// Thread-safe, shared by every worker of one filter configuration. A value already seen is found
// without any lock (an open-addressing table whose slots are written once, published with
// release stores); the mutex is taken only to add a value never seen before, and never once the
// table is full (or with an allow-list, which is filled at construction).
class ClientLabels {
 public:
  static constexpr size_t MaxLength = 64;
  static constexpr uint32_t UnknownId = 0;
  static constexpr uint32_t OtherId = 1;

  struct Label {
    // UnknownId, OtherId, or 2.. for a kept value; always below capacity().
    uint32_t id;
    // Lives as long as the ClientLabels.
    std::string_view name;
  };

  // With a non-empty `allow_list` (values must satisfy isValidClientId(); duplicates are
  // ignored), exactly those values are kept and `max_clients` is ignored. Otherwise the first
  // `max_clients` distinct values are.
  ClientLabels(const std::vector<std::string>& allow_list, uint32_t max_clients);
  ~ClientLabels();
  ClientLabels(const ClientLabels&) = delete;
  ClientLabels& operator=(const ClientLabels&) = delete;

  // The label of a request whose client header is `value` (nullptr when absent).
  Label classify(const std::string_view* value);
  Label classify(std::string_view value);

  // One more than the largest id classify() can return.
  uint32_t capacity() const { return static_cast<uint32_t>(limit_ + 2); }

  // 1..MaxLength bytes of [A-Za-z0-9._:-].
  static bool isValidClientId(std::string_view value);

 private:
  struct Entry {
    std::string name;
    size_t hash;
    uint32_t id;
  };

  // The entry for `value`, or nullptr if it is not in the table. Lock-free.
  const Entry* find(std::string_view value, size_t hash) const;
  // Adds `value` unless the table is full; call with mutex_ held. Returns nullptr when full.
  const Entry* insertLocked(std::string_view value, size_t hash);

  const size_t limit_;  // values that get their own label
  const size_t mask_;   // slot count - 1 (a power of two, at least twice limit_)
  std::unique_ptr<std::atomic<const Entry*>[]> slots_;
  std::atomic<bool> full_{false};
  std::mutex mutex_;  // guards entries_ and writers of slots_
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace switchyard::filters::deprecation
