#include "cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "oriel/common/process.h"
#include "oriel/net/pki.h"

namespace oriel::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string dev_cluster() { return std::string(ORIEL_SOURCE_DIR) + "/scripts/dev-cluster"; }

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

void reap(pid_t& pid, int signal) {
  if (pid <= 0) return;
  ::kill(pid, signal);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

}  // namespace

std::string running_desktop(net::ApiClient& api, const std::string& image, const std::string& name, int memory_mb) {
  Reply r = call(api, "POST", "/api/v1/desktops",
                 {{"name", name}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", memory_mb}});
  if (r.status != 201) throw std::runtime_error("create: " + r.body);
  std::string id = r.json["id"];
  Json d = wait_for_state(api, "/api/v1/desktops/" + id, {"running", "failed"}, 120s);
  if (d["state"] != "running") throw std::runtime_error("desktop: " + d.dump());
  return id;
}

bool leads(Orield& c) {
  auto api = c.client();
  auto health = api.get("/healthz");
  return health.ok() && health->value("leader", false);
}

TestCluster::TestCluster(int hosts, std::vector<std::string> controller_args, int controllers)
    : controller_args_(std::move(controller_args)),
      controllers_(static_cast<size_t>(controllers)),
      agents_(static_cast<size_t>(hosts)) {
  int pid = static_cast<int>(::getpid());
  prefix_ = "o" + std::to_string(pid % 100000);
  subnet_ = fmt::format("10.{}.{}", 240 + pid % 10, (pid / 10) % 250);
  dir_ = make_temp_dir("cluster");
  for (size_t i = 0; i < agents_.size(); ++i) agents_[i].data_dir = dir_ + "/h" + std::to_string(i + 1);
}

TestCluster::~TestCluster() {
  for (auto& a : agents_) reap(a.pid, SIGKILL);
  controllers_.clear();  // stops the controllers, kills what ran in their data dirs
  if (net_up_) net("net-down");
  if (std::getenv("ORIEL_KEEP_TEST_DATA")) {
    std::fprintf(stderr, "kept %s (ORIEL_KEEP_TEST_DATA)\n", dir_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void TestCluster::net(const std::string& command, const std::string& arg) {
  SystemProcessRunner runner;
  // clang-format off
  std::vector<std::string> argv = {dev_cluster(), command, "--prefix", prefix_, "--subnet", subnet_,
                                   "--hosts", std::to_string(agents_.size()), "--dir", dir_};
  // clang-format on
  if (!arg.empty()) argv.push_back(arg);
  auto r = runner.run(argv, {.timeout = 60s});
  if (!r.ok() || r->exit_code != 0) {
    throw std::runtime_error("dev-cluster " + command + " failed: " + (r.ok() ? r->err : r.error().message()));
  }
}

std::string TestCluster::host_address(int i) const { return fmt::format("{}.{}", subnet_, 11 + i); }

void TestCluster::start() {
  net("net-up");
  net_up_ = true;
  // clang-format off
  std::vector<std::string> args = {"--roles", "controller,gateway",
                                   "--shared-dir", dir_ + "/shared", "--cpu-overcommit", "16"};
  // clang-format on
  args.insert(args.end(), controller_args_.begin(), controller_args_.end());
  for (auto& c : controllers_) {
    c = std::make_unique<Orield>(args);
    c->listen_on(subnet_ + ".1");
    c->start();
  }
  for (int i = 0; i < hosts(); ++i) start_agent(i);
  auto api = admin();
  bool ready = wait_until(
      [&] {
        auto hosts = api.get("/api/v1/hosts");
        if (!hosts.ok()) return false;
        int up = 0;
        for (const auto& h : *hosts) up += h["state"] == "ready";
        return up == this->hosts();
      },
      60s);
  if (!ready) throw std::runtime_error("the agents did not join; see " + dir_);
}

void TestCluster::start_agent(int i) {
  auto& a = agents_[static_cast<size_t>(i)];
  fs::create_directories(a.data_dir);
  // clang-format off
  std::vector<std::string> argv = {
      "/usr/sbin/ip", "netns", "exec", ns(i), std::string(ORIEL_BINARY_DIR) + "/bin/orield", "--roles", "agent",
      "--controller", controller_urls(), "--host-name", host_name(i), "--listen", host_address(i) + ":8080",
      "--data-dir", a.data_dir, "--shared-dir", dir_ + "/shared", "--accelerator", "tcg", "--shutdown-timeout", "10"};
  // clang-format on
  // A new host joins with a join token; one that joined keeps its certificate.
  if (!fs::exists(agent_tls_dir(i) + "/host.pem")) {
    auto admin = controllers_[0]->admin();
    auto token = admin.post("/api/v1/cluster/join-tokens", {{"ttl_s", 600}});
    if (!token.ok()) throw std::runtime_error("join token: " + token.error().message());
    argv.insert(argv.end(), {"--join-token", (*token)["token"], "--ca-pin", (*token)["ca_pin"]});
  }
  a.pid = spawn(argv, a.data_dir + "/orield.log");
}

std::shared_ptr<const net::TlsClient> TestCluster::cluster_tls(const std::string& common_name, bool client) {
  std::string dir = controllers_[0]->data_dir() + "/tls";
  net::CertifiedKey ca{read_file(dir + "/ca.pem"), read_file(dir + "/ca.key")};
  net::CertificateProfile profile{common_name,          {}, !client, client, std::chrono::system_clock::now(),
                                  std::chrono::hours(1)};
  auto issued = net::issue_certificate(ca, profile);
  if (!issued.ok()) throw std::runtime_error(issued.error().message());
  auto tls = net::TlsClient::create({.ca_pem = ca.cert_pem, .cert_pem = issued->cert_pem, .key_pem = issued->key_pem});
  if (!tls.ok()) throw std::runtime_error(tls.error().message());
  return std::move(tls).value();
}

net::ApiClient TestCluster::agent_client(int i) {
  auto client = net::ApiClient::create("https://" + host_address(i) + ":8080", "", cluster_tls("controller:test"));
  if (!client.ok()) throw std::runtime_error(client.error().message());
  return std::move(client).value();
}

std::string TestCluster::controller_urls() const {
  std::string urls;
  for (const auto& c : controllers_) urls += (urls.empty() ? "" : ",") + c->url();
  return urls;
}

void TestCluster::kill_agent(int i) { reap(agents_[static_cast<size_t>(i)].pid, SIGKILL); }

void TestCluster::kill_host(int i) {
  kill_agent(i);
  SystemProcessRunner runner;
  auto pids = runner.run({"/usr/sbin/ip", "netns", "pids", ns(i)}, {.timeout = 10s});
  if (!pids.ok()) return;
  size_t at = 0;
  while (at < pids->out.size()) {
    size_t end = pids->out.find('\n', at);
    std::string line = pids->out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (!line.empty()) ::kill(static_cast<pid_t>(std::stol(line)), SIGKILL);
    if (end == std::string::npos) break;
    at = end + 1;
  }
}

std::string TestCluster::log_tails(int lines) {
  auto tail = [lines](const std::string& name, const std::string& path) {
    std::string text = read_file(path);
    size_t at = text.size();
    for (int n = 0; n <= lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
    size_t from = at == std::string::npos ? 0 : at + 1;
    return "---- " + name + " (" + path + "), last lines:\n" + text.substr(std::min(from, text.size()));
  };
  std::string out;
  for (size_t c = 0; c < controllers_.size(); ++c) {
    out += tail("controller " + std::to_string(c) + ", " + controllers_[c]->status(),
                controllers_[c]->data_dir() + "/orield.log");
  }
  for (int i = 0; i < hosts(); ++i) {
    out += tail("agent " + host_name(i), agents_[i].data_dir + "/orield.log");
    std::error_code ec;
    for (const auto& vm : fs::directory_iterator(agents_[i].data_dir + "/run/vms", ec)) {
      std::string serial = vm.path().string() + "/serial.log";
      if (fs::exists(serial)) out += tail("serial of " + vm.path().filename().string() + " on " + host_name(i), serial);
    }
  }
  return out;
}

void TestCluster::cut(int i) { net("cut", host_name(i)); }
void TestCluster::heal(int i) { net("heal", host_name(i)); }

std::string TestCluster::host_id(int i) {
  auto hosts = admin().get("/api/v1/hosts");
  if (!hosts.ok()) return "";
  for (const auto& h : *hosts) {
    if (h["name"] == host_name(i)) return h["id"];
  }
  return "";
}

LoggedOnUser TestCluster::log_on_new_user(int c, const std::string& image, const std::string& name,
                                          const std::string& type, int spare, const Json& pool_extra) {
  auto admin = controller(c).admin();
  std::string tenant = create_tenant(admin, name);
  std::string pool = create_pool(admin, tenant, image, name + " pool", type, 1, spare, pool_extra);
  TestUser user = create_user(controller(c), admin, tenant, name + "-user");
  entitle(admin, pool, user.id);
  Reply logon = call(user.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  if (logon.status != 201) throw std::runtime_error("logon: " + logon.body);
  std::string session = logon.json["id"], desktop = logon.json["desktop_id"];
  if (wait_for_state(admin, "/api/v1/desktops/" + desktop, {"running", "failed"}, 120s)["state"] != "running") {
    throw std::runtime_error("desktop " + desktop + " does not run");
  }
  if (!wait_until([&] { return read_file(serial_log(desktop)).find("ORIEL-GUEST-READY") != std::string::npos; }, 60s)) {
    throw std::runtime_error("desktop " + desktop + " did not boot");
  }
  Reply ticket = call(user.client, "POST", "/api/v1/sessions/" + session + "/tickets");
  if (ticket.status != 201) throw std::runtime_error("ticket: " + ticket.body);
  return {std::move(user), session, desktop, ticket.json["display_url"], controller(c).tls()};
}

std::string TestCluster::serial_log_on(int i, const std::string& desktop_id) const {
  return agents_[static_cast<size_t>(i)].data_dir + "/run/vms/" + desktop_id + "/serial.log";
}

std::string TestCluster::serial_log(const std::string& desktop_id) const {
  std::string newest;
  fs::file_time_type newest_time{};
  for (int i = 0; i < hosts(); ++i) {
    std::string log = serial_log_on(i, desktop_id);
    std::error_code ec;
    auto t = fs::last_write_time(log, ec);
    if (!ec && (newest.empty() || t > newest_time)) {
      newest = log;
      newest_time = t;
    }
  }
  return newest;
}

pid_t TestCluster::qemu_pid(int i, const std::string& desktop_id) const {
  std::string dir = agents_[static_cast<size_t>(i)].data_dir + "/run/vms/" + desktop_id;
  std::string text = read_file(dir + "/qemu.pid");
  if (text.empty()) return -1;
  pid_t pid = static_cast<pid_t>(std::strtol(text.c_str(), nullptr, 10));
  if (pid <= 0 || ::kill(pid, 0) != 0) return -1;
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find(desktop_id) != std::string::npos ? pid : -1;
}

int TestCluster::host_running(const std::string& desktop_id) const {
  for (int i = 0; i < hosts(); ++i) {
    if (qemu_pid(i, desktop_id) > 0) return i;
  }
  return -1;
}

}  // namespace oriel::testing
