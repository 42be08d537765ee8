// A synchronous REST client for orield, used by the oriel CLI, the
// integration tests and the benchmarks.
//
// ApiClient keeps one keep-alive HTTP/1.1 connection and opens a new one when
// the server has closed it (an idle connection is checked before reuse; a
// request with an idempotent method is retried once if a reused connection
// fails). Connect, write and read are each bounded by timeout() (30 s by
// default). Answers outside 2xx become an Error whose code is the server's
// JSON error code mapped back to ErrorCode and whose message is the server's
// message. Not thread-safe: use one ApiClient per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::net {

// The parts of a server URL "http[s]://HOST[:PORT][/PREFIX]".
struct ServerUrl {
  bool tls = false;         // https
  std::string host;         // without brackets for IPv6 literals
  uint16_t port = 80;       // 443 for https
  std::string path_prefix;  // "" or "/prefix" without a trailing slash; prepended to every request path

  // Canonical form: "https://127.0.0.1:8443", "http://[::1]:8080/oriel".
  std::string to_string() const;
  // "127.0.0.1:8080", the value of the Host header.
  std::string authority() const;
};

// Parses a server URL (http or https). Rejects other schemes, user info,
// query, fragment, bad ports and empty hosts with an InvalidArgument error.
Result<ServerUrl> parse_server_url(std::string_view url);

// Maps an API error code string ("not_found") back to an ErrorCode; an
// unknown or empty code is mapped from the HTTP status instead (404 →
// kNotFound, 503 → kUnavailable, anything unrecognised → kInternal).
ErrorCode parse_error_code(std::string_view code, int status);

// Percent-encodes one path segment (an id or a name) so it cannot change the
// path it is put into: "a b/c" → "a%20b%2Fc".
std::string escape_path_segment(std::string_view segment);

struct RawResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class TlsClient;

class ApiClient {
 public:
  // base_url: "http[s]://HOST:PORT"; does not connect yet. An https server
  // is checked against `tls` (TlsClient: CA file, pin, client certificate),
  // or the system's CAs when it is null.
  static Result<ApiClient> create(std::string_view base_url, std::string token = {},
                                  std::shared_ptr<const TlsClient> tls = nullptr);
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  // JSON calls. path includes the query: "/api/v1/desktops?pool_id=p-1". A
  // 2xx answer with an empty body gives an empty JSON object.
  Result<Json> get(std::string_view path);
  Result<Json> post(std::string_view path, const Json& body = Json::object());
  Result<Json> patch(std::string_view path, const Json& body);
  Result<Json> del(std::string_view path);
  // A non-JSON answer such as a PNG screenshot.
  Result<std::string> get_bytes(std::string_view path, std::string* content_type = nullptr);

  // POST /api/v1/auth/login; keeps the token for later calls and returns it.
  Result<std::string> login(std::string_view username, std::string_view password);

  // Any request, any body: the status comes back instead of becoming an
  // Error. Only transport failures (unreachable, timeout, bad path) are errors.
  Result<RawResponse> request(std::string_view method, std::string_view path, std::string_view body,
                              std::string_view content_type = "application/json");

  void set_token(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // Canonical base URL, e.g. "http://127.0.0.1:8080".
  std::string base_url() const { return server_.to_string(); }
  // TCP connections opened so far (keep-alive makes this 1 for a quiet server).
  int connections_opened() const;

 private:
  struct Connection;
  explicit ApiClient(ServerUrl server);
  Result<Json> call_json(std::string_view method, std::string_view path, const Json* body);

  ServerUrl server_;
  std::shared_ptr<const TlsClient> tls_;  // null for http
  std::string token_;
  std::chrono::milliseconds timeout_{std::chrono::seconds(30)};
  std::unique_ptr<Connection> conn_;  // never null except after a move
};

}  // namespace oriel::net
