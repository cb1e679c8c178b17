#include "filters/rate_limit/config.h"

#include <algorithm>
#include <cctype>

#include "config/yaml_util.h"
#include "proxy/common/duration.h"

namespace switchyard::filters::rate_limit {
namespace {

using config::ConfigError;

constexpr size_t MaxPolicyNameLength = 64;
// A bucket admits at most this many requests at once (limit and burst), and a window is at most
// a day: with nanosecond timestamps the arithmetic then stays far from overflow.
constexpr int64_t MaxCount = 1'000'000'000;
constexpr std::chrono::milliseconds MaxWindow = std::chrono::hours(24);

// Names appear in quoted Structured Field strings, Prometheus labels and Redis keys: keep them
// to characters that need no escaping anywhere.
bool validPolicyName(std::string_view name) {
  if (name.empty() || name.size() > MaxPolicyNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
  });
}

std::string policyName(const YAML::Node& node, const std::string& path) {
  const YAML::Node n = node["name"];
  if (!n) throw ConfigError(node, path, "a policy needs a name");
  const std::string p = config::child(path, "name");
  std::string name = config::getString(n, p);
  if (!validPolicyName(name)) {
    throw ConfigError(n, p,
                      "'" + name + "' is not a valid policy name (1 to " +
                          std::to_string(MaxPolicyNameLength) +
                          " characters of A-Z a-z 0-9 - _ .)");
  }
  return name;
}

void parseKey(const YAML::Node& n, const std::string& p, PolicyConfig& out) {
  if (n.IsScalar()) {
    const std::string kind = config::getString(n, p);
    if (kind == "client_address") {
      out.key = KeyKind::ClientAddress;
      out.header.clear();
      return;
    }
    if (kind == "route") {
      out.key = KeyKind::Route;
      out.header.clear();
      return;
    }
    throw ConfigError(n, p,
                      "unknown key '" + kind +
                          "': expected client_address, route, {header: <name>} or {claim: <name>}");
  }
  static const char* const Expected =
      "expected client_address, route, {header: <name>} or {claim: <name>}";
  if (!n.IsMap()) throw ConfigError(n, p, Expected);
  config::expectMap(n, p, {"header", "claim"});
  if (n["header"] && n["claim"]) throw ConfigError(n, p, "a key takes one of header and claim");
  if (const YAML::Node c = n["claim"]) {
    const std::string cp = config::child(p, "claim");
    std::string claim = config::getString(c, cp);
    const bool valid = !claim.empty() && claim.size() <= 128 &&
                       std::all_of(claim.begin(), claim.end(),
                                   [](unsigned char ch) { return ch > 0x20 && ch < 0x7f; });
    if (!valid) throw ConfigError(c, cp, "a claim name is 1 to 128 visible ASCII characters");
    out.key = KeyKind::Claim;
    out.header.clear();
    out.claim = std::move(claim);
    return;
  }
  const YAML::Node h = n["header"];
  if (!h) throw ConfigError(n, p, Expected);
  out.key = KeyKind::Header;
  out.claim.clear();
  out.header = config::getHeaderName(h, config::child(p, "header"));
}

void parseMatch(const YAML::Node& n, const std::string& p, bool route_allowed, PolicyConfig& out) {
  if (route_allowed) {
    config::expectMap(n, p, {"path_prefix", "methods", "route"});
  } else {
    config::expectMap(n, p, {"path_prefix", "methods"});
  }
  out.path_prefix.clear();
  out.methods.clear();
  out.route.clear();
  if (const YAML::Node v = n["path_prefix"]) {
    const std::string vp = config::child(p, "path_prefix");
    out.path_prefix = config::getString(v, vp);
    if (out.path_prefix.empty() || out.path_prefix[0] != '/') {
      throw ConfigError(v, vp, "a path prefix starts with '/'");
    }
  }
  if (const YAML::Node v = n["methods"]) {
    const std::string vp = config::child(p, "methods");
    config::expectSequence(v, vp);
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string ip = config::child(vp, i);
      std::string method = config::getString(v[i], ip);
      const bool token =
          !method.empty() && std::all_of(method.begin(), method.end(), [](unsigned char c) {
            return std::isalpha(c) != 0 || c == '-' || c == '_';
          });
      if (!token) throw ConfigError(v[i], ip, "'" + method + "' is not an HTTP method");
      // Methods are case-sensitive on the wire; the standard ones are upper case.
      std::transform(method.begin(), method.end(), method.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (std::find(out.methods.begin(), out.methods.end(), method) == out.methods.end()) {
        out.methods.push_back(std::move(method));
      }
    }
    if (out.methods.empty()) throw ConfigError(v, vp, "an empty list would match no request");
  }
  if (const YAML::Node v = n["route"]) {
    const std::string vp = config::child(p, "route");
    out.route = config::getString(v, vp);
    out.route_at = ConfigError(v, vp, "");
  }
}

// Applies the keys of one policy's node over `out` (a new policy, or the one a route's block
// redefines). `top_level`: the filter's own list (match.route is allowed there only).
void applyPolicy(const YAML::Node& node, const std::string& path, bool top_level,
                 PolicyConfig& out) {
  config::expectMap(
      node, path,
      {"name", "key", "limit", "window", "burst", "scope", "on_redis_error", "match", "shadow"});
  auto key = [&path](const char* name) { return config::child(path, name); };
  if (const YAML::Node n = node["key"]) parseKey(n, key("key"), out);
  if (const YAML::Node n = node["limit"]) out.limit = config::getInt(n, key("limit"), 1, MaxCount);
  if (const YAML::Node n = node["window"]) {
    const std::string p = key("window");
    out.window = config::getDuration(n, p);
    if (out.window.count() <= 0) throw ConfigError(n, p, "must be greater than 0s");
    if (out.window > MaxWindow) throw ConfigError(n, p, "must be at most 24h");
  }
  if (const YAML::Node n = node["burst"]) {
    out.burst = config::getInt(n, key("burst"), 1, MaxCount);
    out.burst_set = true;
  }
  if (const YAML::Node n = node["scope"]) {
    const std::string p = key("scope");
    const std::string s = config::getString(n, p);
    if (s == "local") {
      out.scope = Scope::Local;
    } else if (s == "global") {
      out.scope = Scope::Global;
      out.scope_at = ConfigError(n, p, "");
    } else {
      throw ConfigError(n, p, "expected local or global, got '" + s + "'");
    }
  }
  if (const YAML::Node n = node["on_redis_error"]) {
    const std::string p = key("on_redis_error");
    const std::string s = config::getString(n, p);
    if (s == "allow") {
      out.on_redis_error = OnRedisError::Allow;
    } else if (s == "deny") {
      out.on_redis_error = OnRedisError::Deny;
    } else {
      throw ConfigError(n, p, "expected allow or deny, got '" + s + "'");
    }
  }
  if (const YAML::Node n = node["match"]) parseMatch(n, key("match"), top_level, out);
  if (const YAML::Node n = node["shadow"]) out.shadow = config::getBool(n, key("shadow"));

  if (out.limit == 0) throw ConfigError(node, path, "policy '" + out.name + "' needs a limit");
  if (out.window.count() == 0) {
    throw ConfigError(node, path, "policy '" + out.name + "' needs a window");
  }
  // The emission interval must be at least a nanosecond, or the limit could never be enforced.
  if (std::chrono::duration_cast<std::chrono::nanoseconds>(out.window).count() < out.limit) {
    throw ConfigError(node[node["limit"] ? "limit" : "window"], path,
                      "a limit above one request per nanosecond cannot be enforced");
  }
}

// Parses the `policies` list into `out` (which holds the policies a route's block starts from).
void parsePolicies(const YAML::Node& node, const std::string& path, bool top_level,
                   std::vector<PolicyConfig>& out) {
  config::expectSequence(node, path);
  std::vector<std::string> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string p = config::child(path, i);
    const YAML::Node n = node[i];
    if (!n.IsMap()) throw ConfigError(n, p, "expected a policy (a map with a name)");
    std::string name = policyName(n, p);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      throw ConfigError(n["name"], config::child(p, "name"),
                        "duplicate policy name '" + name + "'");
    }
    seen.push_back(name);
    auto it =
        std::find_if(out.begin(), out.end(), [&](const PolicyConfig& c) { return c.name == name; });
    if (it == out.end()) {
      PolicyConfig fresh;
      fresh.name = std::move(name);
      applyPolicy(n, p, top_level, fresh);
      out.push_back(std::move(fresh));
    } else {
      // A route redefining a policy starts from the filter's settings of it (or the route's,
      // for a version).
      PolicyConfig redefined = *it;
      applyPolicy(n, p, top_level, redefined);
      *it = std::move(redefined);
    }
  }
}

void applyHeaders(const YAML::Node& node, const std::string& path, RateLimitConfig& out) {
  if (const YAML::Node n = node["headers"]) {
    out.headers = config::getBool(n, config::child(path, "headers"));
  }
}

void finish(RateLimitConfig& out) {
  for (PolicyConfig& p : out.policies) {
    if (!p.burst_set) p.burst = p.limit;
  }
}

std::string keyText(const PolicyConfig& p) {
  switch (p.key) {
    case KeyKind::ClientAddress:
      return "client_address";
    case KeyKind::Route:
      return "route";
    case KeyKind::Header:
    case KeyKind::Claim:
      break;
  }
  return {};
}

}  // namespace

RateLimitConfig parseRateLimitConfig(const YAML::Node& node, const std::string& path) {
  RateLimitConfig out;
  if (!node.IsDefined() || node.IsNull()) {
    throw ConfigError(node, path, "rate_limit needs at least one policy");
  }
  config::expectMap(node, path, {"headers", "max_keys", "policies"});
  applyHeaders(node, path, out);
  if (const YAML::Node n = node["max_keys"]) {
    out.max_keys =
        static_cast<uint32_t>(config::getInt(n, config::child(path, "max_keys"), 1, 100'000'000));
  }
  const YAML::Node policies = node["policies"];
  if (!policies || policies.size() == 0) {
    throw ConfigError(policies ? policies : node, path, "rate_limit needs at least one policy");
  }
  parsePolicies(policies, config::child(path, "policies"), true, out.policies);
  finish(out);
  return out;
}

RateLimitConfig parseRateLimitRouteConfig(const YAML::Node& node, const std::string& path,
                                          const RateLimitConfig& base) {
  RateLimitConfig out = base;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path, {"headers", "policies", "disable"});
  applyHeaders(node, path, out);
  if (const YAML::Node n = node["disable"]) {
    // Policies of the filter (or of the route, for a version) that do not apply here.
    const std::string p = config::child(path, "disable");
    config::expectSequence(n, p);
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string ip = config::child(p, i);
      const std::string name = config::getString(n[i], ip);
      auto it = std::find_if(out.policies.begin(), out.policies.end(),
                             [&](const PolicyConfig& c) { return c.name == name; });
      if (it == out.policies.end()) {
        throw ConfigError(n[i], ip, "no policy named '" + name + "' to disable");
      }
      out.policies.erase(it);
    }
  }
  if (const YAML::Node n = node["policies"]) {
    parsePolicies(n, config::child(path, "policies"), false, out.policies);
  }
  finish(out);
  return out;
}

nlohmann::json toJson(const PolicyConfig& p) {
  nlohmann::json out = {{"name", p.name},
                        {"limit", p.limit},
                        {"window", common::formatDuration(p.window)},
                        {"burst", p.burst},
                        {"scope", p.scope == Scope::Global ? "global" : "local"},
                        {"shadow", p.shadow}};
  if (p.key == KeyKind::Header) {
    out["key"] = {{"header", p.header}};
  } else if (p.key == KeyKind::Claim) {
    out["key"] = {{"claim", p.claim}};
  } else {
    out["key"] = keyText(p);
  }
  if (p.scope == Scope::Global) {
    out["on_redis_error"] = p.on_redis_error == OnRedisError::Deny ? "deny" : "allow";
  }
  nlohmann::json match = nlohmann::json::object();
  if (!p.path_prefix.empty()) match["path_prefix"] = p.path_prefix;
  if (!p.methods.empty()) match["methods"] = p.methods;
  if (!p.route.empty()) match["route"] = p.route;
  if (!match.empty()) out["match"] = std::move(match);
  return out;
}

nlohmann::json toJson(const RateLimitConfig& config) {
  nlohmann::json policies = nlohmann::json::array();
  for (const PolicyConfig& p : config.policies) policies.push_back(toJson(p));
  return {{"headers", config.headers}, {"max_keys", config.max_keys}, {"policies", policies}};
}

}  // namespace switchyard::filters::rate_limit
