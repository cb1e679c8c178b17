#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace switchyard::router {

// Split weights changed at runtime (admin API, rollback), shared by the admin thread and every
// worker. Writers take the mutex and bump the generation; a worker compares the generation with
// the one its routes were built at (one atomic load per request) and re-reads the overrides
// only when it moved, so a change reaches every worker on its next request and the request path
// takes no lock. Overrides are keyed by route and version ("" for an unversioned route) and
// outlive configuration reloads as long as the route still has that split (see retainValid()).
class WeightOverrides {
 public:
  using Weights = std::map<std::string, uint32_t>;  // cluster -> weight

  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  void set(const std::string& route, const std::string& version, Weights weights);
  // Pins a versioned route to one version: every request of the route resolves to it, whatever
  // its X-API-Version or path says (a rollback step). One pin per route. pinned() answers the
  // halt's pin first (see halt()).
  void pin(const std::string& route, const std::string& version);
  bool unpin(const std::string& route);
  std::optional<std::string> pinned(const std::string& route) const;
  std::map<std::string, std::string> pins() const;
  // The migration kill switch: while halted, each route of `pins` resolves to its version there
  // whatever its own pin and the request say. The halt is a layer over the pins and weights, so
  // resume() leaves in effect whatever they are then (a rollback during the halt stays).
  void halt(std::map<std::string, std::string> pins);
  bool resume();  // false when not halted
  bool halted() const;
  std::map<std::string, std::string> haltPins() const;
  // Returns false when there was nothing to clear.
  bool clear(const std::string& route, const std::string& version);
  std::optional<Weights> get(const std::string& route, const std::string& version) const;
  std::map<std::pair<std::string, std::string>, Weights> all() const;
  // Drops the overrides and pins that no longer fit `config` (route, version or cluster gone);
  // returns a description of each dropped one.
  std::vector<std::string> retainValid(const config::Config& config);

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Weights> overrides_;
  std::map<std::string, std::string> pins_;  // route -> version
  bool halted_ = false;
  std::map<std::string, std::string> halt_pins_;  // route -> version, while halted_
  std::atomic<uint64_t> generation_{1};
};

// The target (split) of `route` and `version` ("" for an unversioned route), or null.
const config::TargetConfig* findTarget(const config::RouteConfig& route,
                                       const std::string& version);

// What is wrong with a weight override, for callers that answer differently (404 or 400).
enum class OverrideProblem {
  None,
  UnknownRoute,
  VersionRequired,    // a versioned route, and no version named
  UnknownVersion,     // the route has no such version (or no versions at all)
  ClusterNotInSplit,  // a cluster the split does not have
  ZeroTotal,          // every weight is 0
};
struct OverrideCheck {
  OverrideProblem problem = OverrideProblem::None;
  std::string message;  // empty when it fits
  bool ok() const { return problem == OverrideProblem::None; }
};

// Checks an override against the configuration: the route and version exist, every cluster
// named belongs to that split, and the weights are not all zero.
OverrideCheck checkOverride(const config::Config& config, const std::string& route,
                            const std::string& version, const WeightOverrides::Weights& weights);
// checkOverride()'s message: an empty string when it fits.
std::string validateOverride(const config::Config& config, const std::string& route,
                             const std::string& version, const WeightOverrides::Weights& weights);

// The weights in effect for `target`, in its split's order: the override's (clusters it does
// not name get 0) when there is one, else the configured ones.
std::vector<uint32_t> effectiveWeights(const config::TargetConfig& target,
                                       const WeightOverrides::Weights* override_weights);

}  // namespace switchyard::router
