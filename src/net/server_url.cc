// Server URLs and path escaping for the REST client (RFC 3986 §3.2, §2.3).
#include <algorithm>
#include <cctype>

#include "oriel/net/client.h"

namespace oriel::net {
namespace {

bool is_host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

bool is_ipv6_char(char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'; }

bool has_control_or_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

// "8080" → 8080; anything else (empty, signs, > 65535, 0) is an error.
Result<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Error::InvalidArgument("bad port");
  }
  int port = std::stoi(std::string(text));
  if (port < 1 || port > 65535) return Error::InvalidArgument("bad port");
  return static_cast<uint16_t>(port);
}

// Splits "host:port", "[v6]:port", "host" or "[v6]" into the URL.
Result<void> parse_authority(std::string_view authority, ServerUrl& out) {
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return Error::InvalidArgument("has an unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Error::InvalidArgument("has junk after the IPv6 address");
    if (!after.empty()) port = after.substr(1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_ipv6_char)) {
      return Error::InvalidArgument("has a malformed IPv6 address");
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return Error::InvalidArgument("has an empty port");
  }
  if (host.empty()) return Error::InvalidArgument("has no host");
  if (authority.front() != '[' && !std::all_of(host.begin(), host.end(), is_host_char)) {
    return Error::InvalidArgument("has a malformed host name");
  }
  out.host = std::string(host);
  if (!port.empty() || (!authority.empty() && authority.back() == ':')) {
    auto p = parse_port(port);
    if (!p.ok()) return Error::InvalidArgument("has a bad port (want 1-65535)");
    out.port = *p;
  }
  return Ok();
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::string ServerUrl::authority() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string ServerUrl::to_string() const { return (tls ? "https://" : "http://") + authority() + path_prefix; }

Result<ServerUrl> parse_server_url(std::string_view url) {
  auto bad = [url](std::string_view why) {
    return Error::InvalidArgument(fmt::format("server URL '{}' {}", url, why));
  };
  auto sep = url.find("://");
  std::string scheme = sep == std::string_view::npos ? "" : lowercase(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return bad("must start with https:// or http:// (for example https://127.0.0.1:8443)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (has_control_or_space(rest)) return bad("contains spaces or control characters");
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("must not have a query or a fragment");
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) return bad("must not contain a user name or password");
  ServerUrl out;
  out.tls = scheme == "https";
  out.port = out.tls ? 443 : 80;
  if (auto r = parse_authority(authority, out); !r.ok()) return bad(r.error().message());
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    out.path_prefix = std::string(prefix);
  }
  return out;
}

std::string escape_path_segment(std::string_view segment) {
  // "." and ".." would be dot-segments that a proxy may collapse (RFC 3986 §5.2.4).
  bool all_dots = std::all_of(segment.begin(), segment.end(), [](char c) { return c == '.'; });
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '~' || (c == '.' && !all_dots)) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

}  // namespace oriel::net
