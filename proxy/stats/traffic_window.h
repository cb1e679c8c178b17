#pragma once

// Recent traffic from the sidecar's own counters, for the operations console: request rate,
// error ratio and p95 latency of each route version and each cluster over the last minute,
// without Prometheus.
//
// The counters are cumulative, so the window keeps snapshots of them: sample() records one when
// `interval` has passed since the last (the main loop calls it every few seconds; query() does
// too), and query() compares the counters now with the snapshot nearest `window` ago. Right
// after start, or after a long pause in sampling, the window covers less than `window` and says
// so. The p95 comes from the histogram's buckets, interpolated linearly within the bucket the
// 95th percentile falls in (as PromQL's histogram_quantile does).
//
// Thread-safe: sample() and query() take a mutex; they read the families the way a scrape does.

#include <prometheus/collectable.h>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::stats {

// The responses of the series of a counter family labelled with `code` whose label `label` is
// `value`, summed since the start: all of them, and the errors among them (5xx, and "0": no
// response). What TrafficWindow counts, without a window.
struct ResponseTotals {
  uint64_t requests = 0;
  uint64_t errors = 0;
};
ResponseTotals countResponses(const prometheus::Collectable& requests, const std::string& label,
                              const std::string& value);

class TrafficWindow {
 public:
  // One kind of series: a counter family labelled with `code` ("0": no response) and the
  // histogram family of the same series without it. A series is named by the values of
  // `key_labels`, in order.
  struct Source {
    const prometheus::Collectable* requests = nullptr;
    const prometheus::Collectable* duration = nullptr;
    std::vector<std::string> key_labels;
  };
  struct Series {
    std::vector<std::string> key;  // the values of the source's key_labels
    uint64_t requests = 0;         // in the window
    uint64_t errors = 0;           // 5xx, and attempts without a response
    double requests_per_second = 0;
    std::optional<double> error_ratio;  // none without requests
    std::optional<double> p95_seconds;  // none without requests
  };
  struct Result {
    double window_seconds = 0;                 // what the figures cover
    std::vector<std::vector<Series>> sources;  // per source, by key
  };

  TrafficWindow(std::vector<Source> sources, common::Duration window, common::Duration interval);

  void sample(common::MonotonicTime now);
  Result query(common::MonotonicTime now);

  common::Duration window() const { return window_; }

 private:
  struct Totals {
    uint64_t requests = 0;
    uint64_t errors = 0;
    std::vector<double> upper_bounds;  // of the histogram's buckets, +Inf last
    std::vector<uint64_t> cumulative;  // counts at those bounds
  };
  using SourceSnapshot = std::map<std::vector<std::string>, Totals>;
  struct Snapshot {
    common::MonotonicTime time;
    std::vector<SourceSnapshot> sources;
  };

  Snapshot take(common::MonotonicTime now) const;
  void keep(Snapshot snapshot);

  const std::vector<Source> sources_;
  const common::Duration window_;
  const common::Duration interval_;
  std::mutex mutex_;
  std::deque<Snapshot> snapshots_;  // oldest first
};

// The value at quantile `q` (0..1) of a histogram given as cumulative counts at ascending upper
// bounds (+Inf last); none when it is empty. Falls in the +Inf bucket: the highest finite bound.
std::optional<double> histogramQuantile(double q, const std::vector<double>& upper_bounds,
                                        const std::vector<uint64_t>& cumulative);

}  // namespace switchyard::stats
