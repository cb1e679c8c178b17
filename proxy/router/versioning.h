#pragma once

#include <string>
#include <string_view>

namespace switchyard::router {

// API version spellings. Configured versions are "v" and a number ("v1", "v2"). A client names
// one in X-API-Version as "2", "v2" or "V2" (blanks around it ignored, leading zeros dropped), or
// in the path as a segment "/v2/".

// Writes the canonical name ("v2") of an X-API-Version value to `out`; false if the value is
// not a version at all.
bool normalizeVersion(std::string_view value, std::string& out);

// The first path segment of the form "/v<digits>/", canonical ("/api/v02/x" -> "v2"); empty if
// there is none. The query must already be cut off.
std::string versionFromPath(std::string_view path);

}  // namespace switchyard::router
