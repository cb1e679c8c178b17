#pragma once

#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::stats {

// A latency histogram on the request path, exported in the Prometheus histogram format.
// prometheus::Histogram takes a mutex and three compare-and-swap loops per observation; this
// one does two relaxed atomic additions (the bucket and the sum, kept in integer nanoseconds) and
// a search of the bounds, also compared as integers. Several workers may record into one.
// A scrape reads the buckets one by one: the count is always their total, the sum may lag an
// observation in flight.
class LatencyHistogram {
 public:
  // `bounds` in seconds, ascending; an implicit +Inf bucket follows them.
  explicit LatencyHistogram(const std::vector<double>& bounds);

  void observe(common::Duration d) {
    const int64_t ns = d.count();
    size_t i = 0;
    while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  }

  // Cumulative counts per bound (the last one is +Inf), the total, and the sum in seconds.
  prometheus::ClientMetric::Histogram snapshot() const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> bounds_ns_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<int64_t> sum_ns_{0};
};

// The labelled histograms of one metric name, registered with the admin listener's /metrics
// beside the prometheus-cpp registry. Add() is thread-safe and returns the same histogram for
// the same labels; histograms live as long as the family.
class LatencyHistogramFamily final : public prometheus::Collectable {
 public:
  LatencyHistogramFamily(std::string name, std::string help, std::vector<double> bounds);

  LatencyHistogram& Add(const prometheus::Labels& labels);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<prometheus::Labels, std::unique_ptr<LatencyHistogram>> histograms_;
};

}  // namespace switchyard::stats
