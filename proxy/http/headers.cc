#include "proxy/http/headers.h"

#include <algorithm>

namespace switchyard::http {
namespace {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

}  // namespace

const std::string* HeaderMap::get(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e.value;
  }
  return nullptr;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  if (spare_.empty()) {
    entries_.push_back({std::string(name), std::string(value)});
    return;
  }
  entries_.push_back(std::move(spare_.back()));
  spare_.pop_back();
  entries_.back().name.assign(name);
  entries_.back().value.assign(value);
}

void HeaderMap::clear() {
  for (auto& e : entries_) spare_.push_back(std::move(e));
  entries_.clear();
}

size_t HeaderMap::count(std::string_view name) const {
  return std::count_if(entries_.begin(), entries_.end(),
                       [&](const Entry& e) { return e.name == name; });
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  bool found = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->name == name) {
      if (!found) {
        it->value.assign(value);
        found = true;
        ++it;
      } else {
        it = entries_.erase(it);
      }
    } else {
      ++it;
    }
  }
  if (!found) add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  size_t before = entries_.size();
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return e.name == name; }),
                 entries_.end());
  return before - entries_.size();
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
    if (lower(a[i]) != lower(b[i])) return false;
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
}

void resetHead(ResponseHeaders& h) {
  h.status = 200;
  h.reason.clear();
  h.http_minor = 1;
  h.headers.clear();
  h.keep_alive = true;
  h.content_length = -1;
  h.chunked = false;
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

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace switchyard::http
