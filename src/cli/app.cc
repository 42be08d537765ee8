#include "app.h"

#include <cmath>
#include <iostream>

#include <CLI/CLI.hpp>

namespace oriel::cli {
namespace {

constexpr std::string_view kFooter =
    "Exit codes: 0 success; 1 other error; 2 usage error or input the server rejected (400);\n"
    "3 not logged in or not allowed (401/403); 4 not found (404); 5 conflict or impossible (409/422);\n"
    "6 orield unreachable, not answering or unavailable (503); 7 the import or desktop operation\n"
    "that was waited for failed.\n"
    "Environment: ORIEL_SERVER, ORIEL_TOKEN, ORIEL_CA_FILE, XDG_CONFIG_HOME (credentials). Reference: docs/cli.md";

std::string usage_failure(const CLI::App*, const CLI::Error& e) {
  return fmt::format("oriel: {}\nRun 'oriel --help' or 'oriel COMMAND --help' for usage.\n", e.what());
}

void add_global_options(CLI::App& app, GlobalOptions& o) {
  app.add_option("--server", o.server,
                 "orield URL, https://HOST:PORT (default: the server you logged in to, else https://127.0.0.1:8080)")
      ->envname("ORIEL_SERVER");
  app.add_option("--ca-file", o.ca_file,
                 "CA certificate (PEM) to check orield's certificate against, such as orield's own "
                 "DATA-DIR/tls/ca.pem (default: the system's CAs, or the certificate trusted at login)")
      ->envname("ORIEL_CA_FILE");
  app.add_option("--fingerprint", o.fingerprint,
                 "Trust orield's certificate if its SHA-256 fingerprint is this (sha256:HEX, as orield logs it)");
  app.add_option("-o,--output", o.output, "table (for people) or json (the server's JSON, for scripts)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--token", o.token, "API token (default: the one 'oriel login' saved for this server)")
      ->envname("ORIEL_TOKEN");
  app.add_option("--timeout", o.timeout_s, "Seconds to wait for orield to accept a connection or answer a request")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("oriel ") + ORIEL_VERSION);
}

}  // namespace

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied: return kExitAuth;
    case ErrorCode::kNotFound: return kExitNotFound;
    case ErrorCode::kConflict:
    case ErrorCode::kUnprocessable: return kExitConflict;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited: return kExitUnavailable;
    case ErrorCode::kInternal: return kExitError;
  }
  return kExitError;
}

Context::Context(std::ostream& out_stream, std::ostream& err_stream) : out(out_stream), err(err_stream) {
  static const SystemClock kSystemClock;
  clock = &kSystemClock;
}

void Context::print_json(const Json& j) { out << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n"; }

int Context::print(const Json& answer, std::string_view text) {
  if (json_output()) {
    print_json(answer);
  } else {
    out << text;
  }
  return kExitOk;
}

const std::optional<Credentials>& Context::saved_credentials() {
  if (saved_loaded_) return saved_;
  saved_loaded_ = true;
  auto file = credentials_path();
  auto loaded = file.ok() ? load_credentials(*file) : Result<std::optional<Credentials>>(file.error());
  if (loaded.ok()) {
    saved_ = std::move(loaded).value();
  } else {
    err << "oriel: warning: ignoring saved credentials: " << loaded.error().message() << "\n";
  }
  return saved_;
}

Result<std::string> Context::server_url() {
  if (!options.server.empty()) return TRY(parse_server_url(options.server)).to_string();
  if (const auto& saved = saved_credentials()) {
    auto url = parse_server_url(saved->server);
    if (!url.ok()) return url.error().context("saved credentials");
    return url->to_string();
  }
  return std::string(kDefaultServer);
}

Result<ApiClient*> Context::api() {
  if (api_) return &*api_;
  std::string server = TRY(server_url());
  std::string token = options.token;
  const auto& saved = saved_credentials();
  if (token.empty() && saved) {
    auto saved_url = parse_server_url(saved->server);
    if (saved_url.ok() && saved_url->to_string() == server) token = saved->token;
  }
  auto tls = TRY(trust(server));
  auto client = TRY(ApiClient::create(server, token, std::move(tls)));
  client.set_timeout(std::chrono::milliseconds(std::llround(options.timeout_s * 1000)));
  api_.emplace(std::move(client));
  return &*api_;
}

Result<std::shared_ptr<const net::TlsClient>> Context::trust(const std::string& server) {
  net::TlsClientOptions tls;
  if (!options.ca_file.empty()) {
    tls.ca_file = options.ca_file;
  } else if (!options.fingerprint.empty()) {
    tls.pin = options.fingerprint;
  } else if (const auto& saved = saved_credentials(); saved && !saved->fingerprint.empty()) {
    auto saved_url = parse_server_url(saved->server);
    if (saved_url.ok() && saved_url->to_string() == server) tls.pin = saved->fingerprint;
  }
  return std::shared_ptr<const net::TlsClient>(TRY(net::TlsClient::create(tls)));
}

int Context::fail(const Error& error) {
  err << "oriel: " << error.message();
  if (error.code() == ErrorCode::kUnauthenticated && hint_login) err << " (run 'oriel login')";
  if (error.message().find("not the pinned certificate") != std::string::npos && options.fingerprint.empty()) {
    err << "\norield's certificate is not the one trusted at login; if it was renewed, check the new fingerprint "
           "on the server and run 'oriel login' again";
  }
  err << "\n";
  return exit_code_for(error.code());
}

int Context::operation_failed(std::string_view message) {
  err << "oriel: " << message << "\n";
  return kExitOperationFailed;
}

void on_run(CLI::App* sub, Context& ctx, Command body) {
  sub->callback([&ctx, body = std::move(body)] {
    Result<int> r = body();
    ctx.status = r.ok() ? *r : ctx.fail(r.error());
  });
}

int run_cli(int argc, const char* const* argv, Context& ctx) {
  CLI::App app{"oriel: command-line client for Oriel, the desktop-as-a-service platform (talks to orield's REST API)",
               "oriel"};
  add_global_options(app, ctx.options);
  app.require_subcommand(1);
  app.fallthrough();
  app.failure_message(usage_failure);
  add_auth_commands(app, ctx);
  add_image_commands(app, ctx);
  add_desktop_commands(app, ctx);
  add_host_commands(app, ctx);
  add_tenant_commands(app, ctx);
  add_pool_commands(app, ctx);
  add_session_commands(app, ctx);
  app.footer(std::string(kFooter));  // after the subcommands, so only `oriel --help` repeats it
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e, ctx.out, ctx.err);
  } catch (const CLI::ParseError& e) {
    app.exit(e, ctx.out, ctx.err);
    return kExitUsage;
  } catch (const std::exception& e) {
    return ctx.fail(Error::Internal(fmt::format("unexpected error: {}", e.what())));
  }
  return ctx.status;
}

}  // namespace oriel::cli
