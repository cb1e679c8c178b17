#include "proxy/rollback/alertmanager.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "tests/unit/rollback/payloads.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;

std::string parseErrorOf(const std::string& body) {
  AlertmanagerPayload payload;
  std::string error;
  if (parseAlertmanagerPayload(body, payload, error)) return "parsed";
  return error;
}

// The captured payload with `edit` applied.
std::string edited(const std::function<void(json&)>& edit) {
  json doc = json::parse(test::CapturedPayload);
  edit(doc);
  return doc.dump();
}

TEST(AlertmanagerPayloadTest, ParsesTheCapturedAlertmanagerPayload) {
  AlertmanagerPayload p;
  std::string error;
  ASSERT_TRUE(parseAlertmanagerPayload(test::CapturedPayload, p, error)) << error;
  EXPECT_EQ(p.version, "4");
  EXPECT_EQ(p.group_key, "{}:{alertname=\"SidecarCanaryHighErrorRatio\", cluster=\"v2\"}");
  EXPECT_EQ(p.status, "firing");
  EXPECT_EQ(p.receiver, "sidecar-webhook");
  EXPECT_EQ(p.external_url, "http://127.0.0.1:19093");
  EXPECT_EQ(p.truncated_alerts, 0);
  EXPECT_EQ(p.group_labels.at("cluster"), "v2");
  EXPECT_EQ(p.common_labels.at("action"), "rollback");
  EXPECT_EQ(p.common_annotations.at("summary"), "5xx ratio on cluster v2 is 19.15%");
  ASSERT_EQ(p.alerts.size(), 1u);
  const Alert& a = p.alerts[0];
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.labels, (Labels{{"action", "rollback"},
                              {"alertname", "SidecarCanaryHighErrorRatio"},
                              {"cluster", "v2"},
                              {"severity", "critical"}}));
  EXPECT_EQ(a.annotations.at("summary"), "5xx ratio on cluster v2 is 19.15%");
  EXPECT_EQ(a.starts_at, "2026-11-21T20:57:58.396Z");
  EXPECT_EQ(a.ends_at, "0001-01-01T00:00:00Z");
  EXPECT_EQ(a.fingerprint, "0f12e33329fd4126");
  EXPECT_NE(a.generator_url.find("g0.expr="), std::string::npos);
}

TEST(AlertmanagerPayloadTest, ParsesTheDocumentedExampleWithNewerFields) {
  AlertmanagerPayload p;
  std::string error;
  ASSERT_TRUE(parseAlertmanagerPayload(test::DocumentedPayload, p, error)) << error;
  EXPECT_EQ(p.alerts[0].fingerprint, "c6e3e1a1b2f0d9aa");
  EXPECT_EQ(p.alerts[0].labels.at("backend"), "v2");
}

TEST(AlertmanagerPayloadTest, RejectsEveryBadInputWithAClearError) {
  EXPECT_EQ(parseErrorOf("not json"), "the body is not valid JSON");
  EXPECT_EQ(parseErrorOf(""), "the body is not valid JSON");
  EXPECT_EQ(parseErrorOf("[1]"), "expected a JSON object (an Alertmanager webhook payload)");
  const std::string version = "\"version\" must be \"4\" (Alertmanager webhook payload version 4)";
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d.erase("version"); })), version);
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["version"] = "3"; })), version);
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["version"] = 4; })), version);
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d.erase("groupKey"); })),
            "\"groupKey\" is required: a string");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["status"] = "pending"; })),
            "\"status\" must be \"firing\" or \"resolved\"");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d.erase("alerts"); })),
            "\"alerts\" is required: an array of alerts");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"] = json::object(); })),
            "\"alerts\" is required: an array of alerts");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0] = "alert"; })),
            "\"alerts[0]\" must be an object");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0].erase("status"); })),
            "\"alerts[0].status\" is required");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["status"] = true; })),
            "\"alerts[0].status\" must be \"firing\" or \"resolved\"");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0].erase("labels"); })),
            "\"alerts[0].labels\" is required");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["labels"] = json::array(); })),
            "\"alerts[0].labels\" must be an object of strings");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["labels"]["cluster"] = 2; })),
            "\"alerts[0].labels\".\"cluster\" must be a string");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["annotations"]["x"] = nullptr; })),
            "\"alerts[0].annotations\".\"x\" must be a string");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0].erase("startsAt"); })),
            "\"alerts[0].startsAt\" is required: an RFC 3339 time");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["startsAt"] = "yesterday"; })),
            "\"alerts[0].startsAt\" is required: an RFC 3339 time");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["endsAt"] = 5; })),
            "\"alerts[0].endsAt\" must be a string");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["endsAt"] = "soon"; })),
            "\"alerts[0].endsAt\" must be an RFC 3339 time");
  const std::string fingerprint =
      "\"alerts[0].fingerprint\" is required: a non-empty string of at most 128 characters";
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0].erase("fingerprint"); })),
            fingerprint);
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"][0]["fingerprint"] = ""; })), fingerprint);
  EXPECT_EQ(
      parseErrorOf(edited([](json& d) { d["alerts"][0]["fingerprint"] = std::string(129, 'a'); })),
      fingerprint);
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["commonLabels"] = "x"; })),
            "\"commonLabels\" must be an object of strings");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["receiver"] = 1; })),
            "\"receiver\" must be a string");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["truncatedAlerts"] = -1; })),
            "\"truncatedAlerts\" must be a non-negative integer");
  // The second alert is checked as carefully as the first.
  EXPECT_EQ(parseErrorOf(edited([](json& d) {
              json second = d["alerts"][0];
              second["labels"] = nullptr;
              d["alerts"].push_back(second);
            })),
            "\"alerts[1].labels\" must be an object of strings");
  // Unknown fields and an empty alert list are fine.
  EXPECT_EQ(parseErrorOf(edited([](json& d) {
              d["notification_reason"] = "first notification";
              d["routeLabels"] = {{"a", "b"}};
            })),
            "parsed");
  EXPECT_EQ(parseErrorOf(edited([](json& d) { d["alerts"] = json::array(); })), "parsed");
}

TEST(AlertmanagerPayloadTest, IdempotencyKeyIsStableAndDistinguishesWhatMatters) {
  AlertmanagerPayload p;
  std::string error;
  ASSERT_TRUE(parseAlertmanagerPayload(test::CapturedPayload, p, error));
  const std::string key = idempotencyKey(p, p.alerts[0]);
  EXPECT_EQ(key, idempotencyKey(p, p.alerts[0]));
  EXPECT_NE(key.find("/0f12e33329fd4126/firing/2026-11-21T20:57:58.396Z"), std::string::npos);
  Alert resolved = p.alerts[0];
  resolved.status = "resolved";
  EXPECT_NE(idempotencyKey(p, resolved), key);
  Alert restarted = p.alerts[0];
  restarted.starts_at = "2026-11-21T21:30:00Z";
  EXPECT_NE(idempotencyKey(p, restarted), key);
  AlertmanagerPayload other_group = p;
  other_group.group_key = "{}:{alertname=\"Other\"}";
  EXPECT_NE(idempotencyKey(other_group, p.alerts[0]), key);
}

class AlertMatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    route_.name = "api";
    config::VersionConfig v1;
    v1.name = "v1";
    v1.target.split = {{"legacy", 1}};
    config::VersionConfig v2;
    v2.name = "v2";
    v2.target.split = {{"v2", 90}, {"legacy", 10}};
    route_.versions = {v1, v2};
    plan_.route = "api";
  }
  bool matches(Labels labels) {
    Alert alert;
    alert.labels = std::move(labels);
    return alertMatchesPlan(alert, plan_, &route_);
  }
  config::RouteConfig route_;
  PlanConfig plan_;
};

TEST_F(AlertMatchTest, RouteLabelOrClusterOfTheRoutePlusTheMatchers) {
  EXPECT_TRUE(matches({{"route", "api"}, {"action", "rollback"}}));
  EXPECT_FALSE(matches({{"route", "api"}}));  // the default matcher action=rollback
  EXPECT_FALSE(matches({{"route", "api"}, {"action", "page"}}));
  EXPECT_FALSE(matches({{"route", "other"}, {"action", "rollback"}}));
  // Without a route label, a cluster of any of the route's versions names it.
  EXPECT_TRUE(matches({{"cluster", "v2"}, {"action", "rollback"}}));
  EXPECT_TRUE(matches({{"cluster", "legacy"}, {"action", "rollback"}}));
  EXPECT_FALSE(matches({{"cluster", "elsewhere"}, {"action", "rollback"}}));
  // A route label wins over the cluster label.
  EXPECT_FALSE(matches({{"route", "other"}, {"cluster", "v2"}, {"action", "rollback"}}));
  EXPECT_FALSE(matches({{"action", "rollback"}}));
  // Configured matchers all have to match.
  plan_.alert_labels = {{"action", "rollback"}, {"version", "v2"}};
  EXPECT_TRUE(matches({{"route", "api"}, {"action", "rollback"}, {"version", "v2"}}));
  EXPECT_FALSE(matches({{"route", "api"}, {"action", "rollback"}, {"version", "v1"}}));
  plan_.alert_labels.clear();
  EXPECT_TRUE(matches({{"route", "api"}}));
  // Without the route's configuration only the route label can match.
  Alert alert;
  alert.labels = {{"cluster", "v2"}};
  EXPECT_FALSE(alertMatchesPlan(alert, plan_, nullptr));
}

TEST_F(AlertMatchTest, TheCapturedAlertMatchesThroughItsCluster) {
  AlertmanagerPayload p;
  std::string error;
  ASSERT_TRUE(parseAlertmanagerPayload(test::CapturedPayload, p, error));
  EXPECT_TRUE(alertMatchesPlan(p.alerts[0], plan_, &route_));
}

}  // namespace
}  // namespace switchyard::rollback
