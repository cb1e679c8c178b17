#include "proxy/stats/histogram.h"

#include <cmath>
#include <limits>

namespace switchyard::stats {

LatencyHistogram::LatencyHistogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  bounds_ns_.reserve(bounds.size());
  for (double b : bounds) bounds_ns_.push_back(static_cast<int64_t>(std::llround(b * 1e9)));
  for (size_t i = 0; i <= bounds.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

prometheus::ClientMetric::Histogram LatencyHistogram::snapshot() const {
  prometheus::ClientMetric::Histogram h;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
    h.bucket.push_back(b);
  }
  h.sample_count = cumulative;
  h.sample_sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return h;
}

LatencyHistogramFamily::LatencyHistogramFamily(std::string name, std::string help,
                                               std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}

LatencyHistogram& LatencyHistogramFamily::Add(const prometheus::Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = histograms_[labels];
  if (slot == nullptr) slot = std::make_unique<LatencyHistogram>(bounds_);
  return *slot;
}

std::vector<prometheus::MetricFamily> LatencyHistogramFamily::Collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (histograms_.empty()) return {};  // as prometheus-cpp's families: no series, no family
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Histogram;
  for (const auto& [labels, histogram] : histograms_) {
    prometheus::ClientMetric metric;
    for (const auto& [name, value] : labels) metric.label.push_back({name, value});
    metric.histogram = histogram->snapshot();
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace switchyard::stats
