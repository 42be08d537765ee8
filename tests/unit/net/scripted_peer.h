// A small real HTTP/1.1 server on 127.0.0.1 (port 0) for client tests: each
// request is answered by a test-supplied function, and the server records
// what it saw (connections, requests, headers). Blocking Beast calls, one
// thread per connection; the destructor shuts every socket down and joins.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace oriel::net::testing {

struct SeenRequest {
  std::string method, target, body, authorization, content_type, host;
};

struct Reply {
  int status = 200;
  std::string body = "{}";
  std::string content_type = "application/json";
  bool close_after = false;            // close the connection silently after answering
  std::chrono::milliseconds delay{0};  // wait this long (or until shutdown) before answering
  std::string keep_alive;              // a Keep-Alive header value, e.g. "timeout=1"
};

class ScriptedPeer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  explicit ScriptedPeer(Handler handler) : handler_(std::move(handler)) {
    namespace asio = boost::asio;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedPeer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    stop_cv_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept()
    accept_thread_.join();
    for (auto& t : connection_threads_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int closed_connections() const { return closed_.load(); }
  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  // Blocks until `pred` holds or two seconds pass; returns whether it held.
  template <typename Pred>
  static bool eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

 private:
  void accept_loop() {
    for (;;) {
      boost::beast::error_code ec;
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(acceptor_.accept(ec));
      std::lock_guard lock(mu_);
      if (ec || stopping_) return;
      ++connections_;
      open_fds_.push_back(socket->native_handle());
      connection_threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  void serve(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      SeenRequest seen{std::string(req.method_string()),
                       std::string(req.target()),
                       req.body(),
                       std::string(req[http::field::authorization]),
                       std::string(req[http::field::content_type]),
                       std::string(req[http::field::host])};
      {
        std::lock_guard lock(mu_);
        requests_.push_back(seen);
      }
      Reply reply = handler_(seen);
      if (reply.delay.count() > 0) {
        std::unique_lock lock(mu_);
        if (stop_cv_.wait_for(lock, reply.delay, [this] { return stopping_; })) break;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, reply.content_type);
      if (!reply.keep_alive.empty()) res.set(http::field::keep_alive, reply.keep_alive);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || reply.close_after || !req.keep_alive()) break;
    }
    {
      // Forget the descriptor before closing it, so the destructor never
      // shuts down a number the process has reused for another socket.
      std::lock_guard lock(mu_);
      std::erase(open_fds_, socket.native_handle());
    }
    boost::beast::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    ++closed_;
  }

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::vector<std::thread> connection_threads_;  // GUARDED_BY(mu_) until the destructor
  std::atomic<int> connections_{0}, closed_{0};
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;              // GUARDED_BY(mu_)
  std::vector<int> open_fds_;          // GUARDED_BY(mu_)
  std::vector<SeenRequest> requests_;  // GUARDED_BY(mu_)
};

// Builds a JSON error answer the way orield does.
inline Reply json_error(int status, const std::string& code, const std::string& message) {
  return {status, R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})"};
}

}  // namespace oriel::net::testing
