#include "proxy/tracing/exporter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "tests/support/otlp_receiver.h"
#include "tests/support/process.h"

namespace switchyard::tracing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds Patience{5000};

// The value of counter `name` with `label` = `value` (or the unlabelled one), -1 if absent.
double counterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& label = "", const std::string& value = "") {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = label.empty();
      for (const prometheus::ClientMetric::Label& l : metric.label) {
        match = match || (l.name == label && l.value == value);
      }
      if (match) return metric.counter.value;
    }
  }
  return -1;
}

class ExporterTest : public testing::Test {
 protected:
  TracingConfig config(const std::string& url) {
    TracingConfig c;
    c.enabled = true;
    std::string error;
    EXPECT_TRUE(parseCollectorUrl(url, c.collector, error)) << error;
    c.flush_interval = std::chrono::hours(1);  // batches go out when full or on shutdown
    c.export_timeout = milliseconds(2000);
    return c;
  }

  std::unique_ptr<BatchSpanExporter> start(const TracingConfig& c) {
    ResourceInfo resource;
    resource.service_name = "edge";
    resource.service_instance_id = "instance-1";
    return std::make_unique<BatchSpanExporter>(c, resource, registry_, time_);
  }

  Span span(int n) {
    Span s;
    s.trace_id[15] = static_cast<uint8_t>(n + 1);
    s.span_id[7] = static_cast<uint8_t>(n + 1);
    s.name = "span-" + std::to_string(n);
    s.kind = SpanKind::Server;
    s.start = common::SystemTime(std::chrono::seconds(1767225600));
    s.end = s.start + milliseconds(n);
    return s;
  }

  // Submits spans n..n+count-1; returns how many were accepted.
  int submit(BatchSpanExporter& exporter, int first, int count) {
    int accepted = 0;
    for (int i = first; i < first + count; ++i) accepted += exporter.submit(span(i));
    return accepted;
  }

  prometheus::Registry registry_;
  common::RealTimeSource time_;
  test::OtlpReceiver receiver_;
};

TEST_F(ExporterTest, SpansArriveInFullBatchesAndTheRestOnShutdown) {
  TracingConfig c = config(receiver_.url());
  c.max_batch_spans = 3;
  auto exporter = start(c);
  EXPECT_EQ(submit(*exporter, 0, 7), 7);

  ASSERT_TRUE(receiver_.waitForRequests(2, Patience));
  ASSERT_TRUE(receiver_.waitForSpans(6, Patience));
  std::vector<test::OtlpReceiver::Request> requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u) << "the 7th span waits for a full batch or the flush interval";
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/v1/traces");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(test::spansOf(r.json).size(), 3u);
    const auto& resource = r.json["resourceSpans"][0]["resource"]["attributes"];
    EXPECT_EQ(resource[0]["value"]["stringValue"], "edge");
    EXPECT_EQ(resource[1]["key"], "service.instance.id");
    EXPECT_EQ(resource[1]["value"]["stringValue"], "instance-1");
    EXPECT_EQ(r.json["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"], "switchyard");
  }

  exporter->shutdown(Patience);
  requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(test::spansOf(requests[2].json).size(), 1u);
  std::vector<nlohmann::json> spans = receiver_.spans();
  ASSERT_EQ(spans.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(spans[i]["name"], "span-" + std::to_string(i));

  const ExporterStatus status = exporter->status();
  EXPECT_EQ(status.exported_spans, 7u);
  EXPECT_EQ(status.dropped_queue_full + status.dropped_export_failed + status.dropped_shutdown, 0u);
  EXPECT_TRUE(status.healthy);
  EXPECT_TRUE(status.last_success.has_value());
  EXPECT_FALSE(status.last_failure.has_value());
  EXPECT_EQ(counterValue(registry_, "switchyard_trace_spans_exported_total"), 7);
  EXPECT_EQ(counterValue(registry_, "switchyard_trace_spans_dropped_total", "reason", "queue_full"),
            0);
}

TEST_F(ExporterTest, FlushIntervalSendsAPartialBatch) {
  TracingConfig c = config(receiver_.url());
  c.flush_interval = milliseconds(20);
  auto exporter = start(c);
  EXPECT_TRUE(exporter->submit(span(0)));
  ASSERT_TRUE(receiver_.waitForSpans(1, Patience));
  EXPECT_EQ(receiver_.spans()[0]["name"], "span-0");
}

TEST_F(ExporterTest, HungCollectorCostsTheCallerNothingAndDropsAreCounted) {
  receiver_.setHang(true);
  TracingConfig c = config(receiver_.url());
  c.max_queue_spans = 10;
  c.max_batch_spans = 5;
  c.export_timeout = milliseconds(30000);
  auto exporter = start(c);

  // The first batch goes out and hangs; the thread is stuck waiting for the answer.
  EXPECT_EQ(submit(*exporter, 0, 5), 5);
  ASSERT_TRUE(receiver_.waitForRequests(1, Patience));

  const Clock::time_point before = Clock::now();
  const int accepted = submit(*exporter, 5, 15);
  const auto submit_time = Clock::now() - before;
  EXPECT_EQ(accepted, 10);
  EXPECT_LT(submit_time, milliseconds(200)) << "15 submits must not wait for the collector";

  ExporterStatus status = exporter->status();
  EXPECT_EQ(status.queued_spans, 10u);
  EXPECT_EQ(status.dropped_queue_full, 5u);
  EXPECT_EQ(counterValue(registry_, "switchyard_trace_spans_dropped_total", "reason", "queue_full"),
            5);

  // Shutdown waits for its deadline, not for the 30 s export timeout.
  const Clock::time_point shutdown_start = Clock::now();
  exporter->shutdown(milliseconds(100));
  EXPECT_LT(Clock::now() - shutdown_start, milliseconds(2000));

  status = exporter->status();
  EXPECT_EQ(status.exported_spans, 0u);
  EXPECT_EQ(status.dropped_export_failed, 5u) << "the batch in flight";
  EXPECT_EQ(status.dropped_shutdown, 10u) << "the queued spans";
  EXPECT_FALSE(status.healthy);
  EXPECT_NE(status.last_error.find("shutting down"), std::string::npos) << status.last_error;
  EXPECT_FALSE(exporter->submit(span(99)));
  EXPECT_EQ(exporter->status().dropped_shutdown, 11u);
}

TEST_F(ExporterTest, SlowAnswerPastTheTimeoutFailsTheBatch) {
  receiver_.setDelay(milliseconds(30000));
  TracingConfig c = config(receiver_.url());
  c.max_batch_spans = 2;
  c.export_timeout = milliseconds(100);
  auto exporter = start(c);
  EXPECT_EQ(submit(*exporter, 0, 2), 2);
  ASSERT_TRUE(receiver_.waitForRequests(1, Patience));
  // A generous deadline: the export gives up on its own after 100 ms.
  const Clock::time_point shutdown_start = Clock::now();
  exporter->shutdown(Patience);
  EXPECT_LT(Clock::now() - shutdown_start, milliseconds(4000));
  const ExporterStatus status = exporter->status();
  EXPECT_EQ(status.dropped_export_failed, 2u);
  EXPECT_EQ(status.dropped_shutdown, 0u);
  EXPECT_NE(status.last_error.find("waiting for the response: timed out"), std::string::npos)
      << status.last_error;
}

TEST_F(ExporterTest, DeadCollectorFailsFast) {
  const int port = test::freePort();
  ASSERT_GT(port, 0);
  TracingConfig c = config("http://127.0.0.1:" + std::to_string(port) + "/v1/traces");
  c.max_batch_spans = 2;
  auto exporter = start(c);
  EXPECT_EQ(submit(*exporter, 0, 5), 5);
  exporter->shutdown(Patience);
  const ExporterStatus status = exporter->status();
  EXPECT_EQ(status.exported_spans, 0u);
  EXPECT_EQ(status.dropped_export_failed, 5u);
  EXPECT_EQ(status.dropped_shutdown, 0u);
  EXPECT_FALSE(status.healthy);
  EXPECT_TRUE(status.last_failure.has_value());
  EXPECT_NE(status.last_error.find("Connection refused"), std::string::npos) << status.last_error;
  EXPECT_EQ(
      counterValue(registry_, "switchyard_trace_spans_dropped_total", "reason", "export_failed"),
      5);
}

TEST_F(ExporterTest, RejectedBatchIsCountedWithTheCollectorsReason) {
  receiver_.setStatus(503);
  TracingConfig c = config(receiver_.url());
  auto exporter = start(c);
  EXPECT_EQ(submit(*exporter, 0, 2), 2);
  exporter->shutdown(Patience);
  ASSERT_EQ(receiver_.requestCount(), 1u);
  EXPECT_TRUE(receiver_.spans().empty());
  const ExporterStatus status = exporter->status();
  EXPECT_EQ(status.dropped_export_failed, 2u);
  EXPECT_NE(status.last_error.find("answered 503: {\"error\":\"rejected\"}"), std::string::npos)
      << status.last_error;
}

TEST_F(ExporterTest, RecoversAfterAFailure) {
  receiver_.setStatus(500);
  TracingConfig c = config(receiver_.url());
  c.max_batch_spans = 1;
  auto exporter = start(c);
  EXPECT_TRUE(exporter->submit(span(0)));
  ASSERT_TRUE(receiver_.waitForRequests(1, Patience));
  receiver_.setStatus(200);
  EXPECT_TRUE(exporter->submit(span(1)));
  ASSERT_TRUE(receiver_.waitForSpans(1, Patience));
  exporter->shutdown(Patience);
  const ExporterStatus status = exporter->status();
  EXPECT_TRUE(status.healthy);
  EXPECT_EQ(status.exported_spans, 1u);
  EXPECT_EQ(status.dropped_export_failed, 1u);
  EXPECT_TRUE(status.last_success.has_value());
  EXPECT_TRUE(status.last_failure.has_value());
  EXPECT_NE(status.last_error.find("answered 500"), std::string::npos) << status.last_error;
}

TEST_F(ExporterTest, StatusJson) {
  ExporterStatus status;
  status.collector = "http://127.0.0.1:4318/v1/traces";
  status.queued_spans = 3;
  status.exported_spans = 10;
  status.dropped_queue_full = 1;
  status.dropped_export_failed = 2;
  status.dropped_shutdown = 0;
  status.last_success = common::SystemTime(std::chrono::milliseconds(1767225600123));
  status.last_error = "connect to 127.0.0.1:4318: Connection refused";
  status.healthy = false;
  const nlohmann::json expected = {
      {"collector", "http://127.0.0.1:4318/v1/traces"},
      {"healthy", false},
      {"queued_spans", 3},
      {"exported_spans", 10},
      {"dropped_spans", {{"queue_full", 1}, {"export_failed", 2}, {"shutdown", 0}}},
      {"last_success", "2026-01-01T00:00:00.123Z"},
      {"last_failure", nullptr},
      {"last_error", "connect to 127.0.0.1:4318: Connection refused"},
  };
  EXPECT_EQ(status.toJson(), expected);
}

TEST_F(ExporterTest, DestructorFlushes) {
  TracingConfig c = config(receiver_.url());
  {
    auto exporter = start(c);
    EXPECT_EQ(submit(*exporter, 0, 3), 3);
  }
  EXPECT_EQ(receiver_.spans().size(), 3u);
}

}  // namespace
}  // namespace switchyard::tracing
