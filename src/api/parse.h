// Request bodies → controller commands. Pure functions: unit-tested without
// a server. Each rejects unknown fields and wrong types with a message that
// names the field.
#pragma once

#include "oriel/common/json.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

struct Credentials {
  std::string username;
  std::string password;
};

Result<Credentials> parse_login(std::string_view body);
Result<controller::CreateImage> parse_create_image(std::string_view body);
Result<controller::CreateDesktop> parse_create_desktop(std::string_view body);
Result<controller::DesktopAction> parse_action(std::string_view action);

}  // namespace oriel::api
