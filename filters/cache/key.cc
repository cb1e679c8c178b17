#include "filters/cache/key.h"

#include <algorithm>
#include <cstring>

#include "proxy/common/http_token.h"

namespace switchyard::filters::cache {
namespace {

bool isOws(char c) { return c == ' ' || c == '\t'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && isOws(v.front())) v.remove_prefix(1);
  while (!v.empty() && isOws(v.back())) v.remove_suffix(1);
  return v;
}

// Appends `value` to `out` with list commas tightened and whitespace runs folded, outside
// quoted strings.
void appendNormalized(std::string& out, std::string_view value) {
  bool quoted = false;
  bool escaped = false;
  bool pending_space = false;
  for (char c : trimOws(value)) {
    if (quoted) {
      out.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (isOws(c)) {
      pending_space = true;
      continue;
    }
    if (c == ',') {
      pending_space = false;  // "a , b" is "a,b"
      out.push_back(',');
      continue;
    }
    if (pending_space && !out.empty() && out.back() != ',') out.push_back(' ');
    pending_space = false;
    out.push_back(c);
    if (c == '"') quoted = true;
  }
}

}  // namespace

char* KeyBuffer::resize(size_t n) {
  if (n <= InlineBytes) {
    data_ = inline_;
  } else {
    heap_.resize(n);
    data_ = heap_.data();
  }
  size_ = n;
  return data_;
}

void primaryKey(const KeyInputs& in, KeyBuffer& out) {
  std::string_view host = trimOws(in.host);
  const std::string_view default_port = in.scheme == "https" ? ":443" : ":80";
  if (host.size() > default_port.size() && host.ends_with(default_port)) {
    host.remove_suffix(default_port.size());
  }
  const std::string_view target = in.target.empty() ? std::string_view("/") : in.target;
  // Sized once and written in place: this runs for every request the cache looks up.
  char* p = out.resize(2 + in.scheme.size() + 1 + host.size() + 1 + in.route.size() + 1 +
                       in.version.size() + 1 + in.cluster.size() + 1 + target.size());
  const auto put = [&p](std::string_view v) {
    http::copyShort(p, v.data(), v.size());
    p += v.size();
    *p++ = '\n';
  };
  // GET and HEAD share entries (a HEAD is answered from a stored GET); other methods are never
  // stored, but invalidation after them computes the GET key of their target.
  *p++ = in.method == "GET" || in.method == "HEAD" ? 'G' : 'O';
  *p++ = '\n';
  put(in.scheme);
  // Branch-free, so that the compiler can do it in vector registers.
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    *p++ = static_cast<char>(u | (static_cast<unsigned char>(u - 'A') < 26 ? 0x20 : 0));
  }
  *p++ = '\n';
  put(in.route);
  put(in.version);
  put(in.cluster);
  http::copyShort(p, target.data(), target.size());
}

std::string primaryKey(const KeyInputs& in) {
  KeyBuffer buffer;
  primaryKey(in, buffer);
  return std::string(buffer.view());
}

std::string_view keyPath(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

VaryNames parseVary(const http::HeaderMap& response_headers) {
  VaryNames out;
  for (const http::HeaderMap::Entry& e : response_headers.entries()) {
    if (e.name != "vary") continue;
    std::string_view rest = e.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view member = trimOws(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (member.empty()) continue;  // "a, , b": empty list members are allowed and ignored
      if (member == "*" || !common::isToken(member)) {
        out.star = true;
        continue;
      }
      std::string name(member);
      for (char& c : name) c = lower(c);
      out.names.push_back(std::move(name));
    }
  }
  std::sort(out.names.begin(), out.names.end());
  out.names.erase(std::unique(out.names.begin(), out.names.end()), out.names.end());
  return out;
}

std::string normalizedFieldValue(const http::HeaderMap& headers, std::string_view name) {
  std::string out;
  bool first = true;
  for (const http::HeaderMap::Entry& e : headers.entries()) {
    if (e.name != name) continue;
    if (!first) out.push_back(',');
    first = false;
    appendNormalized(out, e.value);
  }
  return out;
}

std::string secondaryKey(const VaryNames& vary, const http::HeaderMap& request_headers) {
  std::string key;
  for (const std::string& name : vary.names) {
    key.append(name).push_back('=');
    if (request_headers.get(name) == nullptr) {
      key.push_back('\x01');
    } else {
      key.append(normalizedFieldValue(request_headers, name));
    }
    key.push_back('\n');
  }
  return key;
}

}  // namespace switchyard::filters::cache
