#include "proxy/tracing/exporter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "proxy/common/logging.h"
#include "proxy/common/rfc3339.h"
#include "proxy/http/json_post.h"

namespace switchyard::tracing {
namespace {

prometheus::Family<prometheus::Counter>& droppedFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("switchyard_trace_spans_dropped_total")
      .Help(
          "Finished spans that were never exported, by reason (queue_full, export_failed, "
          "shutdown)")
      .Register(registry);
}

nlohmann::json timeOrNull(const std::optional<common::SystemTime>& t) {
  return t ? nlohmann::json(common::formatRfc3339Millis(*t)) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json ExporterStatus::toJson() const {
  return {
      {"collector", collector},
      {"healthy", healthy},
      {"queued_spans", queued_spans},
      {"exported_spans", exported_spans},
      {"dropped_spans",
       {{"queue_full", dropped_queue_full},
        {"export_failed", dropped_export_failed},
        {"shutdown", dropped_shutdown}}},
      {"last_success", timeOrNull(last_success)},
      {"last_failure", timeOrNull(last_failure)},
      {"last_error", last_error},
  };
}

BatchSpanExporter::BatchSpanExporter(const TracingConfig& config, ResourceInfo resource,
                                     prometheus::Registry& registry, const common::TimeSource& time)
    : config_(config),
      resource_(std::move(resource)),
      time_(time),
      exported_(prometheus::BuildCounter()
                    .Name("switchyard_trace_spans_exported_total")
                    .Help("Spans the trace collector accepted")
                    .Register(registry)
                    .Add({})),
      dropped_queue_full_(droppedFamily(registry).Add({{"reason", "queue_full"}})),
      dropped_export_failed_(droppedFamily(registry).Add({{"reason", "export_failed"}})),
      dropped_shutdown_(droppedFamily(registry).Add({{"reason", "shutdown"}})),
      thread_([this] { run(); }) {}

BatchSpanExporter::~BatchSpanExporter() { shutdown(config_.export_timeout); }

bool BatchSpanExporter::submit(Span&& span) {
  prometheus::Counter* dropped = nullptr;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      dropped = &dropped_shutdown_;
    } else if (queue_.size() >= config_.max_queue_spans) {
      dropped = &dropped_queue_full_;
    } else {
      queue_.push_back(std::move(span));
      // Only the span that completes a batch wakes the thread; smaller queues wait for the
      // flush interval, so a steady trickle of spans costs no wake-up each.
      wake = queue_.size() == config_.max_batch_spans;
    }
  }
  if (dropped != nullptr) {
    dropped->Increment();
    return false;
  }
  if (wake) wake_.notify_one();
  return true;
}

void BatchSpanExporter::shutdown(std::chrono::milliseconds deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
    if (!finished_.wait_for(lock, deadline, [this] { return finished_flag_; })) {
      // The thread is stuck on a slow or dead collector: make it give up now.
      abort_.store(true);
    }
  }
  thread_.join();
}

ExporterStatus BatchSpanExporter::status() const {
  ExporterStatus out;
  out.collector = config_.collector.url;
  out.exported_spans = static_cast<uint64_t>(exported_.Value());
  out.dropped_queue_full = static_cast<uint64_t>(dropped_queue_full_.Value());
  out.dropped_export_failed = static_cast<uint64_t>(dropped_export_failed_.Value());
  out.dropped_shutdown = static_cast<uint64_t>(dropped_shutdown_.Value());
  std::lock_guard<std::mutex> lock(mutex_);
  out.queued_spans = queue_.size();
  out.last_success = last_success_;
  out.last_failure = last_failure_;
  out.last_error = last_error_;
  out.healthy = healthy_;
  return out;
}

void BatchSpanExporter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    const bool woken = wake_.wait_for(lock, config_.flush_interval, [this] {
      return stopping_ || queue_.size() >= config_.max_batch_spans;
    });
    // Full batches go at once; a partial one waits for the flush interval or the shutdown.
    const bool send_partial = !woken || stopping_;
    while (!queue_.empty() && !abort_.load() &&
           (send_partial || queue_.size() >= config_.max_batch_spans)) {
      const size_t n = std::min<size_t>(queue_.size(), config_.max_batch_spans);
      std::vector<Span> batch;
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      exportBatch(batch);
      lock.lock();
    }
    if (stopping_ && (queue_.empty() || abort_.load())) break;
  }
  dropped_shutdown_.Increment(static_cast<double>(queue_.size()));
  queue_.clear();
  finished_flag_ = true;
  finished_.notify_all();
}

void BatchSpanExporter::exportBatch(std::vector<Span>& batch) {
  const std::string body = encodeExportRequestBody(resource_, batch);
  const http::HttpUrl url{config_.collector.host, config_.collector.port, config_.collector.path,
                          config_.collector.url};
  const http::HttpPostResult result =
      http::httpPostJson(url, {}, body, config_.export_timeout, time_, &abort_);
  struct {
    bool ok;
    std::string error;
  } outcome{result.ok(), result.error};
  if (result.status != 0 && !result.ok()) {
    // Collectors explain a rejection in the body: keep the start of it.
    outcome.error = "the collector answered " + std::to_string(result.status);
    std::string printable;
    for (char c : result.body.substr(0, 200)) printable += (c >= 0x20 && c < 0x7f) ? c : ' ';
    if (!printable.empty()) outcome.error += ": " + printable;
  }
  const double count = static_cast<double>(batch.size());
  (outcome.ok ? exported_ : dropped_export_failed_).Increment(count);

  bool was_healthy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_healthy = healthy_;
    healthy_ = outcome.ok;
    if (outcome.ok) {
      last_success_ = time_.systemNow();
    } else {
      last_failure_ = time_.systemNow();
      last_error_ = outcome.error;
    }
  }
  // Log changes of state only: a dead collector must not flood the log once per batch.
  if (was_healthy && !outcome.ok) {
    SY_LOG(Warn, "tracing: exporting spans to %s failed: %s; spans are dropped until it recovers",
           config_.collector.url.c_str(), outcome.error.c_str());
  } else if (!was_healthy && outcome.ok) {
    SY_LOG(Info, "tracing: exporting spans to %s works again", config_.collector.url.c_str());
  }
}

}  // namespace switchyard::tracing
