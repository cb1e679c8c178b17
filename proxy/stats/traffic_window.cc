#include "proxy/stats/traffic_window.h"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace switchyard::stats {

namespace {

std::string labelValue(const prometheus::ClientMetric& metric, const std::string& name) {
  for (const prometheus::ClientMetric::Label& l : metric.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

std::vector<std::string> keyOf(const prometheus::ClientMetric& metric,
                               const std::vector<std::string>& labels) {
  std::vector<std::string> key;
  key.reserve(labels.size());
  for (const std::string& name : labels) key.push_back(labelValue(metric, name));
  return key;
}

uint64_t counterValue(double v) { return v > 0 ? static_cast<uint64_t>(std::llround(v)) : 0; }

uint64_t minus(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

bool isError(const std::string& code) {
  return code == "0" || (code.size() == 3 && code[0] >= '5');
}

}  // namespace

ResponseTotals countResponses(const prometheus::Collectable& requests, const std::string& label,
                              const std::string& value) {
  ResponseTotals out;
  for (const prometheus::MetricFamily& family : requests.Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      if (labelValue(m, label) != value) continue;
      const uint64_t n = counterValue(m.counter.value);
      out.requests += n;
      if (isError(labelValue(m, "code"))) out.errors += n;
    }
  }
  return out;
}

std::optional<double> histogramQuantile(double q, const std::vector<double>& upper_bounds,
                                        const std::vector<uint64_t>& cumulative) {
  if (cumulative.empty() || upper_bounds.size() != cumulative.size()) return std::nullopt;
  const uint64_t total = cumulative.back();
  if (total == 0) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  size_t i = 0;
  while (i < cumulative.size() && static_cast<double>(cumulative[i]) < rank) ++i;
  if (i >= cumulative.size()) i = cumulative.size() - 1;
  if (std::isinf(upper_bounds[i])) {
    // Above the last finite bound: that bound is all that is known.
    return i > 0 ? std::optional<double>(upper_bounds[i - 1]) : std::nullopt;
  }
  const double lower = i > 0 ? upper_bounds[i - 1] : 0.0;
  const double below = i > 0 ? static_cast<double>(cumulative[i - 1]) : 0.0;
  const double in_bucket = static_cast<double>(cumulative[i]) - below;
  if (in_bucket <= 0) return upper_bounds[i];
  return lower + (upper_bounds[i] - lower) * ((rank - below) / in_bucket);
}

TrafficWindow::TrafficWindow(std::vector<Source> sources, common::Duration window,
                             common::Duration interval)
    : sources_(std::move(sources)), window_(window), interval_(interval) {}

TrafficWindow::Snapshot TrafficWindow::take(common::MonotonicTime now) const {
  Snapshot snap{now, {}};
  snap.sources.resize(sources_.size());
  for (size_t s = 0; s < sources_.size(); ++s) {
    const Source& source = sources_[s];
    SourceSnapshot& out = snap.sources[s];
    if (source.requests != nullptr) {
      for (const prometheus::MetricFamily& family : source.requests->Collect()) {
        for (const prometheus::ClientMetric& m : family.metric) {
          Totals& t = out[keyOf(m, source.key_labels)];
          const uint64_t n = counterValue(m.counter.value);
          t.requests += n;
          if (isError(labelValue(m, "code"))) t.errors += n;
        }
      }
    }
    if (source.duration != nullptr) {
      for (const prometheus::MetricFamily& family : source.duration->Collect()) {
        for (const prometheus::ClientMetric& m : family.metric) {
          Totals& t = out[keyOf(m, source.key_labels)];
          t.upper_bounds.clear();
          t.cumulative.clear();
          for (const prometheus::ClientMetric::Bucket& b : m.histogram.bucket) {
            t.upper_bounds.push_back(b.upper_bound);
            t.cumulative.push_back(b.cumulative_count);
          }
        }
      }
    }
  }
  return snap;
}

void TrafficWindow::keep(Snapshot snapshot) {
  if (!snapshots_.empty() && snapshot.time - snapshots_.back().time < interval_) return;
  const common::MonotonicTime now = snapshot.time;
  snapshots_.push_back(std::move(snapshot));
  // Kept: everything younger than the window, and the youngest one older than it (the baseline
  // while the next one ages into place).
  while (snapshots_.size() > 1 && now - snapshots_[1].time >= window_) snapshots_.pop_front();
}

void TrafficWindow::sample(common::MonotonicTime now) {
  Snapshot snap = take(now);
  std::lock_guard<std::mutex> lock(mutex_);
  keep(std::move(snap));
}

TrafficWindow::Result TrafficWindow::query(common::MonotonicTime now) {
  Snapshot current = take(now);
  std::lock_guard<std::mutex> lock(mutex_);
  // The baseline: the youngest snapshot at least a window old, else the oldest one; one older
  // than a window and an interval means sampling stopped for a while, so it is not used.
  const Snapshot* base = nullptr;
  for (const Snapshot& s : snapshots_) {
    if (now - s.time > window_ + interval_) continue;
    if (base == nullptr || now - s.time >= window_) base = &s;
    if (now - s.time <= window_) break;
  }
  Result result;
  const double seconds =
      base != nullptr ? std::chrono::duration<double>(now - base->time).count() : 0.0;
  result.window_seconds = seconds;
  result.sources.resize(sources_.size());
  for (size_t s = 0; s < sources_.size(); ++s) {
    for (const auto& [key, totals] : current.sources[s]) {
      Series series;
      series.key = key;
      const Totals* then = nullptr;
      if (base != nullptr) {
        auto it = base->sources[s].find(key);
        if (it != base->sources[s].end()) then = &it->second;
      }
      if (base != nullptr) {
        series.requests = minus(totals.requests, then != nullptr ? then->requests : 0);
        series.errors = minus(totals.errors, then != nullptr ? then->errors : 0);
        std::vector<uint64_t> delta = totals.cumulative;
        if (then != nullptr && then->upper_bounds == totals.upper_bounds) {
          for (size_t i = 0; i < delta.size(); ++i) delta[i] = minus(delta[i], then->cumulative[i]);
        }
        if (seconds > 0)
          series.requests_per_second = static_cast<double>(series.requests) / seconds;
        if (series.requests > 0) {
          series.error_ratio =
              static_cast<double>(series.errors) / static_cast<double>(series.requests);
          series.p95_seconds = histogramQuantile(0.95, totals.upper_bounds, delta);
        }
      }
      result.sources[s].push_back(std::move(series));
    }
  }
  keep(std::move(current));
  return result;
}

}  // namespace switchyard::stats
