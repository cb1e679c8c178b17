#pragma once

// The jwt_authn filter's configuration.
//
//   filters:
//     - jwt_authn:
//         providers:
//           - name: main
//             issuer: https://auth.example.com/
//             audiences: [orders-api]                # empty or absent: aud is not checked
//             jwks: {file: /etc/switchyard/jwks.json}
//                   # or {url: http://127.0.0.1:8081/jwks.json, refresh: 5m, min_refetch: 30s,
//                   #     timeout: 5s}
//             clock_skew: 30s
//             forward_claims: {sub: X-User-Id, tenant: X-Tenant-Id}
//         requirement: required                    # required (default) | optional | none
//         token: {header: Authorization}           # default; or {header: X-Token}, {cookie: c}
//         max_token_bytes: 8KiB
//         cache_entries: 4096                      # verified tokens kept per worker; 0: none
//
// A route's (or version's) block `routes[].filters.jwt_authn: {requirement: none}` changes the
// requirement for its requests.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "filters/jwt_authn/jwks.h"

namespace switchyard::filters::jwt_authn {

enum class Requirement : uint8_t { None, Optional, Required };
std::string_view requirementName(Requirement r);

struct JwksConfig {
  std::string file;  // exactly one of file and url
  std::string url;   // http:// only
  std::chrono::milliseconds refresh{std::chrono::minutes(5)};
  // An unknown kid fetches the set again at most this often (and never more often than it is
  // refreshed anyway).
  std::chrono::milliseconds min_refetch{std::chrono::seconds(30)};
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  // file: the keys, read at load (and so again at each reload).
  std::shared_ptr<const KeySet> file_keys;
};

struct ProviderConfig {
  std::string name;
  std::string issuer;
  std::vector<std::string> audiences;
  JwksConfig jwks;
  std::chrono::seconds clock_skew{30};
  // claim -> request header (lower case), in the order written.
  std::vector<std::pair<std::string, std::string>> forward_claims;
};

struct TokenLocation {
  enum class Kind : uint8_t { Header, Cookie };
  Kind kind = Kind::Header;
  // The header (lower case) or cookie name. For "authorization" the value must use the Bearer
  // scheme; any other header holds the bare token (an optional "Bearer " is taken off).
  std::string name = "authorization";
};

struct JwtAuthnConfig {
  std::vector<ProviderConfig> providers;
  Requirement requirement = Requirement::Required;
  TokenLocation token;
  size_t max_token_bytes = 8192;
  uint32_t cache_entries = 4096;
};

// Parses the filter's node at `path`; throws config::ConfigError at the offending node. Reads the
// JWKS files (a missing or unusable file is an error of `jwks.file`).
JwtAuthnConfig parseJwtAuthnConfig(const YAML::Node& node, const std::string& path);
// A route's block: {requirement: ...}.
Requirement parseJwtAuthnRouteConfig(const YAML::Node& node, const std::string& path);

nlohmann::json toJson(const JwtAuthnConfig& config);

}  // namespace switchyard::filters::jwt_authn
