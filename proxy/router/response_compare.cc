#include "proxy/router/response_compare.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace switchyard::router {
namespace {

using nlohmann::json;

constexpr const char* Absent = "<absent>";

bool plainName(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string childPath(const std::string& parent, const std::string& key) {
  if (plainName(key)) return parent + "." + key;
  return parent + "[" + json(key).dump() + "]";
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* const hex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct Walker {
  const CompareSettings& settings;
  std::vector<FieldDifference>& out;

  bool full() const { return out.size() >= settings.max_differences; }
  bool ignored(const std::string& path) const {
    for (const std::string& pattern : settings.ignore) {
      if (pathWithin(path, pattern)) return true;
    }
    return false;
  }
  void add(const std::string& path, std::string a, std::string b) {
    if (!full()) out.push_back({path, std::move(a), std::move(b)});
  }
  bool sameNumber(const json& a, const json& b) const {
    const double x = a.get<double>();
    const double y = b.get<double>();
    if (x == y) return true;
    const double scale = std::max(std::fabs(x), std::fabs(y));
    return std::fabs(x - y) <= settings.numeric_tolerance * scale;
  }
  void walk(const std::string& path, const json& a, const json& b) {
    if (full() || ignored(path)) return;
    if (a.is_number() && b.is_number()) {
      if (!sameNumber(a, b)) add(path, text(a), text(b));
      return;
    }
    if (a.type() != b.type()) {
      add(path, text(a), text(b));
      return;
    }
    if (a.is_object()) {
      for (const auto& [key, value] : a.items()) {
        const std::string p = childPath(path, key);
        auto other = b.find(key);
        if (other == b.end()) {
          if (!ignored(p)) add(p, text(value), Absent);
        } else {
          walk(p, value, *other);
        }
      }
      for (const auto& [key, value] : b.items()) {
        if (a.contains(key)) continue;
        const std::string p = childPath(path, key);
        if (!ignored(p)) add(p, Absent, text(value));
      }
      return;
    }
    if (a.is_array()) {
      const size_t common = std::min(a.size(), b.size());
      for (size_t i = 0; i < common; ++i) {
        walk(path + "[" + std::to_string(i) + "]", a[i], b[i]);
      }
      if (a.size() != b.size()) {
        add(path + ".length", std::to_string(a.size()), std::to_string(b.size()));
      }
      return;
    }
    if (a != b) add(path, text(a), text(b));
  }
};

const std::string* headerValue(const ComparedResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

}  // namespace

std::string generalPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[' && i + 1 < path.size() && path[i + 1] == '"') {
      // A quoted key, copied as it is (its brackets are not indexes).
      size_t j = i + 2;
      while (j < path.size() && path[j] != '"') j += path[j] == '\\' ? 2 : 1;
      const size_t end = std::min(path.size(), j + 2);  // the closing quote and bracket
      out.append(path.substr(i, end - i));
      i = end;
      continue;
    }
    if (path[i] == '[' && i + 1 < path.size() && path[i + 1] >= '0' && path[i + 1] <= '9') {
      const size_t close = path.find(']', i);
      if (close != std::string_view::npos) {
        out += "[*]";
        i = close + 1;
        continue;
      }
    }
    out += path[i++];
  }
  return out;
}

bool pathWithin(std::string_view path, std::string_view pattern) {
  const std::string p = generalPath(path);
  const std::string q = generalPath(pattern);
  if (p.size() < q.size() || p.compare(0, q.size(), q) != 0) return false;
  return p.size() == q.size() || p[q.size()] == '.' || p[q.size()] == '[';
}

std::vector<FieldDifference> compareResponses(const ComparedResponse& primary,
                                              const ComparedResponse& other,
                                              const CompareSettings& settings) {
  std::vector<FieldDifference> out;
  if (primary.status != other.status) {
    out.push_back({"status", std::to_string(primary.status), std::to_string(other.status)});
  }
  for (const std::string& name : settings.headers) {
    const std::string* a = headerValue(primary, name);
    const std::string* b = headerValue(other, name);
    if (a == nullptr && b == nullptr) continue;
    if (a == nullptr || b == nullptr || *a != *b) {
      out.push_back({"header." + name, a != nullptr ? *a : Absent, b != nullptr ? *b : Absent});
    }
  }
  if (!primary.body_complete || !other.body_complete) {
    if (primary.body_complete != other.body_complete) {
      out.push_back({"body", primary.body_complete ? "complete" : "cut at the byte limit",
                     other.body_complete ? "complete" : "cut at the byte limit"});
    }
    return out;
  }
  const json a = json::parse(primary.body, nullptr, false);
  const json b = json::parse(other.body, nullptr, false);
  if (!primary.body.empty() && !other.body.empty() && !a.is_discarded() && !b.is_discarded()) {
    Walker{settings, out}.walk("$", a, b);
  } else if (primary.body != other.body) {
    out.push_back({"body", sha256Hex(primary.body), sha256Hex(other.body)});
  }
  if (out.size() > settings.max_differences) out.resize(settings.max_differences);
  return out;
}

void NoiseLearner::learn(const std::vector<FieldDifference>& same_side) {
  ++samples_;
  std::vector<std::string> seen;
  for (const FieldDifference& d : same_side) {
    if (d.path == "status") continue;
    std::string general = generalPath(d.path);
    // One count per pair, however many elements of an array differed.
    if (std::find(seen.begin(), seen.end(), general) != seen.end()) continue;
    seen.push_back(general);
    auto it = counts_.find(general);
    if (it != counts_.end()) {
      ++it->second;
    } else if (counts_.size() < max_paths_) {
      counts_.emplace(std::move(general), 1);
    }
  }
}

bool NoiseLearner::isNoise(std::string_view path) const {
  if (path == "status" || samples_ == 0) return false;
  const std::string general = generalPath(path);
  for (const auto& [learned, count] : counts_) {
    if (!pathWithin(general, learned)) continue;
    if (static_cast<double>(count) >= min_ratio_ * static_cast<double>(samples_)) return true;
  }
  return false;
}

std::string_view comparisonResultName(ComparisonResult result) {
  switch (result) {
    case ComparisonResult::Match:
      return "match";
    case ComparisonResult::Mismatch:
      return "mismatch";
    case ComparisonResult::Noise:
      return "noise";
    case ComparisonResult::Error:
      return "error";
  }
  return "unknown";
}

Verdict judge(const std::vector<FieldDifference>& differences, const NoiseLearner& noise) {
  Verdict v;
  if (differences.empty()) return v;
  for (const FieldDifference& d : differences) {
    if (!noise.isNoise(d.path)) v.differences.push_back(d);
  }
  v.result = v.differences.empty() ? ComparisonResult::Noise : ComparisonResult::Mismatch;
  return v;
}

}  // namespace switchyard::router
