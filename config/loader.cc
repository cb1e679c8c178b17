#include "config/loader.h"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config/dns.h"
#include "config/tls.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"
#include "proxy/common/strings.h"
#include "proxy/rollback/config.h"
#include "proxy/rollback/rollout.h"
#include "proxy/server/migration.h"

namespace switchyard::config {
namespace {

constexpr int64_t Uint32Max = std::numeric_limits<uint32_t>::max();
constexpr int64_t MaxConnections = 1'000'000;
constexpr uint64_t MinHeadersBytes = 1024;
constexpr uint64_t MaxHeadersBytes = uint64_t{1024} * 1024;
constexpr int64_t MaxWeight = 1'000'000;

using common::joined;
using common::quote;

int lineOf(const YAML::Node& node) { return node.Mark().line + 1; }

// "v" and a number without leading zeros: the spelling requests are normalized to.
bool isVersionName(std::string_view name) {
  if (name.size() < 2 || name.size() > 10 || name[0] != 'v') return false;
  if (name[1] == '0' && name.size() > 2) return false;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

class Errors {
 public:
  template <typename Fn>
  void attempt(Fn&& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      errors_.push_back(e);
    }
  }
  void add(ConfigError error) { errors_.push_back(std::move(error)); }
  bool empty() const { return errors_.empty(); }
  // In file order, which is how a reader fixes them; the parse order is the loader's business.
  std::vector<ConfigError> take() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       return std::pair(a.line(), a.column()) < std::pair(b.line(), b.column());
                     });
    return std::move(errors_);
  }

 private:
  std::vector<ConfigError> errors_;
};

// One map of the file: reports its unknown and duplicated keys up front, then parses each known
// key on request, recording a key's error and moving on so that one mistake hides no other.
class MapReader {
 public:
  using Parse = std::function<void(const YAML::Node&, const std::string&)>;

  MapReader(const YAML::Node& node, std::string path, Errors& errors,
            std::initializer_list<std::string_view> allowed)
      : node_(node), path_(std::move(path)), errors_(errors) {
    for (ConfigError& error : mapKeyErrors(node_, path_, allowed)) errors_.add(std::move(error));
  }

  void optional(std::string_view key, const Parse& parse) {
    if (auto kv = find(key)) run(*kv, key, parse);
  }
  bool has(std::string_view key) const { return find(key).has_value(); }
  // The key node of `key` (for placing an error at it); only valid when has(key).
  YAML::Node keyNode(std::string_view key) const { return find(key)->first; }
  void required(std::string_view key, const Parse& parse) {
    if (auto kv = find(key)) {
      run(*kv, key, parse);
    } else if (node_.IsNull()) {
      // Thrown rather than recorded so that the caller can place it at the key of the empty
      // value (see run()); the other required keys are missing too and add nothing.
      throw ConfigError(node_, path_, "missing required key " + quote(key));
    } else if (node_.IsMap()) {
      errors_.add(ConfigError(node_, path_, "missing required key " + quote(key)));
    }
  }

 private:
  std::optional<std::pair<YAML::Node, YAML::Node>> find(std::string_view key) const {
    if (!node_.IsMap()) return std::nullopt;
    for (const auto& kv : node_) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return std::pair(kv.first, kv.second);
    }
    return std::nullopt;
  }

  void run(const std::pair<YAML::Node, YAML::Node>& kv, std::string_view key, const Parse& parse) {
    try {
      parse(kv.second, child(path_, key));
    } catch (const ConfigError& e) {
      // yaml-cpp places an empty value ("key:") at the next token, often on a later line; the
      // key is where the reader will look.
      if (kv.second.IsNull()) {
        errors_.add(ConfigError(e.path(), e.what(), lineOf(kv.first), kv.first.Mark().column + 1));
      } else {
        errors_.add(e);
      }
    }
  }

  YAML::Node node_;
  std::string path_;
  Errors& errors_;
};

// Calls `parse` on each element of a sequence with its path, recording errors per element.
void forEachElement(const YAML::Node& node, const std::string& path, Errors& errors,
                    const std::function<void(const YAML::Node&, const std::string&)>& parse) {
  expectSequence(node, path);
  size_t index = 0;
  for (const YAML::Node& element : node) {
    std::string element_path = child(path, index++);
    errors.attempt([&] { parse(element, element_path); });
  }
}

// The names defined in one list (listeners, clusters or routes), to reject duplicates.
class NameSet {
 public:
  explicit NameSet(std::string kind) : kind_(std::move(kind)) {}

  void add(const std::string& name, const YAML::Node& node, const std::string& path) {
    auto [it, inserted] = lines_.emplace(name, lineOf(node));
    if (!inserted) {
      throw ConfigError(node, path,
                        "duplicate " + kind_ + " name " + quote(name) + " (first defined on line " +
                            std::to_string(it->second) + ")");
    }
  }
  bool contains(const std::string& name) const { return lines_.count(name) != 0; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, line] : lines_) out.push_back(name);
    return out;
  }

 private:
  std::string kind_;
  std::map<std::string, int> lines_;
};

MapReader::Parse setName(std::string& out, NameSet& names, bool restricted) {
  return [&out, &names, restricted](const YAML::Node& node, const std::string& path) {
    std::string name = getString(node, path);
    if (name.empty()) throw ConfigError(node, path, "must not be empty");
    names.add(name, node, path);
    out = name;
    bool valid = true;
    for (char c : name) {
      valid = valid && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
    }
    if (restricted && !valid) {
      throw ConfigError(
          node, path,
          "invalid name " + quote(name) + " (use letters, digits, '_', '.' and '-' only)");
    }
  };
}

MapReader::Parse setUint32(uint32_t& out, int64_t min, int64_t max) {
  return [&out, min, max](const YAML::Node& node, const std::string& path) {
    out = static_cast<uint32_t>(getInt(node, path, min, max));
  };
}

MapReader::Parse setDuration(milliseconds& out, bool allow_zero) {
  return [&out, allow_zero](const YAML::Node& node, const std::string& path) {
    milliseconds value = getDuration(node, path);
    if (!allow_zero && value.count() == 0) {
      throw ConfigError(node, path, "must be greater than 0s");
    }
    out = value;
  };
}

MapReader::Parse setBytes(uint64_t& out, uint64_t min, uint64_t max) {
  return [&out, min, max](const YAML::Node& node, const std::string& path) {
    uint64_t value = getBytes(node, path);
    if (value < min || value > max) {
      throw ConfigError(node, path,
                        "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                            " bytes, got " + std::to_string(value));
    }
    out = value;
  };
}

MapReader::Parse setChoice(std::string& out, std::vector<std::string> choices) {
  return [&out, choices = std::move(choices)](const YAML::Node& node, const std::string& path) {
    std::string value = getString(node, path);
    if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
      throw ConfigError(
          node, path,
          "invalid value " + quote(value) + " (expected one of: " + joined(choices) + ")");
    }
    out = value;
  };
}

SocketAddress getAddress(const YAML::Node& node, const std::string& path) {
  std::string text = getString(node, path);
  SocketAddress address;
  if (!parseSocketAddress(text, address)) {
    throw ConfigError(node, path,
                      "invalid address " + quote(text) +
                          " (expected IPv4:port, [IPv6]:port or localhost:port, port 1-65535)");
  }
  return address;
}

// host:port where host is a DNS name: labels of letters, digits and inner hyphens, at most 63
// bytes each and 253 in all, the last one not all digits (that would be a mistyped IPv4 address).
bool parseNamedEndpoint(const std::string& text, NamedEndpoint& out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return false;
  }
  if (host.back() == '.') host.pop_back();
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  bool last_numeric = true;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string::npos) dot = host.size();
    const std::string_view label(host.data() + start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    last_numeric = true;
    for (char c : label) {
      const bool digit = c >= '0' && c <= '9';
      if (!digit && !std::isalpha(static_cast<unsigned char>(c)) && c != '-') return false;
      last_numeric = last_numeric && digit;
    }
    start = dot + 1;
  }
  if (last_numeric) return false;
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.host = std::move(host);
  out.port = static_cast<uint16_t>(value);
  out.text = text;
  return true;
}

// The address in inet_ntop's canonical spelling, so "::1" and "0::1" compare equal.
std::string canonicalHost(const std::string& host) {
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  int family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, host.c_str(), buf) != 1) return host;
  if (inet_ntop(family, buf, text, sizeof(text)) == nullptr) return host;
  return text;
}

// Two sockets that cannot both be bound: the same port on the same address, or on a wildcard.
bool sameSocket(const SocketAddress& a, const SocketAddress& b) {
  if (a.port != b.port) return false;
  std::string ha = canonicalHost(a.host);
  std::string hb = canonicalHost(b.host);
  auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "::"; };
  return ha == hb || wildcard(ha) || wildcard(hb);
}

struct BoundListener {
  std::string name;
  SocketAddress address;
  YAML::Node node;
  std::string path;
};

using common::formatDuration;

class Loader {
 public:
  Loader(const LoadContext& ctx, Config& config) : ctx_(ctx), config_(config) {}

  std::vector<ConfigError> load(const YAML::Node& root) {
    MapReader top(
        root, "", errors_,
        {"workers", "log_level", "drain_timeout", "listeners", "admin", "clusters", "routes",
         "filters", "tracing", "access_log", "rollback", "redis", "dns", "overload", "fleet"});
    if (!root.IsMap()) return errors_.take();
    // The chain first: routes may carry blocks of its filters (`routes[].filters`).
    top.optional("filters", [this](const YAML::Node& node, const std::string& path) {
      forEachElement(node, path, errors_, [this](const YAML::Node& n, const std::string& p) {
        const size_t chain = config_.filters.size();
        try {
          parseFilter(n, p);
        } catch (const ConfigError&) {
          // Keep the chain's positions: route blocks refer to filters by position.
          if (config_.filters.size() == chain) config_.filters.push_back({"", nullptr, false});
          throw;
        }
      });
    });
    top.optional("workers", setUint32(config_.workers, 1, 256));
    top.optional("log_level", setChoice(config_.log_level, {"debug", "info", "warn", "error"}));
    top.optional("drain_timeout", setDuration(config_.drain_timeout, true));
    top.required("listeners", nonEmptyList(config_.listeners, "listener", &Loader::parseListener));
    top.optional("admin", [this](const YAML::Node& node, const std::string& path) {
      parseAdmin(node, path, config_.admin);
    });
    if (!admin_address_set_) {
      for (const BoundListener& listener : bound_) {
        if (sameSocket(listener.address, config_.admin.address)) {
          errors_.add(ConfigError(listener.node, listener.path,
                                  "address " + quote(listener.address.text) +
                                      " conflicts with the admin listener (default " +
                                      config_.admin.address.text + "; set admin.address)"));
        }
      }
    }
    top.required("clusters", nonEmptyList(config_.clusters, "cluster", &Loader::parseCluster));
    top.required("routes", nonEmptyList(config_.routes, "route", &Loader::parseRoute));
    top.optional("tracing", [this](const YAML::Node& node, const std::string& path) {
      config_.tracing = tracing::parseTracingConfig(node, path);
    });
    top.optional("access_log", [this](const YAML::Node& node, const std::string& path) {
      config_.access_log = accesslog::parseAccessLogConfig(node, path);
    });
    top.optional("overload", [this](const YAML::Node& node, const std::string& path) {
      MapReader m(node, path, errors_,
                  {"max_connections", "max_buffer_bytes_per_worker", "retry_after"});
      OverloadConfig& o = config_.overload;
      m.optional("max_connections", setUint32(o.max_connections, 1, MaxConnections));
      m.optional("max_buffer_bytes_per_worker", [&o](const YAML::Node& n, const std::string& p) {
        o.max_buffer_bytes_per_worker = getBytes(n, p);
        if (o.max_buffer_bytes_per_worker != 0 && o.max_buffer_bytes_per_worker < 1024 * 1024) {
          throw ConfigError(n, p, "must be 0 (no limit) or at least 1MiB");
        }
      });
      m.optional("retry_after", [&o](const YAML::Node& n, const std::string& p) {
        o.retry_after = getDuration(n, p);
        if (o.retry_after.count() < 1000 || o.retry_after.count() % 1000 != 0) {
          throw ConfigError(n, p, "must be whole seconds, at least 1s (it is sent in Retry-After)");
        }
      });
    });
    top.optional("dns", [this](const YAML::Node& node, const std::string& path) {
      config_.dns = upstream::parseDnsConfig(node, path);
    });
    top.optional("redis", [this](const YAML::Node& node, const std::string& path) {
      config_.redis = redis::parseRedisConfig(node, path);
    });
    top.optional("fleet", [this, &root](const YAML::Node& node, const std::string& path) {
      MapReader m(node, path, errors_, {"enabled", "key_prefix", "reconcile_interval", "instance"});
      FleetConfig& f = config_.fleet;
      m.optional("enabled",
                 [&f](const YAML::Node& n, const std::string& p) { f.enabled = getBool(n, p); });
      m.optional("key_prefix", [&f](const YAML::Node& n, const std::string& p) {
        f.key_prefix = getString(n, p);
        if (f.key_prefix.empty() || f.key_prefix.size() > 200 ||
            f.key_prefix.find_first_of(" \t\r\n") != std::string::npos) {
          throw ConfigError(n, p, "must be 1-200 characters without spaces");
        }
      });
      m.optional("reconcile_interval", [&f](const YAML::Node& n, const std::string& p) {
        f.reconcile_interval = getDuration(n, p);
        if (f.reconcile_interval < milliseconds(100) ||
            f.reconcile_interval > milliseconds(600000)) {
          throw ConfigError(n, p, "must be between 100ms and 10m");
        }
      });
      m.optional("instance", [&f](const YAML::Node& n, const std::string& p) {
        f.instance = getString(n, p);
        if (f.instance.empty() || f.instance.size() > 200) {
          throw ConfigError(n, p, "must be 1-200 characters");
        }
      });
      if (!root["redis"]) {
        errors_.add(ConfigError(node, path,
                                "fleet-wide state lives in Redis: add a redis: block (or remove "
                                "fleet:)"));
      }
    });
    top.optional("rollback", [this](const YAML::Node& node, const std::string& path) {
      config_.rollback = std::make_shared<const rollback::RollbackConfig>(
          rollback::parseRollbackConfig(node, path));
    });
    // The plans and the filters name routes, versions and clusters: checked once those are known
    // to be sound.
    if (config_.rollback && errors_.empty()) {
      for (ConfigError& e : rollback::validateRollbackConfig(*config_.rollback, config_)) {
        errors_.add(std::move(e));
      }
      // A cluster's health drives a plan only through its active health checks.
      for (const rollback::PlanConfig& plan : config_.rollback->plans) {
        if (!plan.cluster_unhealthy || !errors_.empty()) continue;
        for (const ClusterConfig& c : config_.clusters) {
          if (c.name != plan.cluster_unhealthy->cluster || c.health_check) continue;
          const rollback::Origin& at = plan.cluster_unhealthy->origin;
          errors_.add(ConfigError(at.path,
                                  "cluster " + quote(c.name) +
                                      " has no health_check: block, so nothing says when its "
                                      "endpoints are unhealthy",
                                  at.line, at.column));
        }
      }
    }
    // Which clusters a rollout moves weight between depends on the stable version, which the
    // rollback plan may name.
    if (errors_.empty()) {
      for (const RouteConfig& r : config_.routes) {
        if (!r.rollout) continue;
        rollback::RolloutSides sides;
        const std::string problem =
            rollback::rolloutSides(r, server::stableVersion(config_, r), sides);
        if (!problem.empty()) {
          errors_.add(ConfigError(r.rollout->path, problem, r.rollout->line, r.rollout->column));
        }
      }
    }
    if (errors_.empty()) {
      for (const FilterEntry& f : config_.filters) {
        errors_.attempt([&] {
          for (ConfigError& e : f.factory->validate(config_)) errors_.add(std::move(e));
        });
      }
    }
    return errors_.take();
  }

 private:
  // A required list with at least one element, each parsed by `parse` into a new element of
  // `out`; an element's errors are collected and the others still parsed.
  template <class T>
  MapReader::Parse nonEmptyList(std::vector<T>& out, const char* what,
                                void (Loader::*parse)(const YAML::Node&, const std::string&, T&)) {
    return [this, &out, what, parse](const YAML::Node& node, const std::string& path) {
      forEachElement(node, path, errors_, [&](const YAML::Node& n, const std::string& p) {
        (this->*parse)(n, p, out.emplace_back());
      });
      if (node.size() == 0) {
        throw ConfigError(node, path, std::string("at least one ") + what + " is required");
      }
    };
  }

  // Where relative file names in the configuration start from: the file's directory.
  std::string baseDir() const {
    const size_t slash = config_.source_file.rfind('/');
    return slash == std::string::npos ? std::string() : config_.source_file.substr(0, slash);
  }

  void parseListener(const YAML::Node& node, const std::string& path, ListenerConfig& out) {
    MapReader m(node, path, errors_,
                {"name", "address", "max_connections", "request_headers_timeout", "idle_timeout",
                 "request_timeout", "max_request_headers_bytes", "max_request_body_bytes",
                 "max_requests_per_connection", "forwarded_proto", "lingering_timeout",
                 "lingering_max_bytes", "headers_with_underscores", "tls"});
    m.required("name", setName(out.name, listener_names_, false));
    m.required("address", [this, &out](const YAML::Node& n, const std::string& p) {
      out.address = getAddress(n, p);
      for (const BoundListener& other : bound_) {
        if (sameSocket(other.address, out.address)) {
          throw ConfigError(n, p,
                            "address " + quote(out.address.text) + " conflicts with listener " +
                                quote(other.name) + " (" + other.address.text + ")");
        }
      }
      bound_.push_back({out.name, out.address, n, p});
    });
    m.optional("max_connections", setUint32(out.max_connections, 1, MaxConnections));
    m.optional("request_headers_timeout", setDuration(out.request_headers_timeout, false));
    m.optional("idle_timeout", setDuration(out.idle_timeout, false));
    m.optional("request_timeout", setDuration(out.request_timeout, true));
    m.optional("max_request_headers_bytes",
               setBytes(out.max_request_headers_bytes, MinHeadersBytes, MaxHeadersBytes));
    m.optional("max_request_body_bytes",
               setBytes(out.max_request_body_bytes, 0, std::numeric_limits<uint64_t>::max()));
    m.optional("max_requests_per_connection",
               setUint32(out.max_requests_per_connection, 0, Uint32Max));
    m.optional("forwarded_proto", setChoice(out.forwarded_proto, {"http", "https"}));
    m.optional("lingering_timeout", setDuration(out.lingering_timeout, true));
    m.optional("lingering_max_bytes",
               setBytes(out.lingering_max_bytes, 0, std::numeric_limits<uint64_t>::max()));
    m.optional("headers_with_underscores", [&out](const YAML::Node& n, const std::string& p) {
      std::string choice;
      setChoice(choice, {"drop", "reject", "allow"})(n, p);
      out.headers_with_underscores = choice == "reject"  ? ListenerConfig::Underscores::Reject
                                     : choice == "allow" ? ListenerConfig::Underscores::Allow
                                                         : ListenerConfig::Underscores::Drop;
    });
    m.optional("tls", [this, &out](const YAML::Node& n, const std::string& p) {
      out.tls = parseListenerTlsConfig(n, p, baseDir());
    });
  }

  void parseAdmin(const YAML::Node& node, const std::string& path, AdminConfig& out) {
    MapReader m(node, path, errors_, {"address", "token"});
    m.optional("address", [this, &out](const YAML::Node& n, const std::string& p) {
      admin_address_set_ = true;
      out.address = getAddress(n, p);
      for (const BoundListener& other : bound_) {
        if (sameSocket(other.address, out.address)) {
          throw ConfigError(n, p,
                            "address " + quote(out.address.text) + " conflicts with listener " +
                                quote(other.name) + " (" + other.address.text + ")");
        }
      }
    });
    m.optional("token",
               [&out](const YAML::Node& n, const std::string& p) { out.token = getString(n, p); });
  }

  void parseCluster(const YAML::Node& node, const std::string& path, ClusterConfig& out) {
    MapReader m(node, path, errors_,
                {"name", "endpoints", "connect_timeout", "response_timeout", "idle_timeout",
                 "max_connections", "max_pending_requests", "max_requests_per_connection",
                 "health_check", "outlier_detection", "tls"});
    m.required("name", setName(out.name, cluster_names_, true));
    m.required("endpoints", [this, &out](const YAML::Node& n, const std::string& p) {
      forEachElement(n, p, errors_, [&out](const YAML::Node& e, const std::string& ep) {
        const std::string text = getString(e, ep);
        SocketAddress address;
        if (parseSocketAddress(text, address)) {
          out.endpoints.push_back(std::move(address));
          return;
        }
        NamedEndpoint named;
        if (!parseNamedEndpoint(text, named)) {
          throw ConfigError(e, ep,
                            "invalid endpoint " + quote(text) +
                                " (expected IPv4:port, [IPv6]:port or hostname:port, port "
                                "1-65535)");
        }
        out.named_endpoints.push_back(std::move(named));
      });
      if (n.size() == 0) throw ConfigError(n, p, "at least one endpoint is required");
    });
    m.optional("connect_timeout", setDuration(out.connect_timeout, false));
    m.optional("response_timeout", setDuration(out.response_timeout, false));
    m.optional("idle_timeout", setDuration(out.idle_timeout, false));
    m.optional("max_connections", setUint32(out.max_connections, 1, MaxConnections));
    m.optional("max_pending_requests", setUint32(out.max_pending_requests, 0, MaxConnections));
    m.optional("max_requests_per_connection",
               setUint32(out.max_requests_per_connection, 0, Uint32Max));
    m.optional("health_check", [&out](const YAML::Node& n, const std::string& p) {
      out.health_check = upstream::parseHealthCheckConfig(n, p);
    });
    m.optional("outlier_detection", [&out](const YAML::Node& n, const std::string& p) {
      out.outlier_detection = upstream::parseOutlierDetectionConfig(n, p);
    });
    m.optional("tls", [this, &out](const YAML::Node& n, const std::string& p) {
      out.tls = parseClusterTlsConfig(n, p, baseDir());
    });
  }

  void parseRoute(const YAML::Node& node, const std::string& path, RouteConfig& out) {
    MapReader m(node, path, errors_,
                {"name", "match", "cluster", "split", "sticky", "versions", "deprecated", "timeout",
                 "upstream_header", "filters", "rewrite", "force", "rollout"});
    m.required("name", setName(out.name, route_names_, false));
    m.required("match", [this, &out](const YAML::Node& n, const std::string& p) {
      MapReader match(n, p, errors_, {"prefix"});
      match.required("prefix", [this, &out](const YAML::Node& pn, const std::string& pp) {
        std::string prefix = getString(pn, pp);
        if (prefix.empty() || prefix.front() != '/') {
          throw ConfigError(pn, pp, "invalid prefix " + quote(prefix) + " (must start with \"/\")");
        }
        auto [it, inserted] = prefixes_.emplace(prefix, out.name);
        if (!inserted) {
          throw ConfigError(
              pn, pp,
              "prefix " + quote(prefix) + " is already matched by route " + quote(it->second));
        }
        out.prefix = prefix;
      });
    });
    out.filters.resize(config_.filters.size());
    m.optional("filters", [this, &out](const YAML::Node& n, const std::string& p) {
      parseRouteFilters(n, p, nullptr, out.filters);
    });
    // Exactly one of the three forms says where the route's requests go.
    const char* forms[] = {"cluster", "split", "versions"};
    const char* first = nullptr;
    for (const char* form : forms) {
      if (!m.has(form)) continue;
      if (first != nullptr) {
        errors_.add(ConfigError(m.keyNode(form), child(path, form),
                                "a route takes one of \"cluster\", \"split\" or \"versions\"; " +
                                    quote(first) + " is already set"));
      } else {
        first = form;
      }
    }
    if (first == nullptr && node.IsMap()) {
      errors_.add(ConfigError(node, path,
                              "missing required key \"cluster\" (or \"split\" or \"versions\")"));
    }
    if (first != nullptr && std::string_view(first) == "cluster") {
      m.optional("cluster", [this, &out](const YAML::Node& n, const std::string& p) {
        out.cluster = clusterRef(n, p);
        out.target.split = {{out.cluster, 1}};
      });
    } else if (first != nullptr && std::string_view(first) == "split") {
      m.optional("split", [this, &out](const YAML::Node& n, const std::string& p) {
        out.target.split = parseSplit(n, p);
      });
    } else if (first != nullptr) {
      m.optional("versions", [this, &out](const YAML::Node& n, const std::string& p) {
        parseVersions(n, p, out);
      });
    }
    m.optional("sticky", [this, &out](const YAML::Node& n, const std::string& p) {
      if (!out.versions.empty()) {
        throw ConfigError(n, p, "a versioned route sets \"sticky\" on each version");
      }
      parseSticky(n, p, out.target);
    });
    m.optional("rewrite", [this, &out](const YAML::Node& n, const std::string& p) {
      if (!out.versions.empty()) {
        throw ConfigError(n, p, "a versioned route sets \"rewrite\" on each version");
      }
      out.target.rewrite = parseRewrite(n, p);
    });
    m.optional("force", [this, &out](const YAML::Node& n, const std::string& p) {
      if (!out.versions.empty()) {
        throw ConfigError(n, p, "a versioned route sets \"force\" on the version with the split");
      }
      parseForce(n, p, out.target);
    });
    m.optional("deprecated", [&out](const YAML::Node& n, const std::string& p) {
      out.deprecated = std::make_shared<const DeprecationPolicy>(parseDeprecationPolicy(n, p));
    });
    m.optional("timeout", setDuration(out.timeout, true));
    m.optional("upstream_header", [&out](const YAML::Node& n, const std::string& p) {
      // An empty name turns the header off.
      out.upstream_header = getString(n, p).empty() ? "" : getHeaderName(n, p);
    });
    m.optional("rollout", [this, &out](const YAML::Node& n, const std::string& p) {
      if (out.versions.size() < 2) {
        throw ConfigError(n, p, "a rollout needs a route with at least two versions (v1, v2, ...)");
      }
      out.rollout = std::make_shared<const RolloutConfig>(parseRollout(n, p));
    });
  }

  // rollout: {steps: [10, 50, 100], hold: 10m, gates: {...}}
  RolloutConfig parseRollout(const YAML::Node& node, const std::string& path) {
    RolloutConfig out;
    out.path = path;
    out.line = node.Mark().line + 1;
    out.column = node.Mark().column + 1;
    if (!node.IsMap()) throw ConfigError(node, path, "expected a map (steps, hold, gates)");
    MapReader m(node, path, errors_, {"steps", "hold", "gates"});
    m.optional("steps", [&out](const YAML::Node& n, const std::string& p) {
      expectSequence(n, p);
      if (n.size() == 0) throw ConfigError(n, p, "at least one step is required");
      std::vector<uint32_t> steps;
      size_t index = 0;
      for (const YAML::Node& e : n) {
        const std::string ep = child(p, index++);
        const auto step = static_cast<uint32_t>(getInt(e, ep, 1, 100));
        if (!steps.empty() && step <= steps.back()) {
          throw ConfigError(e, ep,
                            "steps must be strictly increasing (" + std::to_string(step) +
                                " after " + std::to_string(steps.back()) + ")");
        }
        steps.push_back(step);
      }
      if (steps.back() != 100) {
        throw ConfigError(n, p,
                          "the last step must be 100 (a rollout ends with every request on the "
                          "new side; pause it to stay part-way)");
      }
      out.steps = std::move(steps);
    });
    m.optional("hold", setDuration(out.hold, false));
    m.optional("gates", [this, &out](const YAML::Node& n, const std::string& p) {
      MapReader g(n, p, errors_,
                  {"max_error_ratio_vs_baseline", "max_p95", "max_mismatch_ratio", "min_requests"});
      g.optional("max_error_ratio_vs_baseline", [&out](const YAML::Node& v, const std::string& vp) {
        out.gates.max_error_ratio_vs_baseline = getDouble(v, vp, 1, 1000);
      });
      g.optional("max_p95", setDuration(out.gates.max_p95, false));
      g.optional("max_mismatch_ratio", [&out](const YAML::Node& v, const std::string& vp) {
        out.gates.max_mismatch_ratio = getDouble(v, vp, 0, 1);
      });
      g.optional("min_requests", [&out](const YAML::Node& v, const std::string& vp) {
        out.gates.min_requests = static_cast<uint64_t>(getInt(v, vp, 1, 1'000'000'000));
      });
    });
    return out;
  }

  std::string clusterRef(const YAML::Node& n, const std::string& p) {
    std::string cluster = getString(n, p);
    if (!cluster_names_.contains(cluster)) {
      throw ConfigError(n, p,
                        "unknown cluster " + quote(cluster) +
                            " (defined clusters: " + joined(cluster_names_.names()) + ")");
    }
    return cluster;
  }

  // split: [{cluster: modern, weight: 90}, {cluster: legacy, weight: 10}]
  std::vector<WeightedCluster> parseSplit(const YAML::Node& node, const std::string& path) {
    std::vector<WeightedCluster> split;
    forEachElement(node, path, errors_, [&](const YAML::Node& e, const std::string& ep) {
      WeightedCluster wc;
      MapReader m(e, ep, errors_, {"cluster", "weight", "rewrite"});
      m.required("cluster", [&](const YAML::Node& n, const std::string& p) {
        wc.cluster = clusterRef(n, p);
        for (const WeightedCluster& other : split) {
          if (other.cluster == wc.cluster) {
            throw ConfigError(n, p, "cluster " + quote(wc.cluster) + " appears twice in the split");
          }
        }
      });
      m.required("weight", setUint32(wc.weight, 0, MaxWeight));
      m.optional("rewrite", [&](const YAML::Node& n, const std::string& p) {
        wc.rewrite = parseRewrite(n, p);
      });
      if (!wc.cluster.empty()) split.push_back(wc);
    });
    if (node.size() == 0) throw ConfigError(node, path, "at least one cluster is required");
    uint64_t total = 0;
    for (const WeightedCluster& wc : split) total += wc.weight;
    if (!split.empty() && total == 0 && split.size() == node.size()) {
      throw ConfigError(node, path, "the weights add up to 0; at least one must be positive");
    }
    return split;
  }

  // sticky: {header: X-User-Id} or {claim: sub}
  void parseSticky(const YAML::Node& node, const std::string& path, TargetConfig& out) {
    MapReader m(node, path, errors_, {"header", "claim"});
    if (node.IsMap() && node["header"] && node["claim"]) {
      throw ConfigError(node, path, "sticky takes one key: header or claim");
    }
    if (node.IsMap() && node["claim"]) {
      m.optional("claim", [&out](const YAML::Node& n, const std::string& p) {
        out.sticky_claim = getString(n, p);
        const bool valid = !out.sticky_claim.empty() && out.sticky_claim.size() <= 128 &&
                           std::all_of(out.sticky_claim.begin(), out.sticky_claim.end(),
                                       [](unsigned char c) { return c > 0x20 && c < 0x7f; });
        if (!valid) {
          throw ConfigError(n, p, "a claim name is 1 to 128 visible ASCII characters");
        }
      });
      return;
    }
    m.required("header", [&out](const YAML::Node& n, const std::string& p) {
      out.sticky_header = getHeaderName(n, p);
    });
  }

  // versions: {default: v2, v1: {cluster: legacy, deprecated: {...}}, v2: {split: [...]}}
  void parseVersions(const YAML::Node& node, const std::string& path, RouteConfig& out) {
    if (!node.IsMap()) throw ConfigError(node, path, "expected a map of versions");
    YAML::Node default_node;
    bool has_default = false;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string key_path = child(path, key);
      if (key == "default") {
        default_node = kv.second;
        has_default = true;
        errors_.attempt([&] { out.default_version = getString(kv.second, key_path); });
        continue;
      }
      if (!isVersionName(key)) {
        errors_.add(ConfigError(kv.first, key_path,
                                "invalid version name " + quote(key) +
                                    " (expected \"default\" or v<number>, e.g. v1)"));
        continue;
      }
      if (out.findVersion(key) != nullptr) {
        errors_.add(ConfigError(kv.first, key_path, "version " + quote(key) + " is defined twice"));
        continue;
      }
      VersionConfig& v = out.versions.emplace_back();
      v.name = key;
      v.filters = out.filters;
      errors_.attempt([&] { parseVersion(kv.second, key_path, out, v); });
    }
    if (out.versions.empty()) {
      throw ConfigError(node, path, "at least one version (v1, v2, ...) is required");
    }
    if (!has_default) {
      throw ConfigError(node, path, "missing required key \"default\"");
    }
    for (const VersionConfig& v : out.versions) {
      const FallbackConfig* f = v.target.fallback.get();
      if (f == nullptr || out.findVersion(f->version) != nullptr) continue;
      std::vector<std::string> names;
      for (const VersionConfig& other : out.versions) names.push_back(other.name);
      errors_.add(ConfigError(
          f->path,
          "unknown version " + quote(f->version) + " (defined versions: " + joined(names) + ")",
          f->line, f->column));
    }
    if (!out.default_version.empty() && out.findVersion(out.default_version) == nullptr) {
      std::vector<std::string> names;
      for (const VersionConfig& v : out.versions) names.push_back(v.name);
      throw ConfigError(default_node, child(path, "default"),
                        "unknown version " + quote(out.default_version) +
                            " (defined versions: " + joined(names) + ")");
    }
  }

  void parseVersion(const YAML::Node& node, const std::string& path, const RouteConfig& route,
                    VersionConfig& out) {
    MapReader m(
        node, path, errors_,
        {"cluster", "split", "sticky", "deprecated", "filters", "rewrite", "force", "fallback"});
    m.optional("filters", [this, &route, &out](const YAML::Node& n, const std::string& p) {
      parseRouteFilters(n, p, &route.filters, out.filters);
    });
    if (m.has("cluster") && m.has("split")) {
      throw ConfigError(m.keyNode("split"), child(path, "split"),
                        "a version takes one of \"cluster\" or \"split\", not both");
    }
    if (!m.has("cluster") && !m.has("split") && node.IsMap()) {
      throw ConfigError(node, path, "missing required key \"cluster\" (or \"split\")");
    }
    m.optional("cluster", [this, &out](const YAML::Node& n, const std::string& p) {
      out.target.split = {{clusterRef(n, p), 1}};
    });
    m.optional("split", [this, &out](const YAML::Node& n, const std::string& p) {
      out.target.split = parseSplit(n, p);
    });
    m.optional("sticky", [this, &out](const YAML::Node& n, const std::string& p) {
      parseSticky(n, p, out.target);
    });
    m.optional("rewrite", [this, &out](const YAML::Node& n, const std::string& p) {
      out.target.rewrite = parseRewrite(n, p);
    });
    // After the split and sticky it is checked against.
    m.optional("force", [this, &out](const YAML::Node& n, const std::string& p) {
      parseForce(n, p, out.target);
    });
    m.optional("deprecated", [&out](const YAML::Node& n, const std::string& p) {
      out.deprecated = std::make_shared<const DeprecationPolicy>(parseDeprecationPolicy(n, p));
    });
    m.optional("fallback", [this, &out](const YAML::Node& n, const std::string& p) {
      out.target.fallback = parseFallback(n, p, out.name);
    });
  }

  // fallback: {version: v1, on: [connect-failure, reset, timeout, circuit-open, overloaded,
  //                              no-endpoint, 502, 503, 504]}
  std::shared_ptr<const FallbackConfig> parseFallback(const YAML::Node& node,
                                                      const std::string& path,
                                                      const std::string& own_version) {
    MapReader m(node, path, errors_, {"version", "on"});
    if (!node.IsMap()) {
      if (node.IsNull()) throw ConfigError(node, path, "expected {version: v1}");
      return nullptr;  // the reader said why
    }
    auto out = std::make_shared<FallbackConfig>();
    m.required("version", [&](const YAML::Node& n, const std::string& p) {
      out->version = getString(n, p);
      if (out->version == own_version) {
        throw ConfigError(n, p, "a version cannot fall back to itself");
      }
      out->path = p;
      out->line = lineOf(n);
      out->column = n.Mark().column + 1;
    });
    m.optional("on", [&](const YAML::Node& n, const std::string& p) {
      expectSequence(n, p);
      if (n.size() == 0) throw ConfigError(n, p, "at least one failure is required");
      out->on_connect_failure = out->on_reset = out->on_timeout = false;
      out->on_circuit_open = out->on_overloaded = out->on_no_endpoint = false;
      out->statuses.clear();
      size_t index = 0;
      for (const YAML::Node& e : n) {
        const std::string ep = child(p, index++);
        const std::string text = getString(e, ep);
        if (text == "connect-failure") {
          out->on_connect_failure = true;
        } else if (text == "reset") {
          out->on_reset = true;
        } else if (text == "timeout") {
          out->on_timeout = true;
        } else if (text == "circuit-open") {
          out->on_circuit_open = true;
        } else if (text == "overloaded") {
          out->on_overloaded = true;
        } else if (text == "no-endpoint") {
          out->on_no_endpoint = true;
        } else {
          int status = 0;
          auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
          if (ec != std::errc() || ptr != text.data() + text.size() || status < 500 ||
              status > 599) {
            throw ConfigError(e, ep,
                              "invalid value " + quote(text) +
                                  " (expected connect-failure, reset, timeout, circuit-open, "
                                  "overloaded, no-endpoint or a status from 500 to 599)");
          }
          out->statuses.push_back(status);
        }
      }
    });
    return out;
  }

  // rewrite: {prefix: /v2/, to: /v1/} or {regex: '^/v2/(.*)$', to: '/v1/\1'}
  std::shared_ptr<const PathRewrite> parseRewrite(const YAML::Node& node, const std::string& path) {
    MapReader m(node, path, errors_, {"prefix", "regex", "to"});
    if (!node.IsMap()) {
      if (node.IsNull()) throw ConfigError(node, path, "expected {prefix: /old/, to: /new/}");
      return nullptr;  // the reader said why
    }
    if (m.has("prefix") == m.has("regex")) {
      throw ConfigError(node, path,
                        "a rewrite takes one of \"prefix\" or \"regex\" (with \"to\"), e.g. "
                        "{prefix: /v2/, to: /v1/}");
    }
    auto out = std::make_shared<PathRewrite>();
    auto startsWithSlash = [](const std::string& value) {
      return !value.empty() && value.front() == '/';
    };
    m.optional("prefix", [&](const YAML::Node& n, const std::string& p) {
      out->prefix = getString(n, p);
      if (!startsWithSlash(out->prefix)) {
        throw ConfigError(n, p,
                          "invalid prefix " + quote(out->prefix) + " (must start with \"/\")");
      }
    });
    m.optional("regex", [&](const YAML::Node& n, const std::string& p) {
      out->regex_text = getString(n, p);
      if (out->regex_text.empty()) throw ConfigError(n, p, "must not be empty");
      try {
        out->regex = std::make_shared<const std::regex>(out->regex_text, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        throw ConfigError(n, p, "invalid regex " + quote(out->regex_text) + ": " + e.what());
      }
    });
    m.required("to", [&](const YAML::Node& n, const std::string& p) {
      out->to = getString(n, p);
      if (!startsWithSlash(out->to)) {
        throw ConfigError(n, p, "invalid path " + quote(out->to) + " (must start with \"/\")");
      }
      if (out->regex == nullptr) return;
      for (size_t i = 0; i + 1 < out->to.size(); ++i) {
        if (out->to[i] != '\\') continue;
        const char next = out->to[++i];
        if (next >= '1' && next <= '9' &&
            static_cast<size_t>(next - '0') > out->regex->mark_count()) {
          throw ConfigError(n, p,
                            std::string("\\") + next +
                                " names a group the regex does not have (it has " +
                                std::to_string(out->regex->mark_count()) + ")");
        }
      }
    });
    return out;
  }

  // force: [{cluster: modern, keys: [u123, u456]}], checked against the target's split and sticky.
  void parseForce(const YAML::Node& node, const std::string& path, TargetConfig& out) {
    if (out.sticky_header.empty() && out.sticky_claim.empty()) {
      throw ConfigError(node, path,
                        "forced keys need \"sticky\" ({header: ...} or {claim: ...}) on the same "
                        "split: they are matched against its sticky key");
    }
    auto forced = std::make_shared<ForcedKeys>();
    std::map<std::string, std::string> owner;  // key -> cluster
    forEachElement(node, path, errors_, [&](const YAML::Node& e, const std::string& ep) {
      ForcedCluster entry;
      int slot = -1;
      MapReader m(e, ep, errors_, {"cluster", "keys"});
      m.required("cluster", [&](const YAML::Node& n, const std::string& p) {
        entry.cluster = getString(n, p);
        std::vector<std::string> names;
        for (size_t i = 0; i < out.split.size(); ++i) {
          names.push_back(out.split[i].cluster);
          if (out.split[i].cluster == entry.cluster) slot = static_cast<int>(i);
        }
        if (slot < 0) {
          throw ConfigError(n, p,
                            "cluster " + quote(entry.cluster) + " is not part of the split (" +
                                joined(names) + ")");
        }
      });
      m.required("keys", [&](const YAML::Node& n, const std::string& p) {
        expectSequence(n, p);
        if (n.size() == 0) throw ConfigError(n, p, "at least one key is required");
        size_t index = 0;
        for (const YAML::Node& k : n) {
          const std::string kp = child(p, index++);
          errors_.attempt([&] {
            std::string key = getString(k, kp);
            if (key.empty()) throw ConfigError(k, kp, "must not be empty");
            auto [it, inserted] = owner.emplace(key, entry.cluster);
            if (!inserted) {
              throw ConfigError(
                  k, kp,
                  "key " + quote(key) + " is already forced to cluster " + quote(it->second));
            }
            entry.keys.push_back(std::move(key));
          });
        }
      });
      if (slot < 0) return;
      for (const std::string& key : entry.keys) forced->add(key, static_cast<uint32_t>(slot));
      out.force.push_back(std::move(entry));
    });
    if (node.IsSequence() && node.size() == 0) {
      throw ConfigError(node, path, "at least one {cluster, keys} entry is required");
    }
    if (forced->size() > 0) out.forced = std::move(forced);
  }

  void parseFilter(const YAML::Node& node, const std::string& path) {
    if (!node.IsMap() || node.size() != 1) {
      std::string hint = "correlation_id";
      if (node.IsScalar()) hint = node.Scalar();
      throw ConfigError(
          node, path,
          "expected a map with one key, the filter's name, e.g. \"- " + hint + ": {}\"");
    }
    auto kv = *node.begin();
    if (!kv.first.IsScalar()) throw ConfigError(kv.first, path, "expected a filter name");
    std::string name = kv.first.Scalar();
    std::string filter_path = child(path, name);
    const filters::FilterRegistration* registration = ctx_.filters.find(name);
    if (registration == nullptr) {
      std::vector<std::string> known = ctx_.filters.names();
      throw ConfigError(kv.first, filter_path,
                        "unknown filter " + quote(name) +
                            (known.empty() ? " (no filters are registered)"
                                           : " (known filters: " + joined(known) + ")"));
    }
    config_.filters.push_back({name, nullptr, registration->stream_filter});
    // The router applies one retry policy and one admission control per attempt: a second filter
    // providing either would be ignored, so it is an error.
    for (filters::PolicyKind kind : registration->policies) {
      auto [it, inserted] =
          policy_providers_.emplace(kind, std::pair(filter_path, lineOf(kv.first)));
      if (!inserted) {
        throw ConfigError(kv.first, filter_path,
                          "the chain already has a filter providing the " + policyName(kind) +
                              " policy (" + it->second.first + ", line " +
                              std::to_string(it->second.second) + "); remove one");
      }
    }
    filters::BuildContext build_ctx{filter_path, ctx_.metrics, ctx_.time};
    filters::FilterFactoryPtr factory;
    try {
      factory = registration->build(kv.second, build_ctx);
    } catch (const YAML::Exception& e) {
      // A filter that used yaml-cpp's own conversions: keep the position yaml-cpp knows.
      throw ConfigError(filter_path, e.msg, e.mark.line + 1, e.mark.column + 1);
    }
    if (factory == nullptr) throw ConfigError(kv.first, filter_path, "the filter built nothing");
    config_.filters.back().factory = std::move(factory);
  }

  static std::string policyName(filters::PolicyKind kind) {
    switch (kind) {
      case filters::PolicyKind::Retry:
        return "retry";
      case filters::PolicyKind::Admission:
        return "admission (circuit breaker)";
      case filters::PolicyKind::None:
        break;
    }
    return "unknown";
  }

  // `filters: {<name>: {...}}` under a route (`parent` null) or a version (`parent`: its route's
  // blocks). Each block is parsed by its filter, over the parent's block for that filter.
  void parseRouteFilters(const YAML::Node& node, const std::string& path,
                         const RouteFilterConfigs* parent, RouteFilterConfigs& out) {
    if (!node.IsMap()) throw ConfigError(node, path, "expected a map of filter name: block");
    for (const auto& kv : node) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string key_path = child(path, name);
      size_t found = 0;
      size_t index = 0;
      for (size_t i = 0; i < config_.filters.size(); ++i) {
        if (config_.filters[i].name == name) {
          ++found;
          index = i;
        }
      }
      if (found == 0) {
        errors_.add(ConfigError(kv.first, key_path,
                                "filter " + quote(name) +
                                    " is not in the chain (add it under the top-level filters:)"));
        continue;
      }
      if (found > 1) {
        errors_.add(ConfigError(kv.first, key_path,
                                "filter " + quote(name) + " appears " + std::to_string(found) +
                                    " times in the chain; a route block needs it once"));
        continue;
      }
      if (config_.filters[index].factory == nullptr) continue;  // its own error says why
      errors_.attempt([&] {
        const filters::RouteFilterConfig* base =
            parent != nullptr && index < parent->size() ? (*parent)[index].get() : nullptr;
        out[index] = config_.filters[index].factory->parseRouteConfig(kv.second, key_path, base);
      });
    }
  }

  const LoadContext& ctx_;
  Config& config_;
  Errors errors_;
  NameSet listener_names_{"listener"};
  NameSet cluster_names_{"cluster"};
  NameSet route_names_{"route"};
  std::vector<BoundListener> bound_;
  bool admin_address_set_ = false;
  std::map<std::string, std::string> prefixes_;  // prefix -> route name
  std::map<filters::PolicyKind, std::pair<std::string, int>> policy_providers_;
};

bool readFile(const std::string& path, std::string& out, std::string& error) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) {
    error = std::strerror(errno);
    return false;
  }
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), file.get())) > 0) out.append(buf, n);
  if (std::ferror(file.get()) != 0) {
    error = std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

namespace {

// Notes where each document starts and nothing else.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  std::vector<YAML::Mark> starts;
};

}  // namespace

ConfigConstSharedPtr loadConfigString(const std::string& yaml, const std::string& name,
                                      const LoadContext& ctx) {
  YAML::Node document;
  try {
    // At most two documents are looked at: yaml-cpp 0.7's LoadAll() never ends on some
    // malformed input (a stray ',' at the start of a line makes it return empty documents
    // forever, growing without bound), and one is all a configuration may have.
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    DocumentCounter counter;
    for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
    }
    if (counter.starts.size() > 1) {
      const YAML::Mark& second = counter.starts[1];
      throw ConfigErrors(name, {ConfigError("", "expected one YAML document, found more",
                                            second.line + 1, second.column + 1)});
    }
    document = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigErrors(
        name, {ConfigError("", "invalid YAML: " + e.msg, e.mark.line + 1, e.mark.column + 1)});
  }
  if (!document.IsDefined() || document.IsNull()) {
    throw ConfigErrors(name, {ConfigError("", "empty configuration")});
  }
  auto config = std::make_shared<Config>();
  config->source_file = name;
  std::vector<ConfigError> errors = Loader(ctx, *config).load(document);
  if (!errors.empty()) throw ConfigErrors(name, std::move(errors));
  return config;
}

ConfigConstSharedPtr loadConfigFile(const std::string& path, const LoadContext& ctx) {
  std::string text;
  std::string error;
  if (!readFile(path, text, error)) {
    throw ConfigErrors(path, {ConfigError("", "cannot read file: " + error)});
  }
  return loadConfigString(text, path, ctx);
}

namespace {

// The blocks of `filters` that are not simply inherited from `parent`, by filter name.
nlohmann::json routeFiltersToJson(const Config& config, const RouteFilterConfigs& filters,
                                  const RouteFilterConfigs* parent) {
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < filters.size() && i < config.filters.size(); ++i) {
    if (filters[i] == nullptr) continue;
    if (parent != nullptr && i < parent->size() && (*parent)[i] == filters[i]) continue;
    out[config.filters[i].name] = filters[i]->toJson();
  }
  return out;
}

// Header values of webhook steps may carry credentials: only their names are shown.
nlohmann::json rollbackToJson(const rollback::RollbackConfig& r) {
  using nlohmann::json;
  json plans = json::array();
  for (const auto& p : r.plans) {
    json steps = json::array();
    for (const auto& step : p.steps) {
      json s = {
          {"type", rollback::stepTypeName(step.type)},
          {"timeout", formatDuration(step.timeout)},
          {"retry",
           {{"attempts", step.retry.attempts}, {"backoff", formatDuration(step.retry.backoff)}}}};
      if (step.changesTraffic()) s["version"] = step.version;
      if (step.type == rollback::StepType::SetWeights) s["weights"] = step.weights;
      if (!step.changesTraffic()) {
        s["url"] = step.url.text;
        json headers = json::array();
        for (const auto& [name, value] : step.headers) headers.push_back(name);
        s["headers"] = std::move(headers);
        if (!step.body.is_null()) s["body"] = step.body;
        if (!step.message.empty()) s["message"] = step.message;
      }
      steps.push_back(std::move(s));
    }
    json plan = {{"route", p.route}, {"alerts", {{"labels", p.alert_labels}}}, {"steps", steps}};
    if (p.guard) {
      plan["guard"] = {{"version", p.guard->version},
                       {"window", formatDuration(p.guard->window)},
                       {"min_requests", p.guard->min_requests},
                       {"max_error_ratio", p.guard->max_error_ratio},
                       {"max_latency", formatDuration(p.guard->max_latency)}};
    }
    plans.push_back(std::move(plan));
  }
  return {{"state_file", r.state_file},
          {"webhook", {{"max_body_bytes", r.webhook_max_body_bytes}}},
          {"max_executions", r.max_executions},
          {"max_alert_keys", r.max_alert_keys},
          {"plans", std::move(plans)}};
}

}  // namespace

nlohmann::json configToJson(const Config& config) {
  using nlohmann::json;
  json out;
  out["source_file"] = config.source_file;
  out["workers"] = config.workers;
  out["log_level"] = config.log_level;
  out["drain_timeout"] = formatDuration(config.drain_timeout);
  json listeners = json::array();
  for (const ListenerConfig& l : config.listeners) {
    listeners.push_back({
        {"name", l.name},
        {"address", l.address.text},
        {"max_connections", l.max_connections},
        {"request_headers_timeout", formatDuration(l.request_headers_timeout)},
        {"idle_timeout", formatDuration(l.idle_timeout)},
        {"request_timeout", formatDuration(l.request_timeout)},
        {"max_request_headers_bytes", l.max_request_headers_bytes},
        {"max_request_body_bytes", l.max_request_body_bytes},
        {"max_requests_per_connection", l.max_requests_per_connection},
        {"forwarded_proto", l.forwarded_proto},
        {"lingering_timeout", formatDuration(l.lingering_timeout)},
        {"lingering_max_bytes", l.lingering_max_bytes},
        {"headers_with_underscores",
         l.headers_with_underscores == ListenerConfig::Underscores::Reject  ? "reject"
         : l.headers_with_underscores == ListenerConfig::Underscores::Allow ? "allow"
                                                                            : "drop"},
    });
    if (l.tls) listeners.back()["tls"] = listenerTlsToJson(*l.tls);
  }
  out["listeners"] = std::move(listeners);
  out["overload"] = {
      {"max_connections", config.overload.max_connections},
      {"max_buffer_bytes_per_worker", config.overload.max_buffer_bytes_per_worker},
      {"retry_after", formatDuration(config.overload.retry_after)},
  };
  out["admin"] = {
      {"address", config.admin.address.text},
      {"token", config.admin.token.empty() ? "" : "<redacted>"},
  };
  json clusters = json::array();
  for (const ClusterConfig& c : config.clusters) {
    json endpoints = json::array();
    for (const SocketAddress& e : c.endpoints) endpoints.push_back(e.text);
    for (const NamedEndpoint& e : c.named_endpoints) endpoints.push_back(e.text);
    clusters.push_back({
        {"name", c.name},
        {"endpoints", std::move(endpoints)},
        {"connect_timeout", formatDuration(c.connect_timeout)},
        {"response_timeout", formatDuration(c.response_timeout)},
        {"idle_timeout", formatDuration(c.idle_timeout)},
        {"max_connections", c.max_connections},
        {"max_pending_requests", c.max_pending_requests},
        {"max_requests_per_connection", c.max_requests_per_connection},
    });
    if (c.health_check) clusters.back()["health_check"] = c.health_check->toJson();
    if (c.outlier_detection) {
      clusters.back()["outlier_detection"] = c.outlier_detection->toJson();
    }
    if (c.tls) clusters.back()["tls"] = clusterTlsToJson(*c.tls);
  }
  out["clusters"] = std::move(clusters);
  json routes = json::array();
  auto rewriteJson = [](const PathRewrite& r) {
    json out = r.regex != nullptr ? json{{"regex", r.regex_text}} : json{{"prefix", r.prefix}};
    out["to"] = r.to;
    return out;
  };
  auto targetJson = [&rewriteJson](const TargetConfig& t, json& out) {
    if (t.rewrite != nullptr) out["rewrite"] = rewriteJson(*t.rewrite);
    if (t.fallback != nullptr) {
      json on = json::array();
      if (t.fallback->on_connect_failure) on.push_back("connect-failure");
      if (t.fallback->on_reset) on.push_back("reset");
      if (t.fallback->on_timeout) on.push_back("timeout");
      if (t.fallback->on_circuit_open) on.push_back("circuit-open");
      if (t.fallback->on_overloaded) on.push_back("overloaded");
      if (t.fallback->on_no_endpoint) on.push_back("no-endpoint");
      for (int s : t.fallback->statuses) on.push_back(s);
      out["fallback"] = {{"version", t.fallback->version}, {"on", std::move(on)}};
    }
    if (t.split.size() == 1 && t.sticky_header.empty() && t.sticky_claim.empty() &&
        t.split.front().rewrite == nullptr) {
      out["cluster"] = t.split.front().cluster;
      return;
    }
    json split = json::array();
    for (const WeightedCluster& wc : t.split) {
      split.push_back({{"cluster", wc.cluster}, {"weight", wc.weight}});
      if (wc.rewrite != nullptr) split.back()["rewrite"] = rewriteJson(*wc.rewrite);
    }
    out["split"] = std::move(split);
    if (!t.sticky_header.empty()) out["sticky"] = {{"header", t.sticky_header}};
    if (!t.sticky_claim.empty()) out["sticky"] = {{"claim", t.sticky_claim}};
    if (!t.force.empty()) {
      json force = json::array();
      for (const ForcedCluster& f : t.force)
        force.push_back({{"cluster", f.cluster}, {"keys", f.keys}});
      out["force"] = std::move(force);
    }
  };
  for (const RouteConfig& r : config.routes) {
    json route = {{"name", r.name}, {"match", {{"prefix", r.prefix}}}};
    if (r.versions.empty()) {
      targetJson(r.target, route);
    } else {
      json versions = {{"default", r.default_version}};
      for (const VersionConfig& v : r.versions) {
        json version = json::object();
        targetJson(v.target, version);
        if (v.deprecated) version["deprecated"] = deprecationPolicyToJson(*v.deprecated);
        if (json blocks = routeFiltersToJson(config, v.filters, &r.filters); !blocks.empty()) {
          version["filters"] = std::move(blocks);
        }
        versions[v.name] = std::move(version);
      }
      route["versions"] = std::move(versions);
    }
    if (r.deprecated) route["deprecated"] = deprecationPolicyToJson(*r.deprecated);
    if (json blocks = routeFiltersToJson(config, r.filters, nullptr); !blocks.empty()) {
      route["filters"] = std::move(blocks);
    }
    route["timeout"] = formatDuration(r.timeout);
    route["upstream_header"] = r.upstream_header;
    if (r.rollout) {
      const RolloutConfig& ro = *r.rollout;
      json gates = {{"max_error_ratio_vs_baseline", ro.gates.max_error_ratio_vs_baseline},
                    {"min_requests", ro.gates.min_requests}};
      if (ro.gates.max_p95.count() > 0) gates["max_p95"] = formatDuration(ro.gates.max_p95);
      if (ro.gates.max_mismatch_ratio) gates["max_mismatch_ratio"] = *ro.gates.max_mismatch_ratio;
      route["rollout"] = {
          {"steps", ro.steps}, {"hold", formatDuration(ro.hold)}, {"gates", std::move(gates)}};
    }
    routes.push_back(std::move(route));
  }
  out["routes"] = std::move(routes);
  json filters = json::array();
  for (const FilterEntry& f : config.filters) {
    filters.push_back({{f.name, f.factory ? f.factory->toJson() : json::object()}});
  }
  out["filters"] = std::move(filters);
  if (config.tracing.enabled) out["tracing"] = config.tracing.toJson();
  if (config.access_log.enabled) out["access_log"] = config.access_log.toJson();
  if (config.rollback) out["rollback"] = rollbackToJson(*config.rollback);
  if (config.redis) out["redis"] = config.redis->toJson();
  if (config.dns) out["dns"] = config.dns->toJson();
  if (config.redis) {
    out["fleet"] = {{"enabled", config.fleet.enabled},
                    {"key_prefix", config.fleet.key_prefix},
                    {"reconcile_interval", formatDuration(config.fleet.reconcile_interval)},
                    {"instance", config.fleet.instance}};
  }
  return out;
}

}  // namespace switchyard::config
