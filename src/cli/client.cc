#include "oriel/cli/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace oriel::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ApiClient::Connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  bool open = false;
};

ErrorCode parse_error_code(std::string_view code, int status) {
  static const std::pair<std::string_view, ErrorCode> kCodes[] = {
      {"invalid_argument", ErrorCode::kInvalidArgument}, {"unauthenticated", ErrorCode::kUnauthenticated},
      {"permission_denied", ErrorCode::kPermissionDenied}, {"not_found", ErrorCode::kNotFound},
      {"conflict", ErrorCode::kConflict}, {"unprocessable", ErrorCode::kUnprocessable},
      {"unavailable", ErrorCode::kUnavailable}, {"timeout", ErrorCode::kTimeout}, {"internal", ErrorCode::kInternal}};
  for (const auto& [name, c] : kCodes) {
    if (name == code) return c;
  }
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 405 || status == 413 || status == 431) return ErrorCode::kInvalidArgument;
  return ErrorCode::kInternal;
}

ApiClient::ApiClient(std::string host, std::string port)
    : host_(std::move(host)), port_(std::move(port)), conn_(std::make_unique<Connection>()) {}
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

Result<ApiClient> ApiClient::create(std::string_view base_url, std::string token) {
  constexpr std::string_view kScheme = "http://";
  if (base_url.substr(0, 8) == "https://") {
    return Error::InvalidArgument("https is not supported yet: use http:// on a trusted network");
  }
  if (base_url.substr(0, kScheme.size()) != kScheme) {
    return Error::InvalidArgument(fmt::format("server URL '{}' must start with http://", base_url));
  }
  std::string_view rest = base_url.substr(kScheme.size());
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  std::string host(rest.substr(0, colon)), port = colon == std::string_view::npos ? "80" : std::string(rest.substr(colon + 1));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    return Error::InvalidArgument(fmt::format("server URL '{}' is not http://HOST:PORT", base_url));
  }
  ApiClient client(host, port);
  client.token_ = std::move(token);
  return client;
}

Result<RawResponse> ApiClient::request(std::string_view method, std::string_view path, std::string_view body,
                                       std::string_view content_type) {
  http::request<http::string_body> req{http::string_to_verb(std::string(method)), std::string(path), 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "oriel-cli");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) req.set(http::field::content_type, std::string(content_type));
  req.body() = std::string(body);
  req.keep_alive(true);
  req.prepare_payload();
  // One retry on a fresh connection: the server may have closed an idle one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    auto& c = *conn_;
    if (!c.open) {
      tcp::resolver resolver(c.io);
      auto endpoints = resolver.resolve(host_, port_, ec);
      c.stream.expires_after(timeout_);
      if (!ec) c.stream.connect(endpoints, ec);
      if (ec) {
        return Error::Unavailable(fmt::format("cannot reach orield at http://{}:{}: {}", host_, port_, ec.message()));
      }
      c.open = true;
    }
    c.stream.expires_after(timeout_);
    http::write(c.stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    if (!ec) http::read(c.stream, c.buffer, parser, ec);
    if (ec) {
      c.stream.close();
      c.buffer.clear();
      c.open = false;
      if (attempt == 0 && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                           ec == asio::error::broken_pipe || ec == asio::error::eof)) {
        continue;
      }
      return Error::Unavailable(fmt::format("request to orield failed: {}", ec.message()));
    }
    auto res = parser.release();
    if (!res.keep_alive()) {
      c.stream.close();
      c.open = false;
    }
    return RawResponse{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
                       std::move(res.body())};
  }
  return Error::Unavailable("request to orield failed");
}

Result<Json> ApiClient::call_json(std::string_view method, std::string_view path, const Json* body) {
  auto res = TRY(request(method, path, body ? body->dump() : std::string()));
  auto parsed = parse_json(res.body);
  if (res.status >= 200 && res.status < 300) {
    if (res.body.empty()) return Json::object();
    if (!parsed.ok()) return Error::Internal(fmt::format("orield sent invalid JSON (HTTP {})", res.status));
    return *parsed;
  }
  if (parsed.ok() && parsed->is_object() && parsed->contains("error") && (*parsed)["error"].is_object()) {
    const Json& e = (*parsed)["error"];
    return Error(parse_error_code(e.value("code", ""), res.status), e.value("message", "no message"));
  }
  return Error(parse_error_code("", res.status), fmt::format("HTTP {} from orield", res.status));
}

Result<Json> ApiClient::get(std::string_view path) { return call_json("GET", path, nullptr); }
Result<Json> ApiClient::post(std::string_view path, const Json& body) { return call_json("POST", path, &body); }
Result<Json> ApiClient::patch(std::string_view path, const Json& body) { return call_json("PATCH", path, &body); }
Result<Json> ApiClient::del(std::string_view path) { return call_json("DELETE", path, nullptr); }

Result<std::string> ApiClient::get_bytes(std::string_view path, std::string* content_type) {
  auto res = TRY(request("GET", path, ""));
  if (res.status < 200 || res.status >= 300) {
    auto parsed = parse_json(res.body);
    if (parsed.ok() && parsed->contains("error")) {
      const Json& e = (*parsed)["error"];
      return Error(parse_error_code(e.value("code", ""), res.status), e.value("message", "no message"));
    }
    return Error(parse_error_code("", res.status), fmt::format("HTTP {} from orield", res.status));
  }
  if (content_type) *content_type = res.content_type;
  return std::move(res.body);
}

Result<std::string> ApiClient::login(std::string_view username, std::string_view password) {
  auto res = TRY(post("/api/v1/auth/login", {{"username", username}, {"password", password}}));
  if (!res.contains("token") || !res["token"].is_string()) return Error::Internal("login answer has no token");
  token_ = res["token"];
  return token_;
}

}  // namespace oriel::cli
