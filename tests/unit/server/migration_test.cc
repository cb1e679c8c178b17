// The migration kill switch's pieces: the stable version of a route, the halt layer of the weight
// overrides, and the migration state file's format.
#include "proxy/server/migration.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>

#include "config/loader.h"

namespace switchyard::server {
namespace {

using nlohmann::json;

class MigrationTest : public ::testing::Test {
 protected:
  config::ConfigConstSharedPtr load(const std::string& routes, const std::string& extra = "") {
    return config::loadConfigString(
        "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
        "clusters:\n"
        "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
        "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
        "routes:\n" +
            routes + extra,
        "test.yaml", {filters_, metrics_, time_});
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
};

const std::string Routes =
    "  - name: api\n"
    "    match: {prefix: /api/}\n"
    "    versions: {default: v2, v2: {cluster: modern}, v1: {cluster: legacy}}\n"
    "  - name: orders\n"
    "    match: {prefix: /orders/}\n"
    "    versions: {default: v3, v3: {cluster: modern}, v10: {cluster: legacy}, "
    "v2: {cluster: legacy}}\n"
    "  - {name: plain, match: {prefix: /}, cluster: legacy}\n";

TEST_F(MigrationTest, StableVersionIsTheOldestWithoutAPlan) {
  auto config = load(Routes);
  const auto stable = stableVersions(*config);
  EXPECT_EQ(stable, (std::map<std::string, std::string>{{"api", "v1"}, {"orders", "v2"}}));
  EXPECT_EQ(stableVersion(*config, config->routes[2]), "");
}

TEST_F(MigrationTest, StableVersionIsTheOneTheRollbackPlanPins) {
  auto config = load(Routes,
                     "rollback:\n"
                     "  plans:\n"
                     "    - route: orders\n"
                     "      steps:\n"
                     "        - pin_version: {version: v10}\n");
  EXPECT_EQ(stableVersion(*config, config->routes[1]), "v10");
  EXPECT_EQ(stableVersion(*config, config->routes[0]), "v1");
}

TEST_F(MigrationTest, StateFileSitsBesideTheRollbackStateFile) {
  EXPECT_EQ(migrationStateFile(*load(Routes)), "");
  auto config = load(Routes, "rollback: {state_file: /tmp/x/rollback.json}\n");
  EXPECT_EQ(migrationStateFile(*config), "/tmp/x/rollback.json.migration");
}

TEST(HaltLayerTest, HaltPinsWinAndResumeLeavesThePinsAndWeights) {
  router::WeightOverrides o;
  o.pin("api", "v2");
  const uint64_t before = o.generation();
  o.halt({{"api", "v1"}, {"orders", "v2"}});
  EXPECT_GT(o.generation(), before);
  EXPECT_TRUE(o.halted());
  EXPECT_EQ(o.pinned("api"), "v1");
  EXPECT_EQ(o.pinned("orders"), "v2");
  // A rollback during the halt changes the pins under it.
  o.pin("orders", "v3");
  o.set("api", "v2", {{"legacy", 100}});
  EXPECT_EQ(o.pinned("orders"), "v2");
  EXPECT_TRUE(o.resume());
  EXPECT_FALSE(o.resume());
  EXPECT_FALSE(o.halted());
  EXPECT_EQ(o.pinned("api"), "v2");
  EXPECT_EQ(o.pinned("orders"), "v3");
  EXPECT_TRUE(o.get("api", "v2").has_value());
  EXPECT_TRUE(o.haltPins().empty());
}

TEST(MigrationStateTest, RoundTrips) {
  MigrationState state;
  state.halt = {true, "2026-01-02T03:04:05Z", "console", "v2 is on fire"};
  state.weights[{"api", "v2"}] = {{"legacy", 70}, {"modern", 30}};
  state.weights[{"plain", ""}] = {{"legacy", 1}};
  MigrationState back;
  std::string error;
  ASSERT_TRUE(decodeMigrationState(json::parse(encodeMigrationState(state).dump()), back, error))
      << error;
  EXPECT_TRUE(back.halt.halted);
  EXPECT_EQ(back.halt.since, "2026-01-02T03:04:05Z");
  EXPECT_EQ(back.halt.by, "console");
  EXPECT_EQ(back.halt.reason, "v2 is on fire");
  EXPECT_EQ(back.weights, state.weights);

  MigrationState running;
  ASSERT_TRUE(decodeMigrationState(encodeMigrationState(MigrationState{}), running, error));
  EXPECT_FALSE(running.halt.halted);
  EXPECT_TRUE(running.weights.empty());
}

TEST(MigrationStateTest, RefusesWhatItDoesNotUnderstand) {
  MigrationState out;
  std::string error;
  EXPECT_FALSE(decodeMigrationState(json::array(), out, error));
  EXPECT_FALSE(decodeMigrationState({{"format", 2}}, out, error));
  EXPECT_FALSE(decodeMigrationState({{"format", 1}, {"halt", "yes"}}, out, error));
  EXPECT_FALSE(decodeMigrationState(
      json::parse(R"({"format":1,"weights":[{"route":"api","weights":{"legacy":-1}}]})"), out,
      error));
  EXPECT_NE(error.find("legacy"), std::string::npos);
  EXPECT_FALSE(
      decodeMigrationState(json::parse(R"({"format":1,"weights":[{"weights":{}}]})"), out, error));
}

TEST_F(MigrationTest, ViewListsEveryVersionedRoute) {
  auto config = load(Routes);
  router::WeightOverrides o;
  HaltRecord halt;
  json view = migrationView(*config, halt, o);
  EXPECT_EQ(view["halted"], false);
  EXPECT_TRUE(view["since"].is_null());
  ASSERT_EQ(view["routes"].size(), 2u);
  EXPECT_EQ(view["routes"][0]["route"], "api");
  EXPECT_EQ(view["routes"][0]["stable_version"], "v1");
  EXPECT_TRUE(view["routes"][0]["halted_to"].is_null());
  halt = {true, "2026-01-02T03:04:05Z", "api", ""};
  o.halt(stableVersions(*config));
  view = migrationView(*config, halt, o);
  EXPECT_EQ(view["halted"], true);
  EXPECT_EQ(view["by"], "api");
  EXPECT_EQ(view["routes"][1]["halted_to"], "v2");
}

}  // namespace
}  // namespace switchyard::server
