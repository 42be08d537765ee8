// oriel login / logout: get a token, keep it in the credentials file, revoke it.
#include <unistd.h>

#include <cmath>
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
  bool yes = false;  // never ask
};

// Trust on first use, as ssh does: an https server whose certificate no
// known CA signed is shown by its fingerprint, and trusted once the person
// says so. Returns the fingerprint to pin, or nothing when the server is
// trusted already. Without a terminal (or with --yes) it refuses: a script
// gives --ca-file or --fingerprint.
Result<std::optional<std::string>> first_contact(Context& ctx, const LoginOptions& o, const std::string& server) {
  using Pin = std::optional<std::string>;
  auto url = TRY(parse_server_url(server));
  if (!url.tls || !ctx.options.ca_file.empty() || !ctx.options.fingerprint.empty()) return Pin();
  ApiClient* api = TRY(ctx.api());
  auto reached = api->get("/healthz");
  if (reached.ok()) return Pin();
  auto timeout = std::chrono::milliseconds(std::llround(ctx.options.timeout_s * 1000));
  auto seen = net::fetch_server_fingerprint(url.host, url.port, timeout);
  if (!seen.ok()) return reached.error();  // not a certificate problem: unreachable, say so
  if (o.yes || !ctx.stdin_is_terminal) {
    return Error::Unavailable(fmt::format(
        "{}: its certificate ({}) is not signed by a CA this machine trusts; give --ca-file with orield's CA "
        "(DATA-DIR/tls/ca.pem), or --fingerprint {} once you have checked it on the server",
        server, *seen, *seen));
  }
  ctx.err << fmt::format(
      "The certificate of {} is not signed by a CA this machine trusts.\n"
      "Its SHA-256 fingerprint is {}\n"
      "Compare it with the one orield logged at its start (\"tls: serving ... (fingerprint ...)\").\n"
      "Trust this certificate for {}? [y/N] ",
      server, *seen, server);
  ctx.err.flush();
  std::string answer = TRY(read_line_from_stdin());
  if (answer != "y" && answer != "Y" && answer != "yes")
    return Error::PermissionDenied("the certificate was not trusted");
  return Pin(*seen);
}

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
  ctx.hint_login = false;
  std::string server = TRY(ctx.server_url());
  auto pin = TRY(first_contact(ctx, o, server));
  if (pin) {
    ctx.options.fingerprint = *pin;
    ctx.reset_api();
  }
  std::string password = TRY(login_password(ctx, o));
  ApiClient* api = TRY(ctx.api());
  api->set_token({});  // a stale token must not get in the way of a fresh login
  Json answer = TRY(api->post("/api/v1/auth/login", {{"username", o.username}, {"password", password}}));
  auto token = json_string(answer, "token");
  if (!token.ok() || token->empty()) return Error::Internal("orield's login answer has no token");
  api->set_token(*token);
  auto file = TRY(credentials_path());
  std::string fingerprint;
  if (!ctx.options.fingerprint.empty()) fingerprint = TRY(net::normalize_fingerprint(ctx.options.fingerprint));
  TRY(save_credentials(file, {api->base_url(), *token, fingerprint}));
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
  login->add_flag("-y,--yes", o->yes,
                  "Never ask: an https server whose certificate no known CA signed is refused unless --ca-file "
                  "or --fingerprint says to trust it");
  login->footer("Without --password or --password-stdin the password is asked for on the terminal, without echo.\n"
                "The token is saved in $XDG_CONFIG_HOME/oriel/credentials.json (default ~/.config/oriel), mode 0600.\n"
                "An https server whose certificate no known CA signed is shown by its fingerprint and trusted once\n"
                "you say so (or with --fingerprint); the fingerprint is saved with the token and checked every time.");
  on_run(login, ctx, [&ctx, o] { return run_login(ctx, *o); });

  auto* logout = app.add_subcommand("logout", "Revoke the saved token on orield and delete it locally");
  on_run(logout, ctx, [&ctx] { return run_logout(ctx); });
}

}  // namespace oriel::cli
