// A synchronous REST client for orield: used by the oriel CLI, the
// integration tests and the benchmarks. One keep-alive HTTP/1.1 connection,
// re-opened when the server closed it. Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::cli {

struct RawResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Maps an API error code ("not_found") back to an ErrorCode.
ErrorCode parse_error_code(std::string_view code, int status);

class ApiClient {
 public:
  // base_url: "http://HOST:PORT" (https is not supported yet).
  static Result<ApiClient> create(std::string_view base_url, std::string token = {});
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  Result<Json> get(std::string_view path);
  Result<Json> post(std::string_view path, const Json& body = Json::object());
  Result<Json> patch(std::string_view path, const Json& body);
  Result<Json> del(std::string_view path);
  Result<std::string> get_bytes(std::string_view path, std::string* content_type = nullptr);
  // POST /api/v1/auth/login; keeps the token for later calls and returns it.
  Result<std::string> login(std::string_view username, std::string_view password);
  void set_token(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  // Any request, any body; the status comes back instead of becoming an error.
  Result<RawResponse> request(std::string_view method, std::string_view path, std::string_view body,
                              std::string_view content_type = "application/json");

 private:
  struct Connection;
  ApiClient(std::string host, std::string port);
  Result<Json> call_json(std::string_view method, std::string_view path, const Json* body);

  std::string host_, port_, token_;
  std::chrono::milliseconds timeout_{std::chrono::seconds(30)};
  std::unique_ptr<Connection> conn_;
};

}  // namespace oriel::cli
