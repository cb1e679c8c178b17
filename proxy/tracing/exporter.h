#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/tracing/config.h"
#include "proxy/tracing/otlp_json.h"
#include "proxy/tracing/span.h"

namespace switchyard::tracing {

// What the exporter has done, for the admin /health page.
struct ExporterStatus {
  std::string collector;  // the URL
  size_t queued_spans = 0;
  uint64_t exported_spans = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_export_failed = 0;
  uint64_t dropped_shutdown = 0;
  std::optional<common::SystemTime> last_success;
  std::optional<common::SystemTime> last_failure;
  std::string last_error;  // of the last failed export; kept after a later success
  bool healthy = true;     // false while the last export attempt failed

  // {"collector", "healthy", "queued_spans", "exported_spans", "dropped_spans": {reason: n},
  //  "last_success", "last_failure" (RFC 3339 UTC, null if never), "last_error"}
  nlohmann::json toJson() const;
};

// Sends finished spans to an OTLP/HTTP JSON collector from its own thread, so that the data
// path never waits on the collector.
//
// submit() may be called from any thread. It takes a mutex only to push onto a bounded queue and
// never waits for anything else: when `max_queue_spans` are already waiting, the span is dropped
// and counted. The export thread sends a batch when `max_batch_spans` are queued, and otherwise
// sends whatever is queued every `flush_interval`. One batch is one POST; a batch that fails
// (refused, timed out, non-2xx) is dropped and counted, not retried, so a dead collector costs
// one failed connect per batch and nothing on the caller's side. Up to max_queue_spans +
// max_batch_spans spans are held at once (the queue plus the batch in flight).
//
// Metrics (in `registry`, shared by later exporters of a reloaded configuration):
//   switchyard_trace_spans_exported_total
//   switchyard_trace_spans_dropped_total{reason="queue_full"|"export_failed"|"shutdown"}
class BatchSpanExporter {
 public:
  // Starts the export thread. `time` must outlive the exporter and be a real clock: the network
  // timeouts are measured with it.
  BatchSpanExporter(const TracingConfig& config, ResourceInfo resource,
                    prometheus::Registry& registry, const common::TimeSource& time);
  // shutdown(config.export_timeout) if shutdown() was not called.
  ~BatchSpanExporter();
  BatchSpanExporter(const BatchSpanExporter&) = delete;
  BatchSpanExporter& operator=(const BatchSpanExporter&) = delete;

  // Queues `span` for export; false (and counted) if it was dropped because the queue is full or
  // the exporter has shut down. Any thread; never blocks on I/O.
  bool submit(Span&& span);

  // Stops accepting spans, exports what is queued (in batches) and stops the thread, taking at
  // most about `deadline`: an export still in flight then is abandoned, and spans not sent by
  // then are counted as dropped with reason "shutdown". Idempotent; call from one thread.
  void shutdown(std::chrono::milliseconds deadline);

  ExporterStatus status() const;

 private:
  void run();
  // Sends one batch; called on the export thread without the lock held.
  void exportBatch(std::vector<Span>& batch);

  const TracingConfig config_;
  const ResourceInfo resource_;
  const common::TimeSource& time_;

  prometheus::Counter& exported_;
  prometheus::Counter& dropped_queue_full_;
  prometheus::Counter& dropped_export_failed_;
  prometheus::Counter& dropped_shutdown_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;      // the export thread waits here for spans or a stop
  std::condition_variable finished_;  // shutdown() waits here for the thread to be done
  std::deque<Span> queue_;
  bool stopping_ = false;
  bool finished_flag_ = false;
  std::optional<common::SystemTime> last_success_;
  std::optional<common::SystemTime> last_failure_;
  std::string last_error_;
  bool healthy_ = true;

  std::atomic<bool> abort_{false};  // set when the shutdown deadline passes
  bool shut_down_ = false;          // shutdown() has run (touched by its caller only)
  std::thread thread_;
};

}  // namespace switchyard::tracing
