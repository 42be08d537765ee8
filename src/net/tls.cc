// TLS contexts for servers and clients.
#include "oriel/net/tls.h"  // first: it includes <utility> before Asio

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include "oriel/common/log.h"

namespace oriel::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// Mozilla's "intermediate" configuration (TLS 1.2 part; TLS 1.3's suites are
// OpenSSL's defaults, all of which it allows).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

// The newest OpenSSL error as text, and the queue emptied.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

Result<void> modern_only(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Error::Internal("cannot restrict TLS to 1.2 and 1.3: " + openssl_error());
  }
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its record buffers back (about 34 KiB each):
  // thousands of keep-alive and WebSocket connections stay cheap.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  return Ok();
}

// Runs `fn`, turning Asio's exception (a bad file) into an error naming `what`.
template <typename Fn>
Result<void> load(std::string_view what, Fn fn) {
  boost::system::error_code ec;
  fn(ec);
  if (ec) return Error::InvalidArgument(fmt::format("cannot load {}: {}", what, ec.message()));
  return Ok();
}

Result<std::shared_ptr<ssl::context>> server_context(const TlsServerFiles& f, std::string& fingerprint) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  TRY(modern_only(*ctx));
  TRY(load(fmt::format("the certificate {}", f.cert_file),
           [&](auto& ec) { ctx->use_certificate_chain_file(f.cert_file, ec); }));
  TRY(load(fmt::format("the private key {}", f.key_file),
           [&](auto& ec) { ctx->use_private_key_file(f.key_file, ssl::context::pem, ec); }));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return Error::InvalidArgument(
        fmt::format("the private key {} does not belong to the certificate {}", f.key_file, f.cert_file));
  }
  if (!f.client_ca_file.empty()) {
    TRY(load(fmt::format("the client CA {}", f.client_ca_file),
             [&](auto& ec) { ctx->load_verify_file(f.client_ca_file, ec); }));
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    auto mode = ssl::verify_peer | (f.require_client_certificate ? ssl::verify_fail_if_no_peer_cert : 0);
    ctx->set_verify_mode(mode);
    // A failed client check is the application's to judge (it sees no
    // verified certificate), unless one is required.
    if (!f.require_client_certificate) ctx->set_verify_callback([](bool, ssl::verify_context&) { return true; });
  }
  // Resumption needs a session id context when clients are verified.
  static constexpr unsigned char kSessionContext[] = "orield";
  SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext, sizeof kSessionContext - 1);
  fingerprint = certificate_fingerprint(SSL_CTX_get0_certificate(ctx->native_handle()));
  return ctx;
}

// The newest session of a client context, for the next connection to
// resume. OpenSSL hands each one to the new-session callback as it arrives
// (TLS 1.3 sends tickets after the handshake, and a new one after each
// resumption), and frees the cache with the context.
class SessionCache {
 public:
  ~SessionCache() {
    if (latest_ != nullptr) SSL_SESSION_free(latest_);
  }
  void keep(SSL_SESSION* session) {
    MutexLock lock(mu_);
    if (latest_ != nullptr) SSL_SESSION_free(latest_);
    latest_ = session;
  }
  // Sets the newest session on `ssl`, if there is one.
  void offer(SSL* ssl) {
    MutexLock lock(mu_);
    if (latest_ != nullptr) SSL_set_session(ssl, latest_);
  }

  static int index() {
    static const int kIndex = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr,
        [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SessionCache*>(ptr); });
    return kIndex;
  }
  static SessionCache* of(SSL_CTX* ctx) { return static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx, index())); }

 private:
  Mutex mu_;
  SSL_SESSION* latest_ ORIEL_GUARDED_BY(mu_) = nullptr;
};

// The certificate the peer presented; null before a handshake, and after
// one that failed verification.
X509* peer_certificate(Stream::Tls& tls) { return SSL_get0_peer_certificate(tls.native_handle()); }

}  // namespace

Result<std::string> normalize_fingerprint(std::string_view text) {
  std::string_view rest = text;
  if (rest.size() >= 7 && std::equal(rest.begin(), rest.begin() + 7, "sha256:", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    rest.remove_prefix(7);
  }
  std::string hex;
  bool all_hex = true;
  for (char c : rest) {
    if (c == ':') continue;
    all_hex = all_hex && std::isxdigit(static_cast<unsigned char>(c));
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64 || !all_hex) {
    return Error::InvalidArgument(fmt::format("'{}' is not a SHA-256 fingerprint (sha256: and 64 hex digits)", text));
  }
  return "sha256:" + hex;
}

Result<std::shared_ptr<TlsServer>> TlsServer::load(TlsServerFiles files) {
  auto server = std::make_shared<TlsServer>(std::move(files));
  TRY(server->reload());
  return server;
}

Result<void> TlsServer::reload() {
  std::string fingerprint;
  auto ctx = TRY(server_context(files_, fingerprint));
  MutexLock lock(mu_);
  context_ = std::move(ctx);
  fingerprint_ = std::move(fingerprint);
  return Ok();
}

std::shared_ptr<ssl::context> TlsServer::context() const {
  MutexLock lock(mu_);
  return context_;
}

std::string TlsServer::fingerprint() const {
  MutexLock lock(mu_);
  return fingerprint_;
}

Result<std::shared_ptr<TlsClient>> TlsClient::create(const TlsClientOptions& o) {
  std::string pin;
  if (!o.pin.empty()) pin = TRY(normalize_fingerprint(o.pin));
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  TRY(modern_only(*ctx));
  if (!o.ca_file.empty()) {
    TRY(load(fmt::format("the CA file {}", o.ca_file), [&](auto& ec) { ctx->load_verify_file(o.ca_file, ec); }));
  } else if (!o.ca_pem.empty()) {
    TRY(load("the CA certificate", [&](auto& ec) { ctx->add_certificate_authority(asio::buffer(o.ca_pem), ec); }));
  } else {
    TRY(load("the system's CA store", [&](auto& ec) { ctx->set_default_verify_paths(ec); }));
  }
  if (!o.cert_file.empty()) {
    TRY(load(fmt::format("the client certificate {}", o.cert_file),
             [&](auto& ec) { ctx->use_certificate_chain_file(o.cert_file, ec); }));
    TRY(load(fmt::format("the client key {}", o.key_file),
             [&](auto& ec) { ctx->use_private_key_file(o.key_file, ssl::context::pem, ec); }));
  } else if (!o.cert_pem.empty()) {
    TRY(load("the client certificate", [&](auto& ec) { ctx->use_certificate_chain(asio::buffer(o.cert_pem), ec); }));
    TRY(load("the client key",
             [&](auto& ec) { ctx->use_private_key(asio::buffer(o.key_pem), ssl::context::pem, ec); }));
  }
  ctx->set_verify_mode(o.skip_verification ? ssl::verify_none : ssl::verify_peer);
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx->native_handle(), SessionCache::index(), new SessionCache);
  SSL_CTX_sess_set_new_cb(ctx->native_handle(), [](SSL* ssl, SSL_SESSION* session) {
    SessionCache::of(SSL_get_SSL_CTX(ssl))->keep(session);
    return 1;  // the cache holds the reference now
  });
  return std::make_shared<TlsClient>(std::move(ctx), std::move(pin));
}

Result<Stream> TlsClient::wrap(beast::tcp_stream tcp, const std::string& host) const {
  Stream stream(std::move(tcp), context_);
  SSL* ssl = stream.tls()->native_handle();
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);  // fails for a name
  // SNI carries names only (RFC 6066 §3).
  if (ec && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return Error::InvalidArgument(fmt::format("'{}' cannot be sent as a TLS server name", host));
  }
  if (SSL_CTX_get_verify_mode(context_->native_handle()) == SSL_VERIFY_NONE) {
    // skip_verification: no callback
  } else if (!pin_.empty()) {
    // The leaf decides alone: the chain above a pinned certificate is not
    // consulted, so a self-signed server can be trusted on first use.
    stream.tls()->set_verify_callback([pin = pin_](bool, ssl::verify_context& v) {
      X509_STORE_CTX* store = v.native_handle();
      if (X509_STORE_CTX_get_error_depth(store) > 0) return true;
      bool match = certificate_fingerprint(X509_STORE_CTX_get_current_cert(store)) == pin;
      if (!match) X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_UNTRUSTED);
      return match;
    });
  } else {
    stream.tls()->set_verify_callback(ssl::host_name_verification(host));
  }
  SessionCache::of(context_->native_handle())->offer(ssl);
  return stream;
}

std::string TlsClient::describe_failure(Stream& stream, const boost::system::error_code& ec, const std::string& host,
                                        uint16_t port) {
  Stream::Tls* tls = stream.tls();
  long verify = tls != nullptr ? SSL_get_verify_result(tls->native_handle()) : X509_V_OK;
  if (tls == nullptr || verify == X509_V_OK) return ec.message();
  std::string why =
      verify == X509_V_ERR_CERT_UNTRUSTED ? "it is not the pinned certificate" : X509_verify_cert_error_string(verify);
  // OpenSSL drops a certificate that failed verification: ask again to name it.
  auto seen = port != 0 ? fetch_server_fingerprint(host, port, std::chrono::seconds(2)) : Result<std::string>("");
  std::string fingerprint = seen.ok() ? *seen : "";
  return fmt::format("the server's certificate{} is not trusted: {}",
                     fingerprint.empty() ? "" : " (" + fingerprint + ")", why);
}

Result<std::string> fetch_server_fingerprint(const std::string& host, uint16_t port,
                                             std::chrono::milliseconds timeout) {
  asio::io_context io;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  TRY(modern_only(*ctx));
  ctx->set_verify_mode(ssl::verify_none);
  Stream stream(beast::tcp_stream(io), ctx);
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);  // fails for a name
  if (ec) SSL_set_tlsext_host_name(stream.tls()->native_handle(), host.c_str());
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Error::Unavailable(fmt::format("cannot resolve {}: {}", host, ec.message()));
  auto& tcp = stream.next_layer();
  tcp.expires_after(timeout);
  tcp.async_connect(endpoints, [&](boost::system::error_code e, auto&&) {
    ec = e;
    if (!e) stream.tls()->async_handshake(ssl::stream_base::client, [&](boost::system::error_code h) { ec = h; });
  });
  io.run();
  if (ec) return Error::Unavailable(fmt::format("no TLS handshake with {}:{}: {}", host, port, ec.message()));
  return certificate_fingerprint(peer_certificate(*stream.tls()));
}

}  // namespace oriel::net
