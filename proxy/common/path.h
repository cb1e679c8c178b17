#pragma once

#include <string>
#include <string_view>

namespace switchyard::common {

// The path of a request-target as a prefix rule should see it, so that "/api//login",
// "/api/./login", "/api/x/../login" and "/%61pi/login" all read "/api/login": the query is cut
// off, percent-encoded unreserved characters (RFC 3986 2.3) are decoded, runs of '/' become one,
// and dot segments are removed (RFC 3986 5.2.4). Other percent-encodings ("%2F") stay as they
// are: decoding them would change what the path means. Returns a view of `target` when nothing
// needed changing (the common case, no copy), else of `scratch`, which holds the result.
std::string_view normalizePathForMatch(std::string_view target, std::string& scratch);

}  // namespace switchyard::common
