// Figures for a monitoring system: GET /metrics answers in Prometheus text
// format (prometheus-cpp's registry and serializer). One registry per
// process; each part adds its families where it counts, the first time:
//
//   static auto& frames = metrics::counter("oriel_display_frames_total", "Frames sent to browsers");
//   frames.Add({}).Increment();
//
// Figures that describe state (desktops by state, host capacity) are made
// at each scrape instead, as a Snapshot, and passed to scrape().
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace oriel::metrics {

using Labels = std::map<std::string, std::string>;

prometheus::Registry& registry();

// The family of that name in registry(), made on first use. Call once per
// family (a function-local static) and keep the reference.
prometheus::Family<prometheus::Counter>& counter(const std::string& name, const std::string& help);
prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help);
prometheus::Family<prometheus::Histogram>& histogram(const std::string& name, const std::string& help);

// Histogram buckets, in seconds: 0.5 ms to 30 s, for request and step latencies.
const prometheus::Histogram::BucketBoundaries& seconds_buckets();

// Gauges computed at a scrape: value per label set, families in the order
// first named.
class Snapshot {
 public:
  void set(const std::string& name, const std::string& help, const Labels& labels, double value);
  // Adds to the value already set for these labels (a count).
  void add(const std::string& name, const std::string& help, const Labels& labels, double value);
  std::vector<prometheus::MetricFamily> take() {
    index_.clear();
    families_of_.clear();
    return std::move(families_);
  }

 private:
  prometheus::ClientMetric& metric(const std::string& name, const std::string& help, const Labels& labels);
  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, size_t> families_of_;                                  // name → index in families_
  std::map<std::pair<std::string, Labels>, std::pair<size_t, size_t>> index_;  // → family, metric
};

// The text of a scrape: registry(), the process's own figures (CPU seconds,
// resident memory, open descriptors, start time: the standard process_*
// names), and `state`.
std::string scrape(std::vector<prometheus::MetricFamily> state);

}  // namespace oriel::metrics
