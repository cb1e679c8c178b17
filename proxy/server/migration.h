#pragma once

// The migration kill switch (POST /migration/halt and /migration/resume, GET /migration) and the
// migration state file that keeps it, and the runtime weight overrides, across restarts.
//
// Halting sends every versioned route to its stable version at once (router::WeightOverrides::
// halt()). The stable version of a route is the one its rollback would pin: the version of the
// last `pin_version` step of the route's rollback plan; without one, the route's oldest version
// (the lowest number, v1 before v2). Resuming lifts the halt: each route is back on whatever its
// own pins and weights say (those a rollback set during the halt included).
//
// The state file sits beside the rollback state file (`rollback.state_file` + ".migration"),
// written atomically like it; without a rollback state file nothing persists.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/router/weights.h"

namespace switchyard::server {

// The stable version of a versioned route (see above); "" for a route without versions.
std::string stableVersion(const config::Config& config, const config::RouteConfig& route);
// route -> stable version, for every versioned route.
std::map<std::string, std::string> stableVersions(const config::Config& config);

struct HaltRecord {
  bool halted = false;
  std::string since;   // RFC 3339, when halted
  std::string by;      // the X-Switchyard-Client of the call ("console"), else "api"
  std::string reason;  // as given in the halt request's body, if any
};

// What the migration state file holds.
struct MigrationState {
  HaltRecord halt;
  std::map<std::pair<std::string, std::string>, router::WeightOverrides::Weights> weights;
};

// "" when the configuration has no rollback state file.
std::string migrationStateFile(const config::Config& config);

nlohmann::json encodeMigrationState(const MigrationState& state);
// False (with `error`) when `doc` is not a state this version understands.
bool decodeMigrationState(const nlohmann::json& doc, MigrationState& out, std::string& error);

// GET /migration: {"halted", "since", "by", "reason", "routes": [{"route", "stable_version",
// "default_version", "pinned_version", "halted_to"}]}.
nlohmann::json migrationView(const config::Config& config, const HaltRecord& halt,
                             const router::WeightOverrides& overrides);

}  // namespace switchyard::server
