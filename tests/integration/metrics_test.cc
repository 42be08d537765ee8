// GET /metrics as a monitoring system sees it: a real Prometheus server
// scrapes orield over HTTPS with the metrics token, and its query API gives
// the desktop counts the REST API shows; promtool accepts the format.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <filesystem>

#include <cctype>
#include <fstream>
#include <map>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kToken = "scrape-secret-for-the-test";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
               ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!bound) throw std::runtime_error("no free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

std::string percent_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

// A Prometheus server of the test's own on loopback, scraping `target`
// every second; stopped at the end.
class Prometheus {
 public:
  Prometheus(const std::string& target, const std::string& ca_file) : dir_(make_temp_dir("prometheus")) {
    port_ = free_port();
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                            << "scrape_configs:\n  - job_name: oriel\n    scheme: https\n"
                                            << "    tls_config:\n      ca_file: " << ca_file << "\n"
                                            << "    authorization:\n      credentials: " << kToken << "\n"
                                            << "    static_configs:\n      - targets: ['" << target << "']\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      int log = ::open((dir_ + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(log, 1), ::dup2(log, 2);
      std::string config = "--config.file=" + dir_ + "/prometheus.yml", data = "--storage.tsdb.path=" + dir_ + "/data",
                  listen = fmt::format("--web.listen-address=127.0.0.1:{}", port_);
      ::execlp("prometheus", "prometheus", config.c_str(), data.c_str(), listen.c_str(), "--log.level=warn",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Prometheus() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    fs::remove_all(dir_);
  }
  // An instant query's result: value by the label `by` (all in one for "").
  std::map<std::string, double> query(const std::string& promql, const std::string& by) {
    auto client = net::ApiClient::create(fmt::format("http://127.0.0.1:{}", port_));
    if (!client.ok()) return {};
    auto answer = client->get("/api/v1/query?query=" + percent_encode(promql));
    std::map<std::string, double> out;
    if (!answer.ok() || (*answer)["status"] != "success") return out;
    for (const auto& r : (*answer)["data"]["result"]) {
      out[by.empty() ? "" : r["metric"].value(by, "")] = std::stod(r["value"][1].get<std::string>());
    }
    return out;
  }
  std::string log() const { return read_file(dir_ + "/prometheus.log"); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(MetricsTest, PrometheusScrapesTheDesktopCountsTheApiShows) {
  Orield orield({"--metrics-token", kToken});
  orield.start();
  auto admin = orield.admin();
  std::string image = import_test_guest(admin, "guest");
  std::string tenant = create_tenant(admin, "Measured Ltd");
  std::string pool = create_pool(admin, tenant, image, "Lab", "pooled", 2, 1);
  auto lone = admin.post("/api/v1/desktops", {{"name", "lone"}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 128}});
  ASSERT_TRUE(lone.ok());
  std::string lone_id = (*lone)["id"];
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + lone_id, {"running", "failed"}, 60s)["state"], "running");
  ASSERT_TRUE(admin.post("/api/v1/desktops/" + lone_id + "/actions/stop").ok());
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + lone_id, {"stopped", "failed"}, 60s)["state"], "stopped");
  ASSERT_TRUE(wait_until([&] { return admin.get("/api/v1/pools/" + pool).value()["running_free"] == 1; }, 60s));

  // The token is required; the format is Prometheus's.
  auto anonymous = orield.client();
  EXPECT_EQ(call(anonymous, "GET", "/metrics").status, 401);
  auto wrong = orield.client("not-the-token");
  EXPECT_EQ(call(wrong, "GET", "/metrics").status, 401);
  auto scraper = orield.client(kToken);
  Reply scraped = call(scraper, "GET", "/metrics");
  ASSERT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.content_type.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(scraped.body.find("oriel_desktops{"), std::string::npos);
  EXPECT_NE(scraped.body.find("process_open_fds"), std::string::npos);
  EXPECT_NE(
      scraped.body.find("oriel_http_requests_total{method=\"GET\",route=\"/api/v1/desktops/{id}\",status=\"200\"}"),
      std::string::npos);
  EXPECT_EQ(scraped.body.find("route=\"/api/v1/desktops/" + lone_id), std::string::npos)
      << "requests are counted by route pattern, not by path";
  std::string file = orield.data_dir() + "/metrics.txt";
  std::ofstream(file) << scraped.body;
  SystemProcessRunner runner;
  auto check = runner.run({"sh", "-c", "promtool check metrics < " + file}, {}).value();
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // What the REST API says, by state and for the tenant.
  std::map<std::string, double> by_state;
  double tenant_desktops = 0;
  Json desktops = admin.get("/api/v1/desktops").value();
  for (const auto& d : desktops) {
    by_state[d["state"].get<std::string>()] += 1;
    tenant_desktops += d["tenant_id"] == tenant ? 1 : 0;  // null for a standalone desktop
  }
  ASSERT_EQ(by_state["stopped"], 1);
  ASSERT_EQ(tenant_desktops, 1) << "one spare in the pool";

  std::string target = orield.url().substr(orield.url().find("://") + 3);
  Prometheus prometheus(target, orield.ca_file());
  std::map<std::string, double> scraped_by_state;
  bool same = wait_until(
      [&] {
        scraped_by_state = prometheus.query("sum by (state) (oriel_desktops)", "state");
        return scraped_by_state == by_state;
      },
      30s);
  EXPECT_TRUE(same) << "Prometheus has " << Json(scraped_by_state).dump() << ", the API " << Json(by_state).dump()
                    << "\n"
                    << prometheus.log();
  EXPECT_EQ(prometheus.query(fmt::format("sum(oriel_desktops{{tenant=\"{}\"}})", tenant), "")[""], tenant_desktops);
  EXPECT_EQ(prometheus.query("up{job=\"oriel\"}", "")[""], 1);
  EXPECT_EQ(prometheus.query(fmt::format("oriel_pool_running_free{{pool=\"{}\"}}", pool), "")[""], 1);
}

TEST(MetricsTest, WithoutATokenOnlyLoopbackIsAnswered) {
  // Loopback is all a test can reach: the refusal is checked through a
  // trusted proxy that says the request came from elsewhere.
  Orield orield({"--insecure-http", "--trusted-proxy", "127.0.0.1/32"});
  orield.start();
  auto local = orield.client();
  EXPECT_EQ(call(local, "GET", "/metrics").status, 200);
  SystemProcessRunner runner;
  auto far = runner.run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Forwarded-For: 203.0.113.9",
                         orield.url() + "/metrics"},
                        {});
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(far->out, "403");
}

}  // namespace
}  // namespace oriel::testing
