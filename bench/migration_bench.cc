// Live migration of an idle test guest (1 GiB by default) between two
// LocalAgents on loopback, back and forth: QEMU's own downtime, total and
// setup times for Oriel's parameters (downtime limit 50 ms, auto-converge,
// no bandwidth cap) and, in the same run and alternating with them, for
// QEMU's defaults (300 ms, no auto-converge, 128 MiB/s). Optionally the
// same with the disk copied (--copy-runs N: local-disk mode over NBD).
//
//   migration_bench [--runs N] [--memory MiB] [--copy-runs N]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "bench_util.h"
#include "harness.h"
#include "oriel/agent/local_agent.h"
#include "oriel/common/log.h"
#include "oriel/common/process.h"

namespace oriel::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::read_file;
namespace fs = std::filesystem;

constexpr const char* kVm = "d-bench";

struct Options {
  int runs = 5;
  int memory_mb = 1024;
  int copy_runs = 0;
};

template <typename T>
T must(Result<T> r, std::string_view what) {
  if (!r.ok()) throw std::runtime_error(fmt::format("{}: {}", what, r.error().message()));
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}

std::string machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown cpu";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return fmt::format("{} cores, {}, {:.1f} GiB RAM, accelerator tcg (-accel tcg,thread=multi)",
                     sysconf(_SC_NPROCESSORS_ONLN), model,
                     static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / (1 << 30));
}

double load_average() {
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

std::string qemu_version(ProcessRunner& runner) {
  auto r = runner.run({"qemu-system-x86_64", "--version"}, {.timeout = 10s});
  if (!r.ok()) return "unknown";
  return r->out.substr(0, r->out.find('\n'));
}

struct Sample {
  agent::MigrationProgress p;
  double wall_ms = 0;  // migrate() until the source QEMU is gone
};

struct Config {
  std::string name;
  agent::MigrationOptions options;
  agent::MigrationStorage storage = agent::MigrationStorage::kShared;
  std::vector<Sample> samples;
};

// Two hosts, and the guest on one of them.
class Bench {
 public:
  Bench(ProcessRunner& runner, const Options& o) : runner_(runner), o_(o) {
    dir_ = testing::make_temp_dir("migbench");
    guest_ = testing::TestGuest::locate();
    golden_ = dir_ + "/golden.qcow2";
    auto converted = must(runner_.run({"qemu-img", "convert", "-O", "qcow2", guest_.disk, golden_}, {.timeout = 60s}),
                          "qemu-img convert");
    if (converted.exit_code != 0) throw std::runtime_error("qemu-img convert failed: " + converted.err);
    for (int i = 0; i < 2; ++i) {
      std::string name = i == 0 ? "a" : "b";
      hosts_[i] = std::make_unique<agent::LocalAgent>(
          runner_, agent::LocalAgentOptions{.host_name = name,
                                            .run_dir = dir_ + "/" + name + "/run",
                                            .disks_dir = dir_ + "/" + name + "/disks",
                                            .accelerator = {agent::Accelerator::kTcg, "benchmark"}});
      must(hosts_[i]->start(), "agent start");
    }
  }

  ~Bench() {
    for (auto& h : hosts_) {
      (void)h->abort_incoming(kVm);
      (void)h->kill_vm(kVm);
      h->stop();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Boots the guest on host A and lets it settle (READY, then the display
  // driver loads): idle from then on.
  void boot() {
    must(hosts_[0]->create_disk(kVm, golden_), "create disk");
    spec_.id = kVm;
    spec_.name = kVm;
    spec_.memory_mb = o_.memory_mb;
    spec_.disk_path = hosts_[0]->disk_path(kVm);
    spec_.boot = {agent::BootSpec::Kind::kDirectKernel, guest_.kernel, guest_.initrd, guest_.cmdline};
    spec_.network.mode = agent::NetworkSpec::Mode::kNone;
    must(hosts_[0]->start_vm(spec_), "start the guest");
    std::string serial = agent::VmPaths::in(dir_ + "/a/run", kVm).serial_log;
    if (!testing::wait_for_text(serial, "ORIEL-GUEST-READY", 120s)) {
      throw std::runtime_error("the guest did not boot; serial log:\n" + read_file(serial));
    }
    std::this_thread::sleep_for(5s);
  }

  // Moves the guest to the other host; returns QEMU's figures.
  Sample migrate(const Config& c) {
    auto& from = *hosts_[here_];
    auto& to = *hosts_[1 - here_];
    agent::IncomingRequest request{.spec = spec_, .storage = c.storage, .golden_path = golden_};
    auto target = must(to.prepare_incoming(request), "prepare_incoming");
    auto start = Clock::now();
    must(from.migrate(kVm, target, c.options), "migrate");
    auto p = must(from.wait_for_migration(kVm, 300s), "wait for the migration");
    double wall = ms_since(start);
    if (p.state != agent::MigrationState::kCompleted) {
      throw std::runtime_error("migration did not complete: " + p.to_json().dump());
    }
    must(to.finish_incoming(kVm, 30s), "finish_incoming");
    if (c.storage == agent::MigrationStorage::kCopy) {
      must(from.delete_disk(kVm), "delete the source's disk");  // so the guest can come back
      spec_.disk_path = to.disk_path(kVm);
    }
    here_ = 1 - here_;
    return {p, wall};
  }

 private:
  ProcessRunner& runner_;
  Options o_;
  std::string dir_, golden_;
  testing::TestGuest guest_;
  std::unique_ptr<agent::LocalAgent> hosts_[2];
  agent::VmSpec spec_;
  int here_ = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void print_sample(const Config& c, int run, const Sample& s) {
  const auto& p = s.p;
  std::printf("  %-13s run %d: downtime %3lld ms, total %5lld ms, setup %3lld ms, RAM sent %5.1f MiB in %lld passes "
              "(%.0f Mbit/s)%s, migrate() to source gone %5.0f ms\n",
              c.name.c_str(), run, static_cast<long long>(p.downtime_ms), static_cast<long long>(p.total_time_ms),
              static_cast<long long>(p.setup_time_ms), static_cast<double>(p.ram_transferred_bytes) / (1 << 20),
              static_cast<long long>(p.dirty_sync_count), p.throughput_mbps,
              p.disk_total_bytes > 0
                  ? fmt::format(", disk {:.1f} MiB", static_cast<double>(p.disk_total_bytes) / (1 << 20)).c_str()
                  : "",
              s.wall_ms);
}

void print_summary(const Config& c) {
  std::vector<double> down, total, setup, wall;
  for (const auto& s : c.samples) {
    down.push_back(static_cast<double>(s.p.downtime_ms));
    total.push_back(static_cast<double>(s.p.total_time_ms));
    setup.push_back(static_cast<double>(s.p.setup_time_ms));
    wall.push_back(s.wall_ms);
  }
  auto range = [](const std::vector<double>& v) {
    return fmt::format("median {:.0f} ms (min {:.0f}, max {:.0f})", median(v), *std::min_element(v.begin(), v.end()),
                       *std::max_element(v.begin(), v.end()));
  };
  const auto& o = c.options;
  std::printf("%s [downtime-limit %d ms, auto-converge %s, max-bandwidth %s, %s storage], %zu runs:\n", c.name.c_str(),
              o.downtime_limit_ms, o.auto_converge ? "on" : "off",
              o.max_bandwidth_bytes_per_s >= agent::MigrationOptions::kUnlimited
                  ? "unlimited"
                  : fmt::format("{} MiB/s", o.max_bandwidth_bytes_per_s >> 20).c_str(),
              std::string(agent::migration_storage_name(c.storage)).c_str(), c.samples.size());
  std::printf("  downtime %s\n  total    %s\n  setup    %s\n  migrate() to source QEMU gone %s\n", range(down).c_str(),
              range(total).c_str(), range(setup).c_str(), range(wall).c_str());
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--runs") o.runs = std::stoi(next());
    else if (a == "--memory") o.memory_mb = std::stoi(next());
    else if (a == "--copy-runs") o.copy_runs = std::stoi(next());
    else throw std::runtime_error("usage: migration_bench [--runs N] [--memory MiB] [--copy-runs N]");
  }
  return o;
}

}  // namespace
}  // namespace oriel::bench

int main(int argc, char** argv) try {
  using namespace oriel;
  using namespace oriel::bench;
  Options o = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  spdlog::set_level(spdlog::level::warn);
  SystemProcessRunner runner;
  std::printf("machine: %s\nqemu: %s\nguest: Oriel test guest, %d MiB RAM, 1 vCPU, idle; loopback, "
              "two agents in one process\nload average at start: %.2f\n\n",
              machine().c_str(), qemu_version(runner).c_str(), o.memory_mb, load_average());
  Config oriel{"oriel", agent::MigrationOptions{}};
  Config qemu{"qemu-defaults", agent::MigrationOptions::qemu_defaults()};
  Config copy{"oriel-copy", agent::MigrationOptions{}, agent::MigrationStorage::kCopy};
  Bench bench(runner, o);
  bench.boot();
  // Alternating, so that a change in the machine's load hits both alike.
  for (int run = 1; run <= o.runs; ++run) {
    for (Config* c : {&oriel, &qemu}) {
      c->samples.push_back(bench.migrate(*c));
      print_sample(*c, run, c->samples.back());
    }
  }
  for (int run = 1; run <= o.copy_runs; ++run) {
    copy.samples.push_back(bench.migrate(copy));
    print_sample(copy, run, copy.samples.back());
  }
  std::printf("\n");
  print_summary(oriel);
  print_summary(qemu);
  if (!copy.samples.empty()) print_summary(copy);
  std::printf("load average at end: %.2f\n", load_average());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "migration_bench: %s\n", e.what());
  return 2;
}
