#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/http_status.h"

namespace switchyard::http {

// memcpy for the short strings of a head (most names and values are under 16 bytes), inlined:
// two overlapping moves instead of a library call.
inline void copyShort(char* d, const char* s, size_t n) {
  if (n >= 16) {
    memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

// Header names are stored lower-case (the codec folds them on the way in), so lookups are plain
// comparisons. Order and duplicates are preserved.
//
// Names and values live in the map's own arena: blocks that never move, so an entry's views stay
// valid until the map is cleared or destroyed, whatever is added after it. clear() keeps the
// blocks, so a head recycled on a keep-alive connection parses and grows without allocating.
class HeaderMap {
 public:
  struct Entry {
    std::string_view name;
    std::string_view value;
  };

  HeaderMap() = default;
  HeaderMap(const HeaderMap& other) { *this = other; }
  HeaderMap& operator=(const HeaderMap& other);
  HeaderMap(HeaderMap&& other) noexcept { *this = std::move(other); }
  HeaderMap& operator=(HeaderMap&& other) noexcept;

  // The first value of `name` (lower-case), or nullptr. Valid until the map changes.
  const std::string_view* get(std::string_view name) const;
  size_t count(std::string_view name) const;
  // Appends a copy; `name` must be lower-case.
  void add(std::string_view name, std::string_view value);
  // Appends an entry without copying its bytes, which live in memory that `owner` keeps alive:
  // the map holds `owner` until it is cleared, moved from or destroyed (a copy of the map copies
  // the bytes). For heads made from stored responses. One owner at a time: the entries of
  // another one are copied.
  void addShared(std::string_view name, std::string_view value,
                 const std::shared_ptr<const void>& owner) {
    if (owner_ != owner) {
      if (owner_ != nullptr) {
        add(name, value);
        return;
      }
      owner_ = owner;
    }
    entries_.push_back({name, value});
  }
  // Replaces every value of `name` with one (the first one's place is kept).
  void set(std::string_view name, std::string_view value);
  // Replaces the value of entry `index` with a copy of `value`.
  void setValueAt(size_t index, std::string_view value);
  // Removes every value of `name`; returns how many were removed.
  size_t remove(std::string_view name);
  // Removes the entries for which `pred(entry)` is true, keeping the order of the rest.
  template <class Pred>
  size_t removeIf(Pred pred) {
    size_t kept = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (!pred(static_cast<const Entry&>(entries_[i]))) entries_[kept++] = entries_[i];
    }
    const size_t removed = entries_.size() - kept;
    entries_.resize(kept);
    return removed;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  void reserve(size_t n) { entries_.reserve(n); }
  // Empties the map but keeps its arena and entry capacity for what comes next.
  void clear();
  // Bytes of names and values, as a rough size of the head.
  size_t byteSize() const;

  // Incremental building, for the codec: bytes appended to the open token stay contiguous (the
  // token moves to a fresh block if it outgrows its own); takeToken() closes it and returns it.
  char* extendToken(size_t n) {
    if (used_ + n <= size_) {
      char* p = data_ + used_;
      used_ += n;
      token_ += n;
      return p;
    }
    return extendTokenSlow(n);
  }
  std::string_view takeToken() {
    std::string_view t(data_ + used_ - token_, token_);
    token_ = 0;
    return t;
  }
  // Adds an entry whose views already point into this map's arena (from takeToken()).
  void addOwned(std::string_view name, std::string_view value) {
    entries_.push_back({name, value});
  }

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  // Room for `n` contiguous bytes.
  char* allocate(size_t n) {
    if (used_ + n <= size_) {
      char* p = data_ + used_;
      used_ += n;
      return p;
    }
    return nextBlock(n, 0);
  }
  // Moves to a block with room for the open token's `keep` bytes and `n` more, copying the
  // token's bytes there; returns where the `n` bytes go.
  char* nextBlock(size_t n, size_t keep);
  char* extendTokenSlow(size_t n);
  std::string_view copy(std::string_view s);

  std::vector<Entry> entries_;
  std::shared_ptr<const void> owner_;  // of entries added by addShared()
  std::vector<Block> blocks_;
  size_t block_ = 0;      // the block being filled
  char* data_ = nullptr;  // its bytes
  size_t size_ = 0;       // its size
  size_t used_ = 0;       // bytes used in it
  size_t token_ = 0;      // length of the open token (it ends at used_)
};

void toLowerInPlace(std::string& s);
bool equalsIgnoreCase(std::string_view a, std::string_view b);
// True if `list` (a comma-separated header value) contains `token`, case-insensitively.
bool headerListContains(std::string_view list, std::string_view token);

// Heads are recycled through a small per-thread free list: a stream's head goes back to it when
// the stream ends, with its header buffers, and the next message parsed on that worker reuses it.
template <class T>
struct HeadRecycler {
  void operator()(T* head) const noexcept;
};

struct RequestHeaders {
  std::string method;
  std::string path;  // the request-target as received
  int http_minor = 1;
  HeaderMap headers;
  bool keep_alive = true;
  bool expect_continue = false;
  // -1 when the body is chunked or absent; otherwise the declared Content-Length.
  int64_t content_length = -1;
  bool chunked = false;
  // Set by the codec when a hop-by-hop header (Connection, TE, ...) came with the message: only
  // then does stripHopByHop() have anything to do.
  bool hop_by_hop = false;
  // Set by the codec when a header name has a '_' (a listener's headers_with_underscores says
  // what becomes of it).
  bool underscore_names = false;

  bool isHead() const { return method == "HEAD"; }
  std::string_view pathWithoutQuery() const {
    std::string_view p = path;
    size_t q = p.find('?');
    return q == std::string_view::npos ? p : p.substr(0, q);
  }
};
using RequestHeadersPtr = std::unique_ptr<RequestHeaders, HeadRecycler<RequestHeaders>>;
RequestHeadersPtr makeRequestHeaders();

struct ResponseHeaders {
  int status = 200;
  std::string reason;  // as received from upstream; empty means the standard phrase
  int http_minor = 1;
  HeaderMap headers;
  bool keep_alive = true;
  int64_t content_length = -1;
  bool chunked = false;
  bool hop_by_hop = false;  // as in RequestHeaders
};
using ResponseHeadersPtr = std::unique_ptr<ResponseHeaders, HeadRecycler<ResponseHeaders>>;
ResponseHeadersPtr makeResponseHeaders();

// Status lines and problem titles use the one table in proxy/common.
using common::reasonPhrase;

}  // namespace switchyard::http
