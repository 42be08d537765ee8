#include "parse.h"

namespace oriel::api {

Result<Credentials> parse_login(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"username", "password"}));
  return Credentials{TRY(json_string(j, "username")), TRY(json_string(j, "password"))};
}

Result<controller::CreateImage> parse_create_image(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "source_path", "format", "boot"}));
  controller::CreateImage cmd;
  cmd.name = TRY(json_string(j, "name"));
  cmd.source_path = TRY(json_string(j, "source_path"));
  cmd.format = TRY(json_opt_string(j, "format")).value_or("auto");
  if (j.contains("boot")) cmd.boot = TRY(agent::BootSpec::from_json(j["boot"]));
  return cmd;
}

Result<controller::CreateDesktop> parse_create_desktop(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "image_id", "vcpus", "memory_mb", "start"}));
  controller::CreateDesktop cmd;
  cmd.name = TRY(json_string(j, "name"));
  cmd.image_id = TRY(json_string(j, "image_id"));
  cmd.vcpus = static_cast<int>(TRY(json_int(j, "vcpus", 1, 512)));
  cmd.memory_mb = static_cast<int>(TRY(json_int(j, "memory_mb", 64, 16 * 1024 * 1024)));
  cmd.start = TRY(json_opt_bool(j, "start")).value_or(true);
  return cmd;
}

Result<controller::DesktopAction> parse_action(std::string_view action) {
  using controller::DesktopAction;
  if (action == "start") return DesktopAction::kStart;
  if (action == "stop") return DesktopAction::kStop;
  if (action == "reboot") return DesktopAction::kReboot;
  if (action == "reset") return DesktopAction::kReset;
  if (action == "migrate") return Error::Unprocessable("migrate needs a second host: this installation has one");
  return Error::NotFound("action", action);
}

}  // namespace oriel::api
