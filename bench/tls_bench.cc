// TLS figures for orield's listener: handshakes per second of server CPU
// (full, and resumed from a session the client kept), requests on one
// keep-alive connection, and a display-sized binary stream over one
// WebSocket, HTTPS/WSS beside plain HTTP/WS in the same run; then the
// display's own output over WS and WSS: each recorded workload
// (bench/display/record-workloads) encoded by the gateway's encoder, its
// frames streamed as the gateway sends them.
//   build/bin/tls_bench [--seconds 3] [--workload-dir DIR]
// The server is net::HttpServer on one io thread with an ECDSA P-256
// certificate, as orield serves; the client is net::ApiClient on another
// thread. "Per server CPU second" divides by the io thread's own CPU time
// (CLOCK_THREAD_CPUTIME_ID), so the client's share of the two cores does
// not count.
#include <time.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench_tls.h"
#include "oriel/net/client.h"
#include "oriel/net/http.h"
#include "oriel/net/pki.h"
#include "oriel/net/tls.h"
#include "oriel/net/websocket.h"
#include "oriel_replay.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <random>

namespace oriel {
namespace {

using Steady = std::chrono::steady_clock;

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.error().message());
  return std::move(r).value();
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// One server on its own io thread; tls null: plain HTTP.
class Server {
 public:
  explicit Server(std::shared_ptr<net::TlsServer> tls) : server_(io_, router_, 1) {
    router_.add("GET", "/ping", [](const net::Request&) { return net::Response::json(200, {{"ok", true}}); });
    // Sends `n` binary messages of `size` bytes, as a gateway sends frames.
    router_.add_websocket("/stream", [](const net::Request& r, net::WebSocket&& ws) {
      auto executor = ws.get_executor();
      boost::asio::co_spawn(executor,
                            stream(std::move(ws), std::stoul(r.query.at("n")), std::stoul(r.query.at("size"))),
                            boost::asio::detached);
    });
    // Sends the display frames set with set_frames(), `repeat` times over.
    router_.add_websocket("/frames", [this](const net::Request& r, net::WebSocket&& ws) {
      auto executor = ws.get_executor();
      boost::asio::co_spawn(executor, send_frames(std::move(ws), frames_, std::stoul(r.query.at("repeat"))),
                            boost::asio::detached);
    });
    if (tls) server_.use_tls(std::move(tls));
    port_ = must(server_.listen("127.0.0.1", 0), "listen");
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    boost::asio::post(io_, [this] {
      server_.stop();
      io_.stop();
    });
    thread_.join();
  }
  uint16_t port() const { return port_; }

  static boost::asio::awaitable<void> stream(net::WebSocket ws, size_t n, size_t size) {
    // Incompressible bytes, like encoded tiles.
    std::string payload(size, '\0');
    std::mt19937 random(7);
    for (char& c : payload) c = static_cast<char>(random());
    ws.binary(true);
    ws.auto_fragment(false);  // as net::WebSocketConnection sends
    for (size_t i = 0; i < n; ++i) co_await ws.async_write(boost::asio::buffer(payload), boost::asio::use_awaitable);
    co_await ws.async_close(boost::beast::websocket::close_code::normal, boost::asio::use_awaitable);
  }
  static boost::asio::awaitable<void> send_frames(net::WebSocket ws, const std::vector<std::string>* frames,
                                                  size_t repeat) {
    ws.binary(true);
    ws.auto_fragment(false);
    for (size_t r = 0; r < repeat; ++r) {
      for (const auto& frame : *frames) co_await ws.async_write(boost::asio::buffer(frame), boost::asio::use_awaitable);
    }
    co_await ws.async_close(boost::beast::websocket::close_code::normal, boost::asio::use_awaitable);
  }
  // Before a /frames stream; the frames must outlive it.
  void set_frames(const std::vector<std::string>* frames) { frames_ = frames; }
  // The io thread's CPU time so far.
  double cpu_seconds() {
    std::atomic<double> out{-1};
    boost::asio::post(io_, [&] { out = thread_cpu_seconds(); });
    while (out < 0) std::this_thread::yield();
    return out;
  }

 private:
  net::Router router_;
  boost::asio::io_context io_;
  net::HttpServer server_;
  uint16_t port_ = 0;
  std::thread thread_;
  const std::vector<std::string>* frames_ = nullptr;
};

struct Figure {
  long count = 0;
  double wall_s = 0, server_cpu_s = 0;
};

// Runs `one` (true on success) for `seconds`.
template <typename One>
Figure measure(Server& server, double seconds, One one) {
  Figure f;
  double cpu0 = server.cpu_seconds();
  auto t0 = Steady::now();
  while (std::chrono::duration<double>(Steady::now() - t0).count() < seconds) {
    if (!one()) throw std::runtime_error("a request failed");
    ++f.count;
  }
  f.wall_s = std::chrono::duration<double>(Steady::now() - t0).count();
  f.server_cpu_s = server.cpu_seconds() - cpu0;
  return f;
}

// Reads a whole stream from `url` over one WebSocket; `expected` bytes.
Figure read_stream(Server& server, const std::string& url, std::shared_ptr<const net::TlsClient> tls,
                   size_t max_message, size_t expected) {
  Figure f;
  double cpu0 = server.cpu_seconds();
  auto t0 = Steady::now();
  boost::asio::io_context io;
  size_t bytes = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto ws = co_await net::connect_websocket(url, "", std::chrono::seconds(10), tls);
        if (!ws.ok()) throw std::runtime_error(ws.error().message());
        ws->read_message_max(max_message + 1024);
        boost::beast::flat_buffer buffer;
        boost::system::error_code ec;
        while (!ec) {
          co_await ws->async_read(buffer, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
          bytes += buffer.size();
          buffer.consume(buffer.size());
        }
      },
      boost::asio::detached);
  io.run();
  if (bytes != expected) throw std::runtime_error(fmt::format("streamed {} of {} bytes", bytes, expected));
  f.count = static_cast<long>(bytes >> 20);
  f.wall_s = std::chrono::duration<double>(Steady::now() - t0).count();
  f.server_cpu_s = server.cpu_seconds() - cpu0;
  return f;
}

// `n` messages of `size` bytes.
Figure stream(Server& server, const std::string& base, std::shared_ptr<const net::TlsClient> tls, size_t n,
              size_t size) {
  return read_stream(server, fmt::format("{}/stream?n={}&size={}", base, n, size), std::move(tls), size, n * size);
}

// Each recorded workload's frames, as the gateway encodes and sends them,
// over WS and over WSS: the transfer time, and the display's end-to-end
// frame rate on one core (encoding + sending) each way.
void workload_figures(Server& https, Server& http, const std::string& wss, const std::string& ws,
                      const std::shared_ptr<const net::TlsClient>& trust, const std::string& dir) {
  std::printf("\ndisplay frames over one WebSocket (recorded workloads in %s, the gateway's default encoding)\n",
              dir.c_str());
  std::printf("%-12s %7s %9s %10s %10s %10s %14s %14s %7s\n", "workload", "frames", "MiB", "encode s", "WS s", "WSS s",
              "WS frames/s", "WSS frames/s", "ratio");
  for (const char* name : {"terminal", "window-drag", "slideshow", "fullscreen"}) {
    auto sequence = bench::load_sequence(dir, name, 0);
    if (!sequence.ok()) {
      std::printf("%-12s %s\n", name, sequence.error().message().c_str());
      continue;
    }
    auto replay = bench::replay_oriel(*sequence, {.passes = 1, .keep_output = true});
    if (!replay.ok) throw std::runtime_error(std::string(name) + ": " + replay.error);
    size_t bytes = 0, largest = 0;
    for (const auto& f : replay.output) bytes += f.size(), largest = std::max(largest, f.size());
    // At least 64 MiB per stream, for a time that is not all connection set-up.
    size_t repeat = std::max<size_t>(1, (64u << 20) / std::max<size_t>(1, bytes));
    https.set_frames(&replay.output);
    http.set_frames(&replay.output);
    auto best = [&](Server& server, const std::string& base, const std::shared_ptr<const net::TlsClient>& tls) {
      double fastest = 1e9;
      for (int pass = 0; pass < 3; ++pass) {
        auto f = read_stream(server, fmt::format("{}/frames?repeat={}", base, repeat), tls, largest, bytes * repeat);
        fastest = std::min(fastest, f.wall_s);
      }
      return fastest;
    };
    double ws_s = best(http, ws, nullptr), wss_s = best(https, wss, trust);
    double frames = static_cast<double>(replay.output.size() * repeat);
    double encode_s = replay.encode_seconds * static_cast<double>(repeat);
    double ws_rate = frames / (encode_s + ws_s), wss_rate = frames / (encode_s + wss_s);
    std::printf("%-12s %7.0f %9.1f %10.3f %10.3f %10.3f %14.0f %14.0f %6.3fx\n", name, frames,
                static_cast<double>(bytes * repeat) / (1 << 20), encode_s, ws_s, wss_s, ws_rate, wss_rate,
                ws_rate / wss_rate);
  }
}

void print_stream(const char* what, const Figure& f) {
  std::printf("%-58s %8.0f MiB/s wall %8.0f MiB/s per server CPU second (%ld MiB)\n", what, f.count / f.wall_s,
              f.count / f.server_cpu_s, f.count);
}

void print(const char* what, const Figure& f) {
  std::printf("%-58s %8.0f /s wall   %8.0f /s per server CPU second   (%ld in %.1f s)\n", what, f.count / f.wall_s,
              f.count / f.server_cpu_s, f.count, f.wall_s);
}

}  // namespace
}  // namespace oriel

int main(int argc, char** argv) try {
  using namespace oriel;
  double seconds = 3;
  std::string workloads = bench::workload_dir();
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (std::string(argv[i]) == "--workload-dir" && i + 1 < argc) {
      workloads = argv[++i];
    } else {
      throw std::runtime_error("usage: tls_bench [--seconds N] [--workload-dir DIR]");
    }
  }
  std::string dir = (std::filesystem::temp_directory_path() / ("tls-bench-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  std::string ca_pem;
  auto tls = must(net::TlsServer::load(must(bench_certificate(dir, ca_pem), "certificate")), "TLS");

  Server https(tls), http(nullptr);
  std::string https_url = "https://127.0.0.1:" + std::to_string(https.port());
  std::string http_url = "http://127.0.0.1:" + std::to_string(http.port());
  auto trust = must(net::TlsClient::create({.ca_pem = ca_pem}), "TLS client");

  std::printf("tls_bench: %.0f s per figure, server on one io thread, one client thread\n", seconds);
  // A new connection per request: the handshake dominates.
  print("HTTPS, new connection each, full handshake", measure(https, seconds, [&] {
          auto fresh = must(net::TlsClient::create({.ca_pem = ca_pem}), "TLS client");  // no session to resume
          auto c = must(net::ApiClient::create(https_url, "", fresh), "client");
          return c.get("/ping").ok();
        }));
  print("HTTPS, new connection each, resumed session", measure(https, seconds, [&] {
          auto c = must(net::ApiClient::create(https_url, "", trust), "client");
          return c.get("/ping").ok();
        }));
  print("HTTP, new connection each", measure(http, seconds, [&] {
          auto c = must(net::ApiClient::create(http_url), "client");
          return c.get("/ping").ok();
        }));
  // One keep-alive connection: the record layer alone.
  auto keep_https = must(net::ApiClient::create(https_url, "", trust), "client");
  auto keep_http = must(net::ApiClient::create(http_url), "client");
  print("HTTPS, one keep-alive connection", measure(https, seconds, [&] { return keep_https.get("/ping").ok(); }));
  print("HTTP, one keep-alive connection", measure(http, seconds, [&] { return keep_http.get("/ping").ok(); }));
  // 4,000 messages of 64 KiB (250 MiB): a busy desktop's encoded updates.
  std::string wss = "wss://127.0.0.1:" + std::to_string(https.port());
  std::string ws = "ws://127.0.0.1:" + std::to_string(http.port());
  print_stream("WSS, one WebSocket, 64 KiB binary messages", stream(https, wss, trust, 4000, 64 << 10));
  print_stream("WS, one WebSocket, 64 KiB binary messages", stream(http, ws, nullptr, 4000, 64 << 10));
  workload_figures(https, http, wss, ws, trust, workloads);
  std::filesystem::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "tls_bench: %s\n", e.what());
  return 1;
}
