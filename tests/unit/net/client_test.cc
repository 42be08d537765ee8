// ApiClient against a real local HTTP server: error mapping, keep-alive,
// reconnection, timeouts; and the pure parts (URLs, error codes, escaping).
#include "oriel/net/client.h"

#include <gtest/gtest.h>

#include <thread>

#include "scripted_peer.h"

namespace oriel::net {
namespace {

using namespace std::chrono_literals;
using testing::json_error;
using testing::Reply;
using testing::ScriptedPeer;
using testing::SeenRequest;

TEST(ServerUrlTest, AcceptsHostPortAndCanonicalises) {
  auto u = parse_server_url("http://127.0.0.1:8080");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->to_string(), "http://127.0.0.1:8080");
  EXPECT_EQ(parse_server_url("HTTP://Example.com/")->to_string(), "http://Example.com:80");
  auto v6 = parse_server_url("http://[::1]:9000/oriel/");
  ASSERT_TRUE(v6.ok()) << v6.error().message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->path_prefix, "/oriel");
  EXPECT_EQ(v6->to_string(), "http://[::1]:9000/oriel");
  EXPECT_EQ(v6->authority(), "[::1]:9000");
}

TEST(ServerUrlTest, RejectsBadUrlsWithAReason) {
  for (const char* bad : {"", "127.0.0.1:8080", "ftp://host", "http://", "http://:8080",
                          "http://host:", "http://host:0", "http://host:65536", "http://host:80a", "http://host:-1",
                          "http://user:pw@host", "http://host/?q=1", "http://host#x", "http://ho st", "http://[::1",
                          "http://[::1]x", "http://[zz]:1", "http://a:1:2", "http://host\n"}) {
    auto r = parse_server_url(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(ServerUrlTest, HttpsDefaultsToPort443) {
  auto u = parse_server_url("HTTPS://oriel.example.com/");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->to_string(), "https://oriel.example.com:443");
  EXPECT_FALSE(parse_server_url("http://h")->tls);
}

TEST(ErrorCodeTest, MapsEveryApiCodeBackAndFallsBackToTheStatus) {
  for (ErrorCode c : {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
                      ErrorCode::kNotFound, ErrorCode::kConflict, ErrorCode::kUnprocessable, ErrorCode::kUnavailable,
                      ErrorCode::kTimeout, ErrorCode::kRateLimited, ErrorCode::kInternal}) {
    EXPECT_EQ(parse_error_code(error_code_name(c), 500), c) << error_code_name(c);
  }
  EXPECT_EQ(parse_error_code("method_not_allowed", 405), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_error_code("too_large", 413), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_error_code("", 404), ErrorCode::kNotFound);
  EXPECT_EQ(parse_error_code("", 401), ErrorCode::kUnauthenticated);
  EXPECT_EQ(parse_error_code("", 503), ErrorCode::kUnavailable);
  EXPECT_EQ(parse_error_code("", 429), ErrorCode::kRateLimited);
  EXPECT_EQ(parse_error_code("", 418), ErrorCode::kInternal);
  EXPECT_EQ(parse_error_code("something_new", 500), ErrorCode::kInternal);
}

TEST(EscapeTest, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(escape_path_segment("d-1_a.b~c"), "d-1_a.b~c");
  EXPECT_EQ(escape_path_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
  EXPECT_EQ(escape_path_segment(".."), "%2E%2E");
  EXPECT_EQ(escape_path_segment("\xc3\xa9"), "%C3%A9");
}

ApiClient client_for(const ScriptedPeer& server) {
  auto c = ApiClient::create(server.url(), "tok");
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

TEST(ApiClientTest, SendsJsonWithTokenAndParsesTheAnswer) {
  ScriptedPeer server([](const SeenRequest& r) { return Reply{201, R"({"id":"d-1","echo":)" + r.body + "}"}; });
  auto api = client_for(server);
  auto d = api.post("/api/v1/desktops", {{"name", "x"}});
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ((*d)["id"], "d-1");
  EXPECT_EQ((*d)["echo"]["name"], "x");
  auto seen = server.requests().at(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/api/v1/desktops");
  EXPECT_EQ(seen.authorization, "Bearer tok");
  EXPECT_EQ(seen.content_type, "application/json");
  EXPECT_EQ(seen.host, "127.0.0.1:" + std::to_string(server.port()));
}

TEST(ApiClientTest, JsonErrorBecomesTheMappedErrorWithTheServersMessage) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target.ends_with("/busy")) return json_error(409, "conflict", "image i-1 is in use");
    return json_error(404, "not_found", "desktop 'd-x' not found");
  });
  auto api = client_for(server);
  auto missing = api.get("/api/v1/desktops/d-x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "desktop 'd-x' not found");
  auto busy = api.del("/api/v1/images/busy");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(busy.error().message(), "image i-1 is in use");
}

TEST(ApiClientTest, NonJsonErrorIsInternalWithTheStatus) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target == "/odd") return Reply{409, R"({"error":"just a string"})"};
    return Reply{500, "<html>Internal\r\nServer Error</html>", "text/html"};
  });
  auto api = client_for(server);
  auto r = api.get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(r.error().message(), "HTTP 500 from orield: <html>Internal  Server Error</html>");
  auto odd = api.get("/odd");  // an "error" that is not an object must not throw
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code(), ErrorCode::kConflict);
}

TEST(ApiClientTest, InvalidJsonInASuccessIsInternalAndEmptyBodyIsAnObject) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target == "/empty") return Reply{204, ""};
    return Reply{200, "{not json"};
  });
  auto api = client_for(server);
  auto bad = api.get("/bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInternal);
  auto empty = api.del("/empty");
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(*empty, Json::object());
}

TEST(ApiClientTest, ReusesOneKeepAliveConnection) {
  ScriptedPeer server([](const SeenRequest&) { return Reply{}; });
  auto api = client_for(server);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(api.get("/api/v1/hosts").ok());
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(api.connections_opened(), 1);
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST(ApiClientTest, ReconnectsWhenTheServerClosedTheIdleConnection) {
  ScriptedPeer server([](const SeenRequest&) { return Reply{200, "{}", "application/json", /*close_after=*/true}; });
  auto api = client_for(server);
  ASSERT_TRUE(api.get("/a").ok());
  ASSERT_TRUE(ScriptedPeer::eventually([&] { return server.closed_connections() == 1; }));
  // A POST is not retried blindly: the client must notice the close before sending.
  auto r = api.post("/b", {{"k", 1}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(ApiClientTest, ReconnectsBeforeTheServersKeepAliveTimeoutRunsOut) {
  // The server would close after 1 s idle; a request 0.8 s after the last
  // answer could cross that close, so the client takes a new connection.
  ScriptedPeer server([](const SeenRequest&) { return Reply{.keep_alive = "timeout=1"}; });
  auto api = client_for(server);
  ASSERT_TRUE(api.get("/a").ok());
  ASSERT_TRUE(api.post("/b", {{"k", 1}}).ok());
  EXPECT_EQ(server.connections(), 1) << "a connection just used is kept";
  std::this_thread::sleep_for(800ms);
  ASSERT_TRUE(api.post("/c", {{"k", 2}}).ok());
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(ApiClientTest, ConnectionRefusedIsUnavailableNamingTheUrl) {
  uint16_t port;
  {
    ScriptedPeer closed([](const SeenRequest&) { return Reply{}; });
    port = closed.port();
  }
  auto api = ApiClient::create("http://127.0.0.1:" + std::to_string(port)).value();
  auto r = api.get("/healthz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message().rfind("cannot reach orield at http://127.0.0.1:" + std::to_string(port) + ": ", 0), 0u)
      << r.error().message();
}

TEST(ApiClientTest, ASilentServerTimesOut) {
  ScriptedPeer server([](const SeenRequest&) { return Reply{200, "{}", "application/json", false, 10'000ms}; });
  auto api = client_for(server);
  api.set_timeout(100ms);
  auto start = std::chrono::steady_clock::now();
  auto r = api.get("/slow");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(r.error().message().find("did not answer within 0.1 s"), std::string::npos) << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms);
}

TEST(ApiClientTest, RawRequestReturnsAnyStatusAndRejectsBadPaths) {
  ScriptedPeer server(
      [](const SeenRequest& r) { return json_error(400, "invalid_argument", "body is not valid JSON"); });
  auto api = client_for(server);
  auto raw = api.request("POST", "/api/v1/desktops", "{\"name\": ", "application/json");
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  EXPECT_EQ(raw->status, 400);
  EXPECT_EQ(raw->content_type, "application/json");
  EXPECT_NE(raw->body.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(server.requests().at(0).body, "{\"name\": ");
  EXPECT_EQ(api.request("GET", "no-slash", "").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(api.request("GET", "/a b", "").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(api.request("GE T", "/a", "").error().code(), ErrorCode::kInvalidArgument);
  auto custom = api.request("PURGE", "/x", "");
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ(server.requests().back().method, "PURGE");
}

TEST(ApiClientTest, LoginKeepsTheTokenAndBytesKeepTheirContentType) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target.ends_with("/api/v1/auth/login")) return Reply{200, R"({"token":"t-123","expires_at":"x"})"};
    return Reply{200, std::string("\x89PNG\r\n\x1a\n\0", 9), "image/png"};
  });
  auto api = ApiClient::create(server.url() + "/prefix/").value();
  auto token = api.login("admin", "pw");
  ASSERT_TRUE(token.ok()) << token.error().message();
  EXPECT_EQ(*token, "t-123");
  EXPECT_EQ(api.token(), "t-123");
  std::string type;
  auto png = api.get_bytes("/api/v1/desktops/d-1/screenshot", &type);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->size(), 9u);
  EXPECT_EQ(type, "image/png");
  auto seen = server.requests();
  EXPECT_EQ(seen[0].target, "/prefix/api/v1/auth/login");
  EXPECT_EQ(Json::parse(seen[0].body), Json({{"username", "admin"}, {"password", "pw"}}));
  EXPECT_EQ(seen[0].authorization, "");
  EXPECT_EQ(seen[1].authorization, "Bearer t-123");
}

TEST(ApiClientTest, LoginFailureKeepsNoToken) {
  ScriptedPeer server(
      [](const SeenRequest&) { return json_error(401, "unauthenticated", "wrong user name or password"); });
  auto api = ApiClient::create(server.url()).value();
  auto r = api.login("admin", "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(api.token(), "");
}

}  // namespace
}  // namespace oriel::net
