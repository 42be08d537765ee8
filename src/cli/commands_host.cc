// oriel host list|maintenance|activate|remove, oriel host join-token create.
#include <cctype>
#include <map>
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "output.h"
#include "requests.h"
#include "views.h"

namespace oriel::cli {
namespace {

Result<int> run_list(Context& ctx) {
  Json hosts = TRY(TRY(ctx.api())->get("/api/v1/hosts"));
  if (ctx.json_output()) {
    ctx.print_json(hosts);
  } else {
    TRY(expect_list(hosts, "host"));
    ctx.out << hosts_table(hosts);
  }
  return kExitOk;
}

Result<int> run_action(Context& ctx, const std::string& action, const std::string& id) {
  Json h = TRY(TRY(ctx.api())->post("/api/v1/hosts/" + escape_path_segment(id) + "/actions/" + action));
  if (ctx.json_output()) {
    ctx.print_json(h);
  } else {
    ctx.out << fmt::format("Host {} ({}) is {}{}.\n", printable(h.value("name", id)), printable(id),
                           printable(h.value("state", "?")),
                           action == "maintenance" ? ": its desktops move to other hosts" : "");
  }
  return kExitOk;
}

// "90s", "30m", "1h", "7d" (or plain seconds) as seconds.
Result<int64_t> parse_ttl(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  const std::map<std::string, int64_t> kUnits = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  auto it = kUnits.find(unit);
  if (digits == 0 || digits > 9 || it == kUnits.end()) {
    return Error::InvalidArgument(fmt::format("--ttl '{}' is not a duration such as 30m, 1h or 2d", text));
  }
  return std::stoll(text.substr(0, digits)) * it->second;
}

Result<int> run_join_token(Context& ctx, const std::string& ttl) {
  int64_t ttl_s = TRY(parse_ttl(ttl));
  ApiClient* api = TRY(ctx.api());
  Json t = TRY(api->post("/api/v1/cluster/join-tokens", {{"ttl_s", ttl_s}}));
  if (ctx.json_output()) {
    ctx.print_json(t);
    return kExitOk;
  }
  std::string token = t.value("token", ""), pin = t.value("ca_pin", "");
  ctx.out << fmt::format("Join token: {}\n"
                         "CA pin:     {}\n"
                         "It works once, until {}. On the new host:\n"
                         "  orield --roles agent --controller {} --join-token {} --ca-pin {} \\\n"
                         "         --host-name NAME --listen ADDRESS:PORT --data-dir /var/lib/oriel\n",
                         token, pin, field_text(t, "expires_at"), api->base_url(), token, pin);
  return kExitOk;
}

Result<int> run_remove(Context& ctx, const std::string& id) {
  Json answer = TRY(TRY(ctx.api())->del("/api/v1/hosts/" + escape_path_segment(id)));
  return ctx.print(answer, fmt::format("Host {} removed; its certificates no longer work.\n", printable(id)));
}

}  // namespace

void add_host_commands(CLI::App& app, Context& ctx) {
  auto* host = app.add_subcommand("host", "Hypervisor hosts");
  host->require_subcommand(1);
  auto* list = host->add_subcommand("list", "List hosts with their accelerator and allocated CPUs and memory");
  on_run(list, ctx, [&ctx] { return run_list(ctx); });
  const std::pair<std::string, std::string> kActions[] = {
      {"maintenance", "Drain a host: its desktops move away by live migration, no new ones land there"},
      {"activate", "Bring a host out of maintenance"}};
  for (const auto& [action, help] : kActions) {
    auto id = std::make_shared<std::string>();
    auto* cmd = host->add_subcommand(action, help);
    cmd->add_option("ID", *id, "Host id")->required();
    on_run(cmd, ctx, [&ctx, id, action = action] { return run_action(ctx, action, *id); });
  }
  auto remove_id = std::make_shared<std::string>();
  auto* remove = host->add_subcommand("remove", "Forget a host with no desktops and revoke its certificates");
  remove->add_option("ID", *remove_id, "Host id")->required();
  on_run(remove, ctx, [&ctx, remove_id] { return run_remove(ctx, *remove_id); });

  auto* tokens = host->add_subcommand("join-token", "One-time tokens with which new hosts join the cluster");
  tokens->require_subcommand(1);
  auto ttl = std::make_shared<std::string>("1h");
  auto* create = tokens->add_subcommand("create", "Make a join token; prints it with the CA pin an agent checks");
  create->add_option("--ttl", *ttl, "How long the token stays valid: 30m, 1h (default), 2d; 7d at most")
      ->capture_default_str();
  on_run(create, ctx, [&ctx, ttl] { return run_join_token(ctx, *ttl); });
}

}  // namespace oriel::cli
