// oriel host list|maintenance|activate.
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
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
}

}  // namespace oriel::cli
