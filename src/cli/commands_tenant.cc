// oriel tenant create|list|show|delete, oriel user create|list|show|delete|
// unlock|passwd and oriel whoami: one REST call each (docs/api.md, "Tenants"
// and "Users"). Who may do what is the server's decision; a refusal is an
// exit code like any other error.
#include <map>
#include <memory>
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "requests.h"
#include "terminal.h"
#include "views.h"

namespace oriel::cli {
namespace {

// "user 'ana' (u-1)", from the server's answer; the id typed when the answer lacks a name.
std::string user_label(const Json& user, std::string_view id) {
  std::string name = field_text(user, "username");
  return name == "-" ? fmt::format("user {}", printable(id)) : fmt::format("user '{}' ({})", name, printable(id));
}

void add_tenant_subcommands(CLI::App& app, Context& ctx) {
  auto* tenant = app.add_subcommand("tenant", "Tenants: the organisations that share this installation");
  tenant->require_subcommand(1);
  auto arg = std::make_shared<std::string>();

  auto* create = tenant->add_subcommand("create", "Create a tenant (admin)");
  create->add_option("NAME", *arg, "Name of the tenant")->required();
  on_run(create, ctx, [&ctx, arg]() -> Result<int> {
    Json t = TRY(TRY(ctx.api())->post(api_path("tenants"), {{"name", *arg}}));
    return ctx.print(t, render_fields(tenant_fields(t)));
  });

  on_run(tenant->add_subcommand("list", "List the tenants you may see"), ctx, [&ctx]() -> Result<int> {
    Json list = TRY(TRY(ctx.api())->get(api_path("tenants")));
    if (!ctx.json_output()) TRY(expect_list(list, "tenant"));
    return ctx.print(list, tenants_table(list, ctx.clock->now()));
  });

  auto* show = tenant->add_subcommand("show", "Show one tenant");
  show->add_option("ID", *arg, "Tenant id")->required();
  on_run(show, ctx, [&ctx, arg]() -> Result<int> {
    Json t = TRY(TRY(ctx.api())->get(api_path("tenants", *arg)));
    return ctx.print(t, render_fields(tenant_fields(t)));
  });

  auto quota = std::make_shared<std::map<std::string, int64_t>>();
  auto* set_quota = tenant->add_subcommand("quota", "Set a tenant's quota (admin): the limits not given are none");
  set_quota->add_option("ID", *arg, "Tenant id")->required();
  struct Limit {
    const char *flag, *field, *what;
  };
  for (const Limit& limit : {Limit{"--desktops", "desktops", "Desktops, running or not"},
                             Limit{"--vcpus", "vcpus", "vCPUs of its running desktops"},
                             Limit{"--memory-mb", "memory_mb", "MiB of memory of its running desktops"},
                             Limit{"--disk-gb", "disk_gb", "GB its desktops' disks may grow to"}}) {
    std::string field = limit.field;
    set_quota
        ->add_option_function<int64_t>(
            limit.flag, [quota, field](int64_t n) { (*quota)[field] = n; }, limit.what)
        ->check(CLI::NonNegativeNumber);
  }
  on_run(set_quota, ctx, [&ctx, arg, quota]() -> Result<int> {
    Json limits = Json::object();
    for (const auto& [field, n] : *quota) limits[field] = n;
    Json t = TRY(TRY(ctx.api())->patch(api_path("tenants", *arg), {{"quota", limits}}));
    return ctx.print(t, render_fields(tenant_fields(t)));
  });

  auto policy = std::make_shared<Json>(Json::object());
  auto* audit = tenant->add_subcommand(
      "audit",
      "Set how long a tenant's audit events stay before they are archived and pruned, and its legal hold (admin)");
  audit->add_option("ID", *arg, "Tenant id")->required();
  audit
      ->add_option_function<int64_t>(
          "--retention-days", [policy](int64_t n) { (*policy)["retention_days"] = n; },
          "Days events stay in the store (0: for ever)")
      ->check(CLI::Range(0, 36600));
  audit
      ->add_option_function<std::string>(
          "--legal-hold", [policy](const std::string& v) { (*policy)["legal_hold"] = v == "on"; },
          "on: no event of the tenant is pruned until it is off again")
      ->check(CLI::IsMember({"on", "off"}));
  on_run(audit, ctx, [&ctx, arg, policy]() -> Result<int> {
    if (policy->empty()) return Error::InvalidArgument("give --retention-days, --legal-hold or both");
    Json t = TRY(TRY(ctx.api())->patch(api_path("tenants", *arg), {{"audit", *policy}}));
    return ctx.print(t, render_fields(tenant_fields(t)));
  });

  auto* del = tenant->add_subcommand("delete", "Delete a tenant (admin; refused while it has users, pools or images)");
  del->add_option("ID", *arg, "Tenant id")->required();
  on_run(del, ctx, [&ctx, arg]() -> Result<int> {
    Json answer = TRY(TRY(ctx.api())->del(api_path("tenants", *arg)));
    return ctx.print(answer, fmt::format("Deleted tenant {}.\n", printable(*arg)));
  });
}

struct UserOptions {
  std::string id, username, role, tenant;
  bool password_stdin = false;
};

// A new password, from stdin with --password-stdin, else asked twice on the
// terminal without echo (as `oriel login` asks, plus the confirmation).
Result<std::string> new_password(Context& ctx, bool from_stdin, std::string_view who) {
  std::string password;
  if (from_stdin) {
    password = TRY(read_line_from_stdin());
  } else if (ctx.stdin_is_terminal) {
    password = TRY(read_password_from_terminal(fmt::format("New password for {}: ", printable(who))));
    if (TRY(read_password_from_terminal("Again: ")) != password) {
      return Error::InvalidArgument("the two passwords differ");
    }
  } else {
    return Error::InvalidArgument("stdin is not a terminal: give the password with --password-stdin");
  }
  if (password.empty()) return Error::InvalidArgument("the password is empty");
  return password;
}

Result<int> run_user_create(Context& ctx, const UserOptions& o) {
  // Read before building the body: a TRY inside a braced list would leak the
  // elements already built when it returns early.
  std::string password = TRY(new_password(ctx, o.password_stdin, o.username));
  Json body = {{"username", o.username}, {"password", password}, {"role", o.role}};
  if (!o.tenant.empty()) body["tenant_id"] = o.tenant;
  Json u = TRY(TRY(ctx.api())->post(api_path("users"), body));
  return ctx.print(u, render_fields(user_fields(u)));
}

Result<int> run_user_update(Context& ctx, const UserOptions& o, const Json& body, std::string_view done) {
  Json u = TRY(TRY(ctx.api())->patch(api_path("users", o.id), body));
  return ctx.print(u, fmt::format("{} {}.\n", done, user_label(u, o.id)));
}

// Your own password needs the current one too (the server checks it).
Result<int> run_passwd(Context& ctx, UserOptions o) {
  Json me = TRY(TRY(ctx.api())->get("/api/v1/auth/me"));
  std::string my_id = me.is_object() ? me.value("id", "") : "";
  if (o.id.empty()) o.id = my_id;
  Json body = Json::object();
  if (o.id == my_id) {
    std::string current;
    if (o.password_stdin) {
      current = TRY(read_line_from_stdin());
    } else if (ctx.stdin_is_terminal) {
      current = TRY(read_password_from_terminal("Current password: "));
    } else {
      return Error::InvalidArgument("stdin is not a terminal: give the passwords with --password-stdin");
    }
    body["current_password"] = current;
  }
  body["password"] = TRY(new_password(ctx, o.password_stdin, o.id));
  return run_user_update(ctx, o, body, "Changed the password of");
}

void add_user_create(CLI::App& user, Context& ctx, const std::shared_ptr<UserOptions>& o) {
  auto* create = user.add_subcommand("create", "Create a user (admin, or tenant-admin in their own tenant)");
  create->add_option("USERNAME", o->username, "Login name")->required();
  create->add_option("--role", o->role, "admin, tenant-admin or user")
      ->check(CLI::IsMember({"admin", "tenant-admin", "user"}))
      ->required();
  create->add_option("--tenant", o->tenant, "Tenant id: needed for tenant-admin and user, refused for admin");
  create->add_flag("--password-stdin", o->password_stdin, "Read the password from stdin");
  create->footer("Without --password-stdin the password is asked for twice on the terminal, without echo.");
  on_run(create, ctx, [&ctx, o] { return run_user_create(ctx, *o); });
}

void add_user_updates(CLI::App& user, Context& ctx, const std::shared_ptr<UserOptions>& o) {
  auto* unlock = user.add_subcommand("unlock", "Lift the lock left by failed logins (admins)");
  unlock->add_option("ID", o->id, "User id")->required();
  on_run(unlock, ctx, [&ctx, o] { return run_user_update(ctx, *o, {{"unlock", true}}, "Unlocked"); });

  auto* passwd = user.add_subcommand("passwd", "Set a user's password (a user may change their own)");
  passwd->add_option("ID", o->id, "User id (default: yourself)");
  passwd->add_flag("--password-stdin", o->password_stdin,
                   "Read the new password from stdin (your own: the current one on the first line, the new one on "
                   "the second)");
  passwd->footer("Without --password-stdin the passwords are asked for on the terminal, without echo: your current "
                 "one when you change your own, then the new one twice.");
  on_run(passwd, ctx, [&ctx, o]() -> Result<int> { return run_passwd(ctx, *o); });
}

void add_user_subcommands(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "Users, their roles and passwords");
  user->require_subcommand(1);
  auto o = std::make_shared<UserOptions>();
  add_user_create(*user, ctx, o);

  auto* list = user->add_subcommand("list", "List the users you may see");
  list->add_option("--tenant", o->tenant, "Only this tenant's users");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    Json list = TRY(TRY(ctx.api())->get(api_path("users") + query_string({{"tenant_id", o->tenant}})));
    if (!ctx.json_output()) TRY(expect_list(list, "user"));
    return ctx.print(list, users_table(list, ctx.clock->now()));
  });

  auto* show = user->add_subcommand("show", "Show one user");
  show->add_option("ID", o->id, "User id")->required();
  on_run(show, ctx, [&ctx, o]() -> Result<int> {
    Json u = TRY(TRY(ctx.api())->get(api_path("users", o->id)));
    return ctx.print(u, render_fields(user_fields(u)));
  });

  auto* del = user->add_subcommand("delete", "Delete a user: logs off their sessions, revokes their tokens");
  del->add_option("ID", o->id, "User id")->required();
  on_run(del, ctx, [&ctx, o]() -> Result<int> {
    Json answer = TRY(TRY(ctx.api())->del(api_path("users", o->id)));
    return ctx.print(answer, fmt::format("Deleted user {}.\n", printable(o->id)));
  });
  add_user_updates(*user, ctx, o);
}

}  // namespace

void add_tenant_commands(CLI::App& app, Context& ctx) {
  add_tenant_subcommands(app, ctx);
  add_user_subcommands(app, ctx);
  on_run(app.add_subcommand("whoami", "Show the user you are logged in as"), ctx, [&ctx]() -> Result<int> {
    Json me = TRY(TRY(ctx.api())->get("/api/v1/auth/me"));
    return ctx.print(me, render_fields(user_fields(me)));
  });
}

}  // namespace oriel::cli
