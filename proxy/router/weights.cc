#include "proxy/router/weights.h"

namespace switchyard::router {

void WeightOverrides::set(const std::string& route, const std::string& version, Weights weights) {
  std::lock_guard<std::mutex> lock(mutex_);
  overrides_[{route, version}] = std::move(weights);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void WeightOverrides::pin(const std::string& route, const std::string& version) {
  std::lock_guard<std::mutex> lock(mutex_);
  pins_[route] = version;
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

bool WeightOverrides::unpin(const std::string& route) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pins_.erase(route) == 0) return false;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::optional<std::string> WeightOverrides::pinned(const std::string& route) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (halted_) {
    auto halt = halt_pins_.find(route);
    if (halt != halt_pins_.end()) return halt->second;
  }
  auto it = pins_.find(route);
  if (it == pins_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::string> WeightOverrides::pins() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pins_;
}

void WeightOverrides::halt(std::map<std::string, std::string> pins) {
  std::lock_guard<std::mutex> lock(mutex_);
  halted_ = true;
  halt_pins_ = std::move(pins);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

bool WeightOverrides::resume() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!halted_) return false;
  halted_ = false;
  halt_pins_.clear();
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

bool WeightOverrides::halted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return halted_;
}

std::map<std::string, std::string> WeightOverrides::haltPins() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return halt_pins_;
}

bool WeightOverrides::clear(const std::string& route, const std::string& version) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (overrides_.erase({route, version}) == 0) return false;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::optional<WeightOverrides::Weights> WeightOverrides::get(const std::string& route,
                                                             const std::string& version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = overrides_.find({route, version});
  if (it == overrides_.end()) return std::nullopt;
  return it->second;
}

std::map<std::pair<std::string, std::string>, WeightOverrides::Weights> WeightOverrides::all()
    const {
  std::lock_guard<std::mutex> lock(mutex_);
  return overrides_;
}

std::vector<std::string> WeightOverrides::retainValid(const config::Config& config) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> dropped;
  for (auto it = overrides_.begin(); it != overrides_.end();) {
    const auto& [route, version] = it->first;
    std::string error = validateOverride(config, route, version, it->second);
    if (error.empty()) {
      ++it;
      continue;
    }
    dropped.push_back(error);
    it = overrides_.erase(it);
  }
  for (auto it = pins_.begin(); it != pins_.end();) {
    const config::RouteConfig* route = nullptr;
    for (const auto& r : config.routes) {
      if (r.name == it->first) route = &r;
    }
    if (route != nullptr && route->findVersion(it->second) != nullptr) {
      ++it;
      continue;
    }
    dropped.push_back("pin of route \"" + it->first + "\" to version \"" + it->second +
                      "\": the route or version no longer exists");
    it = pins_.erase(it);
  }
  if (!dropped.empty()) generation_.fetch_add(1, std::memory_order_acq_rel);
  return dropped;
}

const config::TargetConfig* findTarget(const config::RouteConfig& route,
                                       const std::string& version) {
  if (route.versions.empty()) return version.empty() ? &route.target : nullptr;
  const config::VersionConfig* v = route.findVersion(version);
  return v == nullptr ? nullptr : &v->target;
}

OverrideCheck checkOverride(const config::Config& config, const std::string& route,
                            const std::string& version, const WeightOverrides::Weights& weights) {
  using P = OverrideProblem;
  const config::RouteConfig* r = nullptr;
  for (const auto& candidate : config.routes) {
    if (candidate.name == route) r = &candidate;
  }
  if (r == nullptr) return {P::UnknownRoute, "route \"" + route + "\" does not exist"};
  if (!r->versions.empty() && version.empty()) {
    std::string names;
    for (const auto& v : r->versions) names += (names.empty() ? "" : ", ") + v.name;
    return {P::VersionRequired,
            "route \"" + route + "\" is versioned: name one of its versions (" + names + ")"};
  }
  const config::TargetConfig* target = findTarget(*r, version);
  if (target == nullptr) {
    return {P::UnknownVersion, version.empty() || r->versions.empty()
                                   ? "route \"" + route + "\" has no versions"
                                   : "route \"" + route + "\" has no version \"" + version + "\""};
  }
  uint64_t total = 0;
  for (const auto& [cluster, weight] : weights) {
    bool found = false;
    for (const auto& wc : target->split) found = found || wc.cluster == cluster;
    if (!found) {
      std::string names;
      for (const auto& wc : target->split) names += (names.empty() ? "" : ", ") + wc.cluster;
      return {P::ClusterNotInSplit,
              "cluster \"" + cluster + "\" is not part of the split of route \"" + route + "\"" +
                  (version.empty() ? "" : " version \"" + version + "\"") + " (" + names + ")"};
    }
    total += weight;
  }
  if (total == 0) {
    return {P::ZeroTotal, "the weights add up to 0; at least one must be positive"};
  }
  return {};
}

std::string validateOverride(const config::Config& config, const std::string& route,
                             const std::string& version, const WeightOverrides::Weights& weights) {
  return checkOverride(config, route, version, weights).message;
}

std::vector<uint32_t> effectiveWeights(const config::TargetConfig& target,
                                       const WeightOverrides::Weights* override_weights) {
  std::vector<uint32_t> out;
  out.reserve(target.split.size());
  for (const auto& wc : target.split) {
    if (override_weights == nullptr) {
      out.push_back(wc.weight);
    } else {
      auto it = override_weights->find(wc.cluster);
      out.push_back(it == override_weights->end() ? 0 : it->second);
    }
  }
  return out;
}

}  // namespace switchyard::router
