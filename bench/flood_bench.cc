// Hardening figures (issue 22): a signed-in user's API latency and orield's
// memory while strangers flood it on loopback, over TLS as deployed:
//   - 2,000 idle TCP connections and 500 WebSockets that never send their
//     token, all from one address (127.0.0.2), each reopened as soon as
//     orield closes it;
//   - a login flood: 16 clients, each from its own address (127.0.1.N),
//     posting wrong passwords as fast as they are answered.
// The user (127.0.0.1) times GET /api/v1/desktops before and during the
// flood, and keeps a display session open on a desktop whose console
// scrolls 20 times a second (the test guest's oriel.animate), counting the
// frames it receives; orield's RSS is sampled throughout.
//   build/bin/flood_bench [--seconds 20] [--only idle|websockets|logins]
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "bench_util.h"
#include "display_client.h"
#include "harness.h"

using namespace oriel;
using namespace oriel::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using bench::ms_since;
using bench::percentile;

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = -1;
      in >> kb;
      return kb;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

// A TCP socket to orield from the loopback address `from`.
tcp::socket connect_from(asio::io_context& io, const std::string& from, uint16_t port, beast::error_code& ec) {
  tcp::socket s(io);
  s.open(tcp::v4(), ec);
  if (!ec) s.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) s.bind(tcp::endpoint(asio::ip::make_address(from), 0), ec);
  if (!ec) s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return s;
}

struct Tally {
  std::mutex mu;
  std::map<std::string, int64_t> counts;
  void add(const std::string& what, int64_t n = 1) {
    std::lock_guard lock(mu);
    counts[what] += n;
  }
};

// Holds `n` idle connections from `from`, reopening each one orield closes.
void idle_flood(uint16_t port, const std::string& from, int n, const std::atomic<bool>& stop, Tally& tally) {
  asio::io_context io;
  std::vector<tcp::socket> sockets;
  auto open_one = [&]() {
    beast::error_code ec;
    auto s = connect_from(io, from, port, ec);
    tally.add(ec ? "idle: connect failed" : "idle: connections opened");
    return s;
  };
  for (int i = 0; i < n && !stop; ++i) sockets.push_back(open_one());
  std::vector<pollfd> fds(sockets.size());
  while (!stop) {
    for (size_t i = 0; i < sockets.size(); ++i)
      fds[i] = {sockets[i].is_open() ? sockets[i].native_handle() : -1, POLLIN, 0};
    ::poll(fds.data(), fds.size(), 100);
    for (size_t i = 0; i < sockets.size() && !stop; ++i) {
      if (fds[i].fd >= 0 && fds[i].revents == 0) continue;
      beast::error_code ec;
      sockets[i].close(ec);  // orield closed it (refused, or timed out): open another
      tally.add("idle: closed by orield");
      sockets[i] = open_one();
    }
  }
}

// Opens WebSockets to /api/v1/events that never send their token, `n` at a
// time, each replaced when orield closes it.
void websocket_flood(uint16_t port, const std::string& from, int n, const std::atomic<bool>& stop, Tally& tally) {
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, per = n / 4] {
      asio::io_context io;
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_verify_mode(asio::ssl::verify_none);  // the attacker trusts anything
      using Ws = beast::websocket::stream<beast::ssl_stream<tcp::socket>>;
      std::vector<std::unique_ptr<Ws>> open;
      while (!stop) {
        while (static_cast<int>(open.size()) < per && !stop) {
          beast::error_code ec;
          auto ws = std::make_unique<Ws>(connect_from(io, from, port, ec), ctx);
          if (!ec) beast::get_lowest_layer(*ws).set_option(asio::socket_base::linger(true, 0), ec);
          if (!ec) ws->next_layer().handshake(asio::ssl::stream_base::client, ec);
          if (!ec) ws->handshake("127.0.0.1", "/api/v1/events", ec);
          tally.add(ec ? "websocket: refused" : "websocket: upgraded");
          if (!ec) open.push_back(std::move(ws));
          if (ec) std::this_thread::sleep_for(20ms);
        }
        // Drop the ones orield has closed (it closes those without a token).
        for (auto it = open.begin(); it != open.end();) {
          pollfd p{beast::get_lowest_layer(**it).native_handle(), POLLIN, 0};
          if (::poll(&p, 1, 0) > 0) {
            it = open.erase(it);
            tally.add("websocket: closed by orield");
          } else {
            ++it;
          }
        }
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  for (auto& t : threads) t.join();
}

// Posts wrong passwords from `from` as fast as they are answered.
void login_flood(uint16_t port, const std::string& from, const std::atomic<bool>& stop, Tally& tally) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  int n = 0;
  while (!stop) {
    beast::error_code ec;
    beast::ssl_stream<tcp::socket> s(connect_from(io, from, port, ec), ctx);
    if (!ec) s.handshake(asio::ssl::stream_base::client, ec);
    if (ec) {
      tally.add("login: connect failed");
      std::this_thread::sleep_for(20ms);
      continue;
    }
    beast::flat_buffer buffer;
    while (!stop && !ec) {
      http::request<http::string_body> req{http::verb::post, "/api/v1/auth/login", 11};
      req.set(http::field::host, "127.0.0.1");
      req.set(http::field::content_type, "application/json");
      req.body() = R"({"username":"admin","password":"guess-)" + std::to_string(n++) + R"("})";
      req.prepare_payload();
      http::write(s, req, ec);
      http::response<http::string_body> res;
      if (!ec) http::read(s, buffer, res, ec);
      if (!ec) tally.add("login: HTTP " + std::to_string(res.result_int()));
      if (!ec && !res.keep_alive()) break;
    }
  }
}

std::vector<double> time_calls(net::ApiClient& api, Clock::time_point until, int max_calls) {
  std::vector<double> ms;
  while (Clock::now() < until && static_cast<int>(ms.size()) < max_calls) {
    auto t = Clock::now();
    auto r = api.request("GET", "/api/v1/desktops", "");
    if (!r.ok() || r->status != 200) throw std::runtime_error("the signed-in user's call failed during the flood");
    ms.push_back(ms_since(t));
    std::this_thread::sleep_for(20ms);
  }
  return ms;
}

// A desktop of the animated test guest, logged on to by a user of its own,
// and a display session on it that has received its first frame.
std::unique_ptr<DisplayClient> open_display(Orield& orield, net::ApiClient& admin, std::string& serial_log) {
  std::string image_id = import_test_guest(admin, "animated", {{"shared", true}}, "oriel.animate");
  std::string tenant = create_tenant(admin, "viewers");
  std::string pool = create_pool(admin, tenant, image_id, "animated", "pooled", 1, 1);
  TestUser user = create_user(orield, admin, tenant, "viewer-user");
  entitle(admin, pool, user.id);
  Reply logon = call(user.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  if (logon.status != 201) throw std::runtime_error("logon: " + logon.body);
  std::string desktop = logon.json["desktop_id"];
  if (!wait_until([&] { return read_file(orield.serial_log(desktop)).find("ORIEL-GUEST-READY") != std::string::npos; },
                  120s)) {
    throw std::runtime_error("the animated desktop did not boot");
  }
  serial_log = orield.serial_log(desktop);
  auto display = std::make_unique<DisplayClient>(std::string(logon.json["display_url"]), orield.tls());
  if (!display->hello_and_frames(1, 30s)) throw std::runtime_error("display: " + display->error());
  return display;
}

// The last "ORIEL-ANIMATE <n>" of the animated guest: the lines it drew.
long lines_drawn(const std::string& serial_log) {
  std::string log = read_file(serial_log);
  size_t at = log.rfind("ORIEL-ANIMATE ");
  return at == std::string::npos ? 0 : std::atol(log.c_str() + at + 14);
}

struct Rates {
  double frames = 0;  // display frames received per second
  double lines = 0;   // lines the guest drew per second (each scrolls its console)
};

// What the display received, and what the guest drew, over `period`.
Rates rates(DisplayClient& display, const std::string& serial_log, std::chrono::seconds period) {
  int frames = display.frames();
  long lines = lines_drawn(serial_log);
  if (!display.follow(period)) throw std::runtime_error("display: " + display.error());
  auto s = static_cast<double>(period.count());
  return {(display.frames() - frames) / s, static_cast<double>(lines_drawn(serial_log) - lines) / s};
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): a failed bench ends with its message
  int seconds = 20;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (flag == "--only") only = argv[i + 1];
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Orield orield;
  orield.start();
  auto api = orield.admin();
  uint16_t port = static_cast<uint16_t>(std::stoi(orield.url().substr(orield.url().rfind(':') + 1)));
  std::printf("orield %s (TLS), %ld cores\n", orield.url().c_str(), sysconf(_SC_NPROCESSORS_ONLN));

  std::string serial_log;
  auto display = open_display(orield, api, serial_log);
  display->follow(3s);  // past the guest's first screens
  Rates quiet_rates = rates(*display, serial_log, 10s);
  std::printf("quiet: display %.1f frames/s; the guest drew %.1f lines/s (20 when it has the CPU it needs)\n",
              quiet_rates.frames, quiet_rates.lines);
  auto quiet = time_calls(api, Clock::now() + 10s, 300);
  long rss_before = rss_kib(orield.pid());
  std::printf("quiet: GET /api/v1/desktops p50 %.2f ms, p99 %.2f ms (%zu calls); RSS %.1f MiB\n", percentile(quiet, 50),
              percentile(quiet, 99), quiet.size(), static_cast<double>(rss_before) / 1024);

  std::atomic<bool> stop{false};
  Tally tally;
  std::vector<std::thread> attackers;
  if (only.empty() || only == "idle") attackers.emplace_back([&] { idle_flood(port, "127.0.0.2", 2000, stop, tally); });
  if (only.empty() || only == "websockets") {
    attackers.emplace_back([&] { websocket_flood(port, "127.0.0.2", 500, stop, tally); });
  }
  for (int i = 0; i < 16 && (only.empty() || only == "logins"); ++i) {
    attackers.emplace_back([&, i] { login_flood(port, "127.0.1." + std::to_string(i + 1), stop, tally); });
  }
  long rss_peak = rss_before;
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      rss_peak = std::max(rss_peak, rss_kib(orield.pid()));
      std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(2s);  // let the flood build up
  Rates flooded_rates;
  std::thread viewer([&] { flooded_rates = rates(*display, serial_log, std::chrono::seconds(seconds)); });
  auto flooded = time_calls(api, Clock::now() + std::chrono::seconds(seconds), 100000);
  viewer.join();
  // A login of the user's own, from its own address, while the flood goes on.
  auto t = Clock::now();
  auto own = orield.client().login("admin", orield.password());
  double own_login_ms = ms_since(t);
  stop = true;
  for (auto& a : attackers) a.join();
  sampling = false;
  sampler.join();

  std::printf("flood (%d s): GET /api/v1/desktops p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu calls)\n", seconds,
              percentile(flooded, 50), percentile(flooded, 99), percentile(flooded, 100), flooded.size());
  std::printf("flood (%d s): display %.1f frames/s (%.1f quiet); the guest drew %.1f lines/s (%.1f quiet)\n", seconds,
              flooded_rates.frames, quiet_rates.frames, flooded_rates.lines, quiet_rates.lines);
  std::printf("orield RSS: %.1f MiB before, %.1f MiB at the peak: growth %.1f MiB\n",
              static_cast<double>(rss_before) / 1024, static_cast<double>(rss_peak) / 1024,
              static_cast<double>(rss_peak - rss_before) / 1024);
  std::printf("the user's own login during the flood: %s in %.0f ms\n",
              own.ok() ? "signed in" : own.error().message().c_str(), own_login_ms);
  for (const auto& [what, n] : tally.counts) std::printf("  %-32s %lld\n", what.c_str(), static_cast<long long>(n));
  return 0;
}
