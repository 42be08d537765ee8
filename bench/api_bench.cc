// Foundation figures: desktop create latency, provisioning throughput, list
// latency at 1,000 desktops, boot to ready, orield memory with 20 running
// desktops. Each is printed beside the floor that plain QEMU tools reach on
// the same machine in the same run (qemu-img create, a bare qemu start).
//   build/bin/api_bench [--running 20]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "bench_util.h"
#include "harness.h"

using namespace oriel;
using namespace oriel::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using bench::ms_since;
using bench::percentile;

std::string create(net::ApiClient& api, const std::string& image, const std::string& name, bool start) {
  auto d = api.post("/api/v1/desktops",
                    {{"name", name}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 256}, {"start", start}});
  if (!d.ok()) throw std::runtime_error(d.error().message());
  return (*d)["id"];
}

size_t count_in_state(net::ApiClient& api, const std::string& state) {
  auto all = api.get("/api/v1/desktops").value();
  return static_cast<size_t>(std::count_if(all.begin(), all.end(), [&](const Json& d) { return d["state"] == state; }));
}

// The floor: qemu-img creating one overlay by hand.
double qemu_img_overlay_ms(const std::string& golden, const std::string& dir) {
  auto t = Clock::now();
  std::string cmd = "qemu-img create -q -f qcow2 -F qcow2 -b " + golden + " " + dir + "/floor.qcow2";
  if (std::system(cmd.c_str()) != 0) return -1;
  return ms_since(t);
}

// The floor: QEMU started by hand on the same test guest, to its ready line.
double bare_qemu_boot_ms(const TestGuest& g, const std::string& dir) {
  std::string serial = dir + "/bare-serial.log";
  std::remove(serial.c_str());
  std::string cmd = "qemu-img create -q -f qcow2 -F raw -b " + g.disk + " " + dir +
                    "/bare.qcow2 && "
                    "qemu-system-x86_64 -accel tcg,thread=multi -M q35 -m 256 -nodefaults -vga std -display none "
                    "-kernel " +
                    g.kernel + " -initrd " + g.initrd + " -append '" + g.cmdline +
                    "' "
                    "-drive file=" +
                    dir + "/bare.qcow2,if=virtio,format=qcow2 -serial file:" + serial + " -daemonize -pidfile " + dir +
                    "/bare.pid";
  auto t = Clock::now();
  if (std::system(cmd.c_str()) != 0) return -1;
  bool ok = wait_for_text(serial, "ORIEL-GUEST-READY", 30s);
  double ms = ms_since(t);
  std::system(("kill $(cat " + dir + "/bare.pid)").c_str());
  return ok ? ms : -1;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long kb = -1;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> kb;
      break;
    }
    in.ignore(4096, '\n');
  }
  return kb;
}

}  // namespace

int main(int argc, char** argv) {
  int running_target = argc > 2 && std::string(argv[1]) == "--running" ? std::atoi(argv[2]) : 20;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string scratch = make_temp_dir("bench");
  // 20 idle 1-vCPU desktops on a 2-core machine need more than the default 4x CPU overcommit.
  Orield orield({"--cpu-overcommit", "16"});
  orield.start();
  auto api = orield.admin();
  TestGuest guest = TestGuest::locate();
  std::string image = import_test_guest(api, "bench-guest");
  std::string golden = api.get("/api/v1/images/" + image).value()["id"];
  golden = orield.data_dir() + "/images/" + golden + "/disk.qcow2";
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("machine: %ld cores, accelerator tcg, orield %s\n\n", cpus, orield.url().c_str());

  // 1. Create+register latency, and 100 desktops provisioned (overlay made, not booted).
  std::vector<double> create_ms;
  auto t100 = Clock::now();
  for (int i = 0; i < 100; ++i) {
    auto t = Clock::now();
    create(api, image, "p" + std::to_string(i), false);
    create_ms.push_back(ms_since(t));
  }
  wait_until([&] { return count_in_state(api, "stopped") == 100; }, 120s);
  double provision_ms = ms_since(t100);
  std::printf("create+register via API: median %.2f ms, p95 %.2f ms   (floor: qemu-img create overlay %.2f ms)\n",
              percentile(create_ms, 50), percentile(create_ms, 95), qemu_img_overlay_ms(golden, scratch));
  std::printf("100 desktops provisioned (linked clones, not booted): %.2f s\n", provision_ms / 1000);

  // 2. List latency with 1,000 desktops in the store.
  for (int i = 100; i < 1000; ++i) create(api, image, "p" + std::to_string(i), false);
  auto t900 = Clock::now();
  wait_until([&] { return count_in_state(api, "stopped") == 1000; }, 300s);
  std::printf("900 more provisioned: %.2f s after the last create\n", ms_since(t900) / 1000);
  if (api.get("/api/v1/desktops").value().size() != 1000) throw std::runtime_error("list returned the wrong count");
  // Timed as a client sees the answer arrive (status + body), without the
  // client's own JSON parsing of the 1,000 objects.
  std::vector<double> list_ms;
  for (int i = 0; i < 200; ++i) {
    auto t = Clock::now();
    auto all = api.request("GET", "/api/v1/desktops", "");
    list_ms.push_back(ms_since(t));
    if (!all.ok() || all->status != 200) throw std::runtime_error("list failed");
  }
  std::printf("GET /api/v1/desktops, 1000 desktops: p50 %.2f ms, p99 %.2f ms\n", percentile(list_ms, 50),
              percentile(list_ms, 99));

  // 3. Start to ready on serial, five times; beside a bare QEMU start.
  std::vector<double> boot_ms;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    std::string id = create(api, image, "boot" + std::to_string(i), true);
    if (!wait_for_text(orield.serial_log(id), "ORIEL-GUEST-READY", 60s)) throw std::runtime_error("no boot");
    boot_ms.push_back(ms_since(t));
    (void)api.del("/api/v1/desktops/" + id);
  }
  std::printf("test guest, API start to ready on serial (TCG): median %.2f s, max %.2f s   (floor: bare qemu %.2f s)\n",
              percentile(boot_ms, 50) / 1000, percentile(boot_ms, 100) / 1000,
              bare_qemu_boot_ms(guest, scratch) / 1000);

  // 4. orield's own memory with N running desktops.
  std::vector<std::string> ids;
  for (int i = 0; i < running_target; ++i) ids.push_back(create(api, image, "run" + std::to_string(i), true));
  wait_until([&] { return static_cast<int>(count_in_state(api, "running")) == running_target; }, 300s);
  for (const auto& id : ids) wait_for_text(orield.serial_log(id), "ORIEL-GUEST-READY", 120s);
  std::printf("orield RSS with %d running desktops (QEMU excluded): %.1f MiB\n", running_target,
              static_cast<double>(rss_kib(orield.pid())) / 1024);
  for (const auto& id : ids) (void)api.del("/api/v1/desktops/" + id);
  wait_until([&] { return count_in_state(api, "running") == 0; }, 120s);
  std::system(("rm -rf " + scratch).c_str());
  return 0;
}
