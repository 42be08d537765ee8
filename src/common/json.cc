#include "oriel/common/json.h"

#include <algorithm>

namespace oriel {
namespace {

Result<const Json*> field_of(const Json& obj, std::string_view field) {
  if (!obj.is_object()) return Error::InvalidArgument("request body must be a JSON object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  return &*it;
}

Error wrong_type(std::string_view field, std::string_view want) {
  return Error::InvalidArgument(fmt::format("field '{}' must be {}", field, want));
}

}  // namespace

Result<Json> parse_json(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error::InvalidArgument("body is not valid JSON");
  return j;
}

Result<std::optional<std::string>> json_opt_string(const Json& obj, std::string_view field) {
  const Json* v = TRY(field_of(obj, field));
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return wrong_type(field, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::optional<int64_t>> json_opt_int(const Json& obj, std::string_view field, int64_t min, int64_t max) {
  const Json* v = TRY(field_of(obj, field));
  if (!v) return std::optional<int64_t>();
  if (!v->is_number_integer()) return wrong_type(field, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return wrong_type(field, fmt::format("between {} and {}", min, max));
  }
  int64_t n = v->get<int64_t>();
  if (n < min || n > max) return wrong_type(field, fmt::format("between {} and {}", min, max));
  return std::optional<int64_t>(n);
}

Result<std::optional<bool>> json_opt_bool(const Json& obj, std::string_view field) {
  const Json* v = TRY(field_of(obj, field));
  if (!v) return std::optional<bool>();
  if (!v->is_boolean()) return wrong_type(field, "true or false");
  return std::optional<bool>(v->get<bool>());
}

Result<std::string> json_string(const Json& obj, std::string_view field) {
  auto v = TRY(json_opt_string(obj, field));
  if (!v) return Error::InvalidArgument(fmt::format("field '{}' is required", field));
  return *v;
}

Result<int64_t> json_int(const Json& obj, std::string_view field, int64_t min, int64_t max) {
  auto v = TRY(json_opt_int(obj, field, min, max));
  if (!v) return Error::InvalidArgument(fmt::format("field '{}' is required", field));
  return *v;
}

Result<bool> json_bool(const Json& obj, std::string_view field) {
  auto v = TRY(json_opt_bool(obj, field));
  if (!v) return Error::InvalidArgument(fmt::format("field '{}' is required", field));
  return *v;
}

Result<void> json_only_fields(const Json& obj, std::initializer_list<std::string_view> allowed) {
  if (!obj.is_object()) return Error::InvalidArgument("request body must be a JSON object");
  for (const auto& [key, _] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Error::InvalidArgument(fmt::format("unknown field '{}'", key));
    }
  }
  return Ok();
}

}  // namespace oriel
