// Requests to orield's REST API built from what a user typed, and a check on
// list answers. Every id and query value is percent-encoded, so "a/b" stays
// one path segment and "x&role=admin" stays one value instead of adding a
// parameter.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oriel/net/client.h"

namespace oriel::cli {

using net::escape_path_segment;

// "/api/v1/pools/p%201/entitlements" from ("pools", "p 1", "/entitlements").
// `rest` is appended as it is: escape any id inside it.
inline std::string api_path(std::string_view collection, std::string_view id = {}, std::string_view rest = {}) {
  std::string path = "/api/v1/" + std::string(collection);
  if (!id.empty()) path += "/" + escape_path_segment(id);
  return path + std::string(rest);
}

// Query parameters in the order they are sent; an empty value leaves its
// parameter out.
using QueryParams = std::vector<std::pair<std::string_view, std::string>>;

// "?a=1&b=x%20y", or "" when every value is empty.
inline std::string query_string(const QueryParams& params) {
  std::string query;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    query += query.empty() ? "?" : "&";
    query += std::string(key) + "=" + escape_path_segment(value);
  }
  return query;
}

// A list answer must be a JSON array to be shown as a table; anything else
// is orield's bug, reported rather than shown as an empty table.
inline Result<void> expect_list(const Json& answer, std::string_view what) {
  if (answer.is_array()) return Ok();
  return Error::Internal(fmt::format("orield's {} list is not a JSON array", what));
}

}  // namespace oriel::cli
