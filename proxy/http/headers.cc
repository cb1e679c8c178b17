#include "proxy/http/headers.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace switchyard::http {
namespace {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

}  // namespace

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this == &other) return *this;
  clear();
  entries_.reserve(other.entries_.size());
  for (const Entry& e : other.entries_) add(e.name, e.value);
  return *this;
}

HeaderMap& HeaderMap::operator=(HeaderMap&& other) noexcept {
  if (this == &other) return *this;
  // The blocks move with their bytes, so the entries' views stay valid.
  entries_ = std::move(other.entries_);
  owner_ = std::move(other.owner_);
  blocks_ = std::move(other.blocks_);
  block_ = std::exchange(other.block_, 0);
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  used_ = std::exchange(other.used_, 0);
  token_ = std::exchange(other.token_, 0);
  other.entries_.clear();
  other.blocks_.clear();
  return *this;
}

const std::string_view* HeaderMap::get(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e.value;
  }
  return nullptr;
}

char* HeaderMap::nextBlock(size_t n, size_t keep) {
  const char* kept = data_ + used_ - keep;
  // The next block that can hold the kept bytes and the new ones, else a new one. Blocks after
  // the current one are free (they were filled before the last clear()).
  size_t next = data_ == nullptr ? 0 : block_ + 1;
  while (next < blocks_.size() && blocks_[next].size < keep + n) ++next;
  if (next >= blocks_.size()) {
    const size_t last = blocks_.empty() ? 0 : blocks_.back().size;
    const size_t size = std::max({keep + n, 2 * last, size_t{1024}});
    blocks_.push_back({std::make_unique<char[]>(size), size});
    next = blocks_.size() - 1;
  }
  const size_t want = data_ == nullptr ? 0 : block_ + 1;
  if (next != want) {
    // Keep the blocks in fill order: the one chosen comes next.
    std::swap(blocks_[want], blocks_[next]);
    next = want;
  }
  char* base = blocks_[next].data.get();
  if (keep > 0) memcpy(base, kept, keep);
  block_ = next;
  data_ = base;
  size_ = blocks_[next].size;
  used_ = keep + n;
  return base + keep;
}

std::string_view HeaderMap::copy(std::string_view s) {
  if (s.empty()) return {};
  char* p = allocate(s.size());
  copyShort(p, s.data(), s.size());
  return {p, s.size()};
}

char* HeaderMap::extendTokenSlow(size_t n) {
  char* p = nextBlock(n, token_);
  token_ += n;
  return p;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  // One reservation for both: a single bounds check in the common case.
  const size_t n = name.size() + value.size();
  char* p = n == 0 ? nullptr : allocate(n);
  copyShort(p, name.data(), name.size());
  copyShort(p + name.size(), value.data(), value.size());
  entries_.push_back({{p, name.size()}, {p + name.size(), value.size()}});
}

void HeaderMap::clear() {
  entries_.clear();
  owner_.reset();
  used_ = 0;
  token_ = 0;
  // A head that once held an unusually large header keeps at most 64 KiB for the next one.
  size_t total = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    total += blocks_[i].size;
    if (total > 64 * 1024) {
      blocks_.resize(i);
      break;
    }
  }
  block_ = 0;
  data_ = blocks_.empty() ? nullptr : blocks_[0].data.get();
  size_ = blocks_.empty() ? 0 : blocks_[0].size;
}

size_t HeaderMap::count(std::string_view name) const {
  return std::count_if(entries_.begin(), entries_.end(),
                       [&](const Entry& e) { return e.name == name; });
}

void HeaderMap::setValueAt(size_t index, std::string_view value) {
  entries_[index].value = copy(value);
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  size_t first = entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name == name) {
      first = i;
      break;
    }
  }
  if (first == entries_.size()) {
    add(name, value);
    return;
  }
  entries_[first].value = copy(value);
  size_t kept = first + 1;
  for (size_t i = first + 1; i < entries_.size(); ++i) {
    if (entries_[i].name != name) entries_[kept++] = entries_[i];
  }
  entries_.resize(kept);
}

size_t HeaderMap::remove(std::string_view name) {
  return removeIf([&](const Entry& e) { return e.name == name; });
}

size_t HeaderMap::byteSize() const {
  size_t n = 0;
  for (const auto& e : entries_) n += e.name.size() + e.value.size() + 4;
  return n;
}

void toLowerInPlace(std::string& s) {
  for (auto& c : s) c = lower(c);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool headerListContains(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

namespace {

constexpr size_t kRecycledHeads = 64;

template <class T>
std::vector<T*>& freeList() {
  // Destroyed with the thread, freeing what it holds.
  struct List {
    std::vector<T*> items;
    ~List() {
      for (T* t : items) delete t;
    }
  };
  thread_local List list;
  return list.items;
}

void resetHead(RequestHeaders& h) {
  h.method.clear();
  h.path.clear();
  h.http_minor = 1;
  h.headers.clear();
  h.keep_alive = true;
  h.expect_continue = false;
  h.content_length = -1;
  h.chunked = false;
  h.hop_by_hop = false;
  h.underscore_names = false;
}

void resetHead(ResponseHeaders& h) {
  h.status = 200;
  h.reason.clear();
  h.http_minor = 1;
  h.headers.clear();
  h.keep_alive = true;
  h.content_length = -1;
  h.chunked = false;
  h.hop_by_hop = false;
}

template <class T>
T* acquire() {
  auto& list = freeList<T>();
  if (list.empty()) return new T();
  T* t = list.back();
  list.pop_back();
  return t;
}

}  // namespace

template <class T>
void HeadRecycler<T>::operator()(T* head) const noexcept {
  auto& list = freeList<T>();
  if (list.size() >= kRecycledHeads) {
    delete head;
    return;
  }
  resetHead(*head);
  list.push_back(head);
}

template struct HeadRecycler<RequestHeaders>;
template struct HeadRecycler<ResponseHeaders>;

RequestHeadersPtr makeRequestHeaders() { return RequestHeadersPtr(acquire<RequestHeaders>()); }

ResponseHeadersPtr makeResponseHeaders() { return ResponseHeadersPtr(acquire<ResponseHeaders>()); }

}  // namespace switchyard::http
