#include "filters/compression/content_types.h"

#include "proxy/http/headers.h"

namespace switchyard::filters::compression {
namespace {

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool ContentTypes::isValidPattern(std::string_view pattern) {
  const size_t slash = pattern.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view type = pattern.substr(0, slash);
  const std::string_view subtype = pattern.substr(slash + 1);
  if (type == "*") return subtype == "*";
  return isToken(type) &&
         (subtype == "*" || (isToken(subtype) && subtype.find('*') == subtype.npos));
}

bool ContentTypes::matches(std::string_view content_type) const {
  const std::string_view media = trimOws(content_type.substr(0, content_type.find(';')));
  const size_t slash = media.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == media.size()) return false;
  for (const std::string& p : patterns_) {
    if (p.size() >= 2 && p.ends_with("/*")) {
      if (p[0] == '*' || http::equalsIgnoreCase(media.substr(0, slash + 1),
                                                std::string_view(p).substr(0, p.size() - 1))) {
        return true;
      }
    } else if (http::equalsIgnoreCase(media, p)) {
      return true;
    }
  }
  return false;
}

}  // namespace switchyard::filters::compression
