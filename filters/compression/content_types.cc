#include "filters/compression/content_types.h"

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

ContentTypes::ContentTypes(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (const std::string& p : patterns_) {
    if (p == "*/*") {
      any_ = true;
    } else if (p.ends_with("/*")) {
      prefixes_.push_back(p.substr(0, p.size() - 1));  // "text/"
    } else {
      exact_.push_back(p);
    }
  }
}

bool ContentTypes::matches(std::string_view content_type) const {
  // One pass: skip leading whitespace, then take the media type up to its parameters (or
  // trailing whitespace), lower-cased (media types are short: RFC 6838 caps each half at 127
  // characters), then plain comparisons.
  char lower[256];
  size_t n = 0;
  size_t slash = 0;
  size_t i = 0;
  while (i < content_type.size() && (content_type[i] == ' ' || content_type[i] == '\t')) ++i;
  for (; i < content_type.size(); ++i) {
    const char c = content_type[i];
    if (c == ';' || c == ' ' || c == '\t') break;
    if (n == sizeof(lower)) return false;
    if (c == '/' && slash == 0) slash = n;
    lower[n++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  if (slash == 0 || slash + 1 == n) return false;
  if (any_) return true;
  const std::string_view m(lower, n);
  for (const std::string& e : exact_) {
    if (m == e) return true;
  }
  for (const std::string& prefix : prefixes_) {
    if (n > prefix.size() && m.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace switchyard::filters::compression
