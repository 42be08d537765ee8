// oriel login / logout: get a token, keep it in the credentials file, revoke it.
#include <unistd.h>

#include <memory>
#include <ostream>

#include <CLI/CLI.hpp>

#include "app.h"
#include "output.h"
#include "terminal.h"

namespace oriel::cli {
namespace {

struct LoginOptions {
  std::string username = "admin";
  std::string password;
  bool password_stdin = false;
};

Result<std::string> login_password(Context& ctx, const LoginOptions& o) {
  std::string password;
  if (!o.password.empty()) {
    password = o.password;
  } else if (o.password_stdin) {
    password = TRY(read_line_from_stdin());
  } else if (ctx.stdin_is_terminal) {
    password = TRY(read_password_from_terminal(fmt::format("Password for {}: ", o.username)));
  } else {
    return Error::InvalidArgument("stdin is not a terminal: give the password with --password-stdin");
  }
  if (password.empty()) return Error::InvalidArgument("the password is empty");
  return password;
}

Result<int> run_login(Context& ctx, const LoginOptions& o) {
  std::string password = TRY(login_password(ctx, o));
  ctx.hint_login = false;
  ApiClient* api = TRY(ctx.api());
  api->set_token({});  // a stale token must not get in the way of a fresh login
  Json answer = TRY(api->post("/api/v1/auth/login", {{"username", o.username}, {"password", password}}));
  auto token = json_string(answer, "token");
  if (!token.ok() || token->empty()) return Error::Internal("orield's login answer has no token");
  api->set_token(*token);
  auto file = TRY(credentials_path());
  TRY(save_credentials(file, {api->base_url(), *token}));
  if (ctx.json_output()) {
    ctx.print_json(answer);
  } else {
    ctx.out << fmt::format("Logged in to {} as {}. Token saved in {}", api->base_url(), printable(o.username),
                           file.string());
    if (answer.contains("expires_at")) ctx.out << fmt::format(" (expires {})", field_text(answer, "expires_at"));
    ctx.out << ".\n";
  }
  return kExitOk;
}

// Revokes the token commands would use and forgets the saved one. If the
// server cannot be told, the local copy is still removed, and the error says
// the token may remain valid until it expires.
Result<int> run_logout(Context& ctx) {
  ctx.hint_login = false;
  auto file = TRY(credentials_path());
  ApiClient* api = TRY(ctx.api());
  const auto& saved = ctx.saved_credentials();
  bool forget = false;
  if (saved) {
    auto saved_url = parse_server_url(saved->server);
    forget = saved_url.ok() && saved_url->to_string() == api->base_url();
  }
  if (api->token().empty() && !forget) {
    ctx.out << "Not logged in to " << api->base_url() << ".\n";
    return kExitOk;
  }
  auto revoked = api->token().empty() ? Result<Json>(Json::object()) : api->post("/api/v1/auth/logout");
  if (forget) TRY(remove_credentials(file));
  if (!revoked.ok() && revoked.error().code() != ErrorCode::kUnauthenticated) {
    return revoked.error().context(forget ? "removed the saved token, but orield could not revoke it"
                                          : "orield could not revoke the token");
  }
  if (ctx.json_output()) {
    ctx.print_json(revoked.ok() ? *revoked : Json::object());
  } else {
    ctx.out << "Logged out of " << api->base_url() << ".\n";
  }
  return kExitOk;
}

}  // namespace

void add_auth_commands(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<LoginOptions>();
  auto* login = app.add_subcommand("login", "Log in to orield and save the token for later commands");
  login->add_option("-u,--username", o->username, "User name")->capture_default_str();
  auto* stdin_flag = login->add_flag("--password-stdin", o->password_stdin, "Read the password from stdin");
  login->add_option("-p,--password", o->password, "The password (visible to other users in ps: prefer stdin)")
      ->excludes(stdin_flag);
  login->footer("Without --password or --password-stdin the password is asked for on the terminal, without echo.\n"
                "The token is saved in $XDG_CONFIG_HOME/oriel/credentials.json (default ~/.config/oriel), mode 0600.");
  on_run(login, ctx, [&ctx, o] { return run_login(ctx, *o); });

  auto* logout = app.add_subcommand("logout", "Revoke the saved token on orield and delete it locally");
  on_run(logout, ctx, [&ctx] { return run_logout(ctx); });
}

}  // namespace oriel::cli
