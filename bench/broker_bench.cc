// Broker figures: a logon storm (1,000 logons against pools of free
// desktops), a 500-desktop pool converging to linked clones, and an audit
// query over 1,000,000 events. Each is printed beside its floor measured in
// the same run: the same logons one at a time, over HTTP and over HTTPS, 500 overlays
// made by qemu-img by hand, the same audit query without the tenant filter.
//   build/bin/broker_bench [--only storm|reconcile|audit] [--threads 32] [--no-http]
//                          [--pool-size 500] [--events 1000000]
// The storm runs in-process (a real SQLite store, LocalAgent and Controller,
// bootstrapped but not started, so no VM boots); the pool runs in a real
// orield; the audit query opens a SQLite store directly.
#include <sodium.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <random>
#include <set>
#include <thread>

#include "bench_tls.h"
#include "bench_util.h"
#include "harness.h"
#include "oriel/agent/host.h"
#include "oriel/api/rest.h"
#include "oriel/common/log.h"
#include "oriel/controller/controller.h"
#include "oriel/net/http.h"
#include "oriel/store/store.h"

using namespace oriel;
using namespace oriel::testing;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string only;  // storm | reconcile | audit; empty: all
  int threads = 32;
  bool http = true;
  int pool_size = 500;
  int64_t events = 1'000'000;
};

using bench::ms_since;
using bench::percentile;

std::string spread(const std::vector<double>& ms) {
  return fmt::format("p50 {:.2f} ms, p95 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms", percentile(ms, 50),
                     percentile(ms, 95), percentile(ms, 99), percentile(ms, 100));
}

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
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  return fmt::format("{} cores, {}, {:.1f} GiB RAM, load average {:.2f}, accelerator tcg",
                     sysconf(_SC_NPROCESSORS_ONLN), model,
                     static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / (1 << 30), load);
}

std::string sha256_hex(std::string_view s) {  // what the controller stores for a bearer token
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

// ---- 1. Logon storm, in-process ------------------------------------------

constexpr int kPools = 10, kPerPool = 100, kUsers = kPools * kPerPool;

// One broker on a real store and agent, never started: nothing boots.
struct Broker {
  explicit Broker(const std::string& dir)
      : store(must(store::open_sqlite_store(dir + "/oriel.db"), "open store")),
        agent(runner, {"bench-host", dir + "/run", dir + "/disks", {agent::Accelerator::kTcg, "benchmark"}}),
        controller(*store, agent.agent(), clock, random, options(dir)) {}
  static controller::ControllerOptions options(const std::string& dir) {
    controller::ControllerOptions o;
    o.data_dir = dir;
    o.cpu_overcommit = 1000;  // 1,000 desktops meant to run on 2 cores
    o.memory_overcommit = 100;
    return o;
  }
  std::unique_ptr<store::Store> store;
  SystemProcessRunner runner;
  agent::Host agent;
  SystemClock clock;
  SecureRandom random;
  controller::Controller controller;
};

struct StormUser {
  controller::Principal who;
  std::string pool_id, token;
};

// Tenant, a ready image record, 10 up-front pools of 100 free desktops and
// 1,000 users each entitled to one pool (tokens stored for the HTTP run).
std::vector<StormUser> populate(Broker& b, const TestGuest& guest) {
  auto root = must(b.store->user_by_name("", "admin"), "admin");
  controller::Principal admin{root.id, root.username, root.role, root.tenant_id};
  auto tenant = must(b.controller.identity().create_tenant(admin, "storm"), "tenant");
  store::ImageRecord image{new_id(b.random, "i"), "storm-guest", "ready", 100, guest.disk, "raw", "raw", guest.disk};
  image.boot_json = Json{{"kernel", guest.kernel}, {"initrd", guest.initrd}, {"cmdline", guest.cmdline}}.dump();
  image.shared = true;  // the platform's, for every tenant's pools
  image.created_at = image.updated_at = b.clock.now();
  must(b.store->insert_image(image), "image");
  std::vector<std::string> pools;
  for (int p = 0; p < kPools; ++p) {
    controller::CreatePool cmd{
        "storm-" + std::to_string(p), tenant.id, image.id, "pooled", kPerPool, kPerPool, 1, 256, 0, "up-front"};
    pools.push_back(must(b.controller.pools().create(admin, cmd), "pool").pool.id);
  }
  std::vector<StormUser> users;
  auto now = b.clock.now();
  for (int i = 0; i < kUsers; ++i) {
    store::UserRecord u{new_id(b.random, "u"), fmt::format("storm{}", i), "!", "user", tenant.id, now};
    must(b.store->insert_user(u), "user");
    must(b.controller.pools().entitle(admin, pools[i % kPools], u.id), "entitle");
    std::string token = b.random.token(32);
    must(b.store->insert_token({sha256_hex(token), u.id, now, now + 12h}), "token");
    users.push_back({{u.id, u.username, "user", tenant.id}, pools[i % kPools], token});
  }
  return users;
}

struct Answer {
  double ms = -1;          // the call itself
  double from_start = -1;  // from the release of all threads to this answer
  std::string desktop_id, error;
};

// Runs call(i) for every user on `threads` threads released together.
std::vector<Answer> storm(int threads, size_t n, const std::function<void(size_t, Answer&)>& call,
                          const std::function<void()>& per_thread_setup, double& wall_ms) {
  std::vector<Answer> answers(n);
  std::atomic<size_t> next{0};
  std::latch ready(threads), go(1);
  Steady::time_point t0;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      if (per_thread_setup) per_thread_setup();
      ready.count_down();
      go.wait();
      for (size_t i; (i = next++) < n;) {
        auto sent = Steady::now();
        call(i, answers[i]);
        answers[i].ms = ms_since(sent);
        answers[i].from_start = ms_since(t0);
      }
    });
  }
  ready.wait();
  t0 = Steady::now();
  go.count_down();
  for (auto& t : pool) t.join();
  wall_ms = ms_since(t0);
  return answers;
}

// Every logon got a desktop of its own pool and no desktop went out twice.
bool check(const char* what, const std::vector<Answer>& answers, const std::vector<StormUser>& users,
           store::Store& store) {
  std::set<std::string> desktops;
  size_t failed = 0, wrong_pool = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].error.empty()) {
      if (failed++ == 0) std::printf("  first failure: %s\n", answers[i].error.c_str());
      continue;
    }
    desktops.insert(answers[i].desktop_id);
    auto d = store.desktop(answers[i].desktop_id);
    if (!d.ok() || d->pool_id != users[i].pool_id || d->assigned_user != users[i].who.user_id) ++wrong_pool;
  }
  bool ok = failed == 0 && wrong_pool == 0 && desktops.size() == answers.size();
  std::printf("  %s: %zu logons ok, %zu failed, %zu distinct desktops assigned, %zu outside the user's pool: %s\n",
              what, answers.size() - failed, failed, desktops.size(), wrong_pool, ok ? "OK" : "FAILED");
  return ok;
}

void print_storm(const char* what, const std::vector<Answer>& a, double wall_ms, int threads) {
  std::vector<double> ms, from_start;
  for (const auto& x : a) ms.push_back(x.ms), from_start.push_back(x.from_start);
  std::printf("%s, %zu logons, %d thread%s: %s\n", what, a.size(), threads, threads == 1 ? "" : "s",
              spread(ms).c_str());
  std::printf("  wall %.2f s (%.0f logons/s)", wall_ms / 1000, static_cast<double>(a.size()) / (wall_ms / 1000));
  if (threads > 1) {
    std::printf("; release -> answer (all %zu sent at once): p50 %.0f ms, p99 %.0f ms", a.size(),
                percentile(from_start, 50), percentile(from_start, 99));
  }
  std::printf("\n");
}

void logoff_all(Broker& b, const std::vector<Answer>& answers, const std::vector<StormUser>& users) {
  for (size_t i = 0; i < answers.size(); ++i) {
    auto sessions = must(b.controller.sessions().list(users[i].who, {.user_id = users[i].who.user_id}), "sessions");
    for (const auto& s : sessions) must(b.controller.sessions().logoff(users[i].who, s.session.id), "logoff");
  }
  b.controller.reconcile_broker();
}

// The storm over the REST API: HTTP, or HTTPS when `tls_dir` is given.
std::vector<Answer> http_storm(Broker& b, const std::vector<StormUser>& users, int threads, double& wall_ms,
                               const std::string& tls_dir = {}) {
  boost::asio::io_context io;
  net::Router router;
  api::add_rest_routes(router, b.controller);
  net::HttpServer server(io, router, 4);  // orield's default --http-workers
  std::shared_ptr<const net::TlsClient> trust;
  if (!tls_dir.empty()) {
    std::string ca_pem;
    auto files = must(bench_certificate(tls_dir, ca_pem), "certificate");
    server.use_tls(must(net::TlsServer::load(files), "TLS"));
    trust = must(net::TlsClient::create({.ca_pem = ca_pem}), "TLS client");
  }
  uint16_t port = must(server.listen("127.0.0.1", 0), "listen");
  std::thread io_thread([&] { io.run(); });
  std::string url = fmt::format("{}://127.0.0.1:{}", trust ? "https" : "http", port);
  thread_local std::unique_ptr<net::ApiClient> client;
  auto answers = storm(
      threads, users.size(),
      [&](size_t i, Answer& a) {
        client->set_token(users[i].token);
        auto r = client->request("POST", "/api/v1/sessions", Json{{"pool_id", users[i].pool_id}}.dump());
        if (!r.ok() || r->status != 201) {
          a.error = r.ok() ? fmt::format("HTTP {}: {}", r->status, r->body) : r.error().message();
          return;
        }
        a.desktop_id = Json::parse(r->body)["desktop_id"];
      },
      [&] {  // one keep-alive connection per thread, opened before the storm
        client = std::make_unique<net::ApiClient>(must(net::ApiClient::create(url, "", trust), "client"));
        (void)client->request("GET", "/healthz", "");
      },
      wall_ms);
  boost::asio::post(io, [&] {
    server.stop();
    io.stop();
  });
  io_thread.join();
  return answers;
}

bool logon_storm(const Options& o) {
  std::string dir = make_temp_dir("broker-bench");
  auto log = spdlog::basic_logger_mt("orield", dir + "/orield.log");  // as orield logs, but not on stdout
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(log);
  bool ok = true;
  {
    Broker b(dir);
    fs::create_directories(dir + "/run");
    must(b.agent.start(), "agent");
    must(b.controller.bootstrap("bench-admin-pw"), "bootstrap");
    auto users = populate(b, TestGuest::locate());
    auto t = Steady::now();
    int passes = 0;
    size_t made = 0;
    while (made < kUsers && passes++ < 5) {
      b.controller.reconcile_broker();
      made = must(b.store->desktops({}), "desktops").size();
    }
    auto all = must(b.store->desktops({}), "desktops");
    size_t provisioning = std::count_if(all.begin(), all.end(), [](auto& d) { return d.state == "provisioning"; });
    std::printf("setup: %d pools x %d free desktops made by %d reconcile_broker passes in %.2f s "
                "(%zu of %zu in state provisioning: no desktop reconciler runs)\n",
                kPools, kPerPool, passes, ms_since(t) / 1000, provisioning, all.size());
    if (all.size() != static_cast<size_t>(kUsers)) throw std::runtime_error("the pools did not fill");

    auto in_process = [&](size_t i, Answer& a) {
      auto r = b.controller.sessions().logon(users[i].who, users[i].pool_id, "127.0.0.1");
      if (!r.ok()) a.error = r.error().message();
      else if (!r->created) a.error = "not a new session";
      else a.desktop_id = r->session.desktop_id;
    };
    double wall = 0;
    auto answers = storm(o.threads, users.size(), in_process, nullptr, wall);
    print_storm("logon storm, in-process Controller::logon (assignment + ticket)", answers, wall, o.threads);
    ok &= check("check", answers, users, *b.store);

    logoff_all(b, answers, users);
    answers = storm(1, users.size(), in_process, nullptr, wall);
    print_storm("baseline: the same logons one at a time (no contention)", answers, wall, 1);
    ok &= check("check", answers, users, *b.store);

    if (o.http) {
      logoff_all(b, answers, users);
      answers = http_storm(b, users, o.threads, wall);
      print_storm("context: the same storm over HTTP (POST /api/v1/sessions, keep-alive, 4 server workers)", answers,
                  wall, o.threads);
      ok &= check("check", answers, users, *b.store);
      logoff_all(b, answers, users);
      answers = http_storm(b, users, o.threads, wall, dir);
      print_storm("the same storm over HTTPS (TLS 1.3, ECDSA P-256, keep-alive, 4 server workers)", answers, wall,
                  o.threads);
      ok &= check("check", answers, users, *b.store);
    }
    b.controller.stop();
    b.agent.stop();
  }
  spdlog::drop("orield");
  fs::remove_all(dir);
  return ok;
}

// ---- 2. A pool of linked clones, in a real orield -------------------------

size_t count_files(const std::string& dir, const std::string& ext) {
  std::error_code ec;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) n += e.path().extension() == ext;
  return n;
}

// The floor: the same overlays made one by one with qemu-img.
double qemu_img_overlays_s(const std::string& golden, int n) {
  std::string dir = make_temp_dir("overlays");
  auto t = Steady::now();
  for (int i = 0; i < n; ++i) {
    std::string cmd = fmt::format("qemu-img create -q -f qcow2 -b {} -F qcow2 {}/{}.qcow2", golden, dir, i);
    if (std::system(cmd.c_str()) != 0) return -1;
  }
  double s = ms_since(t) / 1000;
  bool all = count_files(dir, ".qcow2") == static_cast<size_t>(n);
  fs::remove_all(dir);
  return all ? s : -1;
}

bool pool_reconcile(const Options& o) {
  Orield orield;
  orield.start();
  auto api = orield.admin();
  std::string image = import_test_guest(api, "bench-guest");
  std::string golden = orield.data_dir() + "/images/" + image + "/disk.qcow2";
  if (!fs::exists(golden)) throw std::runtime_error("no golden image at " + golden);
  std::string tenant = must(api.post("/api/v1/tenants", {{"name", "reconcile"}}), "tenant")["id"];
  Json body = {{"name", "big"},       {"tenant_id", tenant}, {"image_id", image},          {"type", "pooled"},
               {"size", o.pool_size}, {"spare", 0},          {"provisioning", "up-front"}, {"vcpus", 1},
               {"memory_mb", 256}};
  auto t = Steady::now();
  std::string pool = must(api.post("/api/v1/pools", body), "pool")["id"];
  double all_recorded = -1;
  size_t stopped = 0, failed = 0;
  bool done = wait_until(
      [&] {
        auto list = api.get("/api/v1/desktops?pool_id=" + pool);
        if (!list.ok()) return false;
        if (all_recorded < 0 && list->size() == static_cast<size_t>(o.pool_size)) all_recorded = ms_since(t);
        stopped = std::count_if(list->begin(), list->end(), [](const Json& d) { return d["state"] == "stopped"; });
        failed = std::count_if(list->begin(), list->end(), [](const Json& d) { return d["state"] == "failed"; });
        return stopped == static_cast<size_t>(o.pool_size) || failed > 0;
      },
      600s);
  double converged = ms_since(t);
  size_t overlays = count_files(orield.data_dir() + "/disks", ".qcow2");
  bool ok = done && failed == 0 && overlays == static_cast<size_t>(o.pool_size);
  std::printf("pool of %d (pooled, up-front, spare 0) via POST /api/v1/pools: %d desktop records after %.0f ms, "
              "all %d stopped with their qcow2 overlay after %.2f s (%.1f ms per desktop)\n",
              o.pool_size, o.pool_size, all_recorded, o.pool_size, converged / 1000, converged / o.pool_size);
  std::printf("  floor: %d sequential `qemu-img create -f qcow2 -b <same golden> -F qcow2`: %.2f s\n", o.pool_size,
              qemu_img_overlays_s(golden, o.pool_size));
  std::printf("  check: %zu stopped, %zu failed, %zu overlay files: %s\n", stopped, failed, overlays,
              ok ? "OK" : "FAILED");
  return ok;
}

// ---- 3. Audit query over 1,000,000 events ---------------------------------

constexpr int kTenants = 50, kDays = 30;

uintmax_t bytes_of(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

bool audit_query(const Options& o) {
  std::string dir = make_temp_dir("audit-bench");
  auto store = must(store::open_sqlite_store(dir + "/oriel.db"), "open store");
  WallTime base = must(parse_rfc3339("2026-10-01T00:00:00.000Z"), "base");
  auto step = std::chrono::milliseconds(int64_t{kDays} * 86'400'000 / o.events);
  std::vector<std::string> tenants;
  tenants.reserve(kTenants);
  for (int i = 0; i < kTenants; ++i) tenants.push_back(fmt::format("t-{:016x}", 0x9e3779b97f4a7c15ULL * (i + 1)));
  const char* actions[] = {"auth.login", "session.logon", "session.logoff", "pool.update", "desktop.action"};
  std::mt19937_64 rng(42);
  std::vector<std::array<size_t, kDays>> per_day(kTenants);  // what each tenant-day query must find
  auto t = Steady::now();
  for (int64_t i = 0; i < o.events; ++i) {
    auto r = rng();
    int tenant = static_cast<int>(r % kTenants), user = static_cast<int>((r >> 8) % 20);
    store::AuditEvent e{0,
                        base + step * i,
                        tenants[tenant],
                        fmt::format("u-{}-{}", tenant, user),
                        fmt::format("user{}", user),
                        actions[(r >> 16) % 5],
                        "p-0123456789abcdef",
                        "10.0.0.1",
                        201,
                        "ok",
                        ""};
    must(store->append_audit(e), "append");
    ++per_day[tenant][(step * i) / 24h];
  }
  double append_s = ms_since(t) / 1000;
  std::printf("audit log: %lld events over %d tenants and %d days appended one append_audit each in %.1f s "
              "(%.0f events/s); database %.0f MiB\n",
              static_cast<long long>(o.events), kTenants, kDays, append_s, o.events / append_s,
              static_cast<double>(bytes_of(dir + "/oriel.db") + bytes_of(dir + "/oriel.db-wal")) / (1 << 20));
  bool ok = true;
  auto run = [&](bool by_tenant) {
    std::vector<double> ms;
    size_t min_rows = SIZE_MAX, max_rows = 0;
    for (int q = 0; q < 50; ++q) {
      size_t expected = 0;
      for (int k = 0; k < kTenants; ++k) expected += by_tenant && k != q % kTenants ? 0 : per_day[k][(q * 7) % kDays];
      store::AuditFilter f;
      if (by_tenant) f.tenant_id = tenants[q % kTenants];
      f.since = base + std::chrono::hours(24 * ((q * 7) % kDays));
      f.until = *f.since + 24h;
      f.limit = 100;
      auto t = Steady::now();
      auto rows = must(store->audit_events(f), "audit_events");
      ms.push_back(ms_since(t));
      min_rows = std::min(min_rows, rows.size()), max_rows = std::max(max_rows, rows.size());
      ok &= rows.size() == std::min<size_t>(100, expected);
      for (const auto& e : rows) {
        ok &= e.at >= *f.since && e.at < *f.until && (!by_tenant || e.tenant_id == *f.tenant_id);
      }
    }
    std::printf("%s: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %zu-%zu rows per answer\n",
                by_tenant ? "audit_events by tenant + one day, limit 100 (50 tenant/day pairs)"
                          : "  comparison: the same days without the tenant filter",
                percentile(ms, 50), percentile(ms, 99), percentile(ms, 100), min_rows, max_rows);
  };
  run(true);
  run(false);
  std::printf("  check: every row inside its day (and tenant), as many as the limit allows: %s\n",
              ok ? "OK" : "FAILED");
  store.reset();
  fs::remove_all(dir);
  return ok;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--only") o.only = next();
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--no-http") o.http = false;
    else if (a == "--pool-size") o.pool_size = std::stoi(next());
    else if (a == "--events") o.events = std::stoll(next());
    else
      throw std::runtime_error("usage: broker_bench [--only storm|reconcile|audit] [--threads N] [--no-http] "
                               "[--pool-size N] [--events N]");
  }
  if (!o.only.empty() && o.only != "storm" && o.only != "reconcile" && o.only != "audit") {
    throw std::runtime_error("--only takes storm, reconcile or audit");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  std::printf("machine: %s\n\n", machine().c_str());
  bool ok = true;
  if (o.only.empty() || o.only == "storm") ok &= logon_storm(o);
  if (o.only.empty() || o.only == "reconcile") ok &= pool_reconcile(o);
  if (o.only.empty() || o.only == "audit") ok &= audit_query(o);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "broker_bench: %s\n", e.what());
  return 2;
}
