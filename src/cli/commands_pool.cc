// oriel pool create|list|show|set|delete|entitle|unentitle|entitlements: one
// REST call each (docs/api.md, "Pools"). `set` sends only the fields given,
// so the pool keeps everything else.
#include <memory>
#include <optional>
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "requests.h"
#include "views.h"

namespace oriel::cli {
namespace {

// What a pool looks like. Unset fields are left out of the request body.
struct PoolShape {
  std::optional<std::string> name, tenant, image, type, provisioning, clipboard, network;
  std::optional<int64_t> size, spare, vcpus, memory_mb, idle_timeout_s;
};

struct PoolOptions {
  std::string id, user;
  PoolShape shape;
};

Json pool_body(const PoolShape& s) {
  Json body = Json::object();
  auto put = [&body](const char* key, const auto& value) {
    if (value) body[key] = *value;
  };
  put("name", s.name);
  put("tenant_id", s.tenant);
  put("image_id", s.image);
  put("type", s.type);
  put("size", s.size);
  put("spare", s.spare);
  put("vcpus", s.vcpus);
  put("memory_mb", s.memory_mb);
  put("idle_timeout_s", s.idle_timeout_s);
  put("provisioning", s.provisioning);
  put("clipboard", s.clipboard);
  put("network", s.network);
  return body;
}

// The options `create` and `set` share; `create` requires the first five.
void add_shape_options(CLI::App* cmd, PoolShape& s, bool required) {
  std::vector<CLI::Option*> shape = {
      cmd->add_option("--image", s.image, "Golden image id"),
      cmd->add_option("--size", s.size, "The most desktops the pool may have (0-10000)")->check(CLI::Range(0, 10000)),
      cmd->add_option("--spare", s.spare, "Started, unassigned desktops kept ready (0-size)")
          ->check(CLI::Range(0, 10000)),
      cmd->add_option("--vcpus", s.vcpus, "vCPUs of each desktop")->check(CLI::Range(1, 512)),
      cmd->add_option("--memory-mb", s.memory_mb, "Memory of each desktop in MiB")->check(CLI::PositiveNumber)};
  for (auto* option : shape) option->required(required);
  cmd->add_option("--idle-timeout-s", s.idle_timeout_s, "Disconnect a session idle this many seconds (0: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--provisioning", s.provisioning,
                  "on-demand (assigned desktops plus the spares) or up-front (all size desktops exist)")
      ->check(CLI::IsMember({"on-demand", "up-front"}));
  cmd->add_option("--clipboard", s.clipboard,
                  "Clipboard between browser and desktop: both, to-desktop, to-client, none")
      ->check(CLI::IsMember({"both", "to-desktop", "to-client", "none"}));
  cmd->add_option("--network", s.network,
                  "The desktops' network: isolated (DHCP, reaches nothing), none, or bridge:NAME (admin; the bridge "
                  "serves this tenant only)");
}

Result<int> print_pool(Context& ctx, const Json& pool) { return ctx.print(pool, render_fields(pool_fields(pool))); }

void add_create(CLI::App& pool, Context& ctx, const std::shared_ptr<PoolOptions>& o) {
  auto* create = pool.add_subcommand("create", "Create a pool (admin, or tenant-admin for their tenant)");
  create->add_option("NAME", o->shape.name, "Name of the pool")->required();
  create->add_option("--tenant", o->shape.tenant, "Tenant id (a tenant-admin's own when left out)");
  create->add_option("--type", o->shape.type, "pooled (reset at logoff) or persistent (one desktop per user, kept)")
      ->check(CLI::IsMember({"pooled", "persistent"}))
      ->required();
  add_shape_options(create, o->shape, /*required=*/true);
  on_run(create, ctx, [&ctx, o]() -> Result<int> {
    return print_pool(ctx, TRY(TRY(ctx.api())->post(api_path("pools"), pool_body(o->shape))));
  });
}

void add_set(CLI::App& pool, Context& ctx, const std::shared_ptr<PoolOptions>& o) {
  auto* set = pool.add_subcommand("set", "Change a pool; it converges without touching a desktop in use");
  set->add_option("ID", o->id, "Pool id")->required();
  set->add_option("--name", o->shape.name, "New name");
  add_shape_options(set, o->shape, /*required=*/false);
  set->footer("Only the options given are sent. A pool's type and tenant cannot change.");
  on_run(set, ctx, [&ctx, o]() -> Result<int> {
    Json body = pool_body(o->shape);
    if (body.empty()) return Error::InvalidArgument("nothing to change: give at least one option (see --help)");
    return print_pool(ctx, TRY(TRY(ctx.api())->patch(api_path("pools", o->id), body)));
  });
}

void add_entitlement_commands(CLI::App& pool, Context& ctx, const std::shared_ptr<PoolOptions>& o) {
  auto* entitle = pool.add_subcommand("entitle", "Let a user of the pool's tenant log on to the pool");
  entitle->add_option("ID", o->id, "Pool id")->required();
  entitle->add_option("USER_ID", o->user, "User id")->required();
  on_run(entitle, ctx, [&ctx, o]() -> Result<int> {
    Json e = TRY(TRY(ctx.api())->post(api_path("pools", o->id, "/entitlements"), {{"user_id", o->user}}));
    std::string name = field_text(e, "username"), id = printable(o->user);
    std::string who = name == "-" ? id : fmt::format("'{}' ({})", name, id);
    return ctx.print(e, fmt::format("User {} may now use pool {}.\n", who, printable(o->id)));
  });

  auto* unentitle = pool.add_subcommand("unentitle", "Take a user's entitlement to the pool away");
  unentitle->add_option("ID", o->id, "Pool id")->required();
  unentitle->add_option("USER_ID", o->user, "User id")->required();
  on_run(unentitle, ctx, [&ctx, o]() -> Result<int> {
    std::string path = api_path("pools", o->id, "/entitlements/" + escape_path_segment(o->user));
    Json answer = TRY(TRY(ctx.api())->del(path));
    return ctx.print(answer, fmt::format("User {} may no longer use pool {}.\n", printable(o->user), printable(o->id)));
  });

  auto* list = pool.add_subcommand("entitlements", "List the users who may log on to a pool");
  list->add_option("ID", o->id, "Pool id")->required();
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    Json entitlements = TRY(TRY(ctx.api())->get(api_path("pools", o->id, "/entitlements")));
    if (!ctx.json_output()) TRY(expect_list(entitlements, "entitlement"));
    return ctx.print(entitlements, entitlements_table(entitlements));
  });
}

}  // namespace

void add_pool_commands(CLI::App& app, Context& ctx) {
  auto* pool = app.add_subcommand("pool", "Desktop pools and who may use them");
  pool->require_subcommand(1);
  auto o = std::make_shared<PoolOptions>();
  add_create(*pool, ctx, o);

  auto* list = pool->add_subcommand("list", "List the pools you may see, with their live counts");
  list->add_option("--tenant", o->shape.tenant, "Only this tenant's pools");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    auto query = query_string({{"tenant_id", o->shape.tenant.value_or("")}});
    Json pools = TRY(TRY(ctx.api())->get(api_path("pools") + query));
    if (!ctx.json_output()) TRY(expect_list(pools, "pool"));
    return ctx.print(pools, pools_table(pools));
  });

  auto* show = pool->add_subcommand("show", "Show one pool with its live counts and why it is short, if it is");
  show->add_option("ID", o->id, "Pool id")->required();
  on_run(show, ctx,
         [&ctx, o]() -> Result<int> { return print_pool(ctx, TRY(TRY(ctx.api())->get(api_path("pools", o->id)))); });

  add_set(*pool, ctx, o);

  auto* del = pool->add_subcommand("delete", "Delete a pool and its desktops (refused while sessions are open)");
  del->add_option("ID", o->id, "Pool id")->required();
  on_run(del, ctx, [&ctx, o]() -> Result<int> {
    Json answer = TRY(TRY(ctx.api())->del(api_path("pools", o->id)));
    return ctx.print(answer,
                     fmt::format("Deleting pool {}: its desktops go first, then the pool.\n", printable(o->id)));
  });

  add_entitlement_commands(*pool, ctx, o);
}

}  // namespace oriel::cli
