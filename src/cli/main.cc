// oriel: the command-line client for orield's REST API (docs/cli.md).
#include <unistd.h>

#include <iostream>

#include "app.h"
#include "terminal.h"

int main(int argc, char** argv) {
  oriel::cli::Context ctx(std::cout, std::cerr);
  ctx.stdin_is_terminal = oriel::cli::is_terminal(STDIN_FILENO);
  ctx.stdout_is_terminal = oriel::cli::is_terminal(STDOUT_FILENO);
  ctx.stderr_is_terminal = oriel::cli::is_terminal(STDERR_FILENO);
  return oriel::cli::run_cli(argc, argv, ctx);
}
