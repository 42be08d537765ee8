// Backup of a busy controller: a real orield whose SQLite database holds
// 10,000 desktops and 1,000,000 audit events, read by API clients all along;
// `orield backup` runs beside it. Prints the backup's time and size, the
// restore's time, and the API's latency before and during the backup.
//   build/bin/backup_bench [--desktops 10000] [--events 1000000] [--clients 2]
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <random>
#include <thread>

#include "bench_util.h"
#include "harness.h"
#include "oriel/common/process.h"
#include "oriel/store/store.h"

using namespace oriel;
using namespace oriel::testing;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

using bench::ms_since;
using bench::percentile;

struct Options {
  int desktops = 10'000;
  int64_t events = 1'000'000;
  int clients = 2;
};

template <typename T>
T must(Result<T> r, std::string_view what) {
  if (!r.ok()) throw std::runtime_error(fmt::format("{}: {}", what, r.error().message()));
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}

void sql(sqlite3* db, const char* text) {
  char* msg = nullptr;
  if (sqlite3_exec(db, text, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string what = msg ? msg : "?";
    sqlite3_free(msg);
    throw std::runtime_error("sqlite: " + what);
  }
}

// The store's schema with `o.desktops` desktops of one image, then the
// audit events in one transaction (the store's append_audit would take
// minutes for a million; the rows are the same).
std::vector<std::string> populate(const std::string& path, const Options& o) {
  auto store = must(store::open_sqlite_store(path), "open store");
  auto now = std::chrono::system_clock::now();
  store::ImageRecord image;
  image.id = "i-golden";
  image.name = "golden";
  image.state = "ready";
  image.source_path = "/nonexistent/golden.vhd";
  image.requested_format = "auto";
  image.created_at = image.updated_at = now;
  must(store->insert_image(image), "image");
  std::vector<std::string> ids;
  for (int i = 0; i < o.desktops; ++i) {
    store::DesktopRecord d;
    d.id = fmt::format("d-{:016x}", 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1));
    d.name = fmt::format("desk-{}", i);
    d.image_id = image.id;
    d.state = d.desired = "stopped";
    d.created_at = d.updated_at = now;
    must(store->insert_desktop(d), "desktop");
    ids.push_back(d.id);
  }
  store.reset();
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sql(db, "BEGIN");
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO audit (at_ms, tenant_id, user_id, username, action, target, address, status, "
                     "result, detail) VALUES (?, ?, ?, ?, 'session.logon', ?, '10.0.0.1', 201, 'ok', '')",
                     -1, &insert, nullptr);
  std::mt19937_64 rng(42);
  int64_t base = 1'790'000'000'000;
  for (int64_t i = 0; i < o.events; ++i) {
    auto r = rng();
    std::string tenant = fmt::format("t-{}", r % 50), user = fmt::format("u-{}", (r >> 8) % 1000);
    sqlite3_bind_int64(insert, 1, base + i * 2000);
    sqlite3_bind_text(insert, 2, tenant.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 3, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 5, ids[r % ids.size()].c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert) != SQLITE_DONE) throw std::runtime_error("audit insert failed");
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  sql(db, "COMMIT");
  sqlite3_close(db);
  return ids;
}

// API clients reading desktops by id until told to stop; each call's time
// goes to the window open when it started.
class Load {
 public:
  Load(Orield& orield, const std::vector<std::string>& ids, int clients) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, &orield, &ids, c] {
        auto api = orield.admin();
        std::mt19937 rng(c);
        while (!stop_) {
          auto t = Steady::now();
          bool ok = api.get("/api/v1/desktops/" + ids[rng() % ids.size()]).ok();
          double ms = ms_since(t);
          std::lock_guard lock(mu_);
          window_->push_back(ms);
          failures_ += ok ? 0 : 1;
        }
      });
    }
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // Starts a new window of samples; returns the one that ended.
  std::vector<double> next_window() {
    std::lock_guard lock(mu_);
    std::vector<double> ended = std::move(*window_);
    windows_.emplace_back();
    window_ = &windows_.back();
    return ended;
  }
  int failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::list<std::vector<double>> windows_{1};
  std::vector<double>* window_ = &windows_.front();
  int failures_ = 0;
  std::atomic<bool> stop_ = false;
  std::vector<std::thread> threads_;
};

std::string spread(const std::vector<double>& ms) {
  if (ms.empty()) return "no calls";
  return fmt::format("{} calls, p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms", ms.size(), percentile(ms, 50),
                     percentile(ms, 99), percentile(ms, 100));
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--desktops") o.desktops = std::stoi(argv[i + 1]);
    else if (flag == "--events") o.events = std::stoll(argv[i + 1]);
    else if (flag == "--clients") o.clients = std::stoi(argv[i + 1]);
    else throw std::runtime_error("unknown option " + flag);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Orield orield;
  auto t = Steady::now();
  auto ids = populate(orield.data_dir() + "/oriel.db", o);
  std::printf("database: %d desktops, %lld audit events, %.0f MiB (made in %.1f s)\n", o.desktops,
              static_cast<long long>(o.events),
              static_cast<double>(fs::file_size(orield.data_dir() + "/oriel.db")) / (1 << 20), ms_since(t) / 1000);
  orield.start();

  Load load(orield, ids, o.clients);
  std::this_thread::sleep_for(5s);
  auto before = load.next_window();

  std::string out = make_temp_dir("backup-bench");
  // The orield beside this program.
  std::string orield_binary = (fs::read_symlink("/proc/self/exe").parent_path() / "orield").string();
  SystemProcessRunner runner;
  t = Steady::now();
  auto backup =
      must(runner.run({orield_binary, "backup", "--data-dir", orield.data_dir(), "--to", out + "/b.tar.zst"}, {}),
           "orield backup");
  double backup_s = ms_since(t) / 1000;
  auto during = load.next_window();
  if (backup.exit_code != 0) throw std::runtime_error("orield backup failed: " + backup.err);

  t = Steady::now();
  auto restore =
      must(runner.run({orield_binary, "restore", "--from", out + "/b.tar.zst", "--data-dir", out + "/restored"}, {}),
           "orield restore");
  double restore_s = ms_since(t) / 1000;
  if (restore.exit_code != 0) throw std::runtime_error("orield restore failed: " + restore.err);
  auto restored = must(store::open_sqlite_store(out + "/restored/oriel.db"), "open the restored store");
  size_t desktops = must(restored->desktops({}), "desktops").size();

  std::printf("orield backup while serving: %.2f s, archive %.1f MiB (zstd)\n", backup_s,
              static_cast<double>(fs::file_size(out + "/b.tar.zst")) / (1 << 20));
  std::printf("orield restore into an empty data directory: %.2f s; %zu desktops in the restored database\n", restore_s,
              desktops);
  std::printf("GET /api/v1/desktops/{id}, %d clients, 5 s before the backup: %s\n", o.clients, spread(before).c_str());
  std::printf("GET /api/v1/desktops/{id}, %d clients, during the backup:     %s\n", o.clients, spread(during).c_str());
  std::printf("failed calls: %d\n", load.failures());
  fs::remove_all(out);
  bool ok = desktops == ids.size() && load.failures() == 0;
  std::printf("check: the restored database has every desktop, no call failed: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "backup_bench: %s\n", e.what());
  return 2;
}
