// oriel session start|list|show|disconnect|ticket|logoff, oriel audit and
// oriel usage: one REST call each (docs/api.md, "Sessions", "Audit" and
// "Usage"). A display URL carries a one-time ticket: it is printed for the
// caller and never stored.
#include <memory>
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "requests.h"
#include "views.h"

namespace oriel::cli {
namespace {

struct SessionOptions {
  std::string id, pool, user;
  bool all = false;
};

std::string session_path(std::string_view id, std::string_view rest = {}) { return api_path("sessions", id, rest); }

// A subcommand that takes one session ID.
CLI::App* add_session_command(CLI::App& session, const std::string& name, const std::string& help, std::string& id) {
  auto* cmd = session.add_subcommand(name, help);
  cmd->add_option("ID", id, "Session id")->required();
  return cmd;
}

void add_start_and_list(CLI::App& session, Context& ctx, const std::shared_ptr<SessionOptions>& o) {
  auto* start = session.add_subcommand("start", "Log on to a pool: get a desktop and a one-time display URL");
  start->add_option("POOL_ID", o->pool, "Pool id")->required();
  start->footer("An open session of yours in that pool is given back, with a new display URL.");
  on_run(start, ctx, [&ctx, o]() -> Result<int> {
    Json s = TRY(TRY(ctx.api())->post(api_path("sessions"), {{"pool_id", o->pool}}));
    return ctx.print(s, render_fields(display_fields(s)));
  });

  auto* list = session.add_subcommand("list", "List the open sessions you may see");
  list->add_option("--pool", o->pool, "Only this pool's sessions");
  list->add_option("--user", o->user, "Only this user's sessions");
  list->add_flag("--all", o->all, "Include ended sessions");
  on_run(list, ctx, [&ctx, o]() -> Result<int> {
    auto query = query_string({{"pool_id", o->pool}, {"user_id", o->user}, {"include_ended", o->all ? "true" : ""}});
    Json sessions = TRY(TRY(ctx.api())->get(api_path("sessions") + query));
    if (!ctx.json_output()) TRY(expect_list(sessions, "session"));
    return ctx.print(sessions, sessions_table(sessions, ctx.clock->now()));
  });
}

void add_session_subcommands(CLI::App& app, Context& ctx) {
  auto* session = app.add_subcommand("session", "Sessions: log on to a pool, reconnect, disconnect, log off");
  session->require_subcommand(1);
  auto o = std::make_shared<SessionOptions>();
  add_start_and_list(*session, ctx, o);

  on_run(add_session_command(*session, "show", "Show one session", o->id), ctx, [&ctx, o]() -> Result<int> {
    Json s = TRY(TRY(ctx.api())->get(session_path(o->id)));
    return ctx.print(s, render_fields(session_fields(s)));
  });

  auto* disconnect =
      add_session_command(*session, "disconnect", "Mark the display gone; the session and desktop stay", o->id);
  on_run(disconnect, ctx, [&ctx, o]() -> Result<int> {
    Json s = TRY(TRY(ctx.api())->post(session_path(o->id, "/actions/disconnect")));
    return ctx.print(
        s, fmt::format("Disconnected session {}; it and its desktop stay for a reconnect.\n", printable(o->id)));
  });

  auto* ticket = add_session_command(*session, "ticket", "Get a new one-time display URL to reconnect", o->id);
  on_run(ticket, ctx, [&ctx, o]() -> Result<int> {
    Json t = TRY(TRY(ctx.api())->post(session_path(o->id, "/tickets")));
    return ctx.print(t, render_fields(display_fields(t)));
  });

  auto* logoff =
      add_session_command(*session, "logoff", "End a session: a pooled desktop is reset, a persistent one kept", o->id);
  on_run(logoff, ctx, [&ctx, o]() -> Result<int> {
    Json s = TRY(TRY(ctx.api())->del(session_path(o->id)));
    return ctx.print(s, fmt::format("Logging off session {}.\n", printable(o->id)));
  });
}

struct AuditOptions {
  std::string tenant, user, action, since, until;
  std::optional<int64_t> limit, before;
  bool archives = false;
};

Result<int> run_audit(Context& ctx, const AuditOptions& o) {
  if (o.archives) {
    Json archives = TRY(TRY(ctx.api())->get("/api/v1/audit/archives" + query_string({{"tenant_id", o.tenant}})));
    TRY(expect_list(archives, "audit archive"));
    return ctx.print(archives, audit_archives_table(archives));
  }
  auto text = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string(); };
  auto query = query_string({{"tenant_id", o.tenant},
                             {"user_id", o.user},
                             {"action", o.action},
                             {"since", o.since},
                             {"until", o.until},
                             {"limit", text(o.limit)},
                             {"before", text(o.before)}});
  Json reply = TRY(TRY(ctx.api())->get("/api/v1/audit" + query));
  if (ctx.json_output()) return ctx.print(reply, "");
  if (!reply.is_object() || !reply.contains("events")) {
    return Error::Internal("orield's audit answer has no list of events");
  }
  const Json& events = reply["events"];
  TRY(expect_list(events, "audit event"));
  ctx.out << audit_table(events);
  if (auto next = reply.find("next_before"); next != reply.end() && next->is_number_integer()) {
    ctx.err << fmt::format("More events are older: add --before {} for the next page.\n", next->get<int64_t>());
  }
  return kExitOk;
}

void add_audit_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<AuditOptions>();
  auto* audit = app.add_subcommand("audit", "The audit log, newest first (admin; a tenant-admin sees their tenant)");
  audit->add_option("--tenant", o->tenant, "Only this tenant's events");
  audit->add_option("--user", o->user, "Only this user's events");
  audit->add_option("--action", o->action, "Only this action, such as pool.create, session.logoff or auth.login");
  audit->add_option("--since", o->since, "From this RFC 3339 time on");
  audit->add_option("--until", o->until, "Before this RFC 3339 time");
  audit->add_option("--limit", o->limit, "At most this many events, 1-1000 (server default 100)")
      ->check(CLI::Range(1, 1000));
  audit->add_option("--before", o->before, "Only events older than this sequence number (paging)")
      ->check(CLI::PositiveNumber);
  audit->add_flag("--archives", o->archives,
                  "List the archives of pruned events instead (each tenant's retention, oriel tenant audit)");
  on_run(audit, ctx, [&ctx, o] { return run_audit(ctx, *o); });
}

struct UsageOptions {
  std::string from, to, tenant;
  bool csv = false;
};

Result<int> run_usage(Context& ctx, const UsageOptions& o) {
  auto query = query_string({{"from", o.from}, {"to", o.to}, {"tenant_id", o.tenant}, {"format", o.csv ? "csv" : ""}});
  ApiClient* api = TRY(ctx.api());
  if (o.csv) {
    std::string csv = TRY(api->get_bytes("/api/v1/usage" + query));
    ctx.out.write(csv.data(), static_cast<std::streamsize>(csv.size()));
    ctx.out.flush();
    return kExitOk;
  }
  Json report = TRY(api->get("/api/v1/usage" + query));
  return ctx.print(report, usage_tables(report));
}

void add_usage_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<UsageOptions>();
  auto* usage = app.add_subcommand("usage", "Desktop-hours per pool and session-hours per user, per UTC day");
  usage->add_option("--from", o->from, "First day, YYYY-MM-DD (UTC)")->required();
  usage->add_option("--to", o->to, "Last day, YYYY-MM-DD (UTC, included; at most 366 days)")->required();
  usage->add_option("--tenant", o->tenant, "Only this tenant");
  usage->add_flag("--csv", o->csv, "Print the server's CSV as it is (also with --output json)");
  on_run(usage, ctx, [&ctx, o] { return run_usage(ctx, *o); });
}

}  // namespace

void add_session_commands(CLI::App& app, Context& ctx) {
  add_session_subcommands(app, ctx);
  add_audit_command(app, ctx);
  add_usage_command(app, ctx);
}

}  // namespace oriel::cli
