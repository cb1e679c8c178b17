#pragma once

// The rate_limit filter's configuration: named policies, each a GCRA limit (`limit` requests per
// `window`, `burst`) on a key taken from the request, kept in this process (`scope: local`) or in
// Redis for every replica (`scope: global`).
//
//   filters:
//     - rate_limit:
//         headers: true            # RateLimit-Policy / RateLimit on admitted responses too
//         max_keys: 100000         # per local policy: bounded memory
//         policies:
//           - name: per-user
//             key: {header: X-User-Id}   # without it: the client address; or client_address,
//             route,
//                                        # {claim: sub} (a verified token's claim)
//             limit: 100
//             window: 1m
//             burst: 100                 # default: limit
//             scope: global              # local (default) | global (needs redis:)
//             on_redis_error: allow      # allow (default) | deny (503)
//             match: {path_prefix: /api/login, methods: [POST], route: api}
//             shadow: true               # count what would be denied, deny nothing
//
// A route's (or version's) block `routes[].filters.rate_limit: {policies: [...], disable: [...],
// headers: ...}` redefines the policies of the same name for its requests (keys not given keep
// the filter's values), adds the others, and turns off the ones listed under `disable`.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config_error.h"

namespace switchyard::filters::rate_limit {

enum class KeyKind {
  ClientAddress,  // the downstream address
  Header,         // a request header's value; the client address when it is absent or empty
  Route,          // one bucket per route (and version) for everyone
  Claim,          // a claim of the request's verified identity (http::VerifiedIdentity, set by
                  // jwt_authn earlier in the chain); the client address without one
};

enum class Scope { Local, Global };
enum class OnRedisError { Allow, Deny };

struct PolicyConfig {
  std::string name;
  KeyKind key = KeyKind::ClientAddress;
  std::string header;  // lower case, for KeyKind::Header
  std::string claim;   // for KeyKind::Claim
  int64_t limit = 0;
  std::chrono::milliseconds window{0};
  int64_t burst = 0;  // after parsing always > 0: `limit` unless set
  bool burst_set = false;
  Scope scope = Scope::Local;
  OnRedisError on_redis_error = OnRedisError::Allow;
  bool shadow = false;
  // Which requests the policy applies to; empty: every request.
  std::string path_prefix;
  std::vector<std::string> methods;  // upper case as sent ("POST")
  std::string route;
  // Where `route` and `scope: global` were written, for validate() (empty messages).
  config::ConfigError route_at{"", ""};
  config::ConfigError scope_at{"", ""};

  // Which bucket set the policy counts in: its name and numbers. A route that redefines a
  // policy with the same numbers (another `match`, `shadow`) shares the filter's buckets; one
  // that changes them counts in buckets of its own. Also the Redis key prefix, so replicas on
  // different numbers during a rollout do not read each other's timestamps.
  std::string bucketId() const {
    return name + "/" + std::to_string(limit) + "/" + std::to_string(window.count()) + "ms/" +
           std::to_string(burst);
  }
};

struct RateLimitConfig {
  bool headers = false;
  uint32_t max_keys = 100'000;
  std::vector<PolicyConfig> policies;
};

// Parses the filter's node at `path`; throws config::ConfigError at the offending node (limit 0,
// a zero or unparsable window, an unknown key kind, a duplicate policy name, ...).
RateLimitConfig parseRateLimitConfig(const YAML::Node& node, const std::string& path);
// A route's block over `base` (the filter's, or the route's for a version). `max_keys` belongs to
// the filter and `match.route` has no meaning there: both are refused.
RateLimitConfig parseRateLimitRouteConfig(const YAML::Node& node, const std::string& path,
                                          const RateLimitConfig& base);

nlohmann::json toJson(const PolicyConfig& policy);
nlohmann::json toJson(const RateLimitConfig& config);

}  // namespace switchyard::filters::rate_limit
