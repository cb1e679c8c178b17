#pragma once

// Alertmanager webhook bodies shared by the rollback tests.

namespace switchyard::rollback::test {

// A real Alertmanager 0.25 webhook, captured on loopback (/work/shared/REFERENCE.md).
inline constexpr const char* CapturedPayload = R"json({
  "receiver": "sidecar-webhook",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {
        "action": "rollback",
        "alertname": "SidecarCanaryHighErrorRatio",
        "cluster": "v2",
        "severity": "critical"
      },
      "annotations": {
        "summary": "5xx ratio on cluster v2 is 19.15%"
      },
      "startsAt": "2026-11-21T20:57:58.396Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://127.0.0.1:19090/graph?g0.expr=%28sum+by+%28cluster%29+%28rate%28sidecar_upstream_requests_total%7Bcluster%3D%22v2%22%2Ccode_class%3D%225xx%22%7D%5B10s%5D%29%29+%2F+sum+by+%28cluster%29+%28rate%28sidecar_upstream_requests_total%7Bcluster%3D%22v2%22%7D%5B10s%5D%29%29%29+%3E+0.05&g0.tab=1",
      "fingerprint": "0f12e33329fd4126"
    }
  ],
  "groupLabels": {
    "alertname": "SidecarCanaryHighErrorRatio",
    "cluster": "v2"
  },
  "commonLabels": {
    "action": "rollback",
    "alertname": "SidecarCanaryHighErrorRatio",
    "cluster": "v2",
    "severity": "critical"
  },
  "commonAnnotations": {
    "summary": "5xx ratio on cluster v2 is 19.15%"
  },
  "externalURL": "http://127.0.0.1:19093",
  "version": "4",
  "groupKey": "{}:{alertname=\"SidecarCanaryHighErrorRatio\", cluster=\"v2\"}",
  "truncatedAlerts": 0
})json";

// The documented example of the webhook (notify/webhook), with the newer optional fields.
inline constexpr const char* DocumentedPayload = R"json({
  "version": "4",
  "groupKey": "{}/{env=\"prod\"}:{alertname=\"V2HighErrorRate\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "sidecar-rollback",
  "groupLabels": {"alertname": "V2HighErrorRate"},
  "commonLabels": {"alertname": "V2HighErrorRate", "backend": "v2", "severity": "critical"},
  "commonAnnotations": {"summary": "v2 5xx ratio > 5% for 2m"},
  "externalURL": "http://alertmanager:9093",
  "notification_reason": "first notification",
  "routeLabels": {"receiver": "sidecar-rollback"},
  "alerts": [{
    "status": "firing",
    "labels": {"alertname": "V2HighErrorRate", "backend": "v2", "severity": "critical"},
    "annotations": {"summary": "v2 5xx ratio > 5% for 2m"},
    "startsAt": "2026-08-22T10:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
    "fingerprint": "c6e3e1a1b2f0d9aa"
  }]
})json";

}  // namespace switchyard::rollback::test
