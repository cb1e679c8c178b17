#include "proxy/rollback/codec.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard::rollback {
namespace {

using nlohmann::json;

Execution alertExecution() {
  Execution e;
  e.id = "rb-3-20260101T000000Z";
  e.route = "api";
  e.trigger.kind = TriggerKind::Alertmanager;
  e.trigger.reason = "alert HighErrors: 5xx";
  e.trigger.alert_labels = {{"alertname", "HighErrors"}, {"cluster", "v2"}};
  e.trigger.fingerprint = "0f12";
  e.trigger.group_key = "{}:{}";
  e.trigger.starts_at = "2026-11-21T20:57:58.396Z";
  e.started_at = "2026-01-01T00:00:00.000Z";
  e.finished_at = "2026-01-01T00:00:01.000Z";
  e.status = "failed";
  StepRecord done;
  done.type = "set_weights";
  done.status = "succeeded";
  done.attempts = 1;
  done.started_at = "2026-01-01T00:00:00.000Z";
  done.finished_at = "2026-01-01T00:00:00.000Z";
  done.log = {"2026-01-01T00:00:00.000Z attempt 1: set weights of api v2 to legacy=100"};
  StepRecord failed = done;
  failed.type = "webhook";
  failed.status = "failed";
  failed.attempts = 2;
  failed.finished_at = "2026-01-01T00:00:01.000Z";
  StepRecord skipped;
  skipped.type = "notify";
  skipped.status = "skipped";
  e.steps = {done, failed, skipped};
  e.log = {"2026-01-01T00:00:01.000Z step 2 (webhook) failed"};
  return e;
}

void expectSame(const Execution& a, const Execution& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.trigger.kind, b.trigger.kind);
  EXPECT_EQ(a.trigger.reason, b.trigger.reason);
  EXPECT_EQ(a.trigger.alert_labels, b.trigger.alert_labels);
  EXPECT_EQ(a.trigger.fingerprint, b.trigger.fingerprint);
  EXPECT_EQ(a.trigger.group_key, b.trigger.group_key);
  EXPECT_EQ(a.trigger.starts_at, b.trigger.starts_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.status, b.status);
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].type, b.steps[i].type) << i;
    EXPECT_EQ(a.steps[i].status, b.steps[i].status) << i;
    EXPECT_EQ(a.steps[i].attempts, b.steps[i].attempts) << i;
    EXPECT_EQ(a.steps[i].started_at, b.steps[i].started_at) << i;
    EXPECT_EQ(a.steps[i].finished_at, b.steps[i].finished_at) << i;
    EXPECT_EQ(a.steps[i].log, b.steps[i].log) << i;
  }
  EXPECT_EQ(a.log, b.log);
}

TEST(CodecTest, AnExecutionRoundTrips) {
  const Execution e = alertExecution();
  json j = toJson(e);
  EXPECT_EQ(j["trigger"]["kind"], "alertmanager");
  EXPECT_EQ(j["trigger"]["alert"]["labels"]["cluster"], "v2");
  EXPECT_EQ(j["trigger"]["alert"]["group_key"], "{}:{}");
  EXPECT_EQ(j["steps"][1]["attempts"], 2);
  // A step that never started has null times, not empty strings.
  EXPECT_TRUE(j["steps"][2]["started_at"].is_null());
  EXPECT_TRUE(j["steps"][2]["finished_at"].is_null());
  expectSame(executionFromJson(j), e);
  // Through text too, as the state file holds it.
  expectSame(executionFromJson(json::parse(dumpJson(j, 1))), e);
}

TEST(CodecTest, ARunningManualExecutionHasNoAlertAndANullFinishTime) {
  Execution e;
  e.id = "rb-1-x";
  e.route = "simple";
  e.trigger.reason = "bad deploy";
  e.started_at = "2026-01-01T00:00:00.000Z";
  json j = toJson(e);
  EXPECT_EQ(j["trigger"],
            (json{{"kind", "manual"}, {"reason", "bad deploy"}, {"triggered_by", "operator"}}));
  EXPECT_TRUE(j["finished_at"].is_null());
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["steps"], json::array());
  Execution back = executionFromJson(j);
  EXPECT_EQ(back.finished_at, "");
  EXPECT_TRUE(back.trigger.alert_labels.empty());
  expectSame(back, e);
}

TEST(CodecTest, OptionalKeysMayBeMissingOrNull) {
  json j = {
      {"id", "rb-1"},
      {"route", "api"},
      {"trigger", {{"kind", "guard"}, {"alert", nullptr}}},
      {"started_at", "x"},
      {"finished_at", nullptr},
      {"status", "running"},
      {"steps", {{{"type", "notify"}, {"status", "pending"}, {"attempts", 0}, {"log", nullptr}}}}};
  Execution e = executionFromJson(j);
  EXPECT_EQ(e.trigger.kind, TriggerKind::Guard);
  EXPECT_EQ(e.trigger.reason, "");
  EXPECT_EQ(e.finished_at, "");
  ASSERT_EQ(e.steps.size(), 1u);
  EXPECT_EQ(e.steps[0].started_at, "");
  EXPECT_TRUE(e.steps[0].log.empty());
  EXPECT_TRUE(e.log.empty());
}

TEST(CodecTest, AMalformedExecutionIsRefused) {
  const json good = toJson(alertExecution());
  ASSERT_NO_THROW(executionFromJson(good));
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
  };
  const std::vector<Case> missing = {
      {"no id", [](json& j) { j.erase("id"); }},
      {"no route", [](json& j) { j.erase("route"); }},
      {"no trigger", [](json& j) { j.erase("trigger"); }},
      {"no trigger kind", [](json& j) { j["trigger"].erase("kind"); }},
      {"no alert labels", [](json& j) { j["trigger"]["alert"].erase("labels"); }},
      {"no started_at", [](json& j) { j.erase("started_at"); }},
      {"no status", [](json& j) { j.erase("status"); }},
      {"no steps", [](json& j) { j.erase("steps"); }},
      {"no step type", [](json& j) { j["steps"][0].erase("type"); }},
      {"no step status", [](json& j) { j["steps"][0].erase("status"); }},
      {"no step attempts", [](json& j) { j["steps"][0].erase("attempts"); }},
  };
  const std::vector<Case> wrong_type = {
      {"numeric id", [](json& j) { j["id"] = 7; }},
      {"null route", [](json& j) { j["route"] = nullptr; }},
      {"trigger kind an array", [](json& j) { j["trigger"]["kind"] = json::array(); }},
      {"reason a number", [](json& j) { j["trigger"]["reason"] = 1; }},
      {"label value a number", [](json& j) { j["trigger"]["alert"]["labels"]["cluster"] = 2; }},
      {"finished_at a bool", [](json& j) { j["finished_at"] = true; }},
      {"status a number", [](json& j) { j["status"] = 0; }},
      {"attempts a string", [](json& j) { j["steps"][0]["attempts"] = "1"; }},
      {"log a string", [](json& j) { j["log"] = "x"; }},
      {"step log of numbers",
       [](json& j) {
         j["steps"][0]["log"] = {1, 2};
       }},
      {"the record an array", [](json& j) { j = json::array(); }},
  };
  const std::vector<Case> bad_value = {
      {"empty id", [](json& j) { j["id"] = ""; }},
      {"empty route", [](json& j) { j["route"] = ""; }},
      {"unknown trigger kind", [](json& j) { j["trigger"]["kind"] = "cron"; }},
      {"unknown status", [](json& j) { j["status"] = "paused"; }},
      {"unknown step type", [](json& j) { j["steps"][0]["type"] = "reboot"; }},
      {"negative attempts", [](json& j) { j["steps"][0]["attempts"] = -1; }},
      {"unknown step status", [](json& j) { j["steps"][0]["status"] = "done"; }},
  };
  for (const auto* cases : {&missing, &wrong_type}) {
    for (const Case& c : *cases) {
      json j = good;
      c.edit(j);
      EXPECT_THROW(executionFromJson(j), json::exception) << c.what;
    }
  }
  for (const Case& c : bad_value) {
    json j = good;
    c.edit(j);
    EXPECT_THROW(executionFromJson(j), std::invalid_argument) << c.what;
  }
}

TEST(CodecTest, TheMalformedParsersSayWhatIsWrong) {
  try {
    executionFromJson(
        {{"id", "a"}, {"route", "b"}, {"trigger", {{"kind", "cron"}}}, {"started_at", "x"}});
    FAIL() << "accepted an unknown trigger kind";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown trigger kind \"cron\"");
  }
  try {
    stepRecordFromJson({{"type", "notify"}, {"status", "done"}, {"attempts", 0}});
    FAIL() << "accepted an unknown step status";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown step status \"done\"");
  }
  try {
    routeStateFromJson({{"state", "sideways"}, {"since", "x"}});
    FAIL() << "accepted an unknown route state";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown route state \"sideways\"");
  }
}

TEST(CodecTest, RouteStatesAndAlertRecordsRoundTrip) {
  for (RouteStatus status : {RouteStatus::Active, RouteStatus::RollingBack, RouteStatus::RolledBack,
                             RouteStatus::RollbackFailed}) {
    RouteState s{status, "2026-01-01T00:00:00.000Z", status == RouteStatus::Active ? "" : "rb-1"};
    json j = toJson(s);
    EXPECT_EQ(j["state"], std::string(routeStatusName(status)));
    EXPECT_EQ(j["execution_id"].is_null(), status == RouteStatus::Active);
    RouteState back = routeStateFromJson(j);
    EXPECT_EQ(back.status, s.status);
    EXPECT_EQ(back.since, s.since);
    EXPECT_EQ(back.execution_id, s.execution_id);
  }
  EXPECT_THROW(routeStateFromJson({{"state", "active"}}), json::exception);  // no since
  EXPECT_THROW(routeStateFromJson({{"state", 1}, {"since", "x"}}), json::exception);

  AlertDecision d;
  d.fingerprint = "f1";
  d.alertname = "HighErrors";
  d.status = "firing";
  d.result = AlertResult::Accepted;
  d.routes = {{"api", TriggerOutcome::Started, "rb-1"},
              {"simple", TriggerOutcome::AlreadyRolledBack, "rb-0"}};
  const json routes = {
      {{"route", "api"}, {"outcome", "started"}, {"execution_id", "rb-1"}},
      {{"route", "simple"}, {"outcome", "already_rolled_back"}, {"execution_id", "rb-0"}}};
  EXPECT_EQ(toJson(d), (json{{"fingerprint", "f1"},
                             {"alertname", "HighErrors"},
                             {"status", "firing"},
                             {"result", "accepted"},
                             {"routes", routes}}));
  AlertRecord r = alertRecord(d, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(r.result, "accepted");
  EXPECT_EQ(r.routes, routes);
  json rj = toJson(r);
  EXPECT_EQ(rj["received_at"], "2026-01-01T00:00:00.000Z");
  AlertRecord back = alertRecordFromJson(rj);
  EXPECT_EQ(toJson(back), rj);
  // A record is a history: its routes are kept as they were written.
  rj["routes"] = "anything";
  EXPECT_EQ(alertRecordFromJson(rj).routes, "anything");
  rj.erase("result");
  EXPECT_THROW(alertRecordFromJson(rj), json::exception);
  rj = toJson(r);
  rj["alertname"] = nullptr;
  EXPECT_THROW(alertRecordFromJson(rj), json::exception);
}

RollbackState sampleState() {
  RollbackState s;
  s.routes["api"] = RouteState{RouteStatus::RolledBack, "2026-01-01T00:00:01.000Z", "rb-3-x"};
  s.routes["simple"] = RouteState{RouteStatus::Active, "2026-01-01T00:00:00.000Z", ""};
  Execution older;
  older.id = "rb-2-x";
  older.route = "api";
  older.started_at = "2026-01-01T00:00:00.000Z";
  older.status = "succeeded";
  s.executions = {older, alertExecution()};
  s.executions[1].id = "rb-3-x";
  s.alerts.push_back(AlertRecord{"t1", "f1", "A", "firing", "accepted", json::array()});
  s.alerts.push_back(AlertRecord{"t2", "f1", "A", "resolved", "resolved", json::array()});
  s.alert_keys = {"k1", "k2"};
  s.next_id = 4;
  return s;
}

TEST(CodecTest, TheStateFileRoundTripsOldestFirst) {
  const RollbackState s = sampleState();
  json file = stateFileJson(s);
  EXPECT_EQ(file["format"], StateFormat);
  EXPECT_EQ(file["next_id"], 4);
  EXPECT_EQ(file["alert_keys"], (json{"k1", "k2"}));
  EXPECT_EQ(file["executions"][0]["id"], "rb-2-x");
  EXPECT_EQ(file["alerts"][0]["received_at"], "t1");
  EXPECT_EQ(file["routes"]["api"], (json{{"state", "rolled_back"},
                                         {"since", "2026-01-01T00:00:01.000Z"},
                                         {"execution_id", "rb-3-x"}}));
  EXPECT_FALSE(file["routes"]["api"].contains("guard"));  // live data is not persisted

  RollbackState back = stateFromFileJson(json::parse(dumpJson(file, 1)));
  EXPECT_EQ(stateFileJson(back), file);
  ASSERT_EQ(back.executions.size(), 2u);
  expectSame(back.executions[1], s.executions[1]);
  EXPECT_EQ(back.routes.at("api").status, RouteStatus::RolledBack);
  EXPECT_EQ(back.next_id, 4u);
  EXPECT_EQ(back.alert_keys, s.alert_keys);
}

TEST(CodecTest, TheStateFileMayLackAlertsAndKeys) {
  RollbackState s = stateFromFileJson(
      {{"format", 1}, {"next_id", 2}, {"routes", json::object()}, {"executions", json::array()}});
  EXPECT_TRUE(s.alerts.empty());
  EXPECT_TRUE(s.alert_keys.empty());
  EXPECT_EQ(s.next_id, 2u);
}

TEST(CodecTest, AMalformedStateFileIsRefused) {
  const json good = stateFileJson(sampleState());
  ASSERT_NO_THROW(stateFromFileJson(good));
  auto refuse = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    try {
      stateFromFileJson(j);
    } catch (const json::exception& e) {
      return std::string("json: ") + e.what();
    } catch (const std::invalid_argument& e) {
      return std::string("invalid: ") + e.what();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refuse([](json& j) { j = json::array(); }), "invalid: not a JSON object");
  EXPECT_EQ(refuse([](json& j) { j["format"] = 2; }), "invalid: unknown format 2");
  EXPECT_EQ(refuse([](json& j) { j["routes"]["api"]["state"] = "sideways"; }),
            "invalid: unknown route state \"sideways\"");
  EXPECT_EQ(refuse([](json& j) { j["executions"][0]["status"] = "paused"; }),
            "invalid: unknown execution status \"paused\"");
  // -1 would wrap to a huge id, and the ids after it back to 0.
  EXPECT_EQ(refuse([](json& j) { j["next_id"] = -1; }), "invalid: next_id must not be negative");
  for (const char* key : {"format", "next_id", "routes", "executions"}) {
    EXPECT_EQ(refuse([&](json& j) { j.erase(key); }).rfind("json: ", 0), 0u) << key;
  }
  for (const auto& edit : std::vector<std::function<void(json&)>>{
           [](json& j) { j["format"] = "1"; },
           [](json& j) { j["next_id"] = "4"; },
           [](json& j) { j["alert_keys"] = {1}; },
           [](json& j) { j["alerts"][0].erase("received_at"); },
           [](json& j) { j["alerts"][1]["status"] = 3; },
           [](json& j) { j["routes"]["api"].erase("since"); },
           [](json& j) { j["executions"][0].erase("id"); },
       }) {
    json j = good;
    edit(j);
    EXPECT_THROW(stateFromFileJson(j), json::exception) << j.dump();
  }
}

TEST(CodecTest, TheStateViewIsNewestFirstWithGuards) {
  const RollbackState s = sampleState();
  GuardStatus status;
  status.requests = 10;
  status.errors = 3;
  status.error_ratio = 0.3;
  status.p95_seconds = 0.25;
  status.breached = true;
  status.reason = "not shown";
  json view = stateViewJson(s, {{"api", GuardView{"v2", status}}});
  EXPECT_FALSE(view.contains("format"));
  EXPECT_FALSE(view.contains("next_id"));
  EXPECT_FALSE(view.contains("alert_keys"));
  EXPECT_EQ(view["executions"][0]["id"], "rb-3-x");
  EXPECT_EQ(view["executions"][1]["id"], "rb-2-x");
  EXPECT_EQ(view["executions"], executionsJson(s.executions));
  EXPECT_EQ(view["alerts"][0]["received_at"], "t2");
  EXPECT_EQ(view["routes"]["api"]["state"], "rolled_back");
  EXPECT_EQ(view["routes"]["api"]["guard"], (json{{"version", "v2"},
                                                  {"requests", 10},
                                                  {"errors", 3},
                                                  {"error_ratio", 0.3},
                                                  {"p95_seconds", 0.25},
                                                  {"breached", true}}));
  EXPECT_TRUE(view["routes"]["simple"]["guard"].is_null());
  EXPECT_TRUE(view["routes"]["simple"]["execution_id"].is_null());
  EXPECT_TRUE(view["routes"]["api"]["cluster_health"].is_null());

  view = stateViewJson(s, {}, {{"simple", ClusterHealthView{"modern", true}}});
  EXPECT_EQ(view["routes"]["simple"]["cluster_health"],
            (json{{"cluster", "modern"}, {"every_endpoint_unhealthy", true}}));
  EXPECT_TRUE(view["routes"]["api"]["cluster_health"].is_null());
}

TEST(CodecTest, AClusterUnhealthyTriggerReadsBack) {
  Execution e = alertExecution();
  e.trigger = Trigger{TriggerKind::ClusterUnhealthy,
                      "every endpoint of cluster modern failed its health checks",
                      {},
                      "",
                      "",
                      "",
                      ""};
  json j = toJson(e);
  EXPECT_EQ(j["trigger"], (json{{"kind", "cluster_unhealthy"},
                                {"reason",
                                 "every endpoint of cluster modern failed its health "
                                 "checks"},
                                {"triggered_by", "health_check"}}));
  expectSame(executionFromJson(j), e);
}

TEST(CodecTest, DumpReplacesInvalidUtf8) {
  EXPECT_EQ(dumpJson(json("a\xff")), "\"a\xEF\xBF\xBD\"");
  EXPECT_EQ(dumpJson(json{{"k", 1}}, 1), "{\n \"k\": 1\n}");
}

}  // namespace
}  // namespace switchyard::rollback
