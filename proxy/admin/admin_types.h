#pragma once

// A request to the admin listener and the response a handler makes, as plain values: what
// handlers outside proxy/admin (filters, the rollback manager) depend on.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::admin {

struct AdminRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // as sent, not percent-decoded; "/" when empty
  std::string query;   // raw, without the '?'
  // Decoded ('+' is a space); a key without '=' maps to ""; the first occurrence of a key wins.
  std::map<std::string, std::string> query_params;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined by ", "
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty means application/octet-stream
  std::string body;
  // Extra headers. Content-Type and Content-Length here are ignored: content_type and the body
  // decide them.
  std::vector<std::pair<std::string, std::string>> headers;
};

// A problem+json reply (RFC 9457): {"type":"about:blank","title":...,"status":...,"detail":...}.
AdminResponse problemResponse(int status, std::string title, std::string detail);
// The same, titled with the status's reason phrase.
AdminResponse problemResponse(int status, std::string detail);
// `status` with `body` as indented JSON (invalid UTF-8 replaced).
AdminResponse jsonResponse(int status, const nlohmann::json& body);

}  // namespace switchyard::admin
