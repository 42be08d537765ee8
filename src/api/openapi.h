// The OpenAPI 3 description of orield's HTTP API (docs/openapi.json),
// compiled in (internal to src/api).
#pragma once

#include <string_view>

namespace oriel::api {

std::string_view openapi_document();

}  // namespace oriel::api
