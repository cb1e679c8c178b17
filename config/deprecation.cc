#include "config/deprecation.h"

#include <chrono>
#include <cstdio>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/rfc3339.h"
#include "proxy/common/strings.h"
#include "proxy/common/url.h"

namespace switchyard::config {
namespace {

using common::quote;

// An absolute http(s) URL that can go between the angle brackets of a Link header as it is.
// Returns an empty string when `url` is fine, else what is wrong with it.
std::string urlProblem(std::string_view url) {
  for (char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ') return "a URL must not contain spaces (write %20)";
    if (c < 0x20 || c == 0x7f) return "a URL must not contain control characters";
    if (c >= 0x80) return "a URL must be ASCII (percent-encode other characters)";
    if (c == '<' || c == '>') return "a URL must not contain '<' or '>'";
  }
  common::UrlParts parts;
  if (!common::splitHttpUrl(url, parts)) {
    return "expected an absolute http:// or https:// URL, got " + quote(url);
  }
  const std::string_view authority = parts.authority;
  if (authority.empty() || authority.back() == '@' || authority.front() == ':') {
    return "the URL " + quote(url) + " has no host";
  }
  return "";
}

std::string parseUrl(const YAML::Node& node, const std::string& path) {
  std::string url = getString(node, path);
  if (std::string problem = urlProblem(url); !problem.empty()) {
    throw ConfigError(node, path, problem);
  }
  return url;
}

common::SystemTime parseTime(const YAML::Node& node, const std::string& path) {
  const std::string text = getString(node, path);
  common::SystemTime out;
  std::string error;
  if (!common::parseRfc3339(text, out, &error)) throw ConfigError(node, path, error);
  return out;
}

int parseStatus(const YAML::Node& node, const std::string& path) {
  return static_cast<int>(getInt(node, path, 400, 599));
}

BrownoutWindow parseBrownout(const YAML::Node& node, const std::string& path) {
  expectMap(node, path, {"start", "end", "status"});
  if (node.IsNull()) throw ConfigError(node, path, "missing required key \"start\"");
  BrownoutWindow out;
  const YAML::Node start = node["start"];
  if (!start) throw ConfigError(node, path, "missing required key \"start\"");
  const YAML::Node end = node["end"];
  if (!end) throw ConfigError(node, path, "missing required key \"end\"");
  out.start = parseTime(start, child(path, "start"));
  out.end = parseTime(end, child(path, "end"));
  if (out.end <= out.start) {
    throw ConfigError(end, child(path, "end"),
                      "the brownout must end after it starts (" + common::formatRfc3339(out.end) +
                          " is not after " + common::formatRfc3339(out.start) + ")");
  }
  if (const YAML::Node n = node["status"]) out.status = parseStatus(n, child(path, "status"));
  return out;
}

}  // namespace

DeprecationPolicy parseDeprecationPolicy(const YAML::Node& node, const std::string& path) {
  expectMap(
      node, path,
      {"since", "sunset", "link", "sunset_link", "brownouts", "enforce_sunset", "sunset_status"});
  if (node.IsNull() || !node["since"]) {
    throw ConfigError(node, path, "missing required key \"since\"");
  }
  DeprecationPolicy out;
  out.since = parseTime(node["since"], child(path, "since"));
  if (const YAML::Node n = node["sunset"]) {
    const std::string p = child(path, "sunset");
    out.sunset = parseTime(n, p);
    if (*out.sunset < out.since) {
      // RFC 9745: the Sunset date must not be earlier than the Deprecation date.
      throw ConfigError(n, p,
                        "the sunset (" + common::formatRfc3339(*out.sunset) +
                            ") is before since (" + common::formatRfc3339(out.since) + ")");
    }
  }
  if (const YAML::Node n = node["link"]) out.link = parseUrl(n, child(path, "link"));
  if (const YAML::Node n = node["sunset_link"]) {
    out.sunset_link = parseUrl(n, child(path, "sunset_link"));
  }
  if (const YAML::Node n = node["brownouts"]) {
    const std::string p = child(path, "brownouts");
    expectSequence(n, p);
    for (size_t i = 0; i < n.size(); ++i) out.brownouts.push_back(parseBrownout(n[i], child(p, i)));
  }
  if (const YAML::Node n = node["enforce_sunset"]) {
    const std::string p = child(path, "enforce_sunset");
    out.enforce_sunset = getBool(n, p);
    if (out.enforce_sunset && !out.sunset) {
      throw ConfigError(n, p, "enforce_sunset needs a sunset date");
    }
  }
  if (const YAML::Node n = node["sunset_status"]) {
    out.sunset_status = parseStatus(n, child(path, "sunset_status"));
  }
  return out;
}

nlohmann::json deprecationPolicyToJson(const DeprecationPolicy& policy) {
  nlohmann::json brownouts = nlohmann::json::array();
  for (const BrownoutWindow& w : policy.brownouts) {
    brownouts.push_back({{"start", common::formatRfc3339(w.start)},
                         {"end", common::formatRfc3339(w.end)},
                         {"status", w.status}});
  }
  return {
      {"since", common::formatRfc3339(policy.since)},
      {"sunset", policy.sunset ? nlohmann::json(common::formatRfc3339(*policy.sunset)) : nullptr},
      {"link", policy.link},
      {"sunset_link", policy.sunset_link},
      {"brownouts", std::move(brownouts)},
      {"enforce_sunset", policy.enforce_sunset},
      {"sunset_status", policy.sunset_status}};
}

}  // namespace switchyard::config
