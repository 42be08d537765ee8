// The gateway's WebSocket connections. Each is a reader coroutine and a
// writer coroutine on the io_context; frames come from the session thread
// through send(), which only queues (the queue holds at most the frames in
// flight plus cursor and clipboard messages).
#include "oriel/display/gateway.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>

#include "display_session.h"
#include "oriel/common/log.h"

namespace oriel::display {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::use_awaitable;

namespace {

constexpr auto kCloseGrace = std::chrono::seconds(5);  // a close that cannot be written: the socket is cut
constexpr size_t kMaxEarlyMessages = 64;                // held while the ticket is redeemed

// A close reason must fit a control frame (RFC 6455 §5.5: 125 bytes, 2 for the code).
std::string close_reason(std::string reason) {
  if (reason.size() > 123) {
    reason.resize(120);
    while (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0xC0) == 0x80) reason.pop_back();
    if (!reason.empty()) reason.pop_back();
    reason += "...";
  }
  return reason;
}

bool is_user_input(const ClientMessage& m) {
  return std::holds_alternative<KeyEvent>(m) || std::holds_alternative<PointerEvent>(m) ||
         std::holds_alternative<ClipboardText>(m);
}

}  // namespace

class Connection final : public ClientSink, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Gateway& gateway, api::WebSocket&& ws, std::string session_id, std::string remote)
      : gateway_(gateway), ws_(std::move(ws)), timer_(ws_.get_executor()), session_id_(std::move(session_id)),
        remote_(std::move(remote)) {
    ws_.binary(true);
    // Beast's own limit fails the connection at once, which can reset it
    // before the client reads the close frame; up to 4 MiB we read the
    // message and close cleanly with 1009 ourselves.
    ws_.read_message_max(4 * kMaxClientMessageBytes);
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.idle_timeout = std::chrono::seconds(30);
    t.keep_alive_pings = true;
    ws_.set_option(t);
  }

  const std::string& session_id() const { return session_id_; }
  auto get_executor() { return ws_.get_executor(); }
  bool has_session() const { return session_ != nullptr; }
  void set_session(std::shared_ptr<DisplaySession> s) { session_ = std::move(s); }
  // Attached: what arrived while the ticket was being redeemed goes first.
  void start_session(std::shared_ptr<DisplaySession> s) {
    session_ = std::move(s);
    session_->attach(shared_from_this());
    for (auto& m : early_) session_->input(this, std::move(m));
    early_.clear();
  }

  // ClientSink: from the session thread.
  void send(std::string message) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      self->queue(std::move(m));
    });
  }
  void close(CloseCode code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, r = std::move(reason)]() mutable {
      self->begin_close(code, std::move(r));
    });
  }

  // On the io_context from here.
  void begin_close(CloseCode code, std::string reason) {
    if (closing_) return;
    closing_ = true;
    close_.code = static_cast<std::uint16_t>(code);
    close_.reason = close_reason(std::move(reason));
    outbox_.clear();  // what was not sent is stale now
    if (!writing_) start_writer();
    // A client that does not read cannot take the close frame either.
    timer_.expires_after(kCloseGrace);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->cut();
    });
  }
  void cut() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  void start_reader() { asio::co_spawn(ws_.get_executor(), read_loop(shared_from_this()), asio::detached); }

 private:
  void queue(std::string message) {
    if (closing_) return;
    outbox_.push_back(std::move(message));
    if (!writing_) start_writer();
  }
  void start_writer() {
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), write_loop(shared_from_this()), asio::detached);
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<Connection> self);
  static asio::awaitable<void> read_loop(std::shared_ptr<Connection> self);
  void handle(std::string_view bytes);

  Gateway& gateway_;
  api::WebSocket ws_;
  asio::steady_timer timer_;
  std::string session_id_;
  std::string remote_;
  std::shared_ptr<DisplaySession> session_;
  std::deque<std::string> outbox_;
  std::vector<ClientMessage> early_;  // received before the session was attached
  bool writing_ = false;
  bool closing_ = false;
  websocket::close_reason close_;
  std::chrono::steady_clock::time_point last_activity_;
};

asio::awaitable<void> Connection::write_loop(std::shared_ptr<Connection> self) {
  beast::error_code ec;
  while (!self->outbox_.empty()) {
    std::string message = std::move(self->outbox_.front());
    self->outbox_.pop_front();
    co_await self->ws_.async_write(asio::buffer(message), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
  }
  if (!ec && self->closing_) {
    co_await self->ws_.async_close(self->close_, asio::redirect_error(use_awaitable, ec));
    self->timer_.cancel();
  }
  self->writing_ = false;
  if (ec) self->cut();
}

asio::awaitable<void> Connection::read_loop(std::shared_ptr<Connection> self) {
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    co_await self->ws_.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        spdlog::info("display {}: {}: a message over {} bytes; closed", self->session_id_, self->remote_,
                     kMaxClientMessageBytes);
      }
      break;
    }
    if (buffer.size() > kMaxClientMessageBytes) {
      self->begin_close(CloseCode::kTooBig, fmt::format("a message of more than {} bytes", kMaxClientMessageBytes));
    } else if (!self->ws_.got_binary()) {
      self->begin_close(CloseCode::kProtocolError, "text messages are not part of the display protocol");
    } else {
      auto data = buffer.cdata();
      self->handle(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    buffer.consume(buffer.size());
  }
  self->timer_.cancel();
  self->gateway_.closed(self);
}

void Connection::handle(std::string_view bytes) {
  if (closing_) return;
  auto message = parse_client_message(bytes);
  if (!message.ok()) {
    spdlog::info("display {}: {}: {}", session_id_, remote_, message.error().message());
    return begin_close(CloseCode::kProtocolError, message.error().message());
  }
  if (!session_) {  // the ticket is still being redeemed
    if (early_.size() >= kMaxEarlyMessages) {
      return begin_close(CloseCode::kProtocolError, "too many messages before the display was ready");
    }
    early_.push_back(std::move(*message));
    return;
  }
  if (is_user_input(*message)) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_activity_ >= gateway_.timings_.activity_interval && gateway_.hooks_.activity) {
      last_activity_ = now;
      asio::post(gateway_.control_, [&gateway = gateway_, id = session_id_] { gateway.hooks_.activity(id); });
    }
  }
  session_->input(this, std::move(*message));
}

Gateway::Gateway(GatewayHooks hooks, size_t encoder_threads, SessionTimings timings)
    : hooks_(std::move(hooks)), timings_(timings), encoders_(std::max<size_t>(1, encoder_threads)), control_(1) {}

Gateway::~Gateway() {
  stop();
  control_.join();
  encoders_.join();
}

void Gateway::accept(const api::Request& request, api::WebSocket&& ws) {
  std::string session_id = request.params.count("session") ? request.params.at("session") : "";
  auto ticket = request.query.find("ticket");
  auto connection = std::make_shared<Connection>(*this, std::move(ws), session_id, request.remote_address);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return connection->begin_close(CloseCode::kGoingAway, "the gateway is shutting down");
    open_[connection.get()] = connection;
  }
  connection->start_reader();
  if (ticket == request.query.end() || ticket->second.empty()) {
    return connection->begin_close(CloseCode::kBadTicket, "the display URL carries no ticket");
  }
  asio::post(control_, [this, connection, session_id, t = ticket->second] {
    auto target = hooks_.redeem(session_id, t);
    asio::post(connection->get_executor(), [this, connection, target = std::move(target)]() mutable {
      start(connection, std::move(target));
    });
  });
}

void Gateway::start(std::shared_ptr<Connection> connection, Result<DisplayTarget> target) {
  if (!target.ok()) {
    auto code = target.error().code();
    bool ticket = code == ErrorCode::kNotFound || code == ErrorCode::kUnauthenticated ||
                  code == ErrorCode::kPermissionDenied;
    spdlog::info("display {}: refused: {}", connection->session_id(), target.error().message());
    return connection->begin_close(ticket ? CloseCode::kBadTicket : CloseCode::kDisplayUnavailable,
                                   ticket ? "the display ticket is invalid, expired or already used"
                                          : target.error().message());
  }
  std::shared_ptr<DisplaySession> session;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !open_.count(connection.get())) return;
    Entry& entry = sessions_[target->session_id];
    if (!entry.session) entry.session = std::make_shared<DisplaySession>(*target, encoders_, timings_);
    ++entry.connections;
    session = entry.session;
  }
  spdlog::info("display {}: connected to desktop {}", target->session_id, target->desktop_id);
  connection->start_session(std::move(session));
}

void Gateway::closed(const std::shared_ptr<Connection>& connection) {
  std::shared_ptr<DisplaySession> last;  // destroyed off the io thread: it joins its thread
  {
    std::lock_guard lock(mu_);
    open_.erase(connection.get());
    auto it = sessions_.find(connection->session_id());
    if (it != sessions_.end() && connection->has_session()) {
      it->second.session->detach(connection.get());
      if (--it->second.connections == 0) {
        last = std::move(it->second.session);
        sessions_.erase(it);
      }
    }
  }
  if (connection->has_session() && hooks_.disconnected) {
    asio::post(control_, [this, id = connection->session_id()] { hooks_.disconnected(id); });
  }
  connection->set_session(nullptr);
  if (last) asio::post(control_, [last = std::move(last)]() mutable { last.reset(); });
}

void Gateway::end_session(const std::string& session_id, CloseCode code, std::string reason) {
  std::lock_guard lock(mu_);
  if (auto it = sessions_.find(session_id); it != sessions_.end()) it->second.session->end(code, std::move(reason));
}

void Gateway::move_desktop(const std::string& desktop_id, const std::string& vnc) {
  std::lock_guard lock(mu_);
  for (auto& [id, entry] : sessions_) {
    if (entry.session->target().desktop_id == desktop_id) entry.session->move_backend(vnc);
  }
}

void Gateway::stop() {
  std::map<std::string, Entry> sessions;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [raw, weak] : open_) {
      if (auto c = weak.lock()) c->close(CloseCode::kGoingAway, "the gateway is shutting down");
    }
    sessions.swap(sessions_);
  }
  // Joined here, so no session thread sends to a connection afterwards.
  for (auto& [id, entry] : sessions) entry.session->stop();
}

size_t Gateway::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::vector<std::chrono::microseconds> Gateway::latencies() const {
  std::vector<std::chrono::microseconds> all;
  std::lock_guard lock(mu_);
  for (const auto& [id, entry] : sessions_) {
    auto l = entry.session->latencies();
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

}  // namespace oriel::display
