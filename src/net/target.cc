// Request targets: origin-form and absolute-form (RFC 7230 §5.3), with
// percent-decoding (RFC 3986 §2.1) and UTF-8 validation of the result, so a
// handler never sees bytes that would break JSON serialization later.
#include <cctype>

#include "oriel/common/utf8.h"
#include "oriel/net/http.h"

namespace oriel::net {
namespace {

enum class Part { kPath, kQuery };

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view in, Part part) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && part == Part::kQuery) {
      out += ' ';
      continue;
    }
    if (c != '%') {
      out += c;
      continue;
    }
    int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
    int lo = hi >= 0 ? hex_value(in[i + 2]) : -1;
    if (lo < 0) return Error::InvalidArgument("malformed percent-encoding in the URL");
    char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '/' && part == Part::kPath) {
      return Error::InvalidArgument("an encoded '/' (%2F) is not allowed in the URL path");
    }
    out += decoded;
    i += 2;
  }
  if (out.find('\0') != std::string::npos) return Error::InvalidArgument("NUL byte in the URL");
  if (!valid_utf8(out)) return Error::InvalidArgument("the URL is not valid UTF-8 once decoded");
  return out;
}

// "http://host:port/p?q" → "/p?q"; other targets are returned unchanged.
std::string_view strip_scheme_and_authority(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), target.begin(), [](char a, char b) { return a == std::tolower(b); })) {
      auto rest = target.substr(scheme.size());
      auto slash = rest.find_first_of("/?");
      if (slash == std::string_view::npos) return "/";
      return rest[slash] == '/' ? rest.substr(slash) : std::string_view("/");  // "http://h?q": the query is dropped
    }
  }
  return target;
}

}  // namespace

Result<Target> parse_target(std::string_view target) {
  target = strip_scheme_and_authority(target);
  target = target.substr(0, target.find('#'));  // a fragment is never sent, but is not ours if it is
  if (target.empty() || target[0] != '/') {
    return Error::InvalidArgument("the request target must be an absolute path");
  }
  Target out;
  auto q = target.find('?');
  out.path = TRY(percent_decode(target.substr(0, q), Part::kPath));
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    std::string key = TRY(percent_decode(pair.substr(0, eq), Part::kQuery));
    std::string value = eq == std::string_view::npos ? "" : TRY(percent_decode(pair.substr(eq + 1), Part::kQuery));
    if (!key.empty()) out.query[std::move(key)] = std::move(value);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return out;
}

}  // namespace oriel::net
