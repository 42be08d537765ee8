#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace oriel::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("oriel-" + tag + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

TestGuest TestGuest::locate() {
  std::string dir = std::string(ORIEL_BINARY_DIR) + "/images/test-guest";
  std::string cmdline = read_file(dir + "/cmdline");
  while (!cmdline.empty() && (cmdline.back() == '\n' || cmdline.back() == ' ')) cmdline.pop_back();
  if (cmdline.empty()) throw std::runtime_error("test guest not built: run images/test-guest/build.sh " + dir);
  return {dir + "/vmlinuz", dir + "/initrd.img", dir + "/disk.raw", cmdline};
}

bool wait_until(const std::function<bool()>& fn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!fn()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

Json wait_for_state(net::ApiClient& api, const std::string& path, const std::vector<std::string>& states,
                    std::chrono::milliseconds timeout) {
  Json last;
  wait_until(
      [&] {
        auto r = api.get(path);
        if (!r.ok()) return false;
        last = *r;
        return std::find(states.begin(), states.end(), last.value("state", "")) != states.end();
      },
      timeout);
  return last;
}

bool wait_for_text(const std::string& file, const std::string& needle, std::chrono::milliseconds timeout, size_t from) {
  return wait_until([&] { return read_file(file).find(needle, from) != std::string::npos; }, timeout);
}

std::string import_test_guest(net::ApiClient& api, const std::string& name, const Json& owner,
                              const std::string& options) {
  auto guest = TestGuest::locate();
  std::string cmdline = options.empty() ? guest.cmdline : guest.cmdline + " " + options;
  Json body = {{"name", name},
               {"source_path", guest.disk},
               {"format", "raw"},
               {"boot", {{"kernel", guest.kernel}, {"initrd", guest.initrd}, {"cmdline", cmdline}}}};
  body.update(owner);
  auto created = api.post("/api/v1/images", body);
  if (!created.ok()) throw std::runtime_error("import failed: " + created.error().message());
  std::string id = (*created)["id"];
  auto image = wait_for_state(api, "/api/v1/images/" + id, {"ready", "failed"}, 60s);
  if (image["state"] != "ready") throw std::runtime_error("import did not finish: " + image.dump());
  return id;
}

Reply call(net::ApiClient& api, std::string_view method, std::string_view path, const Json& body) {
  auto raw = api.request(method, path, body.is_null() ? std::string() : body.dump());
  if (!raw.ok()) throw std::runtime_error(std::string(method) + " " + std::string(path) + ": " + raw.error().message());
  Reply r{raw->status, raw->content_type, raw->body, nullptr};
  r.json = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (r.json.is_discarded()) r.json = nullptr;
  return r;
}

std::string create_tenant(net::ApiClient& admin, const std::string& name) {
  auto t = admin.post("/api/v1/tenants", {{"name", name}});
  if (!t.ok()) throw std::runtime_error("creating tenant '" + name + "': " + t.error().message());
  return (*t)["id"];
}

TestUser create_user(const Orield& orield, net::ApiClient& creator, const std::string& tenant_id,
                     const std::string& username, const std::string& role) {
  std::string password = "password-" + username;
  auto u = creator.post("/api/v1/users",
                        {{"username", username}, {"password", password}, {"role", role}, {"tenant_id", tenant_id}});
  if (!u.ok()) throw std::runtime_error("creating user '" + username + "': " + u.error().message());
  auto client = orield.client();
  auto token = client.login(username, password);
  if (!token.ok()) throw std::runtime_error("login of '" + username + "' failed: " + token.error().message());
  return {(*u)["id"], username, password, tenant_id, std::move(client)};
}

std::string create_pool(net::ApiClient& api, const std::string& tenant_id, const std::string& image_id,
                        const std::string& name, const std::string& type, int size, int spare, const Json& extra) {
  Json body = {{"name", name}, {"tenant_id", tenant_id}, {"image_id", image_id}, {"type", type},
               {"size", size}, {"spare", spare},         {"vcpus", 1},           {"memory_mb", 128}};
  body.update(extra);
  auto p = api.post("/api/v1/pools", body);
  if (!p.ok()) throw std::runtime_error("creating pool '" + name + "': " + p.error().message());
  return (*p)["id"];
}

void entitle(net::ApiClient& api, const std::string& pool_id, const std::string& user_id) {
  auto e = api.post("/api/v1/pools/" + pool_id + "/entitlements", {{"user_id", user_id}});
  if (!e.ok()) throw std::runtime_error("entitling " + user_id + " to " + pool_id + ": " + e.error().message());
}

std::string utc_day(int days) {
  std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

Orield::Orield(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  data_dir_ = make_temp_dir("orield");
}

Orield::~Orield() {
  if (running()) stop();
  // Kill any QEMU the test left behind.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir_ + "/run/vms", ec)) {
    pid_t pid = qemu_pid(entry.path().filename().string());
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  if (std::getenv("ORIEL_KEEP_TEST_DATA")) {
    std::fprintf(stderr, "kept %s (ORIEL_KEEP_TEST_DATA)\n", data_dir_.c_str());
    return;
  }
  fs::remove_all(data_dir_, ec);
}

void Orield::start() {
  fs::remove(data_dir_ + "/orield.url");
  // A restarted orield comes back at the same address, as clients (a
  // browser tab that reconnects by itself) expect; the first start takes
  // any free port.
  std::string listen = listen_host_ + ":0";
  if (auto colon = url_.rfind(':'); colon != std::string::npos) listen = listen_host_ + url_.substr(colon);
  std::vector<std::string> args = {std::string(ORIEL_BINARY_DIR) + "/bin/orield", "--data-dir", data_dir_, "--listen",
                                   listen, "--admin-password", password_, "--shutdown-timeout", "10",
                                   // Images come from the test guest's build and the tests' own
                                   // files under $TMPDIR (which holds the data directory too: an
                                   // import never reads that).
                                   "--import-dir", std::string(ORIEL_BINARY_DIR) + "/images/test-guest", "--import-dir",
                                   fs::temp_directory_path().string()};
  bool has_accel = false;
  for (const auto& a : extra_args_) has_accel |= a == "--accelerator";
  if (!has_accel) args.insert(args.end(), {"--accelerator", "tcg"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    int log = ::open((data_dir_ + "/orield.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  bool up = wait_until(
      [&] {
        url_ = read_file(data_dir_ + "/orield.url");
        if (url_.empty()) return false;
        url_.erase(url_.find_last_not_of('\n') + 1);
        auto client = net::ApiClient::create(url_, "", tls());
        return client.ok() && client->get("/healthz").ok();
      },
      30s);
  if (!up) throw std::runtime_error("orield did not start; log:\n" + read_file(data_dir_ + "/orield.log"));
}

std::string Orield::status() {
  if (pid_ <= 0) return "stopped by the test";
  int status = 0;
  pid_t got = ::waitpid(pid_, &status, WNOHANG);
  if (got == 0) return "running";
  if (got < 0) return "unknown (waitpid failed)";
  pid_ = -1;
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

void Orield::kill9() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Orield::stop() {
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Orield::serial_log(const std::string& desktop_id) const {
  return data_dir_ + "/run/vms/" + desktop_id + "/serial.log";
}

pid_t Orield::qemu_pid(const std::string& desktop_id) const {
  std::string text = read_file(data_dir_ + "/run/vms/" + desktop_id + "/qemu.pid");
  pid_t pid = text.empty() ? -1 : static_cast<pid_t>(std::stol(text));
  return pid > 0 && ::kill(pid, 0) == 0 ? pid : -1;
}

net::ApiClient Orield::admin() {
  auto client = this->client();
  auto token = client.login("admin", password_);
  if (!token.ok()) throw std::runtime_error("login failed: " + token.error().message());
  return client;
}

std::shared_ptr<const net::TlsClient> Orield::tls() const {
  if (!url_.starts_with("https://")) return nullptr;
  auto tls = net::TlsClient::create({.ca_file = ca_file()});
  if (!tls.ok()) throw std::runtime_error(tls.error().message());
  return std::move(tls).value();
}

net::ApiClient Orield::client(std::string token) const {
  auto client = net::ApiClient::create(url_, std::move(token), tls());
  if (!client.ok()) throw std::runtime_error(client.error().message());
  return std::move(client).value();
}

}  // namespace oriel::testing
