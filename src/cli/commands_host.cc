// oriel host list.
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

}  // namespace

void add_host_commands(CLI::App& app, Context& ctx) {
  auto* host = app.add_subcommand("host", "Hypervisor hosts");
  host->require_subcommand(1);
  auto* list = host->add_subcommand("list", "List hosts with their accelerator and allocated CPUs and memory");
  on_run(list, ctx, [&ctx] { return run_list(ctx); });
}

}  // namespace oriel::cli
