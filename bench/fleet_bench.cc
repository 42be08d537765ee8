// Fleet figures on real processes: orield controllers and agents in network
// namespaces (TestCluster, as in the integration tests), real QEMU, a real
// PostgreSQL for the leader figure.
//   scheduler  10,000 placements over 1,000 host records (in-process), spread and pack
//   failover   a host killed outright (agent and QEMUs) -> its desktop running on another host
//   leader     kill -9 of the leading controller -> the other controller leads
//   migration  live migration of an idle desktop between namespaced hosts, through the API,
//              with a display client attached: QEMU's downtime and total, the time the API
//              takes, and how long after the switchover the client gets the new host's screen
//
//   build/bin/fleet_bench [--only scheduler|failover|leader|migration] [--runs 3] [--memory 1024]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cluster.h"
#include "display_client.h"
#include "pg_test_server.h"
#include "scheduler.h"

using namespace oriel;
using namespace oriel::testing;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

struct Options {
  std::string only;
  int runs = 3;
  int memory_mb = 1024;
};

using bench::ms_since;
using bench::percentile;

std::string summary(const std::vector<double>& v) {
  return fmt::format("median {:.0f} ms, min {:.0f}, max {:.0f} ({} runs)", percentile(v, 50), percentile(v, 0),
                     percentile(v, 100), v.size());
}

void must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

void scheduler_figures() {
  for (auto policy : {controller::PlacementPolicy::kSpread, controller::PlacementPolicy::kPack}) {
    controller::Scheduler scheduler({4.0, 1.0, policy});
    std::vector<controller::HostLoad> hosts(1000);
    for (size_t i = 0; i < hosts.size(); ++i) {
      hosts[i].host.id = fmt::format("h-{:04}", i);
      hosts[i].host.state = i % 50 == 0 ? "maintenance" : "ready";
      hosts[i].host.cpus = 32 + static_cast<int64_t>(i % 4) * 16;
      hosts[i].host.memory_mb = 262144;
    }
    auto started = Steady::now();
    int placed = 0;
    for (int d = 0; d < 10000; ++d) {
      controller::Demand demand{1 + d % 4, 2048 + (d % 3) * 2048};
      auto host = scheduler.place(hosts, demand);
      if (!host.ok()) continue;
      for (auto& h : hosts) {
        if (h.host.id != *host) continue;
        h.vcpus += demand.vcpus;
        h.memory_mb += demand.memory_mb;
        break;
      }
      ++placed;
    }
    std::printf("scheduler (%s): %d of 10000 desktops placed over 1000 hosts in %.0f ms\n",
                policy == controller::PlacementPolicy::kSpread ? "spread" : "pack", placed, ms_since(started));
  }
}

std::string host_state(net::ApiClient& api, const std::string& name) {
  Json hosts = api.get("/api/v1/hosts").value();
  for (const auto& h : hosts) {
    if (h["name"] == name) return h["state"];
  }
  return "";
}

void failover_figures(const Options& o) {
  TestCluster cluster(3);
  cluster.start();
  auto admin = cluster.admin();
  std::string image = import_test_guest(admin, "bench-guest");
  std::vector<double> running, booted;
  for (int run = 0; run < o.runs; ++run) {
    std::string d = running_desktop(admin, image, fmt::format("failover-{}", run));
    int victim = cluster.host_running(d);
    must(victim >= 0, "the desktop runs nowhere");
    std::string victim_id = admin.get("/api/v1/desktops/" + d).value()["host_id"];
    auto killed = Steady::now();
    cluster.kill_host(victim);
    must(wait_until(
             [&] {
               Json j = admin.get("/api/v1/desktops/" + d).value();
               return j["state"] == "running" && j["host_id"] != victim_id;
             },
             120s),
         "the desktop did not come back");
    running.push_back(ms_since(killed));
    must(wait_for_text(cluster.serial_log(d), "ORIEL-GUEST-READY", 60s), "the guest did not boot again");
    booted.push_back(ms_since(killed));
    cluster.start_agent(victim);
    must(wait_until([&] { return host_state(admin, cluster.host_name(victim)) == "ready"; }, 60s), "host not back");
  }
  std::printf("host killed -> desktop running on another host (API): %s\n", summary(running).c_str());
  std::printf("host killed -> guest booted on another host (serial):  %s\n", summary(booted).c_str());
}

void leader_figures(const Options& o) {
  auto pg = test_support::PgTestServer::start();
  must(pg.ok(), pg.ok() ? "" : pg.error().message());
  auto db = (*pg)->create_database();
  must(db.ok(), "no database");
  TestCluster cluster(1, {"--database", (*pg)->conninfo(*db)}, 2);
  cluster.start();
  std::vector<double> takeover;
  for (int run = 0; run < o.runs; ++run) {
    must(wait_until([&] { return leads(cluster.controller(0)) != leads(cluster.controller(1)); }, 30s), "no leader");
    int leader = leads(cluster.controller(0)) ? 0 : 1;
    auto killed = Steady::now();
    cluster.controller(leader).kill9();
    must(wait_until([&] { return leads(cluster.controller(1 - leader)); }, 30s), "no takeover");
    takeover.push_back(ms_since(killed));
    cluster.controller(leader).start();
  }
  std::printf("leader controller killed -> the other leads: %s\n", summary(takeover).c_str());
}

void migration_figures(const Options& o) {
  TestCluster cluster(2);
  cluster.start();
  auto admin = cluster.admin();
  std::string image = import_test_guest(admin, "bench-guest");
  LoggedOnUser user = cluster.log_on_new_user(0, image, "bench", "persistent", 0, {{"memory_mb", o.memory_mb}});
  std::string d = user.desktop_id;
  DisplayClient client(user.display_url, user.tls);
  must(client.hello_and_frames(1), "display: " + client.error());
  std::vector<double> downtime, total, api_total, display;
  for (int run = 0; run < o.runs; ++run) {
    client.follow(1s);  // idle: whatever was on its way has arrived
    std::string from = admin.get("/api/v1/desktops/" + d).value()["host_id"];
    auto asked = Steady::now();
    Reply r = call(admin, "POST", "/api/v1/desktops/" + d + "/actions/migrate", Json::object());
    must(r.status == 202, "migrate: " + r.body);
    Json j;
    for (;;) {
      must(ms_since(asked) < 120000, "the migration did not end");
      j = admin.get("/api/v1/desktops/" + d).value();
      if (j["state"] != "migrating") break;
      must(client.follow(10ms), "display cut off: " + client.error());
    }
    auto seen = Steady::now();
    must(j["host_id"] != from && j["migration"]["state"] == "completed", "not moved: " + j.dump());
    api_total.push_back(std::chrono::duration<double, std::milli>(seen - asked).count());
    downtime.push_back(j["migration"]["downtime_ms"].get<double>());
    total.push_back(j["migration"]["total_time_ms"].get<double>());
    // The gateway reconnects to the new host and sends the whole screen.
    int frames = client.frames();
    while (client.frames() == frames && ms_since(seen) < 10000) must(client.follow(5ms), client.error());
    display.push_back(ms_since(seen));
  }
  std::printf("live migration of an idle %d MiB desktop between namespaced hosts:\n", o.memory_mb);
  std::printf("  guest downtime (QEMU):           %s\n", summary(downtime).c_str());
  std::printf("  migration total (QEMU):          %s\n", summary(total).c_str());
  std::printf("  request -> running on target:    %s\n", summary(api_total).c_str());
  std::printf("  display: new host's screen after: %s (after the switchover was seen)\n", summary(display).c_str());
  std::printf("  display client connected throughout: %s\n", client.connected() ? "yes" : "no");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--only") {
      o.only = next();
    } else if (a == "--runs") {
      o.runs = std::max(1, std::stoi(next()));
    } else if (a == "--memory") {
      o.memory_mb = std::stoi(next());
    } else {
      std::fprintf(stderr,
                   "usage: fleet_bench [--only scheduler|failover|leader|migration] [--runs N] [--memory MiB]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  try {
    if (o.only.empty() || o.only == "scheduler") scheduler_figures();
    if (o.only.empty() || o.only == "leader") leader_figures(o);
    if (o.only.empty() || o.only == "migration") migration_figures(o);
    if (o.only.empty() || o.only == "failover") failover_figures(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleet_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
