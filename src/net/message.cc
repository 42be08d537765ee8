// Request and Response helpers.
#include <algorithm>
#include <cctype>

#include "oriel/net/http.h"

namespace oriel::net {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

}  // namespace

std::string Request::bearer_token() const {
  auto it = headers.find("authorization");
  if (it == headers.end()) return {};
  // credentials = auth-scheme 1*SP token68 (RFC 7235 §2.1); the scheme is case-insensitive.
  std::string_view value = trim(it->second);
  auto space = value.find(' ');
  if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer")) return {};
  return std::string(trim(value.substr(space + 1)));
}

Response Response::json(int status, const Json& body) {
  // Invalid UTF-8 in a string is replaced rather than thrown: a reply must always serialize.
  return {status, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace), {}};
}

Response Response::bytes(int status, std::string content_type, std::string body) {
  return {status, std::move(content_type), std::move(body), {}};
}

}  // namespace oriel::net
