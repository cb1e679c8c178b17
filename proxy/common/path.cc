#include "proxy/common/path.h"

namespace switchyard::common {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Whether `path` may need any of the rewrites: a '%', a "//", or a "." or ".." segment.
bool needsWork(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') return true;
    if (c != '/' || i + 1 >= path.size()) continue;
    const char n = path[i + 1];
    if (n == '/') return true;
    if (n == '.') {
      const size_t end = path.find('/', i + 1);
      const std::string_view seg =
          path.substr(i + 1, end == std::string_view::npos ? std::string_view::npos : end - i - 1);
      if (seg == "." || seg == "..") return true;
    }
  }
  return false;
}

}  // namespace

std::string_view normalizePathForMatch(std::string_view target, std::string& scratch) {
  const size_t q = target.find_first_of("?#");
  const std::string_view path = q == std::string_view::npos ? target : target.substr(0, q);
  if (!needsWork(path)) return path;

  // Decode the unreserved characters first, so that "%2e%2e" is a dot segment too.
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int hi = hexValue(path[i + 1]);
      const int lo = hexValue(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        const char c = static_cast<char>(hi * 16 + lo);
        if (unreserved(c)) {
          decoded.push_back(c);
          i += 2;
          continue;
        }
      }
    }
    decoded.push_back(path[i]);
  }

  // Split into segments, dropping empty and "." ones and letting ".." drop the one before.
  scratch.clear();
  scratch.reserve(decoded.size());
  size_t i = 0;
  bool trailing_slash = false;
  while (i < decoded.size()) {
    while (i < decoded.size() && decoded[i] == '/') ++i;
    if (i >= decoded.size()) {
      trailing_slash = true;
      break;
    }
    size_t end = decoded.find('/', i);
    if (end == std::string::npos) end = decoded.size();
    const std::string_view seg(decoded.data() + i, end - i);
    i = end;
    trailing_slash = false;
    if (seg == ".") {
      trailing_slash = true;
      continue;
    }
    if (seg == "..") {
      const size_t slash = scratch.rfind('/');
      scratch.resize(slash == std::string::npos ? 0 : slash);
      trailing_slash = true;
      continue;
    }
    scratch.push_back('/');
    scratch.append(seg);
  }
  if (scratch.empty() || trailing_slash) scratch.push_back('/');
  return scratch;
}

}  // namespace switchyard::common
