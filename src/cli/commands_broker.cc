// oriel tenant|user|pool|session|audit|usage and whoami: the broker's
// commands. Each is one REST call (docs/api.md); tables for people, the
// server's JSON with --output json.
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "terminal.h"
#include "views.h"

namespace oriel::cli {
namespace {

using Columns = std::vector<std::pair<std::string, std::string>>;  // header, field

std::string path_of(std::string_view collection, std::string_view id = {}, std::string_view rest = {}) {
  std::string p = fmt::format("/api/v1/{}", collection);
  if (!id.empty()) p += "/" + escape_path_segment(id);
  return p + std::string(rest);
}

// "?a=1&b=2" from the pairs whose value is not empty.
std::string query_of(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    q += fmt::format("{}{}={}", q.empty() ? "?" : "&", key, escape_path_segment(value));
  }
  return q;
}

std::string table_of(const Json& items, const Columns& columns) {
  std::vector<std::string> headers;
  for (const auto& c : columns) headers.push_back(c.first);
  Table t(headers);
  if (items.is_array()) {
    for (const auto& item : items) {
      std::vector<std::string> row;
      for (const auto& c : columns) row.push_back(field_text(item, c.second));
      t.add_row(std::move(row));
    }
  }
  return t.render();
}

Fields fields_of(const Json& item, const Columns& columns) {
  Fields f;
  for (const auto& c : columns) f.emplace_back(c.first, field_text(item, c.second));
  return f;
}

// Prints a list or one object, as a table or JSON.
int print_list(Context& ctx, const Json& items, const Columns& columns) {
  if (ctx.json_output()) {
    ctx.print_json(items);
  } else {
    ctx.out << table_of(items, columns);
  }
  return kExitOk;
}

int print_one(Context& ctx, const Json& item, const Columns& columns, std::string_view say = {}) {
  if (ctx.json_output()) {
    ctx.print_json(item);
  } else if (!say.empty()) {
    ctx.out << say << "\n";
  } else {
    ctx.out << render_fields(fields_of(item, columns));
  }
  return kExitOk;
}

const Columns kTenantColumns = {{"ID", "id"}, {"NAME", "name"}, {"CREATED", "created_at"}};
const Columns kTenantFields = {{"ID", "id"}, {"Name", "name"}, {"Created", "created_at"}};
const Columns kUserColumns = {{"ID", "id"},         {"USERNAME", "username"},         {"ROLE", "role"},
                              {"TENANT", "tenant_id"}, {"LOCKED UNTIL", "locked_until"}, {"CREATED", "created_at"}};
const Columns kUserFields = {{"ID", "id"},         {"Username", "username"},         {"Role", "role"},
                             {"Tenant", "tenant_id"}, {"Locked until", "locked_until"}, {"Created", "created_at"}};
const Columns kPoolColumns = {{"ID", "id"},           {"NAME", "name"},       {"TENANT", "tenant_id"},
                              {"TYPE", "type"},       {"SIZE", "size"},       {"SPARE", "spare"},
                              {"DESKTOPS", "desktops"}, {"IN USE", "assigned"}, {"READY", "running_free"},
                              {"STATE", "state"},     {"MESSAGE", "message"}};
const Columns kPoolFields = {{"ID", "id"},           {"Name", "name"},
                             {"Tenant", "tenant_id"}, {"Image", "image_id"},
                             {"Type", "type"},       {"Provisioning", "provisioning"},
                             {"Size", "size"},       {"Spare", "spare"},
                             {"vCPUs", "vcpus"},     {"Memory MiB", "memory_mb"},
                             {"Idle timeout s", "idle_timeout_s"}, {"State", "state"},
                             {"Desktops", "desktops"}, {"In use", "assigned"},
                             {"Free", "free"},       {"Ready (running, free)", "running_free"},
                             {"Sessions", "sessions"}, {"Message", "message"}};
const Columns kSessionColumns = {{"ID", "id"},       {"USER", "username"}, {"POOL", "pool_id"},
                                 {"DESKTOP", "desktop_id"}, {"STATE", "state"}, {"SINCE", "created_at"},
                                 {"ENDED", "ended_at"}};
const Columns kSessionFields = {{"ID", "id"},           {"User", "username"},       {"Pool", "pool_id"},
                                {"Tenant", "tenant_id"}, {"Desktop", "desktop_id"},  {"State", "state"},
                                {"Client", "client_address"}, {"Since", "created_at"},
                                {"Last activity", "last_activity_at"}, {"Ended", "ended_at"},
                                {"Display URL", "display_url"}, {"Ticket expires", "ticket_expires_at"}};
const Columns kAuditColumns = {{"AT", "at"},         {"USER", "username"}, {"TENANT", "tenant_id"},
                               {"ACTION", "action"}, {"TARGET", "target"}, {"FROM", "address"},
                               {"STATUS", "status"}, {"RESULT", "result"}, {"DETAIL", "detail"}};

// A new password from --password-stdin or the terminal, asked twice there.
Result<std::string> new_password(Context& ctx, bool from_stdin, std::string_view who) {
  std::string password;
  if (from_stdin) {
    password = TRY(read_line_from_stdin());
  } else if (ctx.stdin_is_terminal) {
    password = TRY(read_password_from_terminal(fmt::format("New password for {}: ", who)));
    if (TRY(read_password_from_terminal("Again: ")) != password) {
      return Error::InvalidArgument("the passwords do not match");
    }
  } else {
    return Error::InvalidArgument("stdin is not a terminal: give the password with --password-stdin");
  }
  if (password.empty()) return Error::InvalidArgument("the password is empty");
  return password;
}

void add_tenant(CLI::App& app, Context& ctx) {
  auto* tenant = app.add_subcommand("tenant", "Tenants: the customers that share this installation");
  tenant->require_subcommand(1);
  auto name = std::make_shared<std::string>(), id = std::make_shared<std::string>();
  auto* create = tenant->add_subcommand("create", "Create a tenant (admin)");
  create->add_option("name", *name, "Its name")->required();
  on_run(create, ctx, [&ctx, name]() -> Result<int> {
    Json t = TRY(TRY(ctx.api())->post(path_of("tenants"), {{"name", *name}}));
    return print_one(ctx, t, kTenantColumns, fmt::format("Tenant '{}' created: {}", *name, field_text(t, "id")));
  });
  on_run(tenant->add_subcommand("list", "List tenants"), ctx, [&ctx]() -> Result<int> {
    return print_list(ctx, TRY(TRY(ctx.api())->get(path_of("tenants"))), kTenantColumns);
  });
  auto* show = tenant->add_subcommand("show", "Show a tenant");
  show->add_option("id", *id, "Tenant id")->required();
  on_run(show, ctx, [&ctx, id]() -> Result<int> {
    return print_one(ctx, TRY(TRY(ctx.api())->get(path_of("tenants", *id))), kTenantFields);
  });
  auto* del = tenant->add_subcommand("delete", "Delete a tenant that has no users or pools left (admin)");
  del->add_option("id", *id, "Tenant id")->required();
  on_run(del, ctx, [&ctx, id]() -> Result<int> {
    Json r = TRY(TRY(ctx.api())->del(path_of("tenants", *id)));
    return print_one(ctx, r, {}, fmt::format("Tenant {} deleted", *id));
  });
}

struct UserOptions {
  std::string id, username, role = "user", tenant;
  bool password_stdin = false;
};

void add_user(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "Users and their roles");
  user->require_subcommand(1);
  auto o = std::make_shared<UserOptions>();
  auto* create = user->add_subcommand("create", "Create a user (admin, or tenant-admin in their tenant)");
  create->add_option("username", o->username, "Login name")->required();
  create->add_option("--role", o->role, "admin, tenant-admin or user")
      ->check(CLI::IsMember({"admin", "tenant-admin", "user"}))
      ->capture_default_str();
  create->add_option("--tenant", o->tenant, "Tenant id (needed for tenant-admin and user)");
  create->add_flag("--password-stdin", o->password_stdin, "Read the password from stdin");
  on_run(create, ctx, [&ctx, o]() -> Result<int> {
    Json body = {{"username", o->username},
                 {"password", TRY(new_password(ctx, o->password_stdin, o->username))},
                 {"role", o->role}};
    if (!o->tenant.empty()) body["tenant_id"] = o->tenant;
    Json u = TRY(TRY(ctx.api())->post(path_of("users"), body));
    return print_one(ctx, u, kUserColumns, fmt::format("User '{}' created: {}", o->username, field_text(u, "id")));
  });
  auto* list = user->add_subcommand("list", "List the users you may see");
  list->add_option("--tenant", o->tenant, "Only this tenant's");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    return print_list(ctx, TRY(TRY(ctx.api())->get(path_of("users") + query_of({{"tenant_id", o->tenant}}))),
                      kUserColumns);
  });
  auto* show = user->add_subcommand("show", "Show a user");
  show->add_option("id", o->id, "User id")->required();
  on_run(show, ctx, [&ctx, o]() -> Result<int> {
    return print_one(ctx, TRY(TRY(ctx.api())->get(path_of("users", o->id))), kUserFields);
  });
  auto* del = user->add_subcommand("delete", "Delete a user: logs off their sessions, deletes their desktops");
  del->add_option("id", o->id, "User id")->required();
  on_run(del, ctx, [&ctx, o]() -> Result<int> {
    Json r = TRY(TRY(ctx.api())->del(path_of("users", o->id)));
    return print_one(ctx, r, {}, fmt::format("User {} deleted", o->id));
  });
  auto* unlock = user->add_subcommand("unlock", "Lift a lock left by failed logins");
  unlock->add_option("id", o->id, "User id")->required();
  on_run(unlock, ctx, [&ctx, o]() -> Result<int> {
    Json u = TRY(TRY(ctx.api())->patch(path_of("users", o->id), {{"unlock", true}}));
    return print_one(ctx, u, kUserColumns, fmt::format("User '{}' unlocked", field_text(u, "username")));
  });
  auto* passwd = user->add_subcommand("passwd", "Set a user's password (your own, or as an administrator)");
  passwd->add_option("id", o->id, "User id")->required();
  passwd->add_flag("--password-stdin", o->password_stdin, "Read the password from stdin");
  on_run(passwd, ctx, [&ctx, o]() -> Result<int> {
    Json body = {{"password", TRY(new_password(ctx, o->password_stdin, o->id))}};
    Json u = TRY(TRY(ctx.api())->patch(path_of("users", o->id), body));
    return print_one(ctx, u, kUserColumns, fmt::format("Password of '{}' changed", field_text(u, "username")));
  });
  on_run(app.add_subcommand("whoami", "Show who you are logged in as"), ctx, [&ctx]() -> Result<int> {
    return print_one(ctx, TRY(TRY(ctx.api())->get("/api/v1/auth/me")), kUserFields);
  });
}

struct PoolOptions {
  std::string id, user, name, tenant, image, type, provisioning;
  std::optional<int64_t> size, spare, vcpus, memory_mb, idle_timeout_s;
};

Json pool_body(const PoolOptions& o) {
  Json body = Json::object();
  auto put = [&](const char* key, const auto& value) {
    if (value) body[key] = *value;
  };
  auto put_text = [&](const char* key, const std::string& value) {
    if (!value.empty()) body[key] = value;
  };
  put_text("name", o.name);
  put_text("tenant_id", o.tenant);
  put_text("image_id", o.image);
  put_text("type", o.type);
  put_text("provisioning", o.provisioning);
  put("size", o.size);
  put("spare", o.spare);
  put("vcpus", o.vcpus);
  put("memory_mb", o.memory_mb);
  put("idle_timeout_s", o.idle_timeout_s);
  return body;
}

void add_pool_shape_options(CLI::App* cmd, PoolOptions& o) {
  cmd->add_option("--image", o.image, "Golden image id");
  cmd->add_option("--size", o.size, "Most desktops")->check(CLI::Range(0, 10000));
  cmd->add_option("--spare", o.spare, "Started, unassigned desktops kept ready")->check(CLI::Range(0, 10000));
  cmd->add_option("--vcpus", o.vcpus, "vCPUs per desktop")->check(CLI::Range(1, 512));
  cmd->add_option("--memory-mb", o.memory_mb, "Memory per desktop in MiB")->check(CLI::Range(64, 16 * 1024 * 1024));
  cmd->add_option("--idle-timeout-s", o.idle_timeout_s, "Disconnect sessions idle this long (0: never)");
  cmd->add_option("--provisioning", o.provisioning, "on-demand or up-front")
      ->check(CLI::IsMember({"on-demand", "up-front"}));
}

void add_pool(CLI::App& app, Context& ctx) {
  auto* pool = app.add_subcommand("pool", "Desktop pools and who may use them");
  pool->require_subcommand(1);
  auto o = std::make_shared<PoolOptions>();
  auto* create = pool->add_subcommand("create", "Create a pool");
  create->add_option("name", o->name, "Its name")->required();
  create->add_option("--tenant", o->tenant, "Tenant id (a tenant-admin's own by default)");
  create->add_option("--type", o->type, "pooled or persistent")
      ->check(CLI::IsMember({"pooled", "persistent"}))
      ->required();
  add_pool_shape_options(create, *o);
  on_run(create, ctx, [&ctx, o]() -> Result<int> {
    Json p = TRY(TRY(ctx.api())->post(path_of("pools"), pool_body(*o)));
    return print_one(ctx, p, kPoolFields, fmt::format("Pool '{}' created: {}", o->name, field_text(p, "id")));
  });
  auto* list = pool->add_subcommand("list", "List the pools you may see");
  list->add_option("--tenant", o->tenant, "Only this tenant's");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    return print_list(ctx, TRY(TRY(ctx.api())->get(path_of("pools") + query_of({{"tenant_id", o->tenant}}))),
                      kPoolColumns);
  });
  auto* show = pool->add_subcommand("show", "Show a pool with its live counts");
  show->add_option("id", o->id, "Pool id")->required();
  on_run(show, ctx, [&ctx, o]() -> Result<int> {
    return print_one(ctx, TRY(TRY(ctx.api())->get(path_of("pools", o->id))), kPoolFields);
  });
  auto* set = pool->add_subcommand("set", "Change a pool; it converges without disturbing sessions");
  set->add_option("id", o->id, "Pool id")->required();
  set->add_option("--name", o->name, "New name");
  add_pool_shape_options(set, *o);
  on_run(set, ctx, [&ctx, o]() -> Result<int> {
    Json body = pool_body(*o);
    if (body.empty()) return Error::InvalidArgument("nothing to change: give at least one option");
    return print_one(ctx, TRY(TRY(ctx.api())->patch(path_of("pools", o->id), body)), kPoolFields);
  });
  auto* del = pool->add_subcommand("delete", "Delete a pool and its desktops (no open sessions)");
  del->add_option("id", o->id, "Pool id")->required();
  on_run(del, ctx, [&ctx, o]() -> Result<int> {
    Json p = TRY(TRY(ctx.api())->del(path_of("pools", o->id)));
    return print_one(ctx, p, kPoolFields, fmt::format("Pool {} is being deleted", o->id));
  });
  auto* entitle = pool->add_subcommand("entitle", "Let a user of the pool's tenant log on to it");
  entitle->add_option("id", o->id, "Pool id")->required();
  entitle->add_option("user", o->user, "User id")->required();
  on_run(entitle, ctx, [&ctx, o]() -> Result<int> {
    Json e = TRY(TRY(ctx.api())->post(path_of("pools", o->id, "/entitlements"), {{"user_id", o->user}}));
    return print_one(ctx, e, {}, fmt::format("User '{}' may use pool {}", field_text(e, "username"), o->id));
  });
  auto* unentitle = pool->add_subcommand("unentitle", "Take a user's entitlement away");
  unentitle->add_option("id", o->id, "Pool id")->required();
  unentitle->add_option("user", o->user, "User id")->required();
  on_run(unentitle, ctx, [&ctx, o]() -> Result<int> {
    Json r = TRY(TRY(ctx.api())->del(path_of("pools", o->id, "/entitlements/" + escape_path_segment(o->user))));
    return print_one(ctx, r, {}, fmt::format("User {} may no longer use pool {}", o->user, o->id));
  });
  auto* entitlements = pool->add_subcommand("entitlements", "List who may use a pool");
  entitlements->add_option("id", o->id, "Pool id")->required();
  on_run(entitlements, ctx, [&ctx, o]() -> Result<int> {
    return print_list(ctx, TRY(TRY(ctx.api())->get(path_of("pools", o->id, "/entitlements"))),
                      {{"USER", "user_id"}, {"USERNAME", "username"}});
  });
}

struct SessionOptions {
  std::string id, pool, user, tenant, action, since, until, from, to;
  bool all = false, csv = false;
  int64_t limit = 100;
};

void add_session(CLI::App& app, Context& ctx) {
  auto* session = app.add_subcommand("session", "Sessions: log on to a pool, reconnect, log off");
  session->require_subcommand(1);
  auto o = std::make_shared<SessionOptions>();
  auto* start = session->add_subcommand("start", "Log on to a pool: get a desktop and a display URL");
  start->add_option("pool", o->pool, "Pool id")->required();
  on_run(start, ctx, [&ctx, o]() -> Result<int> {
    return print_one(ctx, TRY(TRY(ctx.api())->post(path_of("sessions"), {{"pool_id", o->pool}})), kSessionFields);
  });
  auto* list = session->add_subcommand("list", "List open sessions you may see");
  list->add_option("--pool", o->pool, "Only this pool's");
  list->add_option("--user", o->user, "Only this user's");
  list->add_flag("--all", o->all, "Ended sessions too");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    auto q = query_of({{"pool_id", o->pool}, {"user_id", o->user}, {"include_ended", o->all ? "true" : ""}});
    return print_list(ctx, TRY(TRY(ctx.api())->get(path_of("sessions") + q)), kSessionColumns);
  });
  struct Verb {
    const char* name;
    const char* help;
    const char* method;
    const char* rest;
  };
  for (const Verb& v : {Verb{"show", "Show a session", "GET", ""},
                        Verb{"ticket", "A new one-time display URL for your session", "POST", "/tickets"},
                        Verb{"disconnect", "Mark the display gone; the session and desktop stay", "POST",
                             "/actions/disconnect"},
                        Verb{"logoff", "End a session (a pooled desktop is reset)", "DELETE", ""}}) {
    auto* cmd = session->add_subcommand(v.name, v.help);
    cmd->add_option("id", o->id, "Session id")->required();
    on_run(cmd, ctx, [&ctx, o, v]() -> Result<int> {
      ApiClient* api = TRY(ctx.api());
      std::string path = path_of("sessions", o->id, v.rest);
      std::string method = v.method;
      Json s = method == "GET" ? TRY(api->get(path)) : method == "POST" ? TRY(api->post(path)) : TRY(api->del(path));
      return print_one(ctx, s, kSessionFields);
    });
  }
}

void add_reports(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<SessionOptions>();
  auto* audit = app.add_subcommand("audit", "The audit log, newest first (admins; a tenant-admin sees their tenant)");
  audit->add_option("--tenant", o->tenant, "Only this tenant's events");
  audit->add_option("--user", o->user, "Only this user's");
  audit->add_option("--action", o->action, "Only this action, e.g. session.logon");
  audit->add_option("--since", o->since, "From this RFC 3339 time");
  audit->add_option("--until", o->until, "Before this RFC 3339 time");
  audit->add_option("--limit", o->limit, "At most this many (1-1000)")->check(CLI::Range(1, 1000))->capture_default_str();
  on_run(audit, ctx, [&ctx, o]() -> Result<int> {
    auto q = query_of({{"tenant_id", o->tenant}, {"user_id", o->user}, {"action", o->action}, {"since", o->since},
                       {"until", o->until}, {"limit", std::to_string(o->limit)}});
    Json reply = TRY(TRY(ctx.api())->get("/api/v1/audit" + q));
    if (ctx.json_output()) {
      ctx.print_json(reply);
    } else {
      ctx.out << table_of(reply.value("events", Json::array()), kAuditColumns);
    }
    return kExitOk;
  });
  auto* usage = app.add_subcommand("usage", "Desktop-hours and session-hours per UTC day");
  usage->add_option("--from", o->from, "First day, YYYY-MM-DD")->required();
  usage->add_option("--to", o->to, "Last day, YYYY-MM-DD (included)")->required();
  usage->add_option("--tenant", o->tenant, "Only this tenant");
  usage->add_flag("--csv", o->csv, "Print the server's CSV");
  on_run(usage, ctx, [&ctx, o]() -> Result<int> {
    auto q = query_of({{"from", o->from}, {"to", o->to}, {"tenant_id", o->tenant}, {"format", o->csv ? "csv" : ""}});
    ApiClient* api = TRY(ctx.api());
    if (o->csv) {
      ctx.out << TRY(api->get_bytes("/api/v1/usage" + q));
      return kExitOk;
    }
    Json report = TRY(api->get("/api/v1/usage" + q));
    if (ctx.json_output()) {
      ctx.print_json(report);
      return kExitOk;
    }
    ctx.out << "Desktop-hours\n"
            << table_of(report.value("desktops", Json::array()),
                        {{"DAY", "day"}, {"TENANT", "tenant_id"}, {"POOL", "pool_id"}, {"HOURS", "desktop_hours"}})
            << "\nSession-hours\n"
            << table_of(report.value("sessions", Json::array()),
                        {{"DAY", "day"}, {"TENANT", "tenant_id"}, {"USER", "username"}, {"HOURS", "session_hours"}});
    return kExitOk;
  });
}

}  // namespace

void add_broker_commands(CLI::App& app, Context& ctx) {
  add_tenant(app, ctx);
  add_user(app, ctx);
  add_pool(app, ctx);
  add_session(app, ctx);
  add_reports(app, ctx);
}

}  // namespace oriel::cli
