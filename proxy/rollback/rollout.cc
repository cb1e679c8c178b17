#include "proxy/rollback/rollout.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "proxy/common/logging.h"
#include "proxy/common/rfc3339.h"
#include "proxy/common/strings.h"
#include "proxy/rollback/guard.h"
#include "proxy/rollback/state_file.h"

namespace switchyard::rollback {

using nlohmann::json;

namespace {

unsigned long versionNumber(const std::string& name) {
  return std::strtoul(name.c_str() + 1, nullptr, 10);
}

bool targetHas(const config::TargetConfig& target, const std::string& cluster) {
  for (const config::WeightedCluster& wc : target.split) {
    if (wc.cluster == cluster) return true;
  }
  return false;
}

SideCounter::Totals minus(const SideCounter::Totals& now, const SideCounter::Totals& then) {
  SideCounter::Totals out = now;
  out.requests -= std::min(out.requests, then.requests);
  out.errors -= std::min(out.errors, then.errors);
  for (size_t i = 0; i < out.buckets.size() && i < then.buckets.size(); ++i) {
    out.buckets[i] -= std::min(out.buckets[i], then.buckets[i]);
  }
  return out;
}

// The p95 of a histogram, placed linearly inside its bucket (as the guard does); none when empty.
std::optional<double> p95Seconds(const SideCounter::Totals& t, const std::vector<int64_t>& bounds) {
  uint64_t total = 0;
  for (uint64_t c : t.buckets) total += c;
  if (total == 0) return std::nullopt;
  const auto rank = static_cast<uint64_t>(std::ceil(0.95 * static_cast<double>(total)));
  uint64_t below = 0;
  for (size_t i = 0; i < t.buckets.size(); ++i) {
    if (below + t.buckets[i] < rank) {
      below += t.buckets[i];
      continue;
    }
    const double lower = i == 0 ? 0.0 : static_cast<double>(bounds[i - 1]);
    if (i == bounds.size()) return lower / 1000;
    const double upper = static_cast<double>(bounds[i]);
    const double fraction = static_cast<double>(rank - below) / static_cast<double>(t.buckets[i]);
    return (lower + (upper - lower) * fraction) / 1000;
  }
  return std::nullopt;
}

double ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

json sideJson(const SideCounter::Totals& t, const std::vector<int64_t>& bounds,
              const std::string& cluster) {
  const std::optional<double> p95 = p95Seconds(t, bounds);
  return {{"cluster", cluster},
          {"requests", t.requests},
          {"errors", t.errors},
          {"error_ratio", t.requests == 0 ? json(nullptr) : json(ratio(t.errors, t.requests))},
          {"p95_seconds", p95 ? json(*p95) : json(nullptr)}};
}

std::string trimmedNumber(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

std::string counterKey(const std::string& a, const std::string& b, const std::string& c) {
  return a + "|" + b + "|" + c;
}

}  // namespace

std::string rolloutSides(const config::RouteConfig& route, const std::string& stable_version,
                         RolloutSides& out) {
  out = {};
  if (route.versions.size() < 2) {
    return "a rollout needs a route with at least two versions (v1, v2, ...)";
  }
  const config::VersionConfig* stable = route.findVersion(stable_version);
  if (stable == nullptr)
    return "the stable version " + common::quote(stable_version) + " is unknown";
  const config::VersionConfig* newest = nullptr;
  for (const config::VersionConfig& v : route.versions) {
    if (v.name == stable_version) continue;
    if (newest == nullptr || versionNumber(v.name) > versionNumber(newest->name)) newest = &v;
  }
  const std::string where = "the new version " + common::quote(newest->name) +
                            " (stable: " + common::quote(stable_version) + ")";
  if (newest->target.split.size() != 2) {
    return where + " must have a split of exactly two clusters: one " +
           common::quote(stable_version) +
           " also sends to (the old side) and one it does not (the new side)";
  }
  for (const config::WeightedCluster& wc : newest->target.split) {
    if (targetHas(stable->target, wc.cluster)) {
      if (!out.old_cluster.empty()) break;
      out.old_cluster = wc.cluster;
    } else {
      if (!out.new_cluster.empty()) break;
      out.new_cluster = wc.cluster;
    }
  }
  if (out.old_cluster.empty() || out.new_cluster.empty()) {
    out = {};
    return where + " must split between one cluster of " + common::quote(stable_version) +
           " (the old side) and one cluster it does not use (the new side)";
  }
  out.version = newest->name;
  out.stable_version = stable_version;
  return "";
}

SideCounter::SideCounter(int64_t max_p95_ms)
    : bounds_ms_(Guard::DefaultBoundsMs.begin(), Guard::DefaultBoundsMs.end()) {
  if (max_p95_ms > 0) {
    bounds_ms_.push_back(max_p95_ms);
    std::sort(bounds_ms_.begin(), bounds_ms_.end());
    bounds_ms_.erase(std::unique(bounds_ms_.begin(), bounds_ms_.end()), bounds_ms_.end());
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_ms_.size() + 1);
}

void SideCounter::record(common::MonotonicTime, int status, common::Duration latency) noexcept {
  size_t index = 0;
  while (index < bounds_ms_.size() && latency > std::chrono::milliseconds(bounds_ms_[index])) {
    ++index;
  }
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  requests_.fetch_add(1, std::memory_order_relaxed);
  // Released after the request is counted: a reader that sees an error sees its request.
  if (status >= 500) errors_.fetch_add(1, std::memory_order_release);
}

SideCounter::Totals SideCounter::totals() const {
  Totals t;
  t.errors = errors_.load(std::memory_order_acquire);
  t.requests = requests_.load(std::memory_order_relaxed);
  t.buckets.resize(bounds_ms_.size() + 1);
  for (size_t i = 0; i < t.buckets.size(); ++i) {
    t.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return t;
}

std::string_view rolloutStateName(RolloutState state) {
  switch (state) {
    case RolloutState::Pending:
      return "pending";
    case RolloutState::Progressing:
      return "progressing";
    case RolloutState::Paused:
      return "paused";
    case RolloutState::Completed:
      return "completed";
    case RolloutState::Aborted:
      return "aborted";
  }
  return "unknown";
}

std::optional<RolloutState> rolloutStateFrom(std::string_view name) {
  for (RolloutState s : RolloutStates) {
    if (rolloutStateName(s) == name) return s;
  }
  return std::nullopt;
}

json rolloutSettingsJson(const config::RolloutConfig& config) {
  return {
      {"steps", config.steps},
      {"hold_ms", config.hold.count()},
      {"max_error_ratio_vs_baseline", config.gates.max_error_ratio_vs_baseline},
      {"max_p95_ms", config.gates.max_p95.count()},
      {"max_mismatch_ratio",
       config.gates.max_mismatch_ratio ? json(*config.gates.max_mismatch_ratio) : json(nullptr)},
      {"min_requests", config.gates.min_requests}};
}

namespace {

json transitionJson(const RolloutTransition& t) {
  return {{"at", t.at},         {"from", t.from},     {"to", t.to},
          {"weight", t.weight}, {"reason", t.reason}, {"by", t.by}};
}

}  // namespace

json encodeRolloutState(const std::map<std::string, RolloutRecord>& routes) {
  json out = json::object();
  for (const auto& [route, r] : routes) {
    json history = json::array();
    for (const RolloutTransition& t : r.history) history.push_back(transitionJson(t));
    out[route] = {{"state", rolloutStateName(r.state)},
                  {"step", r.step},
                  {"weight", r.weight},
                  {"paused_reason", r.paused_reason},
                  {"step_started_at", r.step_started_at},
                  {"history", std::move(history)},
                  {"settings", r.settings}};
  }
  return {{"format", 1}, {"routes", std::move(out)}};
}

bool decodeRolloutState(const json& doc, std::map<std::string, RolloutRecord>& out,
                        std::string& error) {
  out.clear();
  if (!doc.is_object() || doc.value("format", 0) != 1 || !doc.contains("routes") ||
      !doc["routes"].is_object()) {
    error = "not a rollout state (format 1)";
    return false;
  }
  try {
    for (const auto& [route, r] : doc["routes"].items()) {
      RolloutRecord rec;
      const std::optional<RolloutState> state = rolloutStateFrom(r.at("state").get<std::string>());
      if (!state) {
        error = "route " + common::quote(route) + ": unknown state";
        return false;
      }
      rec.state = *state;
      rec.step = r.at("step").get<int>();
      rec.weight = r.at("weight").get<uint32_t>();
      if (rec.weight > 100 || rec.step < -1) {
        error = "route " + common::quote(route) + ": step or weight out of range";
        return false;
      }
      rec.paused_reason = r.value("paused_reason", "");
      rec.step_started_at = r.value("step_started_at", "");
      for (const json& t : r.at("history")) {
        rec.history.push_back({t.at("at").get<std::string>(), t.at("from").get<std::string>(),
                               t.at("to").get<std::string>(), t.at("weight").get<uint32_t>(),
                               t.at("reason").get<std::string>(), t.at("by").get<std::string>()});
      }
      rec.settings = r.at("settings");
      out[route] = std::move(rec);
    }
  } catch (const json::exception& e) {
    error = std::string("malformed rollout state: ") + e.what();
    out.clear();
    return false;
  }
  return true;
}

RolloutController::RolloutController(RolloutControl& control, const common::TimeSource& time,
                                     prometheus::Registry& registry, std::string state_file)
    : control_(control),
      time_(time),
      state_file_(std::move(state_file)),
      metrics_{prometheus::BuildGauge()
                   .Name("switchyard_rollout_step")
                   .Help("Percent of the new version's split that the route's rollout sends to "
                         "the new side")
                   .Register(registry),
               prometheus::BuildGauge()
                   .Name("switchyard_rollout_state")
                   .Help("1 for the state the route's rollout is in (pending, progressing, "
                         "paused, completed, aborted), else 0")
                   .Register(registry),
               prometheus::BuildCounter()
                   .Name("switchyard_rollout_transitions_total")
                   .Help("Rollout state transitions, by route and the state entered")
                   .Register(registry)} {}

RolloutController::~RolloutController() = default;

std::string RolloutController::nowText() const {
  return common::formatRfc3339Millis(time_.systemNow());
}

SideCounter* RolloutController::counterFor(const std::string& route, const std::string& cluster,
                                           int64_t p95_ms) {
  std::unique_ptr<SideCounter>& c = counters_[counterKey(route, cluster, std::to_string(p95_ms))];
  if (!c) c = std::make_unique<SideCounter>(p95_ms);
  return c.get();
}

void RolloutController::prepare(const config::Config& config,
                                const std::map<std::string, std::string>& stable) {
  std::lock_guard lock(counters_mutex_);
  observed_.clear();
  for (const config::RouteConfig& r : config.routes) {
    if (!r.rollout) continue;
    auto s = stable.find(r.name);
    RolloutSides sides;
    if (s == stable.end() || !rolloutSides(r, s->second, sides).empty()) continue;
    const int64_t p95 = r.rollout->gates.max_p95.count();
    observed_[counterKey(r.name, sides.version, sides.new_cluster)] =
        counterFor(r.name, sides.new_cluster, p95);
    observed_[counterKey(r.name, sides.version, sides.old_cluster)] =
        counterFor(r.name, sides.old_cluster, p95);
  }
}

router::RequestObserver* RolloutController::observer(const std::string& route,
                                                     const std::string& version,
                                                     const std::string& cluster) {
  std::lock_guard lock(counters_mutex_);
  auto it = observed_.find(counterKey(route, version, cluster));
  return it == observed_.end() ? nullptr : it->second;
}

void RolloutController::setMismatchSource(const MismatchSource* source) {
  std::lock_guard lock(mutex_);
  mismatch_ = source;
}

void RolloutController::configure(const config::Config& config,
                                  const std::map<std::string, std::string>& stable) {
  prepare(config, stable);
  std::lock_guard lock(mutex_);
  if (!loaded_once_) {
    loaded_once_ = true;
    loadLocked();
  }
  const common::MonotonicTime now = time_.monotonicNow();
  std::map<std::string, Entry> next;
  for (const config::RouteConfig& r : config.routes) {
    if (!r.rollout) continue;
    auto s = stable.find(r.name);
    RolloutSides sides;
    if (s == stable.end() || !rolloutSides(r, s->second, sides).empty()) continue;
    const int64_t p95 = r.rollout->gates.max_p95.count();
    Entry e;
    {
      std::lock_guard counters_lock(counters_mutex_);
      e.new_side = counterFor(r.name, sides.new_cluster, p95);
      e.old_side = counterFor(r.name, sides.old_cluster, p95);
    }
    const json settings = rolloutSettingsJson(*r.rollout);
    auto current = entries_.find(r.name);
    auto saved = loaded_.find(r.name);
    if (current != entries_.end() && current->second.config.sameSettings(*r.rollout) &&
        current->second.sides == sides) {
      e = std::move(current->second);
      e.config = *r.rollout;
    } else {
      e.config = *r.rollout;
      e.sides = sides;
      if (saved != loaded_.end() && saved->second.settings == settings) {
        // A restart: the saved state goes on, and the current step's hold begins again.
        e.record = std::move(saved->second);
        startHoldLocked(r.name, e, now);
        SY_LOG(Info, "rollout %s: %s at %u%% on %s restored; the step's hold starts again",
               r.name.c_str(), std::string(rolloutStateName(e.record.state)).c_str(),
               e.record.weight, e.sides.new_cluster.c_str());
      } else {
        if (saved != loaded_.end()) {
          SY_LOG(Warn, "rollout %s: the saved state was for other settings; starting anew",
                 r.name.c_str());
        }
        e.record.settings = settings;
        e.record.history.push_back({nowText(), "", "pending", 0, "configured", "config"});
      }
    }
    next[r.name] = std::move(e);
  }
  loaded_.clear();
  for (const auto& [route, e] : entries_) {
    if (next.count(route) != 0) continue;
    // A route without a rollout any more: its series go with it.
    metrics_.step.Remove(&metrics_.step.Add({{"route", route}}));
    for (RolloutState st : RolloutStates) {
      prometheus::Gauge& g =
          metrics_.state.Add({{"route", route}, {"state", std::string(rolloutStateName(st))}});
      metrics_.state.Remove(&g);
    }
  }
  entries_ = std::move(next);
  for (const auto& [route, e] : entries_) publishLocked(route, e);
  persistLocked();
}

void RolloutController::loadLocked() {
  if (state_file_.empty()) return;
  std::string content, error;
  const ReadResult read = readWholeFile(state_file_, content, error);
  if (read == ReadResult::Missing) return;
  if (read == ReadResult::Ok) {
    const json doc = json::parse(content, nullptr, false);
    if (!doc.is_discarded() && decodeRolloutState(doc, loaded_, error)) return;
    if (doc.is_discarded()) error = "not JSON";
  }
  std::string move_error;
  const std::string aside = moveAside(state_file_, time_.systemNow(), move_error);
  SY_LOG(Error, "rollout: the state file %s cannot be used (%s); %s", state_file_.c_str(),
         error.c_str(),
         aside.empty() ? ("moving it aside failed: " + move_error).c_str()
                       : ("moved to " + aside).c_str());
  loaded_.clear();
}

void RolloutController::persistLocked() {
  if (state_file_.empty() || !loaded_once_) return;
  std::map<std::string, RolloutRecord> records;
  for (const auto& [route, e] : entries_) records[route] = e.record;
  const std::string error =
      writeFileAtomically(state_file_, encodeRolloutState(records).dump(1) + "\n");
  if (!error.empty()) {
    SY_LOG(Error, "rollout: cannot write the state file %s: %s", state_file_.c_str(),
           error.c_str());
  }
}

void RolloutController::publishLocked(const std::string& route, const Entry& e) {
  metrics_.step.Add({{"route", route}}).Set(e.record.weight);
  for (RolloutState s : RolloutStates) {
    metrics_.state.Add({{"route", route}, {"state", std::string(rolloutStateName(s))}})
        .Set(s == e.record.state ? 1 : 0);
  }
}

void RolloutController::transitionLocked(const std::string& route, Entry& e, RolloutState to,
                                         const std::string& reason, const std::string& by) {
  const std::string from(rolloutStateName(e.record.state));
  e.record.state = to;
  e.record.history.push_back(
      {nowText(), from, std::string(rolloutStateName(to)), e.record.weight, reason, by});
  if (e.record.history.size() > MaxHistory) {
    e.record.history.erase(e.record.history.begin(),
                           e.record.history.begin() +
                               static_cast<std::ptrdiff_t>(e.record.history.size() - MaxHistory));
  }
  metrics_.transitions.Add({{"route", route}, {"to", std::string(rolloutStateName(to))}})
      .Increment();
  publishLocked(route, e);
  persistLocked();
  SY_LOG(Warn, "rollout %s: %s -> %s at %u%% on %s (%s, by %s)", route.c_str(), from.c_str(),
         std::string(rolloutStateName(to)).c_str(), e.record.weight, e.sides.new_cluster.c_str(),
         reason.c_str(), by.c_str());
}

void RolloutController::startHoldLocked(const std::string& route, Entry& e,
                                        common::MonotonicTime now) {
  e.hold_started = now;
  e.record.step_started_at = nowText();
  e.baseline.fresh = e.new_side->totals();
  e.baseline.stale = e.old_side->totals();
  e.baseline.mismatches.reset();
  if (mismatch_ != nullptr) e.baseline.mismatches = mismatch_->counts(route);
  e.figures = nullptr;
  e.holding_for_requests = false;
}

std::string RolloutController::applyWeightLocked(const std::string& route, Entry& e,
                                                 uint32_t weight) {
  std::string error = control_.setWeights(
      route, e.sides.version, {{e.sides.new_cluster, weight}, {e.sides.old_cluster, 100 - weight}});
  if (!error.empty()) {
    SY_LOG(Error, "rollout %s: cannot set %u%% on %s: %s", route.c_str(), weight,
           e.sides.new_cluster.c_str(), error.c_str());
    return error;
  }
  e.record.weight = weight;
  publishLocked(route, e);
  return "";
}

void RolloutController::abortLocked(const std::string& route, Entry& e, const std::string& reason,
                                    const std::string& by, bool run_plan) {
  applyWeightLocked(route, e, 0);
  e.record.paused_reason.clear();
  transitionLocked(route, e, RolloutState::Aborted, reason, by);
  if (!run_plan) return;
  const std::optional<RouteStatus> status = control_.rollbackStatus(route);
  if (!status) return;
  const std::string error = control_.triggerRollback(route, reason);
  if (!error.empty()) {
    SY_LOG(Error, "rollout %s: the rollback plan did not start: %s", route.c_str(), error.c_str());
  }
}

void RolloutController::evaluateLocked(const std::string& route, Entry& e,
                                       common::MonotonicTime now) {
  const config::RolloutGates& g = e.config.gates;
  const SideCounter::Totals fresh = minus(e.new_side->totals(), e.baseline.fresh);
  const SideCounter::Totals stale = minus(e.old_side->totals(), e.baseline.stale);
  const double new_ratio = ratio(fresh.errors, fresh.requests);
  const double old_ratio = ratio(stale.errors, stale.requests);
  const double allowed = g.max_error_ratio_vs_baseline * std::max(old_ratio, BaselineFloor);
  const std::vector<int64_t>& bounds = e.new_side->boundsMs();

  json gates = json::array();
  std::string failure;
  const bool judged = fresh.requests >= g.min_requests;
  gates.push_back({{"gate", "min_requests"},
                   {"value", fresh.requests},
                   {"limit", g.min_requests},
                   {"result", judged ? "pass" : "waiting"}});
  const bool ratio_ok = new_ratio <= allowed;
  gates.push_back({{"gate", "max_error_ratio_vs_baseline"},
                   {"value", new_ratio},
                   {"baseline", old_ratio},
                   {"limit", allowed},
                   {"result", !judged    ? "waiting"
                              : ratio_ok ? "pass"
                                         : "fail"}});
  if (judged && !ratio_ok) {
    failure = "max_error_ratio_vs_baseline: " + e.sides.new_cluster + " error ratio " +
              formatPercent(new_ratio) + " (" + std::to_string(fresh.errors) + "/" +
              std::to_string(fresh.requests) + ") above " +
              formatPercent(g.max_error_ratio_vs_baseline * std::max(old_ratio, BaselineFloor)) +
              " (" + trimmedNumber(g.max_error_ratio_vs_baseline) + " x " + e.sides.old_cluster +
              "'s " + formatPercent(old_ratio) +
              (old_ratio < BaselineFloor ? ", floor " + formatPercent(BaselineFloor) : "") + ")";
  }
  if (g.max_p95.count() > 0) {
    uint64_t slow = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (bounds[i] == g.max_p95.count()) {
        for (size_t j = i + 1; j < fresh.buckets.size(); ++j) slow += fresh.buckets[j];
      }
    }
    const std::optional<double> p95 = p95Seconds(fresh, bounds);
    const bool ok = static_cast<double>(slow) <= 0.05 * static_cast<double>(fresh.requests);
    gates.push_back({{"gate", "max_p95"},
                     {"value", p95 ? json(*p95) : json(nullptr)},
                     {"limit", static_cast<double>(g.max_p95.count()) / 1000},
                     {"slower", slow},
                     {"result", !judged ? "waiting"
                                : ok    ? "pass"
                                        : "fail"}});
    if (judged && !ok && failure.empty()) {
      failure = "max_p95: " + e.sides.new_cluster + " p95 " + formatSeconds(p95.value_or(0)) +
                " (" + std::to_string(slow) + "/" + std::to_string(fresh.requests) +
                " slower than " + formatSeconds(static_cast<double>(g.max_p95.count()) / 1000) +
                ") above " + formatSeconds(static_cast<double>(g.max_p95.count()) / 1000);
    }
  }
  if (g.max_mismatch_ratio) {
    std::optional<MismatchSource::Counts> counts;
    if (mismatch_ != nullptr) counts = mismatch_->counts(route);
    if (!counts) {
      gates.push_back({{"gate", "max_mismatch_ratio"},
                       {"value", nullptr},
                       {"limit", *g.max_mismatch_ratio},
                       {"result", "not_evaluated"},
                       {"detail", "no response comparison for this route"}});
    } else {
      const MismatchSource::Counts base = e.baseline.mismatches.value_or(MismatchSource::Counts{});
      const uint64_t compared =
          counts->comparisons - std::min(counts->comparisons, base.comparisons);
      const uint64_t mismatched =
          counts->mismatches - std::min(counts->mismatches, base.mismatches);
      const double r = ratio(mismatched, compared);
      const bool ok = r <= *g.max_mismatch_ratio;
      gates.push_back({{"gate", "max_mismatch_ratio"},
                       {"value", compared == 0 ? json(nullptr) : json(r)},
                       {"limit", *g.max_mismatch_ratio},
                       {"compared", compared},
                       {"result", !judged ? "waiting"
                                  : ok    ? "pass"
                                          : "fail"}});
      if (judged && !ok && failure.empty()) {
        failure = "max_mismatch_ratio: " + formatPercent(r) + " of " + std::to_string(compared) +
                  " compared responses differed, above " + formatPercent(*g.max_mismatch_ratio);
      }
    }
  }
  e.figures = {{"at", nowText()},
               {"window_seconds", common::toSeconds(now - e.hold_started)},
               {"new", sideJson(fresh, bounds, e.sides.new_cluster)},
               {"old", sideJson(stale, bounds, e.sides.old_cluster)},
               {"gates", std::move(gates)}};
  e.holding_for_requests = !judged;
  if (!failure.empty()) {
    abortLocked(route, e, "gate failed at " + std::to_string(e.record.weight) + "%: " + failure,
                "rollout", true);
    return;
  }
  if (!judged || now < e.hold_started + e.config.hold) return;
  const size_t next = static_cast<size_t>(e.record.step + 1);
  if (next >= e.config.steps.size()) return;
  if (!applyWeightLocked(route, e, e.config.steps[next]).empty()) return;
  e.record.step = static_cast<int>(next);
  const std::string reason =
      "gates held over " + formatSeconds(common::toSeconds(now - e.hold_started)) + " (" +
      std::to_string(fresh.requests) + " requests on " + e.sides.new_cluster + ")";
  if (e.record.weight >= 100) {
    transitionLocked(route, e, RolloutState::Completed, reason, "rollout");
    return;
  }
  e.record.history.push_back({nowText(), "progressing", "progressing", e.record.weight,
                              reason + "; step " + std::to_string(next + 1), "rollout"});
  if (e.record.history.size() > MaxHistory) e.record.history.erase(e.record.history.begin());
  metrics_.transitions.Add({{"route", route}, {"to", "progressing"}}).Increment();
  startHoldLocked(route, e, now);
  persistLocked();
  SY_LOG(Warn, "rollout %s: %u%% on %s (%s)", route.c_str(), e.record.weight,
         e.sides.new_cluster.c_str(), reason.c_str());
}

common::MonotonicTime RolloutController::tick() {
  std::lock_guard lock(mutex_);
  const common::MonotonicTime now = time_.monotonicNow();
  // Often enough for a short hold, at most once a second for long ones.
  common::Duration next = std::chrono::seconds(1);
  const bool halted = control_.migrationHalted();
  for (auto& [route, e] : entries_) {
    next = std::min<common::Duration>(next, e.config.hold / 4);
    const RolloutState state = e.record.state;
    if (state == RolloutState::Completed || state == RolloutState::Aborted) continue;
    // A rollback of the route, whatever started it, ends the rollout.
    const std::optional<RouteStatus> rollback = control_.rollbackStatus(route);
    if (rollback && *rollback != RouteStatus::Active) {
      abortLocked(route, e,
                  "the route was rolled back (" + std::string(routeStatusName(*rollback)) + ")",
                  "rollback", false);
      continue;
    }
    if (halted) {
      if (state == RolloutState::Progressing) {
        e.record.paused_reason = "the migration is halted";
        transitionLocked(route, e, RolloutState::Paused, e.record.paused_reason, "halt");
      }
      continue;
    }
    if (state == RolloutState::Pending) {
      if (!applyWeightLocked(route, e, e.config.steps.front()).empty()) continue;
      e.record.step = 0;
      startHoldLocked(route, e, now);
      transitionLocked(route, e, RolloutState::Progressing, "started", "rollout");
      continue;
    }
    if (state == RolloutState::Progressing) evaluateLocked(route, e, now);
  }
  return now + std::max<common::Duration>(next, std::chrono::milliseconds(10));
}

void RolloutController::onManualWeights(const std::string& route, const std::string& version,
                                        const std::string& by) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(route);
  if (it == entries_.end() || it->second.sides.version != version) return;
  Entry& e = it->second;
  if (e.record.state != RolloutState::Progressing && e.record.state != RolloutState::Pending) {
    return;
  }
  e.record.paused_reason = "the weights of " + version + " were changed by hand";
  transitionLocked(route, e, RolloutState::Paused, e.record.paused_reason, by);
}

RolloutController::ActionResult RolloutController::act(Action action, const std::string& route,
                                                       const std::string& reason,
                                                       const std::string& by) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(route);
  if (it == entries_.end()) {
    return {404, "route " + common::quote(route) + " has no rollout", nullptr};
  }
  Entry& e = it->second;
  const RolloutState state = e.record.state;
  const std::string state_name(rolloutStateName(state));
  const common::MonotonicTime now = time_.monotonicNow();
  auto conflict = [&](const std::string& what) {
    return ActionResult{
        409, "the rollout of route " + common::quote(route) + " is " + state_name + ": " + what,
        nullptr};
  };
  switch (action) {
    case Action::Pause:
      if (state != RolloutState::Progressing && state != RolloutState::Pending) {
        return conflict("only a pending or progressing rollout can be paused");
      }
      e.record.paused_reason = reason.empty() ? "paused by an operator" : reason;
      transitionLocked(route, e, RolloutState::Paused, e.record.paused_reason, by);
      break;
    case Action::Resume: {
      if (state != RolloutState::Paused) return conflict("only a paused rollout can be resumed");
      if (control_.migrationHalted()) {
        return {409, "the migration is halted: POST /migration/resume first", nullptr};
      }
      // The rollout owns the split again: its step's weight, and a new hold.
      const uint32_t weight = e.record.step < 0
                                  ? e.config.steps.front()
                                  : e.config.steps[static_cast<size_t>(e.record.step)];
      if (std::string error = applyWeightLocked(route, e, weight); !error.empty()) {
        return {502, "cannot set the weights: " + error, nullptr};
      }
      if (e.record.step < 0) e.record.step = 0;
      e.record.paused_reason.clear();
      startHoldLocked(route, e, now);
      transitionLocked(route, e, RolloutState::Progressing,
                       reason.empty() ? "resumed by an operator" : reason, by);
      break;
    }
    case Action::Promote:
      if (state == RolloutState::Completed || state == RolloutState::Aborted) {
        return conflict("it has ended");
      }
      if (std::string error = applyWeightLocked(route, e, 100); !error.empty()) {
        return {502, "cannot set the weights: " + error, nullptr};
      }
      e.record.step = static_cast<int>(e.config.steps.size()) - 1;
      e.record.paused_reason.clear();
      transitionLocked(route, e, RolloutState::Completed,
                       reason.empty() ? "promoted by an operator" : reason, by);
      break;
    case Action::Abort:
      if (state == RolloutState::Aborted) return conflict("it is aborted already");
      abortLocked(route, e, reason.empty() ? "aborted by an operator" : reason, by, false);
      break;
    case Action::Restart: {
      if (state != RolloutState::Completed && state != RolloutState::Aborted) {
        return conflict("only a completed or aborted rollout can be restarted");
      }
      const std::optional<RouteStatus> rollback = control_.rollbackStatus(route);
      if (rollback && *rollback != RouteStatus::Active) {
        return {409,
                "route " + common::quote(route) + " is " + std::string(routeStatusName(*rollback)) +
                    ": POST /rollback/resume first",
                nullptr};
      }
      e.record.step = -1;
      e.record.paused_reason.clear();
      e.figures = nullptr;
      e.holding_for_requests = false;
      transitionLocked(route, e, RolloutState::Pending,
                       reason.empty() ? "restarted by an operator" : reason, by);
      break;
    }
  }
  return {200, "", routeViewLocked(route, e, now)};
}

json RolloutController::routeViewLocked(const std::string& route, const Entry& e,
                                        common::MonotonicTime now) const {
  json next_evaluation = nullptr;
  if (e.record.state == RolloutState::Progressing) {
    const common::MonotonicTime due =
        e.holding_for_requests ? now : std::max(now, e.hold_started + e.config.hold);
    next_evaluation = common::formatRfc3339Millis(
        time_.systemNow() + std::chrono::duration_cast<common::SystemTime::duration>(due - now));
  }
  json history = json::array();
  for (const RolloutTransition& t : e.record.history) history.push_back(transitionJson(t));
  return {{"route", route},
          {"state", rolloutStateName(e.record.state)},
          {"version", e.sides.version},
          {"stable_version", e.sides.stable_version},
          {"new_cluster", e.sides.new_cluster},
          {"old_cluster", e.sides.old_cluster},
          {"steps", e.config.steps},
          {"step", e.record.step < 0 ? json(nullptr) : json(e.record.step + 1)},
          {"weight", e.record.weight},
          {"hold_seconds", static_cast<double>(e.config.hold.count()) / 1000},
          {"step_started_at",
           e.record.step_started_at.empty() ? json(nullptr) : json(e.record.step_started_at)},
          {"next_evaluation_at", next_evaluation},
          {"holding_for_requests", e.holding_for_requests},
          {"paused_reason",
           e.record.paused_reason.empty() ? json(nullptr) : json(e.record.paused_reason)},
          {"gates", e.figures},
          {"history", std::move(history)}};
}

json RolloutController::view() const {
  std::lock_guard lock(mutex_);
  const common::MonotonicTime now = time_.monotonicNow();
  json routes = json::array();
  for (const auto& [route, e] : entries_) routes.push_back(routeViewLocked(route, e, now));
  return {{"routes", std::move(routes)}};
}

std::map<std::string, std::string> RolloutController::states() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::string> out;
  for (const auto& [route, e] : entries_) out[route] = rolloutStateName(e.record.state);
  return out;
}

}  // namespace switchyard::rollback
