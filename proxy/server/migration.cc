#include "proxy/server/migration.h"

#include <cstdlib>

#include "proxy/rollback/config.h"

namespace switchyard::server {

using nlohmann::json;

namespace {

unsigned long versionNumber(const std::string& name) {
  return std::strtoul(name.c_str() + 1, nullptr, 10);
}

}  // namespace

std::string stableVersion(const config::Config& config, const config::RouteConfig& route) {
  if (route.versions.empty()) return "";
  if (config.rollback != nullptr) {
    if (const rollback::PlanConfig* plan = config.rollback->findPlan(route.name)) {
      std::string pinned;
      for (const rollback::StepConfig& step : plan->steps) {
        if (step.type == rollback::StepType::PinVersion) pinned = step.version;
      }
      if (!pinned.empty() && route.findVersion(pinned) != nullptr) return pinned;
    }
  }
  const config::VersionConfig* oldest = &route.versions.front();
  for (const config::VersionConfig& v : route.versions) {
    if (versionNumber(v.name) < versionNumber(oldest->name)) oldest = &v;
  }
  return oldest->name;
}

std::map<std::string, std::string> stableVersions(const config::Config& config) {
  std::map<std::string, std::string> out;
  for (const config::RouteConfig& r : config.routes) {
    if (!r.versions.empty()) out[r.name] = stableVersion(config, r);
  }
  return out;
}

std::string migrationStateFile(const config::Config& config) {
  if (config.rollback == nullptr || config.rollback->state_file.empty()) return "";
  return config.rollback->state_file + ".migration";
}

json encodeMigrationState(const MigrationState& state) {
  json weights = json::array();
  for (const auto& [key, w] : state.weights) {
    weights.push_back({{"route", key.first}, {"version", key.second}, {"weights", w}});
  }
  json halt = nullptr;
  if (state.halt.halted) {
    halt = {{"since", state.halt.since}, {"by", state.halt.by}, {"reason", state.halt.reason}};
  }
  return {{"format", 1}, {"halt", std::move(halt)}, {"weights", std::move(weights)}};
}

bool decodeMigrationState(const json& doc, MigrationState& out, std::string& error) {
  out = {};
  if (!doc.is_object() || doc.value("format", 0) != 1) {
    error = "not a migration state (format 1)";
    return false;
  }
  const json& halt = doc.contains("halt") ? doc["halt"] : json();
  if (halt.is_object()) {
    out.halt.halted = true;
    out.halt.since = halt.value("since", "");
    out.halt.by = halt.value("by", "");
    out.halt.reason = halt.value("reason", "");
  } else if (!halt.is_null()) {
    error = "\"halt\" must be an object or null";
    return false;
  }
  const json& weights = doc.contains("weights") ? doc["weights"] : json::array();
  if (!weights.is_array()) {
    error = "\"weights\" must be an array";
    return false;
  }
  for (const json& entry : weights) {
    if (!entry.is_object() || !entry.contains("route") || !entry["route"].is_string() ||
        !entry.value("weights", json()).is_object()) {
      error = "each entry of \"weights\" needs a route and an object of weights";
      return false;
    }
    router::WeightOverrides::Weights w;
    for (const auto& [cluster, value] : entry["weights"].items()) {
      if (!value.is_number_unsigned() || value.get<uint64_t>() > 1'000'000) {
        error = "weight of \"" + cluster + "\" is not an integer from 0 to 1000000";
        return false;
      }
      w[cluster] = value.get<uint32_t>();
    }
    const json version = entry.value("version", json(""));
    if (!version.is_string()) {
      error = "\"version\" must be a string";
      return false;
    }
    out.weights[{entry["route"].get<std::string>(), version.get<std::string>()}] = std::move(w);
  }
  return true;
}

json migrationView(const config::Config& config, const HaltRecord& halt,
                   const router::WeightOverrides& overrides) {
  const auto halt_pins = overrides.haltPins();
  const auto pins = overrides.pins();
  json routes = json::array();
  for (const config::RouteConfig& r : config.routes) {
    if (r.versions.empty()) continue;
    auto pin = pins.find(r.name);
    auto halted_to = halt_pins.find(r.name);
    routes.push_back(
        {{"route", r.name},
         {"default_version", r.default_version},
         {"stable_version", stableVersion(config, r)},
         {"pinned_version", pin != pins.end() ? json(pin->second) : json(nullptr)},
         {"halted_to", halted_to != halt_pins.end() ? json(halted_to->second) : json(nullptr)}});
  }
  return {{"halted", halt.halted},
          {"since", halt.halted ? json(halt.since) : json(nullptr)},
          {"by", halt.halted ? json(halt.by) : json(nullptr)},
          {"reason", halt.halted && !halt.reason.empty() ? json(halt.reason) : json(nullptr)},
          {"routes", std::move(routes)}};
}

}  // namespace switchyard::server
