// TLS over real sockets with real OpenSSL on both ends: certificates made by
// the PKI functions, the HTTP server serving HTTPS and WSS, ApiClient and
// connect_websocket as clients. What a client trusts (a CA, a pin, nothing),
// host names, protocol versions, mutual TLS and a certificate reload under
// an open WebSocket.
#include <openssl/ssl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "oriel/net/client.h"
#include "oriel/net/pki.h"
#include "oriel/net/tls.h"
#include "oriel/net/websocket.h"

#include "echo_route.h"

namespace oriel::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const SystemTime kNow = std::chrono::system_clock::now();
constexpr std::chrono::seconds kYear{365 * 24 * 3600};

CertifiedKey must(Result<CertifiedKey> r) {
  if (!r.ok()) throw std::runtime_error(r.error().message());
  return std::move(r).value();
}

CertificateProfile server_profile(std::vector<std::string> names, std::string cn = "orield") {
  return {std::move(cn), std::move(names), true, false, kNow, kYear};
}

// --- Certificates ------------------------------------------------------------

TEST(PkiTest, ACaIssuesCertificatesWithTheirNamesAndDates) {
  auto ca = must(make_ca("Oriel test CA", kNow, 10 * kYear));
  auto leaf = must(issue_certificate(ca, server_profile({"localhost", "127.0.0.1", "::1", "oriel.example.com"})));
  auto info = inspect_certificate(leaf.cert_pem);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->common_name, "orield");
  EXPECT_EQ(info->names, (std::vector<std::string>{"localhost", "127.0.0.1", "::1", "oriel.example.com"}));
  EXPECT_NEAR(std::chrono::duration<double>(info->not_after - kNow).count(), kYear.count(), 2.0);
  EXPECT_TRUE(signed_by(leaf.cert_pem, ca.cert_pem));
  auto other = must(make_ca("another CA", kNow, kYear));
  EXPECT_FALSE(signed_by(leaf.cert_pem, other.cert_pem));
  // Two CAs never share a serial or a pin.
  auto ca_info = inspect_certificate(ca.cert_pem);
  auto other_info = inspect_certificate(other.cert_pem);
  EXPECT_NE(ca_info->serial, other_info->serial);
  EXPECT_NE(ca_info->public_key_pin, other_info->public_key_pin);
  EXPECT_EQ(ca_info->public_key_pin.size(), 7u + 64u);
}

TEST(PkiTest, TheCaNotTheRequestDecidesTheNames) {
  auto ca = must(make_ca("Oriel cluster CA", kNow, kYear));
  auto key = make_private_key();
  ASSERT_TRUE(key.ok());
  auto csr = make_certificate_request(*key, "controller.evil.example");
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  CertificateProfile host{"host-a", {"10.0.0.5"}, true, true, kNow, kYear};
  auto cert = sign_certificate_request(ca, *csr, host);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  auto info = inspect_certificate(*cert);
  EXPECT_EQ(info->common_name, "host-a");
  EXPECT_EQ(info->names, std::vector<std::string>{"10.0.0.5"});
  EXPECT_TRUE(signed_by(*cert, ca.cert_pem));
}

TEST(PkiTest, BadNamesAndTamperedRequestsAreRefused) {
  auto ca = must(make_ca("CA", kNow, kYear));
  for (const char* bad : {"a,IP:1.2.3.4", "a b", "", "-x", "x\n"}) {
    auto r = issue_certificate(ca, server_profile({bad}));
    ASSERT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  auto key = make_private_key();
  auto csr = make_certificate_request(*key, "host-a");
  std::string tampered = *csr;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(sign_certificate_request(ca, tampered, server_profile({"host-a"})).ok());
  EXPECT_FALSE(sign_certificate_request(ca, "not a request", server_profile({"host-a"})).ok());
  EXPECT_FALSE(inspect_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").ok());
}

TEST(PkiTest, NamesAreDnsNamesOrAddresses) {
  for (const char* good : {"localhost", "oriel.example.com", "h-1", "10.0.0.1", "::1", "fd00::5"}) {
    EXPECT_TRUE(is_certificate_name(good)) << good;
  }
  for (const char* bad : {"", "my_host", "-x", ".x", "a b", "a,DNS:b", "x\n"}) {
    EXPECT_FALSE(is_certificate_name(bad)) << bad;
  }
}

TEST(FingerprintTest, TakesWhatPeopleType) {
  std::string hex(64, 'a');
  std::string want = "sha256:" + hex;
  EXPECT_EQ(*normalize_fingerprint(hex), want);
  EXPECT_EQ(*normalize_fingerprint("SHA256:" + std::string(64, 'A')), want);
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += (i ? ":" : "") + std::string("AA");
  EXPECT_EQ(*normalize_fingerprint(colons), want);
  EXPECT_FALSE(normalize_fingerprint(std::string(63, 'a')).ok());
  EXPECT_FALSE(normalize_fingerprint(std::string(64, 'g')).ok());
  EXPECT_FALSE(normalize_fingerprint("").ok());
}

// --- A TLS server ------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() {
    dir_ = (fs::temp_directory_path() / ("oriel-tls-test-" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
    ca_ = must(make_ca("Oriel test CA", kNow, kYear));
    write_file(dir_ + "/ca.pem", ca_.cert_pem);
    write_server_certificate(server_profile({"localhost", "127.0.0.1"}));
    router_.add("GET", "/whoami", [](const Request& r) {
      return Response::json(200, {{"secure", r.secure}, {"client", r.client_certificate.common_name}});
    });
    router_.add_websocket("/echo", [](const Request&, WebSocket&& ws) {
      auto executor = ws.get_executor();
      asio::co_spawn(executor, testing::echo(std::move(ws), "echo"), asio::detached);
    });
  }
  ~TlsTest() override {
    if (thread_.joinable()) {
      asio::post(io_, [this] { server_->stop(); });
      io_.stop();
      thread_.join();
    }
    fs::remove_all(dir_);
  }

  void write_server_certificate(const CertificateProfile& profile) {
    auto leaf = must(issue_certificate(ca_, profile));
    write_file(dir_ + "/server.pem", leaf.cert_pem);
    write_file(dir_ + "/server.key", leaf.key_pem);
  }

  void start(TlsServerFiles files = {}, HttpLimits limits = {}) {
    if (files.cert_file.empty()) {
      files.cert_file = dir_ + "/server.pem";
      files.key_file = dir_ + "/server.key";
    }
    auto tls = TlsServer::load(files);
    ASSERT_TRUE(tls.ok()) << tls.error().message();
    tls_ = *tls;
    server_ = std::make_unique<HttpServer>(io_, router_, 2, limits);
    server_->use_tls(tls_);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message();
    port_ = *port;
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  std::string url(const std::string& host = "127.0.0.1") const { return fmt::format("https://{}:{}", host, port_); }

  Result<Json> whoami(const TlsClientOptions& options, const std::string& host = "127.0.0.1") {
    auto tls = TRY(TlsClient::create(options));
    auto client = TRY(ApiClient::create(url(host), "", tls));
    client.set_timeout(5s);
    return client.get("/whoami");
  }

  std::string dir_;
  CertifiedKey ca_;
  Router router_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::shared_ptr<TlsServer> tls_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(TlsTest, AClientThatTrustsTheCaIsAnsweredOverTls) {
  start();
  auto me = whoami({.ca_file = dir_ + "/ca.pem"});
  ASSERT_TRUE(me.ok()) << me.error().message();
  EXPECT_EQ((*me)["secure"], true);
  EXPECT_EQ((*me)["client"], "");
  // The name works as well as the address, and the answer carries HSTS and
  // the security headers.
  auto tls = TlsClient::create({.ca_pem = ca_.cert_pem});
  auto client = ApiClient::create(url("localhost"), "", *tls);
  ASSERT_TRUE(client.ok());
  auto raw = client->request("GET", "/whoami", "");
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  EXPECT_EQ(raw->status, 200);
  // Keep-alive: ten calls, one connection.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->get("/whoami").ok());
  EXPECT_EQ(client->connections_opened(), 1);
}

TEST_F(TlsTest, AnUntrustedCertificateIsRefusedWithItsFingerprint) {
  start();
  auto me = whoami({});  // the system's CAs do not know ours
  ASSERT_FALSE(me.ok());
  EXPECT_EQ(me.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(me.error().message().find("not trusted"), std::string::npos) << me.error().message();
  EXPECT_NE(me.error().message().find(tls_->fingerprint()), std::string::npos) << me.error().message();
}

TEST_F(TlsTest, APinnedCertificateIsTrustedWithoutItsCaAndNoOtherIs) {
  start();
  auto seen = fetch_server_fingerprint("127.0.0.1", port_, 5s);
  ASSERT_TRUE(seen.ok()) << seen.error().message();
  EXPECT_EQ(*seen, tls_->fingerprint());
  auto pinned = whoami({.pin = *seen});
  ASSERT_TRUE(pinned.ok()) << pinned.error().message();
  auto wrong = whoami({.pin = "sha256:" + std::string(64, '0')});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("pinned"), std::string::npos) << wrong.error().message();
}

TEST_F(TlsTest, TheCertificateMustNameTheHost) {
  write_server_certificate(server_profile({"oriel.example.com"}));
  start();
  auto me = whoami({.ca_file = dir_ + "/ca.pem"});
  ASSERT_FALSE(me.ok());
  EXPECT_NE(me.error().message().find("not trusted"), std::string::npos) << me.error().message();
}

TEST_F(TlsTest, OldProtocolsAreRefused) {
  start();
  // A client that speaks at most TLS 1.1.
  asio::io_context io;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(ctx->native_handle(), 0);  // OpenSSL 3 would refuse 1.1 itself otherwise
  Stream stream(beast::tcp_stream(io), ctx);
  beast::error_code ec;
  stream.next_layer().socket().connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
  ASSERT_FALSE(ec) << ec.message();
  stream.tls()->handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec) << "a TLS 1.1 handshake succeeded";
}

TEST_F(TlsTest, MutualTlsNamesTheClientAndRefusesOtherCas) {
  start({dir_ + "/server.pem", dir_ + "/server.key", dir_ + "/ca.pem", true});
  auto host = must(issue_certificate(ca_, {"host-a", {}, false, true, kNow, kYear}));
  auto me = whoami({.ca_file = dir_ + "/ca.pem", .cert_pem = host.cert_pem, .key_pem = host.key_pem});
  ASSERT_TRUE(me.ok()) << me.error().message();
  EXPECT_EQ((*me)["client"], "host-a");
  EXPECT_FALSE(whoami({.ca_file = dir_ + "/ca.pem"}).ok()) << "served a client without a certificate";
  auto stranger_ca = must(make_ca("stranger", kNow, kYear));
  auto stranger = must(issue_certificate(stranger_ca, {"host-a", {}, false, true, kNow, kYear}));
  EXPECT_FALSE(whoami({.ca_file = dir_ + "/ca.pem", .cert_pem = stranger.cert_pem, .key_pem = stranger.key_pem}).ok())
      << "served a client certificate from another CA";
}

TEST_F(TlsTest, AReloadServesNewConnectionsTheNewCertificateAndKeepsOpenOnes) {
  start();
  std::string before = tls_->fingerprint();
  auto trust = *TlsClient::create({.ca_file = dir_ + "/ca.pem"});
  asio::io_context client_io;
  std::optional<Result<WebSocket>> socket;
  asio::co_spawn(
      client_io,
      [&]() -> asio::awaitable<void> {
        socket.emplace(co_await connect_websocket(fmt::format("wss://127.0.0.1:{}/echo", port_), "", 5s, trust));
      },
      asio::detached);
  client_io.run();
  ASSERT_TRUE(socket && socket->ok()) << (socket ? socket->error().message() : "no answer");
  auto say = [&](const std::string& text) {
    client_io.restart();
    auto reply = asio::co_spawn(
        client_io,
        [&]() -> asio::awaitable<std::string> {
          beast::flat_buffer buffer;
          co_await (*socket)->async_write(asio::buffer(text), asio::use_awaitable);
          co_await (*socket)->async_read(buffer, asio::use_awaitable);
          co_return beast::buffers_to_string(buffer.data());
        },
        asio::use_future);
    client_io.run();
    return reply.get();
  };
  EXPECT_EQ(say("one"), "echo:one");

  write_server_certificate(server_profile({"127.0.0.1"}, "orield renewed"));
  ASSERT_TRUE(tls_->reload().ok());
  EXPECT_NE(tls_->fingerprint(), before);
  auto seen = fetch_server_fingerprint("127.0.0.1", port_, 5s);
  ASSERT_TRUE(seen.ok()) << seen.error().message();
  EXPECT_EQ(*seen, tls_->fingerprint());
  EXPECT_EQ(say("two"), "echo:two") << "the open WebSocket did not survive the reload";

  // A reload that fails keeps serving the old certificate.
  write_file(dir_ + "/server.key", "garbage");
  auto failed = tls_->reload();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("server.key"), std::string::npos) << failed.error().message();
  EXPECT_EQ(*fetch_server_fingerprint("127.0.0.1", port_, 5s), *seen);
}

// A connection that sends nothing, or half a ClientHello, is closed when the
// handshake timeout passes (the first costs no TLS state until it speaks);
// other clients are served meanwhile.
TEST_F(TlsTest, SilentAndStalledConnectionsAreClosedAtTheHandshakeTimeout) {
  HttpLimits limits;
  limits.handshake_timeout = 300ms;
  start({}, limits);
  asio::io_context client_io;
  auto open = [&] {
    asio::ip::tcp::socket s(client_io);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  };
  auto closed_within = [](asio::ip::tcp::socket& s, std::chrono::milliseconds limit) {
    auto begin = std::chrono::steady_clock::now();
    std::array<char, 64> sink;
    boost::system::error_code ec;
    while (!ec) s.read_some(asio::buffer(sink), ec);  // until the server closes it
    return std::chrono::steady_clock::now() - begin < limit;
  };
  auto silent = open();
  auto stalled = open();
  asio::write(stalled, asio::buffer(std::string("\x16\x03\x01", 3)));  // the start of a record, no more
  EXPECT_TRUE(whoami({.ca_file = dir_ + "/ca.pem"}).ok());
  EXPECT_TRUE(closed_within(silent, 2s));
  EXPECT_TRUE(closed_within(stalled, 2s));
  auto until = std::chrono::steady_clock::now() + 2s;  // the client's own connection closes as well
  while (server_->connection_count() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(TlsTest, APlainClientGetsNoAnswer) {
  start();
  auto client = ApiClient::create(fmt::format("http://127.0.0.1:{}", port_));
  client->set_timeout(3s);
  auto r = client->get("/whoami");
  EXPECT_FALSE(r.ok()) << "a TLS listener answered plain HTTP";
}

}  // namespace
}  // namespace oriel::net
