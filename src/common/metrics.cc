#include "oriel/common/metrics.h"

#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace oriel::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily process_gauge(const std::string& name, const std::string& help, MetricType type, double value) {
  MetricFamily f{name, help, type, {}};
  ClientMetric m;
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(m);
  return f;
}

// From /proc/self: CPU time (utime + stime, fields 14 and 15 of stat), the
// start time (field 22, in ticks since boot), resident pages (statm), and
// the descriptors in fd/.
std::vector<MetricFamily> process_families() {
  std::vector<MetricFamily> out;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces: count fields after its ')'.
  std::istringstream fields(stat.substr(std::min(stat.size(), stat.rfind(')') + 2)));
  std::vector<std::string> f((std::istream_iterator<std::string>(fields)), std::istream_iterator<std::string>());
  if (f.size() > 19) {
    double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // fields 14, 15
    out.push_back(process_gauge("process_cpu_seconds_total", "User and system CPU time", MetricType::Counter, cpu));
    std::ifstream uptime_file("/proc/uptime");
    double uptime = 0;
    uptime_file >> uptime;
    double started = static_cast<double>(::time(nullptr)) - uptime + std::stod(f[19]) / ticks;  // field 22
    out.push_back(
        process_gauge("process_start_time_seconds", "Start time, seconds since the epoch", MetricType::Gauge, started));
  }
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  if (statm >> size >> resident) {
    double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    out.push_back(
        process_gauge("process_resident_memory_bytes", "Resident memory", MetricType::Gauge, resident * page));
    out.push_back(process_gauge("process_virtual_memory_bytes", "Virtual memory", MetricType::Gauge, size * page));
  }
  std::error_code ec;
  auto fds = std::distance(std::filesystem::directory_iterator("/proc/self/fd", ec), {});
  out.push_back(
      process_gauge("process_open_fds", "Open file descriptors", MetricType::Gauge, static_cast<double>(fds)));
  return out;
}

}  // namespace

prometheus::Registry& registry() {
  static auto* r = new prometheus::Registry();  // never destroyed: counted into until exit
  return *r;
}

prometheus::Family<prometheus::Counter>& counter(const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry());
}

prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry());
}

prometheus::Family<prometheus::Histogram>& histogram(const std::string& name, const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry());
}

const prometheus::Histogram::BucketBoundaries& seconds_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                  0.25,   0.5,   1,      2.5,   5,    10,    30};
  return buckets;
}

ClientMetric& Snapshot::metric(const std::string& name, const std::string& help, const Labels& labels) {
  // A scrape adds one per desktop: found by index, not by a search.
  auto [at, added] = index_.try_emplace({name, labels});
  if (added) {
    auto family = families_of_.try_emplace(name, families_.size()).first->second;
    if (family == families_.size()) families_.push_back({name, help, MetricType::Gauge, {}});
    auto& metrics = families_[family].metric;
    auto& m = metrics.emplace_back();
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    at->second = {family, metrics.size() - 1};
  }
  return families_[at->second.first].metric[at->second.second];
}

void Snapshot::set(const std::string& name, const std::string& help, const Labels& labels, double value) {
  metric(name, help, labels).gauge.value = value;
}

void Snapshot::add(const std::string& name, const std::string& help, const Labels& labels, double value) {
  metric(name, help, labels).gauge.value += value;
}

std::string scrape(std::vector<prometheus::MetricFamily> state) {
  auto families = registry().Collect();
  for (auto& f : process_families()) families.push_back(std::move(f));
  for (auto& f : state) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace oriel::metrics
