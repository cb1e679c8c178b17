#include "filters/jwt_authn/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"
#include "proxy/http/json_post.h"

namespace switchyard::filters::jwt_authn {
namespace {

using config::ConfigError;

constexpr size_t MaxJwksFileBytes = 1 << 20;

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
  });
}

bool validClaimName(std::string_view name) {
  return !name.empty() && name.size() <= 128 &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

Requirement parseRequirement(const YAML::Node& n, const std::string& p) {
  const std::string s = config::getString(n, p);
  if (s == "required") return Requirement::Required;
  if (s == "optional") return Requirement::Optional;
  if (s == "none") return Requirement::None;
  throw ConfigError(n, p, "unknown requirement '" + s + "': expected required, optional or none");
}

std::shared_ptr<const KeySet> readJwksFile(const YAML::Node& n, const std::string& p,
                                           const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(n, p, "cannot read the JWKS file " + file);
  std::string text;
  text.resize(MaxJwksFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > MaxJwksFileBytes) {
    throw ConfigError(n, p, "the JWKS file " + file + " is larger than 1 MiB");
  }
  auto keys = std::make_shared<KeySet>();
  std::string error;
  if (!parseJwks(text, *keys, error)) {
    throw ConfigError(n, p, "the JWKS file " + file + " is not usable: " + error);
  }
  return keys;
}

JwksConfig parseJwks(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"file", "url", "refresh", "min_refetch", "timeout"});
  JwksConfig out;
  const YAML::Node file = node["file"];
  const YAML::Node url = node["url"];
  if (static_cast<bool>(file) == static_cast<bool>(url)) {
    throw ConfigError(node, path, "jwks takes exactly one of file and url");
  }
  if (file) {
    for (const char* key : {"refresh", "min_refetch", "timeout"}) {
      if (node[key]) {
        throw ConfigError(node[key], config::child(path, key),
                          "only a jwks url is refreshed (a file is read again on reload)");
      }
    }
    const std::string p = config::child(path, "file");
    out.file = config::getString(file, p);
    if (out.file.empty()) throw ConfigError(file, p, "an empty file name");
    out.file_keys = readJwksFile(file, p, out.file);
    return out;
  }
  const std::string p = config::child(path, "url");
  out.url = config::getString(url, p);
  if (out.url.rfind("https://", 0) == 0) {
    throw ConfigError(url, p,
                      "https:// is not supported yet (the proxy has no TLS client): serve the "
                      "JWKS over http:// (e.g. from a local agent) or use jwks.file");
  }
  http::HttpUrl parsed;
  std::string error;
  if (!http::parseHttpUrl(out.url, parsed, error)) throw ConfigError(url, p, error);
  if (const YAML::Node n = node["refresh"]) {
    const std::string rp = config::child(path, "refresh");
    out.refresh = config::getPositiveDuration(n, rp, std::chrono::hours(24));
    if (out.refresh < std::chrono::seconds(1)) throw ConfigError(n, rp, "must be at least 1s");
  }
  out.min_refetch = std::min<std::chrono::milliseconds>(out.min_refetch, out.refresh);
  if (const YAML::Node n = node["min_refetch"]) {
    const std::string rp = config::child(path, "min_refetch");
    out.min_refetch = config::getPositiveDuration(n, rp, std::chrono::hours(24));
    if (out.min_refetch < std::chrono::seconds(1)) {
      throw ConfigError(n, rp, "must be at least 1s");
    }
    if (out.min_refetch > out.refresh) {
      throw ConfigError(n, rp,
                        "must be at most refresh (" + common::formatDuration(out.refresh) + ")");
    }
  }
  if (const YAML::Node n = node["timeout"]) {
    out.timeout =
        config::getPositiveDuration(n, config::child(path, "timeout"), std::chrono::seconds(60));
  }
  return out;
}

ProviderConfig parseProvider(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path,
                    {"name", "issuer", "audiences", "jwks", "clock_skew", "forward_claims"});
  ProviderConfig out;
  const YAML::Node name = node["name"];
  if (!name) throw ConfigError(node, path, "a provider needs a name");
  const std::string np = config::child(path, "name");
  out.name = config::getString(name, np);
  if (!validName(out.name)) {
    throw ConfigError(name, np,
                      "'" + out.name +
                          "' is not a valid provider name (1 to 64 characters of A-Z a-z 0-9 - _ "
                          ".)");
  }
  const YAML::Node issuer = node["issuer"];
  if (!issuer) throw ConfigError(node, path, "a provider needs an issuer (the tokens' \"iss\")");
  out.issuer = config::getString(issuer, config::child(path, "issuer"));
  if (out.issuer.empty()) {
    throw ConfigError(issuer, config::child(path, "issuer"), "an empty issuer");
  }
  if (const YAML::Node n = node["audiences"]) {
    const std::string p = config::child(path, "audiences");
    config::expectSequence(n, p);
    for (size_t i = 0; i < n.size(); ++i) {
      std::string a = config::getString(n[i], config::child(p, i));
      if (a.empty()) throw ConfigError(n[i], config::child(p, i), "an empty audience");
      out.audiences.push_back(std::move(a));
    }
  }
  const YAML::Node jwks = node["jwks"];
  if (!jwks) throw ConfigError(node, path, "a provider needs jwks: {file: ...} or {url: ...}");
  out.jwks = parseJwks(jwks, config::child(path, "jwks"));
  if (const YAML::Node n = node["clock_skew"]) {
    const std::string p = config::child(path, "clock_skew");
    const auto skew = config::getDuration(n, p);
    if (skew.count() < 0 || skew > std::chrono::minutes(10)) {
      throw ConfigError(n, p, "must be from 0s to 10m");
    }
    out.clock_skew = std::chrono::duration_cast<std::chrono::seconds>(skew);
  }
  if (const YAML::Node n = node["forward_claims"]) {
    const std::string p = config::child(path, "forward_claims");
    if (!n.IsMap() && !n.IsNull()) throw ConfigError(n, p, "expected a map of claim: Header");
    for (const auto& kv : n) {
      const std::string claim = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string cp = config::child(p, claim);
      if (!validClaimName(claim)) {
        throw ConfigError(kv.first, cp, "a claim name is 1 to 128 visible ASCII characters");
      }
      std::string header = config::getHeaderName(kv.second, cp);
      for (const char* reserved : {"host", "authorization", "content-length", "transfer-encoding",
                                   "connection", "te", "upgrade", "cookie"}) {
        if (header == reserved) {
          throw ConfigError(kv.second, cp, "a claim cannot be forwarded as " + header);
        }
      }
      for (const auto& [c, h] : out.forward_claims) {
        if (h == header) throw ConfigError(kv.second, cp, "two claims forwarded as " + header);
      }
      out.forward_claims.emplace_back(claim, std::move(header));
    }
  }
  return out;
}

TokenLocation parseToken(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"header", "cookie"});
  const YAML::Node header = node["header"];
  const YAML::Node cookie = node["cookie"];
  if (static_cast<bool>(header) == static_cast<bool>(cookie)) {
    throw ConfigError(node, path, "token takes exactly one of header and cookie");
  }
  TokenLocation out;
  if (header) {
    out.kind = TokenLocation::Kind::Header;
    out.name = config::getHeaderName(header, config::child(path, "header"));
    return out;
  }
  const std::string p = config::child(path, "cookie");
  out.kind = TokenLocation::Kind::Cookie;
  out.name = config::getString(cookie, p);
  const bool valid =
      !out.name.empty() && std::all_of(out.name.begin(), out.name.end(), [](unsigned char c) {
        return c > 0x20 && c < 0x7f &&
               std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
      });
  if (!valid) throw ConfigError(cookie, p, "'" + out.name + "' is not a cookie name");
  return out;
}

}  // namespace

std::string_view requirementName(Requirement r) {
  switch (r) {
    case Requirement::Required:
      return "required";
    case Requirement::Optional:
      return "optional";
    case Requirement::None:
      break;
  }
  return "none";
}

JwtAuthnConfig parseJwtAuthnConfig(const YAML::Node& node, const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) {
    throw ConfigError(node, path, "jwt_authn needs at least one provider");
  }
  config::expectMap(node, path,
                    {"providers", "requirement", "token", "max_token_bytes", "cache_entries"});
  JwtAuthnConfig out;
  const YAML::Node providers = node["providers"];
  const std::string pp = config::child(path, "providers");
  if (!providers) throw ConfigError(node, path, "jwt_authn needs at least one provider");
  config::expectSequence(providers, pp);
  if (providers.size() == 0) throw ConfigError(providers, pp, "jwt_authn needs a provider");
  for (size_t i = 0; i < providers.size(); ++i) {
    const std::string ip = config::child(pp, i);
    ProviderConfig p = parseProvider(providers[i], ip);
    for (const ProviderConfig& other : out.providers) {
      if (other.name == p.name) {
        throw ConfigError(providers[i]["name"], config::child(ip, "name"),
                          "a second provider named '" + p.name + "'");
      }
      if (other.issuer == p.issuer) {
        throw ConfigError(
            providers[i]["issuer"], config::child(ip, "issuer"),
            "provider '" + other.name + "' has the same issuer (a token's iss picks its provider)");
      }
    }
    out.providers.push_back(std::move(p));
  }
  if (const YAML::Node n = node["requirement"]) {
    out.requirement = parseRequirement(n, config::child(path, "requirement"));
  }
  if (const YAML::Node n = node["token"]) out.token = parseToken(n, config::child(path, "token"));
  if (const YAML::Node n = node["max_token_bytes"]) {
    const std::string p = config::child(path, "max_token_bytes");
    const uint64_t bytes = config::getBytes(n, p);
    if (bytes < 64 || bytes > 64 * 1024) throw ConfigError(n, p, "must be from 64 to 64KiB");
    out.max_token_bytes = static_cast<size_t>(bytes);
  }
  if (const YAML::Node n = node["cache_entries"]) {
    out.cache_entries =
        static_cast<uint32_t>(config::getInt(n, config::child(path, "cache_entries"), 0, 1 << 20));
  }
  return out;
}

Requirement parseJwtAuthnRouteConfig(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"requirement"});
  const YAML::Node n = node["requirement"];
  if (!n) throw ConfigError(node, path, "missing required key \"requirement\"");
  return parseRequirement(n, config::child(path, "requirement"));
}

nlohmann::json toJson(const JwtAuthnConfig& config) {
  nlohmann::json providers = nlohmann::json::array();
  for (const ProviderConfig& p : config.providers) {
    nlohmann::json jwks;
    if (!p.jwks.file.empty()) {
      jwks = {{"file", p.jwks.file}};
    } else {
      jwks = {{"url", p.jwks.url},
              {"refresh", common::formatDuration(p.jwks.refresh)},
              {"min_refetch", common::formatDuration(p.jwks.min_refetch)},
              {"timeout", common::formatDuration(p.jwks.timeout)}};
    }
    nlohmann::json forward = nlohmann::json::object();
    for (const auto& [claim, header] : p.forward_claims) forward[claim] = header;
    providers.push_back({{"name", p.name},
                         {"issuer", p.issuer},
                         {"audiences", p.audiences},
                         {"jwks", std::move(jwks)},
                         {"clock_skew", std::to_string(p.clock_skew.count()) + "s"},
                         {"forward_claims", std::move(forward)}});
  }
  nlohmann::json token;
  if (config.token.kind == TokenLocation::Kind::Cookie) {
    token = {{"cookie", config.token.name}};
  } else {
    token = {{"header", config.token.name}};
  }
  return {{"providers", std::move(providers)},
          {"requirement", requirementName(config.requirement)},
          {"token", std::move(token)},
          {"max_token_bytes", config.max_token_bytes},
          {"cache_entries", config.cache_entries}};
}

}  // namespace switchyard::filters::jwt_authn
