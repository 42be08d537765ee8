// Typed access to untrusted JSON: every missing field or wrong type is an
// InvalidArgument error naming the field, never an exception or an assert.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "oriel/common/result.h"

namespace oriel {

using Json = nlohmann::json;

// Parses text; malformed JSON is InvalidArgument with the parser's position.
Result<Json> parse_json(std::string_view text);

// Required fields. The object itself must be a JSON object.
Result<std::string> json_string(const Json& obj, std::string_view field);
Result<int64_t> json_int(const Json& obj, std::string_view field, int64_t min, int64_t max);
Result<bool> json_bool(const Json& obj, std::string_view field);

// Optional fields: absent or null gives std::nullopt; a wrong type is an error.
Result<std::optional<std::string>> json_opt_string(const Json& obj, std::string_view field);
Result<std::optional<int64_t>> json_opt_int(const Json& obj, std::string_view field, int64_t min, int64_t max);
Result<std::optional<bool>> json_opt_bool(const Json& obj, std::string_view field);

// Rejects fields that are not in `allowed` (catches typos like "memory_mib").
Result<void> json_only_fields(const Json& obj, std::initializer_list<std::string_view> allowed);

}  // namespace oriel
