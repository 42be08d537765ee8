// The gateway's WebSocket connections (net::WebSocketConnection on the
// io_context); frames come from the session thread through send(), which
// only queues.
#include "oriel/display/gateway.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/post.hpp>

#include "display_session.h"
#include "oriel/common/log.h"
#include "oriel/net/websocket.h"

namespace oriel::display {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxEarlyMessages = 64;  // held while the ticket is redeemed

bool is_user_input(const ClientMessage& m) {
  return std::holds_alternative<KeyEvent>(m) || std::holds_alternative<PointerEvent>(m) ||
         std::holds_alternative<ClipboardText>(m);
}

}  // namespace

// A browser's display connection. Its outbox holds at most the frames in
// flight plus cursor and clipboard messages: the session's flow control
// bounds it.
class Connection final : public ClientSink, public net::WebSocketConnection {
 public:
  Connection(Gateway& gateway, net::WebSocket&& ws, std::string session_id, std::string remote)
      : WebSocketConnection(std::move(ws), {.binary = true, .max_message_bytes = kMaxClientMessageBytes}),
        gateway_(gateway),
        session_id_(std::move(session_id)),
        remote_(std::move(remote)) {}

  const std::string& session_id() const { return session_id_; }
  bool has_session() const { return session_ != nullptr; }
  void set_session(std::shared_ptr<DisplaySession> s) { session_ = std::move(s); }
  // Attached: what arrived while the ticket was being redeemed goes first.
  void start_session(std::shared_ptr<DisplaySession> s) {
    session_ = std::move(s);
    session_->attach(shared());
    for (auto& m : early_) session_->input(this, std::move(m));
    early_.clear();
  }

  // ClientSink: from the session thread.
  void send(std::string message) override { WebSocketConnection::send(std::move(message)); }
  void close(CloseCode code, std::string reason) override {
    WebSocketConnection::close(static_cast<std::uint16_t>(code), std::move(reason));
  }
  // On the io_context.
  void begin_close(CloseCode code, std::string reason) {
    WebSocketConnection::begin_close(static_cast<std::uint16_t>(code), std::move(reason));
  }
  std::shared_ptr<Connection> shared() { return std::static_pointer_cast<Connection>(shared_from_this()); }

 private:
  void received(std::string_view bytes, bool binary) override;
  void ended() override { gateway_.closed(shared()); }

  Gateway& gateway_;
  std::string session_id_;
  std::string remote_;
  std::shared_ptr<DisplaySession> session_;
  std::vector<ClientMessage> early_;  // received before the session was attached
  std::chrono::steady_clock::time_point last_activity_;
};

void Connection::received(std::string_view bytes, bool binary) {
  if (!binary) return begin_close(CloseCode::kProtocolError, "text messages are not part of the display protocol");
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

void Gateway::accept(const net::Request& request, net::WebSocket&& ws) {
  std::string session_id = request.params.count("session") ? request.params.at("session") : "";
  auto ticket = request.query.find("ticket");
  auto connection = std::make_shared<Connection>(*this, std::move(ws), session_id, request.remote_address);
  {
    MutexLock lock(mu_);
    if (stopping_) return connection->begin_close(CloseCode::kGoingAway, "the gateway is shutting down");
    open_[connection.get()] = connection;
  }
  connection->start_reading();
  if (ticket == request.query.end() || ticket->second.empty()) {
    return connection->begin_close(CloseCode::kBadTicket, "the display URL carries no ticket");
  }
  asio::post(control_, [this, connection, session_id, t = ticket->second] {
    auto target = hooks_.redeem(session_id, t);
    asio::post(connection->get_executor(),
               [this, connection, target = std::move(target)]() mutable { start(connection, std::move(target)); });
  });
}

void Gateway::start(const std::shared_ptr<Connection>& connection, Result<DisplayTarget> target) {
  if (!target.ok()) {
    auto code = target.error().code();
    bool ticket =
        code == ErrorCode::kNotFound || code == ErrorCode::kUnauthenticated || code == ErrorCode::kPermissionDenied;
    spdlog::info("display {}: refused: {}", connection->session_id(), target.error().message());
    return connection->begin_close(
        ticket ? CloseCode::kBadTicket : CloseCode::kDisplayUnavailable,
        ticket ? "the display ticket is invalid, expired or already used" : target.error().message());
  }
  std::shared_ptr<DisplaySession> session;
  {
    MutexLock lock(mu_);
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
    MutexLock lock(mu_);
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
  MutexLock lock(mu_);
  if (auto it = sessions_.find(session_id); it != sessions_.end()) it->second.session->end(code, std::move(reason));
}

void Gateway::move_desktop(const std::string& desktop_id, const std::string& vnc) {
  MutexLock lock(mu_);
  for (auto& [id, entry] : sessions_) {
    if (entry.session->target().desktop_id == desktop_id) entry.session->move_backend(vnc);
  }
}

void Gateway::stop() {
  std::map<std::string, Entry> sessions;
  {
    MutexLock lock(mu_);
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
  MutexLock lock(mu_);
  return sessions_.size();
}

std::vector<std::chrono::microseconds> Gateway::latencies() const {
  std::vector<std::chrono::microseconds> all;
  MutexLock lock(mu_);
  for (const auto& [id, entry] : sessions_) {
    auto l = entry.session->latencies();
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

}  // namespace oriel::display
