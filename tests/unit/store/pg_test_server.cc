#include "pg_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <sstream>

#include "oriel/common/files.h"
#include "oriel/common/process.h"
#include "oriel/net/pki.h"

// libpqxx 6 leaks the PGresult of a statement that finds its connection
// dead (make_result asks the dead connection for its encoding, which throws
// before the result is owned): a few KiB per lost connection, fixed in
// libpqxx 7. The store's tests lose connections on purpose; LeakSanitizer
// reads this hook at exit.
// NOLINTNEXTLINE(bugprone-reserved-identifier): the sanitizer's name for it
extern "C" const char* __lsan_default_suppressions() { return "leak:libpqxx\n"; }

namespace oriel::test_support {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuperuser = "oriel_test";
constexpr std::string_view kDirPrefix = "oriel-pg-";

const char* const kMissing =
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in $ORIEL_PG_BINDIR, "
    "/usr/lib/postgresql/*/bin or on PATH: install Debian's postgresql package (scripts/setup does)";

bool has_server(const fs::path& dir) {
  return fs::exists(dir / "initdb") && fs::exists(dir / "pg_ctl") && fs::exists(dir / "postgres");
}

// The newest installed server: Debian keeps each major version apart.
Result<fs::path> find_bindir() {
  if (const char* env = std::getenv("ORIEL_PG_BINDIR"); env && *env) {
    if (has_server(env)) return fs::path(env);
    return Error::Unavailable(fmt::format("{} (ORIEL_PG_BINDIR={} lacks them)", kMissing, env));
  }
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int major = std::atoi(entry.path().filename().c_str());
    if (has_server(entry.path() / "bin")) found.emplace_back(major, entry.path() / "bin");
  }
  if (!found.empty()) return std::max_element(found.begin(), found.end())->second;
  std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "");
  for (std::string dir; std::getline(path, dir, ':');) {
    if (!dir.empty() && has_server(dir)) return fs::path(dir);
  }
  return Error::Unavailable(kMissing);
}

// A port free on loopback now. Another process could take it before the
// server binds it: launch() tries again with another.
Result<int> free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::Internal("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) return Error::Internal("cannot find a free port on 127.0.0.1");
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string random_password() {
  std::random_device random;
  std::string out;
  for (int i = 0; i < 4; ++i) out += fmt::format("{:08x}", random());
  return out;
}

Rows query_on(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx(conn);
  Rows rows;
  for (const auto& row : tx.exec(sql)) {
    auto& out = rows.emplace_back();
    for (const auto& field : row) out.emplace_back(field.is_null() ? "" : field.c_str());
  }
  return rows;
}

}  // namespace

Result<PgTestServer*> PgTestServer::shared() {
  static std::mutex mu;
  static std::unique_ptr<PgTestServer> server;  // stopped and removed at exit
  static std::optional<Error> failure;
  std::lock_guard lock(mu);
  if (server) return server.get();
  if (failure) return *failure;
  auto started = start();
  if (!started.ok()) {
    failure = started.error();
    return started.take_error();
  }
  server = std::move(started).value();
  return server.get();
}

Result<std::unique_ptr<PgTestServer>> PgTestServer::start() {
  std::unique_ptr<PgTestServer> server(new PgTestServer());
  TRY(server->init());
  TRY(server->launch());
  TRY(server->query(server->conninfo("postgres"), fmt::format("CREATE DATABASE {}", kDatabase)));
  return server;
}

PgTestServer::~PgTestServer() {
  conns_.clear();
  if (running_) (void)run("pg_ctl", {"stop", "-w", "-m", "immediate", "-D", (dir_ / "data").string()});
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PgTestServer::conninfo(const std::string& dbname, const std::string& schema) const {
  return conninfo_with("host=127.0.0.1", "sslmode=disable", dbname, schema);
}

std::string PgTestServer::tls_conninfo(const std::string& dbname, const std::string& schema,
                                       const std::string& host_name) const {
  return conninfo_with(fmt::format("host={} hostaddr=127.0.0.1", host_name),
                       fmt::format("sslmode=verify-full sslrootcert={}", ca_file().string()), dbname, schema);
}

std::string PgTestServer::conninfo_with(const std::string& host, const std::string& ssl, const std::string& dbname,
                                        const std::string& schema) const {
  std::string out =
      fmt::format("{} port={} dbname={} user={} password={} {}", host, port_, dbname, kSuperuser, password_, ssl);
  if (!schema.empty()) out += fmt::format(" options='-c search_path={}'", schema);
  return out;
}

Result<std::string> PgTestServer::create_schema() {
  std::string name;
  {
    std::lock_guard lock(mu_);
    name = fmt::format("s{}", ++names_);
  }
  TRY(query(conninfo(kDatabase), fmt::format("CREATE SCHEMA {}", name)));
  return name;
}

Result<void> PgTestServer::drop_schema(const std::string& name) {
  TRY(query(conninfo(kDatabase), fmt::format("DROP SCHEMA IF EXISTS {} CASCADE", name)));
  return Ok();
}

Result<std::string> PgTestServer::create_database() {
  std::string name;
  {
    std::lock_guard lock(mu_);
    name = fmt::format("d{}", ++names_);
  }
  TRY(query(conninfo("postgres"), fmt::format("CREATE DATABASE {}", name)));
  return name;
}

Result<void> PgTestServer::drop_database(const std::string& name) {
  TRY(query(conninfo("postgres"), fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)));
  return Ok();
}

Result<Rows> PgTestServer::query(const std::string& conninfo, const std::string& sql) {
  std::lock_guard lock(mu_);
  for (int attempt = 0;; ++attempt) {
    auto& conn = conns_[conninfo];
    bool reused = conn != nullptr;
    try {
      if (!conn) conn = std::make_unique<pqxx::connection>(conninfo);
      return query_on(*conn, sql);
    } catch (const std::exception& e) {
      // A kept connection may have died with a restarted server or a
      // terminated backend: once more on a new one.
      conns_.erase(conninfo);
      if (!reused || attempt > 0) return Error::Internal(fmt::format("PostgreSQL test server: {}", e.what()));
    }
  }
}

Result<void> PgTestServer::stop() {
  TRY(run("pg_ctl", {"stop", "-w", "-m", "fast", "-D", (dir_ / "data").string()}));
  std::lock_guard lock(mu_);
  running_ = false;
  return Ok();
}

Result<void> PgTestServer::start_again() {
  TRY(run("pg_ctl", {"start", "-w", "-t", "60", "-D", (dir_ / "data").string(), "-l", (dir_ / "server.log").string(),
                     "-o", fmt::format("-p {}", port_)}));
  std::lock_guard lock(mu_);
  running_ = true;
  return Ok();
}

Result<void> PgTestServer::init() {
  bindir_ = TRY(find_bindir());
  if (::geteuid() == 0) {
    // PostgreSQL refuses to run as root: its package's user runs it.
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) pw = ::getpwnam("nobody");
    if (pw == nullptr) return Error::Unavailable("no unprivileged user (postgres, nobody) to run PostgreSQL as");
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    as_user_ = {"setpriv", fmt::format("--reuid={}", uid_), fmt::format("--regid={}", gid_), "--clear-groups", "--"};
  }
  remove_stale();
  std::string dir = (fs::temp_directory_path() / fmt::format("{}{}-XXXXXX", kDirPrefix, ::getpid())).string();
  if (::mkdtemp(dir.data()) == nullptr)
    return Error::Internal(fmt::format("mkdtemp {}: {}", dir, std::strerror(errno)));
  dir_ = dir;
  fs::path pwfile = dir_ / "pwfile";
  password_ = random_password();
  std::ofstream(pwfile) << password_ << "\n";
  if (!as_user_.empty() && (::chown(dir_.c_str(), uid_, gid_) != 0 || ::chown(pwfile.c_str(), uid_, gid_) != 0)) {
    return Error::Internal(fmt::format("cannot give {} to the PostgreSQL user", dir_.string()));
  }
  auto initdb = run("initdb", {"-D", (dir_ / "data").string(), "-U", std::string(kSuperuser),
                               "--pwfile=" + pwfile.string(), "-E", "UTF8", "--locale=C", "--no-sync",
                               "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions"});
  fs::remove(pwfile);
  TRY(initdb);
  // Durability is pointless for a server removed at the end: no fsync, the
  // least WAL, no background vacuum competing with the tests.
  std::ofstream conf(dir_ / "data" / "postgresql.conf", std::ios::app);
  conf << "listen_addresses = '127.0.0.1'\n"
       << "unix_socket_directories = '" << dir_.string() << "'\n"
       << "unix_socket_permissions = 0700\n"
       << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
       << "shared_buffers = 16MB\n"
       << "wal_level = minimal\nmax_wal_senders = 0\nautovacuum = off\n"
       << "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
       << "ssl_min_protocol_version = 'TLSv1.2'\n";
  if (!conf.flush()) return Error::Internal("cannot write postgresql.conf");
  return make_certificates();
}

Result<void> PgTestServer::make_certificates() {
  auto now = std::chrono::system_clock::now();
  auto ca = TRY(net::make_ca("Oriel test PostgreSQL CA", now, std::chrono::hours(24)));
  net::CertificateProfile profile;
  profile.common_name = "localhost";
  profile.names = {"localhost", "127.0.0.1"};
  profile.not_before = now - std::chrono::minutes(5);
  profile.lifetime = std::chrono::hours(24);
  auto server = TRY(net::issue_certificate(ca, profile));
  fs::path data = dir_ / "data";
  TRY(write_private_file(data / "server.key", server.key_pem));  // the server wants 0600, and to own it
  TRY(write_private_file(data / "server.crt", server.cert_pem));
  TRY(write_private_file(ca_file(), ca.cert_pem));
  for (const char* name : {"server.key", "server.crt"}) {
    if (!as_user_.empty() && ::chown((data / name).c_str(), uid_, gid_) != 0) {
      return Error::Internal(fmt::format("cannot give {} to the PostgreSQL user", name));
    }
  }
  return Ok();
}

Result<void> PgTestServer::launch() {
  for (int attempt = 1;; ++attempt) {
    port_ = TRY(free_port());
    auto started = start_again();
    if (started.ok()) return Ok();
    bool taken = log_tail().find("could not bind") != std::string::npos;
    if (!taken || attempt == 5) return started;
  }
}

void PgTestServer::remove_stale() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with(kDirPrefix)) continue;
    pid_t pid = std::atoi(name.c_str() + kDirPrefix.size());
    if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its test process still runs
    if (fs::exists(entry.path() / "data" / "postmaster.pid", ec)) {
      (void)run("pg_ctl", {"stop", "-w", "-m", "immediate", "-D", (entry.path() / "data").string()});
    }
    fs::remove_all(entry.path(), ec);
  }
}

Result<std::string> PgTestServer::run(const std::string& program, std::vector<std::string> args) const {
  std::vector<std::string> argv = as_user_;
  argv.push_back((bindir_ / program).string());
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = std::chrono::seconds(90);
  options.working_dir = "/";  // the server's user may not enter the test's own
  SystemProcessRunner runner;
  auto result = TRY(runner.run(argv, options));
  if (result.exit_code != 0) {
    return Error::Unavailable(fmt::format("{} exited with {}: {}{}{}", join_command(argv), result.exit_code, result.err,
                                          result.out, log_tail()));
  }
  return result.out;
}

std::string PgTestServer::log_tail() const {
  std::ifstream log(dir_ / "server.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  if (text.empty()) return "";
  return "\nserver log: " + text.substr(text.size() > 2000 ? text.size() - 2000 : 0);
}

}  // namespace oriel::test_support
