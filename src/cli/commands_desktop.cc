// oriel desktop create|list|show|start|stop|reboot|reset|migrate|cancel-migration|delete|screenshot.
#include <fstream>
#include <memory>
#include <ostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "app.h"
#include "requests.h"
#include "views.h"

namespace oriel::cli {
namespace {

struct CreateOptions {
  std::string name, image, memory = "1024";
  int vcpus = 1;
  bool no_start = false, wait = false;
};

struct TargetOptions {
  std::string id, file, host;
  bool wait = false;
};

std::string desktop_path(std::string_view id) { return "/api/v1/desktops/" + escape_path_segment(id); }

// "desktop 'web' (d-1)"; capitalised to start a sentence.
std::string label(const Json& d, bool capital = false) {
  return fmt::format("{}esktop '{}' ({})", capital ? 'D' : 'd', field_text(d, "name"), field_text(d, "id"));
}

// Settled: failed, or in its desired state with no action pending.
bool settled(const Json& d) {
  std::string state = field_text(d, "state"), desired = field_text(d, "desired_state");
  if (state == "failed") return true;
  if (field_text(d, "pending_action") != "-") return false;
  if (desired == "-") return state == "running" || state == "stopped";
  return state == desired;
}

// Polls until the desktop settles, telling stderr about each new state.
Result<Json> wait_for_desktop(Context& ctx, ApiClient& api, Json d) {
  std::string path = desktop_path(field_text(d, "id")), last = field_text(d, "state");
  while (!settled(d)) {
    std::this_thread::sleep_for(ctx.desktop_poll);
    auto next = api.get(path);
    if (!next.ok()) return next.error().context(fmt::format("waiting for {}", label(d)));
    d = std::move(next).value();
    if (std::string state = field_text(d, "state"); state != last) {
      ctx.err << fmt::format("{}: {}\n", label(d, true), state) << std::flush;
      last = state;
    }
  }
  return d;
}

// Polls until the desktop is gone (404); a desktop that fails instead is returned.
Result<std::optional<Json>> wait_until_deleted(Context& ctx, ApiClient& api, const std::string& id) {
  for (;;) {
    auto d = api.get(desktop_path(id));
    if (!d.ok() && d.error().code() == ErrorCode::kNotFound) return std::optional<Json>();
    if (!d.ok()) return d.error().context(fmt::format("waiting for desktop {} to be deleted", id));
    if (field_text(*d, "state") == "failed") return std::optional<Json>(std::move(d).value());
    std::this_thread::sleep_for(ctx.desktop_poll);
  }
}

// Ends a command on `d`: exit 7 if it failed, else `say` (or the JSON).
int finish(Context& ctx, const Json& d, const std::string& say) {
  if (ctx.json_output()) ctx.print_json(d);
  if (field_text(d, "state") == "failed") {
    return ctx.operation_failed(fmt::format("{} failed: {}", label(d), field_text(d, "error")));
  }
  if (!ctx.json_output()) ctx.out << say;
  return kExitOk;
}

Result<int> run_create(Context& ctx, const CreateOptions& o) {
  int64_t memory_mib = TRY(parse_memory_mib(o.memory));
  ApiClient* api = TRY(ctx.api());
  Json body = {
      {"name", o.name}, {"image_id", o.image}, {"vcpus", o.vcpus}, {"memory_mb", memory_mib}, {"start", !o.no_start}};
  Json d = TRY(api->post("/api/v1/desktops", body));
  if (o.wait) d = TRY(wait_for_desktop(ctx, *api, std::move(d)));
  return finish(ctx, d, render_fields(desktop_fields(d)));
}

Result<int> run_list(Context& ctx, const std::string& pool, const std::string& host) {
  std::string path = "/api/v1/desktops";
  if (!pool.empty()) path += "?pool_id=" + escape_path_segment(pool);
  if (!host.empty()) path += (pool.empty() ? "?host_id=" : "&host_id=") + escape_path_segment(host);
  Json list = TRY(TRY(ctx.api())->get(path));
  if (ctx.json_output()) {
    ctx.print_json(list);
  } else {
    TRY(expect_list(list, "desktop"));
    ctx.out << desktops_table(list, ctx.clock->now());
  }
  return kExitOk;
}

Result<int> run_show(Context& ctx, const std::string& id) {
  Json d = TRY(TRY(ctx.api())->get(desktop_path(id)));
  if (ctx.json_output()) {
    ctx.print_json(d);
  } else {
    ctx.out << render_fields(desktop_fields(d));
  }
  return kExitOk;
}

Result<int> run_action(Context& ctx, const std::string& action, const TargetOptions& o) {
  ApiClient* api = TRY(ctx.api());
  Json d = TRY(api->post(desktop_path(o.id) + "/actions/" + action));
  if (!o.wait) {
    return finish(ctx, d, fmt::format("{}: {} requested, now {}.\n", label(d, true), action, field_text(d, "state")));
  }
  d = TRY(wait_for_desktop(ctx, *api, std::move(d)));
  return finish(ctx, d, fmt::format("{} is {}.\n", label(d, true), field_text(d, "state")));
}

// Live migration to --host, or to the host the scheduler picks.
Result<int> run_migrate(Context& ctx, const TargetOptions& o) {
  ApiClient* api = TRY(ctx.api());
  Json body = o.host.empty() ? Json::object() : Json{{"host_id", o.host}};
  Json d = TRY(api->post(desktop_path(o.id) + "/actions/migrate", body));
  if (!o.wait) {
    return finish(ctx, d, fmt::format("{}: migrating ({}).\n", label(d, true), field_text(d, "pending_action")));
  }
  d = TRY(wait_for_desktop(ctx, *api, std::move(d)));
  std::string outcome =
      field_text(d, "error") == "-"
          ? fmt::format("{} runs on host {}.\n", label(d, true), field_text(d, "host_id"))
          : fmt::format("{} stays on host {}: {}\n", label(d, true), field_text(d, "host_id"), field_text(d, "error"));
  return finish(ctx, d, outcome);
}

Result<int> run_delete(Context& ctx, const TargetOptions& o) {
  ApiClient* api = TRY(ctx.api());
  Json d = TRY(api->del(desktop_path(o.id)));
  if (o.wait) {
    if (auto failed = TRY(wait_until_deleted(ctx, *api, o.id))) return finish(ctx, *failed, "");
  }
  std::string say = o.wait ? fmt::format("Deleted {}.\n", label(d)) : fmt::format("Deleting {}.\n", label(d));
  return finish(ctx, d, say);
}

Result<void> write_file(const std::string& file, const std::string& bytes) {
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  if (f) f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (f) f.close();
  if (!f) return Error::Internal(fmt::format("cannot write {}: {}", file, std::strerror(errno)));
  return Ok();
}

// "<id>.png" with anything unusual in the id replaced.
std::string default_screenshot_file(const std::string& id) {
  std::string name = id;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
  return (name.empty() ? "desktop" : name) + ".png";
}

Result<int> run_screenshot(Context& ctx, const TargetOptions& o) {
  std::string file = o.file.empty() ? default_screenshot_file(o.id) : o.file;
  if (file == "-" && ctx.stdout_is_terminal) {
    return Error::InvalidArgument("stdout is a terminal: redirect it or give a file with -f");
  }
  std::string content_type;
  std::string png = TRY(TRY(ctx.api())->get_bytes(desktop_path(o.id) + "/screenshot", &content_type));
  if (file == "-") {
    ctx.out.write(png.data(), static_cast<std::streamsize>(png.size()));
    ctx.out.flush();
    return kExitOk;
  }
  TRY(write_file(file, png));
  if (ctx.json_output()) {
    ctx.print_json({{"file", file}, {"bytes", png.size()}, {"content_type", content_type}});
  } else {
    ctx.out << fmt::format("Saved the screen of desktop {} to {} ({}).\n", printable(o.id), printable(file),
                           human_bytes(png.size()));
  }
  return kExitOk;
}

void add_create_command(CLI::App& desktop, Context& ctx) {
  auto o = std::make_shared<CreateOptions>();
  auto* cmd = desktop.add_subcommand("create", "Create a desktop (a virtual machine) from an image");
  cmd->add_option("NAME", o->name, "Name of the desktop")->required();
  cmd->add_option("--image", o->image, "Image id")->required();
  cmd->add_option("--vcpus", o->vcpus, "Virtual CPUs")->check(CLI::Range(1, 512))->capture_default_str();
  cmd->add_option("--memory", o->memory, "Memory in MiB, or with a unit: 512M, 4G")->capture_default_str();
  cmd->add_flag("--no-start", o->no_start, "Create it stopped");
  cmd->add_flag("--wait", o->wait, "Wait until it is running (stopped with --no-start); exit 7 if it fails");
  on_run(cmd, ctx, [&ctx, o] { return run_create(ctx, *o); });
}

// A subcommand taking a desktop ID (and optionally --wait).
CLI::App* add_target_command(CLI::App& desktop, const std::string& name, const std::string& help, TargetOptions& o,
                             const std::string& wait_help) {
  auto* cmd = desktop.add_subcommand(name, help);
  cmd->add_option("ID", o.id, "Desktop id")->required();
  if (!wait_help.empty()) cmd->add_flag("--wait", o.wait, wait_help);
  return cmd;
}

void add_action_commands(CLI::App& desktop, Context& ctx) {
  const std::pair<std::string, std::string> kActions[] = {
      {"start", "Start a stopped desktop"},
      {"stop", "Shut a desktop down (ACPI, then hard after a timeout)"},
      {"reboot", "Reboot a running desktop"},
      {"reset", "Discard the desktop's changes: back to its image"}};
  for (const auto& [action, help] : kActions) {
    auto o = std::make_shared<TargetOptions>();
    auto* cmd =
        add_target_command(desktop, action, help, *o, "Wait until the action is done; exit 7 if the desktop fails");
    on_run(cmd, ctx, [&ctx, o, action = action] { return run_action(ctx, action, *o); });
  }
  auto o = std::make_shared<TargetOptions>();
  auto* migrate = add_target_command(desktop, "migrate", "Move a running desktop to another host, live", *o,
                                     "Wait until it has moved (or stayed, with the reason)");
  migrate->add_option("--host", o->host, "Host id to move to (default: the scheduler's choice)");
  on_run(migrate, ctx, [&ctx, o] { return run_migrate(ctx, *o); });
  auto c = std::make_shared<TargetOptions>();
  auto* cancel = add_target_command(desktop, "cancel-migration", "Stop a migration; the desktop stays where it was", *c,
                                    "Wait until it is rolled back");
  on_run(cancel, ctx, [&ctx, c] { return run_action(ctx, "cancel-migration", *c); });
}

}  // namespace

void add_desktop_commands(CLI::App& app, Context& ctx) {
  auto* desktop = app.add_subcommand("desktop", "Desktops (virtual machines): create, list, act on, delete");
  desktop->require_subcommand(1);
  add_create_command(*desktop, ctx);

  auto filter = std::make_shared<std::pair<std::string, std::string>>();
  auto* list = desktop->add_subcommand("list", "List desktops");
  list->add_option("--pool", filter->first, "Only desktops of this pool id");
  list->add_option("--host", filter->second, "Only desktops on this host id");
  on_run(list, ctx, [&ctx, filter] { return run_list(ctx, filter->first, filter->second); });

  auto o = std::make_shared<TargetOptions>();
  on_run(add_target_command(*desktop, "show", "Show one desktop", *o, ""), ctx,
         [&ctx, o] { return run_show(ctx, o->id); });
  add_action_commands(*desktop, ctx);
  auto* del = add_target_command(*desktop, "delete", "Delete a desktop and its disk", *o, "Wait until it is gone");
  on_run(del, ctx, [&ctx, o] { return run_delete(ctx, *o); });
  auto* shot = add_target_command(*desktop, "screenshot", "Save a PNG of the desktop's screen", *o, "");
  shot->add_option("-f,--file", o->file, "Output file, - for stdout (default: ID.png)");
  on_run(shot, ctx, [&ctx, o] { return run_screenshot(ctx, *o); });
}

}  // namespace oriel::cli
