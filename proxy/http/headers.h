#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::http {

// Header names are stored lower-case (the codec folds them on the way in), so lookups are plain
// comparisons. Order and duplicates are preserved.
class HeaderMap {
 public:
  struct Entry {
    std::string name;
    std::string value;
  };

  // Returns the first value of `name` (lower-case), or nullptr.
  const std::string* get(std::string_view name) const;
  size_t count(std::string_view name) const;
  // Appends a copy; `name` must be lower-case. Reuses the buffers of an entry cleared earlier
  // when there is one.
  void add(std::string_view name, std::string_view value);
  // Replaces every value of `name` with one.
  void set(std::string_view name, std::string_view value);
  // Removes every value of `name`; returns how many were removed.
  size_t remove(std::string_view name);

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  // Empties the map but keeps the entries' string buffers for later add()/set() calls, so a
  // recycled map of a keep-alive connection stops allocating.
  void clear();
  // Bytes of names and values, as a rough size of the head.
  size_t byteSize() const;

 private:
  std::vector<Entry> entries_;
  std::vector<Entry> spare_;
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
};
using ResponseHeadersPtr = std::unique_ptr<ResponseHeaders, HeadRecycler<ResponseHeaders>>;
ResponseHeadersPtr makeResponseHeaders();

const char* reasonPhrase(int status);

}  // namespace switchyard::http
