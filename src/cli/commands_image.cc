// oriel image import|list|show|delete.
#include <filesystem>
#include <memory>
#include <ostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "app.h"
#include "requests.h"
#include "views.h"

namespace oriel::cli {
namespace {

struct ImportOptions {
  std::string name, path, format = "auto";
  std::string kernel, initrd, cmdline, firmware;
  std::string tenant;
  bool shared = false;
  bool no_wait = false;
};

// source_path is read by orield, which runs in another directory (often on
// this machine): a relative path is made absolute here, without checking it.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

Json import_body(const ImportOptions& o) {
  Json body = {{"name", o.name}, {"source_path", absolute_path(o.path)}, {"format", o.format}};
  if (!o.kernel.empty()) {
    Json boot = {{"kernel", absolute_path(o.kernel)}};
    if (!o.initrd.empty()) boot["initrd"] = absolute_path(o.initrd);
    if (!o.cmdline.empty()) boot["cmdline"] = o.cmdline;
    body["boot"] = std::move(boot);
  } else if (!o.firmware.empty()) {
    body["boot"] = {{"firmware", o.firmware}};
  }
  if (!o.tenant.empty()) body["tenant_id"] = o.tenant;
  if (o.shared) body["shared"] = true;
  return body;
}

std::string image_path(std::string_view id) { return "/api/v1/images/" + escape_path_segment(id); }

void print_image(Context& ctx, const Json& image) {
  if (ctx.json_output()) {
    ctx.print_json(image);
  } else {
    ctx.out << render_fields(image_fields(image));
  }
}

// Polls the image until it is no longer importing, drawing progress on stderr.
Result<Json> wait_for_import(Context& ctx, ApiClient& api, Json image, std::string_view name) {
  ProgressPrinter progress(fmt::format("importing {}", name), ctx.stderr_is_terminal);
  std::string path = image_path(field_text(image, "id"));
  while (field_text(image, "state") == "importing") {
    ctx.err << progress.update(field_number(image, "progress")) << std::flush;
    std::this_thread::sleep_for(ctx.import_poll);
    auto next = api.get(path);
    if (!next.ok()) {
      ctx.err << progress.finish();
      return next.error().context(fmt::format("waiting for the import of '{}'", name));
    }
    image = std::move(next).value();
  }
  if (field_text(image, "state") == "ready") ctx.err << progress.update(100);
  ctx.err << progress.finish() << std::flush;
  return image;
}

Result<int> run_import(Context& ctx, const ImportOptions& o) {
  ApiClient* api = TRY(ctx.api());
  Json image = TRY(api->post("/api/v1/images", import_body(o)));
  if (!o.no_wait) image = TRY(wait_for_import(ctx, *api, std::move(image), o.name));
  if (field_text(image, "state") == "failed") {
    if (ctx.json_output()) ctx.print_json(image);
    return ctx.operation_failed(fmt::format("import of image '{}' failed: {}", o.name, field_text(image, "error")));
  }
  print_image(ctx, image);
  return kExitOk;
}

Result<int> run_list(Context& ctx) {
  Json images = TRY(TRY(ctx.api())->get("/api/v1/images"));
  if (ctx.json_output()) {
    ctx.print_json(images);
  } else {
    TRY(expect_list(images, "image"));
    ctx.out << images_table(images, ctx.clock->now());
  }
  return kExitOk;
}

Result<int> run_show(Context& ctx, const std::string& id) {
  print_image(ctx, TRY(TRY(ctx.api())->get(image_path(id))));
  return kExitOk;
}

Result<int> run_share(Context& ctx, const std::string& id, bool shared) {
  print_image(ctx, TRY(TRY(ctx.api())->patch(image_path(id), Json{{"shared", shared}})));
  return kExitOk;
}

Result<int> run_delete(Context& ctx, const std::string& id) {
  Json answer = TRY(TRY(ctx.api())->del(image_path(id)));
  if (ctx.json_output()) {
    ctx.print_json(answer);
  } else {
    ctx.out << "Deleted image " << printable(id) << ".\n";
  }
  return kExitOk;
}

void add_import_command(CLI::App& image, Context& ctx) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = image.add_subcommand("import", "Import a disk image file (on orield's machine) as a golden image");
  cmd->add_option("NAME", o->name, "Name of the new image")->required();
  cmd->add_option("PATH", o->path, "Disk image file, as orield sees it (relative paths are made absolute)")->required();
  cmd->add_option("--format", o->format, "Disk format; auto detects it (VHD files are vpc)")
      ->check(CLI::IsMember({"auto", "qcow2", "raw", "vpc", "vhdx"}))
      ->capture_default_str();
  auto* kernel = cmd->add_option("--kernel", o->kernel, "Boot this Linux kernel directly (path on orield's machine)");
  cmd->add_option("--initrd", o->initrd, "Initrd for --kernel")->needs(kernel);
  cmd->add_option("--cmdline", o->cmdline, "Kernel command line for --kernel")->needs(kernel);
  cmd->add_option("--firmware", o->firmware, "Boot from the disk with this firmware (default bios)")
      ->check(CLI::IsMember({"bios", "uefi"}))
      ->excludes(kernel);
  auto* tenant = cmd->add_option("--tenant", o->tenant, "The tenant whose own image it is (default: the platform's)");
  cmd->add_flag("--shared", o->shared, "A platform image that every tenant sees and builds pools on")->excludes(tenant);
  cmd->add_flag("--no-wait", o->no_wait, "Return at once instead of waiting for the import to finish");
  cmd->footer("PATH must be under one of orield's --import-dir directories. Waits for the import and shows its "
              "progress on stderr; exits 7 if the import fails.");
  on_run(cmd, ctx, [&ctx, o] { return run_import(ctx, *o); });
}

}  // namespace

void add_image_commands(CLI::App& app, Context& ctx) {
  auto* image = app.add_subcommand("image", "Golden images: import, list, show, share, delete");
  image->require_subcommand(1);
  add_import_command(*image, ctx);
  on_run(image->add_subcommand("list", "List images"), ctx, [&ctx] { return run_list(ctx); });

  auto id = std::make_shared<std::string>();
  auto* show = image->add_subcommand("show", "Show one image");
  show->add_option("ID", *id, "Image id")->required();
  on_run(show, ctx, [&ctx, id] { return run_show(ctx, *id); });
  auto* share = image->add_subcommand("share", "Let every tenant see a platform image and build pools on it");
  share->add_option("ID", *id, "Image id")->required();
  on_run(share, ctx, [&ctx, id] { return run_share(ctx, *id, true); });
  auto* unshare = image->add_subcommand("unshare", "Take a platform image back from the tenants (refused while "
                                                   "their pools use it)");
  unshare->add_option("ID", *id, "Image id")->required();
  on_run(unshare, ctx, [&ctx, id] { return run_share(ctx, *id, false); });
  auto* del = image->add_subcommand("delete", "Delete an image (refused while a desktop or pool uses it)");
  del->add_option("ID", *id, "Image id")->required();
  on_run(del, ctx, [&ctx, id] { return run_delete(ctx, *id); });
}

}  // namespace oriel::cli
