// The HTTP/1.1 server: one coroutine per connection on the io_context, the
// handlers on a worker pool.
#include "oriel/net/http.h"  // first: it includes <utility> before Asio

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <optional>
#include <set>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <openssl/ssl.h>

#include "oriel/common/log.h"
#include "oriel/common/log_context.h"
#include "oriel/common/mutex.h"
#include "oriel/net/tls.h"

namespace oriel::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// After an error reply, how long the client may go on sending (its body, say)
// while we discard it, so that closing does not reset the connection before it
// has read the reply. Bounded in time and bytes.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kLingerBytes = 16 << 20;
// Backoff when accept() fails for a reason that repeats at once (EMFILE).
constexpr std::chrono::milliseconds kAcceptBackoff{100};

using RawRequest = http::request<http::string_body>;
using RawResponse = http::response<http::string_body>;

// A request's header as a Request (its body comes later). `peer` holds what
// the connection knows: the address, TLS, a client certificate.
Result<Request> to_request(const http::request_header<>& msg, const Request& peer) {
  auto target = TRY(parse_target(std::string_view(msg.target().data(), msg.target().size())));
  Request req;
  req.method = std::string(msg.method_string());
  req.path = std::move(target.path);
  req.query = std::move(target.query);
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto [it, inserted] = req.headers.try_emplace(std::move(name), field.value());
    if (!inserted) it->second += ", " + std::string(field.value());  // RFC 7230 §3.2.2
  }
  req.remote_address = peer.remote_address;
  req.secure = peer.secure;
  req.client_certificate = peer.client_certificate;
  return req;
}

bool is_token(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](unsigned char c) {
    return std::isalnum(c) || kExtra.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// A handler's reply that cannot be framed safely: a status outside 200-599, a
// field that could split the response, or a field the server owns.
std::optional<std::string> invalid_reply(const Response& r) {
  if (r.status < 200 || r.status > 599) return fmt::format("status {}", r.status);
  auto bad_value = [](std::string_view v) { return v.find_first_of(std::string_view("\r\n\0", 3)) != v.npos; };
  if (bad_value(r.content_type)) return std::string("content type");
  for (const auto& [name, value] : r.headers) {
    beast::string_view n(name.data(), name.size());
    if (!is_token(name) || bad_value(value) || beast::iequals(n, "content-length") ||
        beast::iequals(n, "transfer-encoding") || beast::iequals(n, "connection")) {
      return fmt::format("header field '{}'", name);
    }
  }
  return std::nullopt;
}

// What every answer says unless its handler says otherwise: nothing is
// cached, sniffed, framed or leaks a referrer, and a page runs only its own
// scripts and styles.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

RawResponse to_message(const Response& r, unsigned version, bool keep_alive, bool head,
                       std::chrono::milliseconds idle_timeout, bool secure) {
  RawResponse res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "orield");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::content_type, r.content_type);
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  if (secure) res.set(http::field::strict_transport_security, "max-age=31536000");
  std::set<std::string, std::less<>> replaced;
  for (const auto& [name, value] : r.headers) {
    // The first field of a name replaces a default; later ones add (Set-Cookie).
    std::string key(name);
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (replaced.insert(std::move(key)).second) {
      res.set(name, value);
    } else {
      res.insert(name, value);
    }
  }
  res.body() = r.body;
  res.keep_alive(keep_alive);
  // How long an idle connection stays open, so that a client reconnects
  // rather than race our close with its next request (RFC 9112 §9.8).
  if (keep_alive) res.set("Keep-Alive", fmt::format("timeout={}", idle_timeout.count() / 1000));
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET reply (RFC 7231 §4.3.2)
  return res;
}

// The reply to a request the parser rejected, or nothing when there is no one
// to reply to (the peer closed or went silent, or the server is stopping).
std::optional<Response> parse_failure(const beast::error_code& ec) {
  if (ec == http::error::body_limit) return http_error(413, "too_large", "the request body is too large");
  if (ec == http::error::header_limit) return http_error(431, "too_large", "the request header is too large");
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec.category() != http::make_error_code(http::error::bad_method).category()) {
    return std::nullopt;
  }
  return Response::error(Error::InvalidArgument(fmt::format("malformed HTTP request: {}", ec.message())));
}

// Runs fn on the pool; the awaiting coroutine resumes on its own executor with
// fn's result. The coroutine (and everything fn captured) stays alive until
// then, and the io_context keeps work counted while fn runs.
template <typename T, typename Fn>
asio::awaitable<T> run_on(asio::thread_pool& pool, Fn fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      [&pool](auto handler, Fn fn) {
        auto home = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
        asio::post(pool, [handler = std::move(handler), fn = std::move(fn), home]() mutable {
          T result = fn();
          asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      use_awaitable, std::move(fn));
}

// A network in CIDR form; an address alone is a network of one.
struct Network {
  asio::ip::address address;
  unsigned short prefix = 0;

  static Result<Network> parse(const std::string& text) {
    auto slash = text.find('/');
    beast::error_code ec;
    Network n{asio::ip::make_address(text.substr(0, slash), ec), 0};
    if (ec) return Error::InvalidArgument(fmt::format("'{}' is not an address or a CIDR network", text));
    unsigned max = n.address.is_v4() ? 32 : 128;
    n.prefix = static_cast<unsigned short>(max);
    if (slash != std::string::npos) {
      std::string bits = text.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit) ||
          std::stoul(bits) > max) {
        return Error::InvalidArgument(fmt::format("'{}' has a bad prefix length", text));
      }
      n.prefix = static_cast<unsigned short>(std::stoul(bits));
    }
    return n;
  }

  bool contains(const asio::ip::address& a) const {
    if (a.is_v4() != address.is_v4()) return false;
    if (a.is_v4()) {
      return asio::ip::make_network_v4(a.to_v4(), prefix).canonical() ==
             asio::ip::make_network_v4(address.to_v4(), prefix).canonical();
    }
    return asio::ip::make_network_v6(a.to_v6(), prefix).canonical() ==
           asio::ip::make_network_v6(address.to_v6(), prefix).canonical();
  }
};

// Behind a trusted reverse proxy, the client is the proxy's last
// X-Forwarded-For entry (the address the proxy saw; earlier entries are
// the client's word), and TLS ended at the proxy if X-Forwarded-Proto says so.
bool is_proxy(const asio::ip::address& peer, const std::vector<Network>& proxies) {
  return std::any_of(proxies.begin(), proxies.end(), [&](const Network& n) { return n.contains(peer); });
}

void apply_forwarded(Request& req, const std::vector<Network>& proxies) {
  beast::error_code ec;
  auto peer = asio::ip::make_address(req.remote_address, ec);
  if (ec || !is_proxy(peer, proxies)) return;
  if (auto it = req.headers.find("x-forwarded-for"); it != req.headers.end()) {
    std::string last = it->second.substr(it->second.rfind(',') + 1);
    last.erase(0, last.find_first_not_of(' '));
    last.erase(last.find_last_not_of(' ') + 1);
    auto client = asio::ip::make_address(last, ec);
    if (!ec) req.remote_address = client.to_string();
  }
  if (auto it = req.headers.find("x-forwarded-proto"); it != req.headers.end()) req.secure = it->second == "https";
}

// Whose share of the connection budget a peer uses: its address, an IPv6
// peer's /64 (one subscriber's whole prefix), and "" for a trusted proxy,
// which carries many clients.
std::string budget_key(const asio::ip::address& peer, const std::vector<Network>& proxies) {
  if (is_proxy(peer, proxies)) return "";
  if (peer.is_v4()) return peer.to_string();
  auto v6 = peer.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  return asio::ip::make_network_v6(v6, 64).canonical().to_string();
}

// A 403 for a browser request from a page of another origin (RFC 6454 §7;
// RFC 6455 §10.2 for WebSockets).
std::optional<Response> cross_origin(const Request& req, const std::vector<std::string>& allowed) {
  auto origin = req.headers.find("origin");
  if (origin == req.headers.end()) return std::nullopt;  // not a browser, or a same-origin GET
  auto host = req.headers.find("host");
  std::string own = host == req.headers.end() ? "" : (req.secure ? "https://" : "http://") + host->second;
  const std::string& o = origin->second;
  if (beast::iequals(o, own) ||
      std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return beast::iequals(o, a); })) {
    return std::nullopt;
  }
  return http_error(403, "cross_origin", fmt::format("requests from pages at {} are refused", o.substr(0, 100)));
}

}  // namespace

struct HttpServer::State {
  State(asio::io_context& io, const Router& r, HttpLimits l, asio::thread_pool& w, asio::thread_pool& b)
      : router(r), limits(l), workers(w), bounded(b), acceptor(io) {}

  const Router& router;
  const HttpLimits limits;
  std::shared_ptr<TlsServer> tls;                            // null: plain HTTP; set before listen()
  std::vector<Network> proxies;                              // set before listen()
  std::vector<std::string> origins;                          // set before listen()
  std::function<bool(const Request&)> credentials_accepted;  // set before listen()
  asio::thread_pool& workers;                                // valid while !stopping: the server joins it in stop()
  asio::thread_pool& bounded;                                // Lane::kBounded; likewise
  std::atomic<size_t> bounded_waiting{0};                    // running or queued there
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};

  mutable Mutex mu;
  std::set<Session*> sessions ORIEL_GUARDED_BY(mu);
  // The connection budget: open connections and WebSockets, in all and by
  // budget_key().
  size_t open ORIEL_GUARDED_BY(mu) = 0;
  std::unordered_map<std::string, size_t> open_by_key ORIEL_GUARDED_BY(mu);

  // A place in the budget for a new connection from `peer`, held until the
  // connection (or the WebSocket it becomes) is gone; null when there is none.
  static std::shared_ptr<void> admit(const std::shared_ptr<State>& state, const asio::ip::address& peer);

  // Accepts until the acceptor closes. Holds only this state, never the
  // server, which may be gone by the time an aborted accept completes.
  static asio::awaitable<void> accept_loop(std::shared_ptr<State> state);
};

std::shared_ptr<void> HttpServer::State::admit(const std::shared_ptr<State>& state, const asio::ip::address& peer) {
  std::string key = budget_key(peer, state->proxies);
  MutexLock lock(state->mu);
  size_t& mine = state->open_by_key[key];
  bool over_total = state->open >= state->limits.max_connections;
  if (over_total || (!key.empty() && mine >= state->limits.max_connections_per_address)) {
    if (mine == 0) state->open_by_key.erase(key);
    // Rate-limited in effect: one line per refused connection would be the
    // attacker's to write, so only the first of each thousand is logged.
    static std::atomic<uint64_t> refused{0};
    if (refused++ % 1000 == 0) {
      spdlog::warn("http: connection from {} refused: {} ({} open in all, {} from it)", peer.to_string(),
                   over_total ? "the server's connection limit" : "the per-address connection limit", state->open,
                   mine);
    }
    return nullptr;
  }
  ++mine;
  ++state->open;
  class Place {
   public:
    Place(std::shared_ptr<State> s, std::string k) : state(std::move(s)), key(std::move(k)) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() {
      MutexLock lock(state->mu);
      --state->open;
      if (auto it = state->open_by_key.find(key); it != state->open_by_key.end() && --it->second == 0) {
        state->open_by_key.erase(it);
      }
    }

   private:
    std::shared_ptr<State> state;
    std::string key;
  };
  return std::make_shared<Place>(state, std::move(key));
}

// One connection. Owned by its coroutine; registered in State::sessions so
// that stop() can close it.
class HttpServer::Session {
 public:
  Session(tcp::socket socket, std::shared_ptr<State> state, std::shared_ptr<void> budget)
      : stream_(beast::tcp_stream(std::move(socket))), state_(std::move(state)) {
    stream_.hold(std::move(budget));
    MutexLock lock(state_->mu);
    state_->sessions.insert(this);
  }
  ~Session() {
    MutexLock lock(state_->mu);
    state_->sessions.erase(this);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Ends every pending operation; the coroutine then finishes.
  void close() {
    beast::error_code ec;
    stream_.next_layer().socket().close(ec);
  }

  static asio::awaitable<void> run(std::shared_ptr<Session> self) { co_await self->serve(); }

 private:
  asio::awaitable<void> serve();
  asio::awaitable<bool> handshake();
  asio::awaitable<beast::error_code> read_request(http::request_parser<http::string_body>& parser,
                                                  beast::flat_buffer& buffer, Result<Request>& head, Lane& lane,
                                                  std::optional<Response>& refusal);
  asio::awaitable<std::optional<Response>> admit_body(http::request_parser<http::string_body>& parser,
                                                      const Result<Request>& head, Lane& lane);
  asio::awaitable<Response> handle(Result<Request>&& head, std::string&& body, Lane lane);
  asio::awaitable<bool> upgrade(const RawRequest& msg, Result<Request>& req);
  void forget();
  static asio::awaitable<Response> dispatch_on(asio::thread_pool& pool, std::shared_ptr<State> state,
                                               Request&& request);
  static asio::awaitable<bool> check_on_workers(std::shared_ptr<State> state, Request head);
  asio::awaitable<bool> write(const Response& r, unsigned version, bool keep_alive, bool head);
  asio::awaitable<void> linger_and_close();

  Stream stream_;
  std::shared_ptr<State> state_;
  Request peer_;  // the connection's address, TLS and client certificate
  // A request on it was authenticated (or its TLS client certificate was):
  // from then on it has the long keep-alive idle time.
  bool authenticated_ = false;
};

// The TLS handshake, within its timeout; notes a verified client certificate.
// The connection's TLS state is made only once the client has sent its first
// bytes, so that a connection opened and left silent costs little.
asio::awaitable<bool> HttpServer::Session::handshake() {
  if (!state_->tls) co_return true;
  beast::error_code ec;
  auto& socket = stream_.next_layer().socket();
  asio::steady_timer deadline(socket.get_executor(), state_->limits.handshake_timeout);
  auto waiting = std::make_shared<bool>(true);
  deadline.async_wait([waiting, &socket](const beast::error_code& e) {
    beast::error_code ignored;
    if (!e && *waiting) socket.cancel(ignored);
  });
  co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
  *waiting = false;
  deadline.cancel();
  if (ec) co_return false;
  stream_.start_tls(state_->tls->context());
  Stream::Tls* tls = stream_.tls();
  stream_.next_layer().expires_after(state_->limits.handshake_timeout);
  co_await tls->async_handshake(ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    spdlog::debug("{}: TLS handshake failed: {}", peer_.remote_address, ec.message());
    co_return false;
  }
  peer_.secure = true;
  X509* cert = SSL_get0_peer_certificate(tls->native_handle());
  if (cert != nullptr && SSL_get_verify_result(tls->native_handle()) == X509_V_OK) {
    std::array<char, 256> cn{};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(), cn.size());
    peer_.client_certificate = {cn.data(), certificate_fingerprint(cert)};
    authenticated_ = true;
  }
  co_return true;
}

asio::awaitable<void> HttpServer::Session::serve() {
  beast::error_code ec;
  peer_.remote_address = stream_.next_layer().socket().remote_endpoint(ec).address().to_string();
  stream_.next_layer().socket().set_option(tcp::no_delay(true), ec);
  bool shook = co_await handshake();
  auto& socket = stream_.next_layer().socket();  // only now: the handshake may have moved it under TLS
  if (!shook) {
    socket.close(ec);
    co_return;
  }
  beast::flat_buffer buffer;  // bytes past one request (pipelining) stay here for the next
  while (!state_->stopping) {
    http::request_parser<http::string_body> parser;
    Result<Request> request = Error::InvalidArgument("no request read");  // its header, once read
    Lane lane = Lane::kWorkers;
    std::optional<Response> refusal;
    ec = co_await read_request(parser, buffer, request, lane, refusal);
    if (refusal) {  // its body was not wanted: not read, and the connection ends
      spdlog::debug("{}: body refused before reading it -> {}", peer_.remote_address, refusal->status);
      if (co_await write(*refusal, parser.get().version(), false, false)) co_await linger_and_close();
      co_return;
    }
    if (ec) {
      auto reply = parse_failure(ec);
      if (!reply || state_->stopping) break;
      spdlog::debug("{}: rejected request: {} -> {}", peer_.remote_address, ec.message(), reply->status);
      if (co_await write(*reply, 11, false, false)) co_await linger_and_close();
      co_return;
    }
    auto started = std::chrono::steady_clock::now();
    RawRequest msg = parser.release();
    unsigned version = msg.version();
    bool keep_alive = msg.keep_alive();
    bool head = msg.method() == http::verb::head;
    if (co_await upgrade(msg, request)) co_return;
    std::string method(msg.method_string());
    std::string target(msg.target());
    Response res = co_await handle(std::move(request), std::move(msg.body()), lane);
    if (res.authenticated) authenticated_ = true;
    bool written = co_await write(res, version, keep_alive, head);
    {
      auto id =
          std::find_if(res.headers.begin(), res.headers.end(), [](const auto& h) { return h.first == "X-Request-Id"; });
      RequestIdScope scope(id == res.headers.end() ? std::string() : id->second);
      spdlog::debug("{} {} {} {:.1f}ms {}", method, target.substr(0, target.find('?')), res.status,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count(),
                    peer_.remote_address);
    }
    if (!written || !keep_alive) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// Reads the header within its timeout (short until the connection has
// authenticated), then the body within the read timeout, if admit_body()
// lets it in; else `refusal` is the answer. Between the two is where a later
// WebSocket upgrade would take the stream over, and where
// "Expect: 100-continue" is answered (RFC 7231 §5.1.1). `head` is the
// header decoded (with a trusted proxy's X-Forwarded-*), and `lane` is where
// the request's route runs.
asio::awaitable<beast::error_code> HttpServer::Session::read_request(http::request_parser<http::string_body>& parser,
                                                                     beast::flat_buffer& buffer, Result<Request>& head,
                                                                     Lane& lane, std::optional<Response>& refusal) {
  const HttpLimits& limits = state_->limits;
  parser.body_limit(limits.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(limits.max_header_bytes, UINT32_MAX)));
  beast::error_code ec;
  auto& tcp = stream_.next_layer();
  tcp.expires_after(authenticated_ ? limits.read_timeout : limits.header_timeout);
  co_await http::async_read_header(stream_, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  head = to_request(parser.get().base(), peer_);
  if (head.ok()) apply_forwarded(*head, state_->proxies);
  refusal = co_await admit_body(parser, head, lane);
  if (refusal || parser.is_done()) co_return ec;
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
    tcp.expires_after(limits.write_timeout);
    co_await http::async_write(stream_, go_on, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
  }
  tcp.expires_after(limits.read_timeout);
  co_await http::async_read(stream_, buffer, parser, asio::redirect_error(use_awaitable, ec));
  co_return ec;
}

// How much body the request may bring, from its header: a kBounded route's
// only a little (413 beyond it); an unauthenticated request's a little too,
// and a larger one only once check_credentials() accepts its header, else
// the answer is 401 and the body is never read. Sets `lane` for the route.
asio::awaitable<std::optional<Response>> HttpServer::Session::admit_body(
    http::request_parser<http::string_body>& parser, const Result<Request>& head, Lane& lane) {
  if (!head.ok()) co_return std::nullopt;  // handle() answers the bad target
  lane = state_->router.lane_for(*head);
  if (parser.is_done()) co_return std::nullopt;  // no body
  const HttpLimits& limits = state_->limits;
  size_t small = std::min(limits.max_unauthenticated_body_bytes, limits.max_body_bytes);
  auto declared = parser.content_length();  // none when chunked: its size is unknown
  if (declared && *declared <= small) co_return std::nullopt;
  if (lane == Lane::kBounded) {
    if (declared) co_return http_error(413, "too_large", fmt::format("this request's body may be {} bytes", small));
    parser.body_limit(small);  // a chunked body is held to it as it comes
    co_return std::nullopt;
  }
  if (!state_->credentials_accepted) co_return std::nullopt;
  if (!co_await check_on_workers(state_, *head)) {
    co_return Response::error(Error::Unauthenticated(
        fmt::format("a request body over {} bytes needs valid credentials in its header", small)));
  }
  co_return std::nullopt;
}

// Runs check_credentials() on the workers. Not a coroutine, for the reason
// given at dispatch_on().
asio::awaitable<bool> HttpServer::Session::check_on_workers(std::shared_ptr<State> state, Request head) {
  asio::thread_pool& pool = state->workers;
  return run_on<bool>(pool, [state = std::move(state), head = std::move(head)]() {
    return !state->stopping && state->credentials_accepted(head);
  });
}

// Hands a WebSocket upgrade on a WebSocket route to its handler, after the
// handshake (RFC 6455 §4.2). Returns false, leaving the connection to HTTP,
// when the request is no upgrade or its path has no WebSocket route.
asio::awaitable<bool> HttpServer::Session::upgrade(const RawRequest& msg, Result<Request>& req) {
  if (!websocket::is_upgrade(msg) || state_->stopping || !req.ok()) co_return false;
  const WebSocketHandler* handler = state_->router.websocket_for(*req);
  if (handler == nullptr || cross_origin(*req, state_->origins)) co_return false;  // HTTP refuses it
  forget();
  WebSocket ws(std::move(stream_));
  beast::get_lowest_layer(ws).expires_never();  // the WebSocket's own timeouts from here on
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(
      websocket::stream_base::decorator([](websocket::response_type& res) { res.set(http::field::server, "orield"); }));
  beast::error_code ec;
  co_await ws.async_accept(msg, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    spdlog::debug("{}: WebSocket handshake on {} failed: {}", peer_.remote_address, req->path, ec.message());
    co_return true;
  }
  spdlog::debug("{}: WebSocket on {}", peer_.remote_address, req->path);
  (*handler)(*req, std::move(ws));
  co_return true;
}

// Leaves stop()'s list: the stream is about to move to a WebSocket handler,
// which closes it itself.
void HttpServer::Session::forget() {
  MutexLock lock(state_->mu);
  state_->sessions.erase(this);
}

// Runs the router on `pool`. Deliberately not a coroutine: GCC 12
// miscompiles lambdas with non-trivial init-captures created inside one (the
// captured strings are copied bitwise).
asio::awaitable<Response> HttpServer::Session::dispatch_on(asio::thread_pool& pool, std::shared_ptr<State> state,
                                                           Request&& request) {
  return run_on<Response>(pool, [state = std::move(state), request = std::move(request)]() mutable {
    if (state->stopping) return Response::error(Error::Unavailable("the server is stopping"));
    try {
      return state->router.dispatch(request);
    } catch (...) {  // Router::dispatch catches handlers; this is the last line for the pool thread
      spdlog::error("{} {}: request failed with an exception", request.method, request.path);
      return Response::error(Error::Internal("internal error; see the server log"));
    }
  });
}

// Hands the request, with its body, to its lane's pool; a full kBounded lane
// answers 429 at once.
asio::awaitable<Response> HttpServer::Session::handle(Result<Request>&& req, std::string&& body, Lane lane) {
  if (!req.ok()) co_return Response::error(req.error());
  req->body = std::move(body);
  if (auto refused = cross_origin(*req, state_->origins)) co_return *refused;
  if (state_->stopping) co_return Response::error(Error::Unavailable("the server is stopping"));
  if (lane == Lane::kWorkers) co_return co_await dispatch_on(state_->workers, state_, std::move(req).value());
  const HttpLimits& limits = state_->limits;
  if (state_->bounded_waiting.fetch_add(1) >= limits.bounded_threads + limits.bounded_queue) {
    state_->bounded_waiting.fetch_sub(1);
    co_return Response::error(
        Error::RateLimited("the server is busy with other sign-ins; try again in a second", std::chrono::seconds(1)));
  }
  Response res = co_await dispatch_on(state_->bounded, state_, std::move(req).value());
  state_->bounded_waiting.fetch_sub(1);
  co_return res;
}

asio::awaitable<bool> HttpServer::Session::write(const Response& r, unsigned version, bool keep_alive, bool head) {
  RawResponse msg;
  // The idle time the next request has, which Keep-Alive announces.
  auto idle = authenticated_ ? state_->limits.read_timeout : state_->limits.header_timeout;
  if (auto what = invalid_reply(r)) {
    spdlog::error("a handler produced an invalid reply ({}); sending 500", *what);
    msg = to_message(Response::error(Error::Internal("invalid reply; see the server log")), version, keep_alive, head,
                     idle, peer_.secure);
  } else {
    msg = to_message(r, version, keep_alive, head, idle, peer_.secure);
  }
  beast::error_code ec;
  stream_.next_layer().expires_after(state_->limits.write_timeout);
  co_await http::async_write(stream_, msg, asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

// Half-closes, then discards what the client still sends for a short while, so
// it can finish writing (an oversize body, say) and read our reply rather than
// meet a reset (RFC 7230 §6.6).
asio::awaitable<void> HttpServer::Session::linger_and_close() {
  beast::error_code ec;
  stream_.next_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.next_layer().expires_after(std::min(kLingerTime, state_->limits.read_timeout));
  std::array<char, 16384> sink;
  size_t drained = 0;
  while (!ec && drained < kLingerBytes && !state_->stopping) {
    drained += co_await stream_.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
  }
  stream_.next_layer().socket().close(ec);
}

HttpServer::HttpServer(asio::io_context& io, const Router& router, size_t worker_threads, HttpLimits limits)
    : io_(io),
      workers_(std::max<size_t>(worker_threads, 1)),
      bounded_(std::max<size_t>(limits.bounded_threads, 1)),
      state_(std::make_shared<State>(io, router, limits, workers_, bounded_)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::use_tls(std::shared_ptr<TlsServer> tls) { state_->tls = std::move(tls); }

void HttpServer::allow_origins(std::vector<std::string> origins) { state_->origins = std::move(origins); }

void HttpServer::check_credentials(std::function<bool(const Request&)> check) {
  state_->credentials_accepted = std::move(check);
}

Result<void> HttpServer::trust_proxies(const std::vector<std::string>& networks) {
  std::vector<Network> parsed;
  parsed.reserve(networks.size());
  for (const auto& text : networks) parsed.push_back(TRY(Network::parse(text)));
  state_->proxies = std::move(parsed);
  return Ok();
}

Result<uint16_t> HttpServer::listen(std::string_view host, uint16_t port) {
  if (state_->stopping) return Error::Unavailable("the HTTP server is stopped");
  if (state_->acceptor.is_open()) return Error::Conflict("the HTTP server is already listening");
  beast::error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return Error::InvalidArgument(fmt::format("'{}' is not an IP address", host));
  tcp::endpoint endpoint(address, port);
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return Error::Unavailable(fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
  }
  uint16_t bound = acceptor.local_endpoint(ec).port();
  asio::co_spawn(io_, State::accept_loop(state_), asio::detached);
  return bound;
}

void HttpServer::stop() {
  if (state_->stopping.exchange(true)) return;
  beast::error_code ec;
  state_->acceptor.close(ec);
  {
    MutexLock lock(state_->mu);
    for (Session* session : state_->sessions) session->close();
  }
  workers_.join();
  bounded_.join();
}

size_t HttpServer::connection_count() const {
  MutexLock lock(state_->mu);
  return state_->open;
}

asio::awaitable<void> HttpServer::State::accept_loop(std::shared_ptr<State> state) {
  while (!state->stopping) {
    beast::error_code ec;
    tcp::socket socket = co_await state->acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (state->stopping) break;
    if (ec) {
      spdlog::warn("http: accept failed: {}", ec.message());
      auto executor = co_await asio::this_coro::executor;
      asio::steady_timer pause(executor, kAcceptBackoff);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    auto peer = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    auto budget = admit(state, peer.address());
    if (!budget) continue;  // the socket closes here
    auto session = std::make_shared<Session>(std::move(socket), state, std::move(budget));
    asio::co_spawn(state->acceptor.get_executor(), Session::run(std::move(session)), asio::detached);
  }
}

}  // namespace oriel::net
