#pragma once

// Cache keys (RFC 9111 section 4.1). The primary key names what was asked and where it was sent:
// a method class (GET and HEAD share entries), the scheme, the Host, the route, version and
// cluster the router chose (a v1 user and a v2 user of one URL are different resources here: the
// split is sticky per user), and the request-target. Nothing a client can set in
// X-Forwarded-Host, X-Forwarded-Proto or Forwarded is part of it, so such headers cannot make a
// response land under another key. The secondary key holds the request's values of the headers a
// response's Vary names, normalized so that spellings with the same meaning share a variant.

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/headers.h"

namespace switchyard::filters::cache {

// Where a request was sent, as the router decided it.
struct KeyInputs {
  std::string_view method;   // "GET", "HEAD", ...
  std::string_view scheme;   // "http" or "https": from the listener, never from a header
  std::string_view host;     // the request's Host header as received
  std::string_view route;    // route name
  std::string_view version;  // resolved API version, empty for unversioned routes
  std::string_view cluster;  // the cluster chosen for the request
  std::string_view target;   // the request-target (path and query) as received
};

// A primary key, held inline when it is short (most are): making one for every request costs
// no allocation. Neither copied nor moved (its view may point into itself).
class KeyBuffer {
 public:
  KeyBuffer() = default;
  KeyBuffer(const KeyBuffer&) = delete;
  KeyBuffer& operator=(const KeyBuffer&) = delete;

  std::string_view view() const { return {data_, size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: used as the key it holds
  bool empty() const { return size_ == 0; }
  // Room for `n` bytes, whose previous contents are gone.
  char* resize(size_t n);

 private:
  static constexpr size_t InlineBytes = 160;
  char inline_[InlineBytes];
  std::string heap_;
  char* data_ = inline_;
  size_t size_ = 0;
};

// The primary key. Fields are separated by '\n', which none of them may contain; the host is
// lower-cased and loses a port that is the scheme's default; an empty target is "/".
void primaryKey(const KeyInputs& in, KeyBuffer& out);
std::string primaryKey(const KeyInputs& in);

// The path of a primary key's target (up to '?'), as purge by prefix compares it.
std::string_view keyPath(std::string_view target);

// The header names a response varies on (all its Vary lines), lower-cased, without duplicates,
// sorted. `star` when one of them is "*": such a response is never reused (RFC 9111 4.1). A
// member that is not a token also makes it `star`: a cache that cannot tell what it varies on
// must not reuse it.
struct VaryNames {
  bool star = false;
  std::vector<std::string> names;
  bool empty() const { return !star && names.empty(); }
};
VaryNames parseVary(const http::HeaderMap& response_headers);

// Every line of `name` in `headers` as one value: joined by ",", whitespace around list commas
// and at the ends dropped, runs of whitespace inside folded to one space (quoted strings are kept
// as they are). Two requests whose values normalize alike select the same variant.
std::string normalizedFieldValue(const http::HeaderMap& headers, std::string_view name);

// The secondary key of a request for a response that varies on `vary`: each name with its
// normalized value ("" for an absent header, which differs from an empty one: "\x01" marks
// absence), in the order of `vary.names`. Empty when `vary` names nothing.
std::string secondaryKey(const VaryNames& vary, const http::HeaderMap& request_headers);

}  // namespace switchyard::filters::cache
