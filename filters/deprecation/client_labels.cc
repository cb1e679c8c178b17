#include "filters/deprecation/client_labels.h"

#include <algorithm>
#include <functional>

namespace switchyard::filters::deprecation {
namespace {

constexpr std::string_view Unknown = "unknown";
constexpr std::string_view Other = "other";

bool isClientIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

std::string_view trimBlanks(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// At least twice as many slots as entries, so probes stay short and always end at an empty slot.
size_t slotCount(size_t limit) {
  size_t n = 4;
  while (n < 2 * limit) n *= 2;
  return n;
}

size_t uniqueCount(const std::vector<std::string>& values) {
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  return static_cast<size_t>(std::unique(sorted.begin(), sorted.end()) - sorted.begin());
}

}  // namespace

ClientLabels::ClientLabels(const std::vector<std::string>& allow_list, uint32_t max_clients)
    : limit_(allow_list.empty() ? max_clients : uniqueCount(allow_list)),
      mask_(slotCount(limit_) - 1),
      slots_(std::make_unique<std::atomic<const Entry*>[]>(mask_ + 1)) {
  entries_.reserve(limit_);
  std::lock_guard lock(mutex_);
  for (const std::string& value : allow_list) {
    const size_t hash = std::hash<std::string_view>{}(value);
    if (find(value, hash) == nullptr) insertLocked(value, hash);
  }
  full_.store(!allow_list.empty() || limit_ == 0, std::memory_order_release);
}

ClientLabels::~ClientLabels() = default;

bool ClientLabels::isValidClientId(std::string_view value) {
  return !value.empty() && value.size() <= MaxLength && std::ranges::all_of(value, isClientIdChar);
}

ClientLabels::Label ClientLabels::classify(const std::string_view* value) {
  return value == nullptr ? Label{UnknownId, Unknown} : classify(*value);
}

ClientLabels::Label ClientLabels::classify(std::string_view raw) {
  const std::string_view value = trimBlanks(raw);
  if (value.empty() || value == Unknown) return {UnknownId, Unknown};
  if (value == Other || !isValidClientId(value)) return {OtherId, Other};
  const size_t hash = std::hash<std::string_view>{}(value);
  if (const Entry* e = find(value, hash)) return {e->id, e->name};
  if (full_.load(std::memory_order_acquire)) return {OtherId, Other};
  std::lock_guard lock(mutex_);
  // Another worker may have added it since find() looked.
  const Entry* e = find(value, hash);
  if (e == nullptr) e = insertLocked(value, hash);
  return e == nullptr ? Label{OtherId, Other} : Label{e->id, e->name};
}

const ClientLabels::Entry* ClientLabels::find(std::string_view value, size_t hash) const {
  // Entries are never removed, so an empty slot ends the probe.
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Entry* e = slots_[i].load(std::memory_order_acquire);
    if (e == nullptr) return nullptr;
    if (e->hash == hash && e->name == value) return e;
  }
}

const ClientLabels::Entry* ClientLabels::insertLocked(std::string_view value, size_t hash) {
  if (entries_.size() >= limit_) {
    full_.store(true, std::memory_order_release);
    return nullptr;
  }
  const auto id = static_cast<uint32_t>(entries_.size() + 2);
  entries_.push_back(std::make_unique<Entry>(Entry{std::string(value), hash, id}));
  const Entry* e = entries_.back().get();
  size_t i = hash & mask_;
  while (slots_[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
  // Release: a reader that sees the pointer sees the entry's contents.
  slots_[i].store(e, std::memory_order_release);
  if (entries_.size() == limit_) full_.store(true, std::memory_order_release);
  return e;
}

}  // namespace switchyard::filters::deprecation
