// The oriel command: global options, the context every command runs in, and
// the exit codes scripts rely on (docs/cli.md lists them).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "credentials.h"
#include "oriel/common/clock.h"
#include "oriel/net/client.h"
#include "oriel/net/tls.h"

namespace CLI {
class App;
}

namespace oriel::cli {

// The REST client, by the short names the commands use.
using net::ApiClient;
using net::escape_path_segment;
using net::parse_server_url;

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,            // anything else
  kExitUsage = 2,            // bad flags or arguments; the server said 400
  kExitAuth = 3,             // 401, 403
  kExitNotFound = 4,         // 404
  kExitConflict = 5,         // 409, 422
  kExitUnavailable = 6,      // 503, 504, server unreachable or not answering
  kExitOperationFailed = 7,  // the import or desktop we waited for failed
};

int exit_code_for(ErrorCode code);

constexpr std::string_view kDefaultServer = "https://127.0.0.1:8080";

struct GlobalOptions {
  std::string server;       // --server / ORIEL_SERVER; empty: the saved one, else kDefaultServer
  std::string token;        // --token / ORIEL_TOKEN; empty: the token saved for that server
  std::string ca_file;      // --ca-file / ORIEL_CA_FILE: the CA an https server's certificate is checked against
  std::string fingerprint;  // --fingerprint: trust the server presenting exactly this certificate
  std::string output = "table";
  double timeout_s = 30;
};

// What one run of the command shares: options, output streams, the saved
// credentials and the API client (created on first use). Single-threaded.
class Context {
 public:
  Context(std::ostream& out, std::ostream& err);

  GlobalOptions options;
  std::ostream& out;
  std::ostream& err;
  bool stdin_is_terminal = false;
  bool stdout_is_terminal = false;
  bool stderr_is_terminal = false;
  std::chrono::milliseconds import_poll{200};
  std::chrono::milliseconds desktop_poll{500};
  const Clock* clock;      // for ages in tables
  bool hint_login = true;  // suggest `oriel login` on a 401
  int status = kExitOk;    // exit status of the command that ran

  bool json_output() const { return options.output == "json"; }
  void print_json(const Json& j);
  // Prints the server's `answer` with --output json, else `text`; returns kExitOk.
  int print(const Json& answer, std::string_view text);
  // The server URL in canonical form, from the flag, env, saved config or default.
  Result<std::string> server_url();
  // The saved credentials (a broken file is reported once and ignored).
  const std::optional<Credentials>& saved_credentials();
  Result<ApiClient*> api();
  // What an https server is trusted by: --ca-file, else --fingerprint, else
  // the fingerprint saved at login for this server, else the system's CAs.
  Result<std::shared_ptr<const net::TlsClient>> trust(const std::string& server);
  // Forgets the client, so the next api() connects with new trust.
  void reset_api() { api_.reset(); }

  // Prints "oriel: <message>" on stderr and returns the exit code for it.
  int fail(const Error& error);
  int operation_failed(std::string_view message);

 private:
  std::optional<ApiClient> api_;
  std::optional<Credentials> saved_;
  bool saved_loaded_ = false;
};

// A command's body: Ok(exit code) or an Error that becomes one.
using Command = std::function<Result<int>()>;
// Makes `body` the action of the subcommand `sub`.
void on_run(CLI::App* sub, Context& ctx, Command body);

void add_auth_commands(CLI::App& app, Context& ctx);
void add_image_commands(CLI::App& app, Context& ctx);
void add_desktop_commands(CLI::App& app, Context& ctx);
void add_host_commands(CLI::App& app, Context& ctx);
void add_tenant_commands(CLI::App& app, Context& ctx);   // tenant, user, whoami
void add_pool_commands(CLI::App& app, Context& ctx);     // pool
void add_session_commands(CLI::App& app, Context& ctx);  // session, audit, usage

// Parses the command line, runs the command and returns the exit status.
int run_cli(int argc, const char* const* argv, Context& ctx);

}  // namespace oriel::cli
