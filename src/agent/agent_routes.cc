// /agent/v1: the agent's HTTP API. Handlers run on the HTTP workers and may
// block (a QEMU start, a QMP round-trip); the VNC WebSocket is pumped to the
// VM's VNC unix socket on the io_context.
#include "oriel/agent/agent_routes.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <deque>

#include "oriel/common/log.h"
#include "oriel/common/mutex.h"
#include "oriel/common/secret.h"
#include "oriel/net/websocket.h"

namespace oriel::agent {

using net::Handler;
using net::Request;
using net::Response;
using net::Router;
using net::WebSocket;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

// Answers by request id, kept for a while: a controller that lost an answer
// and asks again gets it without the command running twice. A retry that
// arrives while the first is still running waits for its answer.
class AnswerMemory {
 public:
  Response once(const std::string& request_id, const std::function<Response()>& run) {
    if (request_id.empty()) return run();
    std::shared_ptr<Entry> entry;
    bool first = false;
    {
      MutexLock lock(mu_);
      expire();
      auto& slot = entries_[request_id];
      if (!slot) {
        slot = std::make_shared<Entry>();
        order_.emplace_back(Clock::now(), request_id);
        first = true;
      }
      entry = slot;
    }
    UniqueMutexLock lock(entry->mu);
    if (first) {
      entry->response = run();
      entry->done = true;
      entry->cv.notify_all();
    } else {
      entry->cv.wait(lock, [&]() ORIEL_REQUIRES(entry->mu) { return entry->done; });
    }
    return entry->response;
  }

 private:
  struct Entry {
    Mutex mu;
    CondVar cv;
    bool done ORIEL_GUARDED_BY(mu) = false;
    Response response ORIEL_GUARDED_BY(mu);
  };
  void expire() ORIEL_REQUIRES(mu_) {
    auto now = Clock::now();
    while (!order_.empty() && (order_.size() > kMaxEntries || now - order_.front().first > kKeepFor)) {
      entries_.erase(order_.front().second);
      order_.pop_front();
    }
  }

  static constexpr size_t kMaxEntries = 4096;
  static constexpr auto kKeepFor = std::chrono::minutes(10);
  Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_ ORIEL_GUARDED_BY(mu_);
  std::deque<std::pair<Clock::time_point, std::string>> order_ ORIEL_GUARDED_BY(mu_);
};

// VM ids are Oriel's ("d-" and hex); anything else is refused before it
// reaches a path on disk.
Result<std::string> vm_id_of(const Request& r) {
  const std::string& id = r.params.at("id");
  bool plain = !id.empty() && id.size() <= 64 &&
               id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  if (!plain) return Error::InvalidArgument(fmt::format("'{}' is not a VM id", id));
  return id;
}

Result<std::string> golden_path_of(const Request& r) {
  auto body = TRY(parse_json(r.body));
  TRY(json_only_fields(body, {"golden_path"}));
  std::string path = TRY(json_string(body, "golden_path"));
  if (path.empty() || path[0] != '/') return Error::InvalidArgument("golden_path must be an absolute path");
  return path;
}

// A controller's call: over mutual TLS with a certificate the cluster CA
// gave a controller (the listener verified the chain), or with the
// deprecated cluster token.
bool from_controller(const Request& r, const AgentApi& api) {
  if (r.client_certificate.common_name.starts_with(kControllerCertificatePrefix)) return true;
  return !api.cluster_token.empty() && secrets_equal(r.bearer_token(), api.cluster_token);
}

constexpr std::string_view kWhoMayCall = "this needs a controller's certificate (or the cluster token)";

// A command's work: Ok with extra fields for the answer (or null for none).
using AgentCommand = std::function<Result<Json>(const Request&, const std::string& vm_id)>;

// A command: authenticated, remembered by request id, answered with the
// agent's snapshot taken after it ran (and what the command returned).
Handler command(const AgentApi& api, std::shared_ptr<AnswerMemory> memory, AgentCommand fn) {
  return [&api, memory = std::move(memory), fn = std::move(fn)](const Request& r) {
    if (!from_controller(r, api)) return Response::error(Error::Unauthenticated(std::string(kWhoMayCall)));
    auto id = vm_id_of(r);
    if (!id.ok()) return Response::error(id.error());
    auto request_id = r.query.count("request_id") ? r.query.at("request_id") : std::string();
    return memory->once(request_id, [&] {
      auto done = fn(r, *id);
      api.journal.changed();
      if (!done.ok()) return Response::error(done.error());
      Json answer = done->is_object() ? std::move(*done) : Json::object();
      answer["snapshot"] = to_json(api.journal.snapshot());
      return Response::json(200, answer);
    });
  };
}

// The same for a command that returns nothing.
AgentCommand plain(std::function<Result<void>(const Request&, const std::string& vm_id)> fn) {
  return [fn = std::move(fn)](const Request& r, const std::string& id) -> Result<Json> {
    TRY(fn(r, id));
    return Json();
  };
}

// A read: authenticated, for one VM.
Handler query(const AgentApi& api, std::function<Response(const std::string& vm_id)> fn) {
  return [&api, fn = std::move(fn)](const Request& r) {
    if (!from_controller(r, api)) return Response::error(Error::Unauthenticated(std::string(kWhoMayCall)));
    auto id = vm_id_of(r);
    return id.ok() ? fn(*id) : Response::error(id.error());
  };
}

Result<void> start_vm(const AgentApi& api, const Request& r, const std::string& id) {
  auto spec = TRY(VmSpec::from_json(TRY(parse_json(r.body))));
  if (spec.id != id) return Error::InvalidArgument(fmt::format("the spec is for '{}', the path for '{}'", spec.id, id));
  return api.agent.start_vm(spec);
}

Result<Json> vm_action(const AgentApi& api, const Request& r, const std::string& id) {
  const std::string& action = r.params.at("action");
  auto done = [](Result<void> r) -> Result<Json> {
    TRY(std::move(r));
    return Json();
  };
  if (action == "shutdown") return done(api.agent.shutdown_vm(id));
  if (action == "kill") return done(api.agent.kill_vm(id));
  if (action == "reboot") return done(api.agent.reboot_vm(id));
  // Live migration (migration.h).
  if (action == "incoming") {
    auto request = TRY(IncomingRequest::from_json(TRY(parse_json(r.body))));
    if (request.spec.id != id) {
      return Error::InvalidArgument(fmt::format("the spec is for '{}', the path for '{}'", request.spec.id, id));
    }
    auto target = TRY(api.agent.prepare_incoming(request));
    return Json{{"target", target.to_json()}};
  }
  if (action == "finish-incoming") {
    auto body = TRY(parse_json(r.body));
    TRY(json_only_fields(body, {"timeout_ms"}));
    int64_t timeout_ms = TRY(json_int(body, "timeout_ms", 0, 60'000));
    return done(api.agent.finish_incoming(id, std::chrono::milliseconds(timeout_ms)));
  }
  if (action == "abort-incoming") return done(api.agent.abort_incoming(id));
  if (action == "migrate") {
    auto body = TRY(parse_json(r.body));
    TRY(json_only_fields(body, {"target", "options"}));
    if (!body.contains("target")) return Error::InvalidArgument("'target' is missing");
    auto target = TRY(MigrationTarget::from_json(body["target"]));
    auto options = body.contains("options") ? TRY(MigrationOptions::from_json(body["options"])) : MigrationOptions{};
    return done(api.agent.migrate(id, target, options));
  }
  if (action == "cancel-migration") return done(api.agent.cancel_migration(id));
  return Error::NotFound("action", action);
}

// Connects to the VM's VNC socket and pumps it over the gateway's WebSocket;
// a display that is not there closes the WebSocket with 4503.
asio::awaitable<void> serve_vnc(WebSocket ws, std::string socket_path) {
  asio::local::stream_protocol::socket vnc(ws.get_executor());
  beast::error_code ec;
  co_await vnc.async_connect(asio::local::stream_protocol::endpoint(socket_path),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) {
    net::refuse_websocket(std::move(ws), 4503, "the desktop's display is not there");
    co_return;
  }
  net::pump(std::move(ws), std::move(vnc));
}

}  // namespace

void add_agent_routes(Router& router, const AgentApi& api) {
  auto memory = std::make_shared<AnswerMemory>();
  router.add("GET", "/agent/v1/state", [&api](const Request& r) {
    if (!from_controller(r, api)) return Response::error(Error::Unauthenticated(std::string(kWhoMayCall)));
    return Response::json(200, {{"report", to_json(api.agent.report())},
                                {"disks_dir", api.agent.options().disks_dir},
                                {"snapshot", to_json(api.journal.snapshot())}});
  });
  router.add(
      "PUT", "/agent/v1/vms/{id}",
      command(api, memory, plain([&api](const Request& r, const std::string& id) { return start_vm(api, r, id); })));
  router.add("POST", "/agent/v1/vms/{id}/{action}",
             command(api, memory, [&api](const Request& r, const std::string& id) { return vm_action(api, r, id); }));
  router.add("PUT", "/agent/v1/disks/{id}",
             command(api, memory, plain([&api](const Request& r, const std::string& id) -> Result<void> {
                       return api.agent.create_disk(id, TRY(golden_path_of(r)));
                     })));
  router.add("POST", "/agent/v1/disks/{id}/reset",
             command(api, memory, plain([&api](const Request& r, const std::string& id) -> Result<void> {
                       return api.agent.reset_disk(id, TRY(golden_path_of(r)));
                     })));
  router.add(
      "DELETE", "/agent/v1/disks/{id}",
      command(api, memory, plain([&api](const Request&, const std::string& id) { return api.agent.delete_disk(id); })));
  router.add("GET", "/agent/v1/vms/{id}/screenshot", query(api, [&api](const std::string& id) {
               auto png = api.agent.screenshot_png(id);
               return png.ok() ? Response::bytes(200, "image/png", std::move(*png)) : Response::error(png.error());
             }));
  router.add("GET", "/agent/v1/vms/{id}/migration", query(api, [&api](const std::string& id) {
               auto progress = api.agent.migration_progress(id);
               return progress.ok() ? Response::json(200, progress->to_json()) : Response::error(progress.error());
             }));
  router.add_websocket("/agent/v1/vms/{id}/vnc", [&api](const Request& r, WebSocket&& ws) {
    auto id = vm_id_of(r);
    if (!from_controller(r, api) || !id.ok()) {
      return net::refuse_websocket(std::move(ws), 4401, "this needs a controller's certificate and a VM id");
    }
    auto executor = ws.get_executor();
    asio::co_spawn(executor, serve_vnc(std::move(ws), VmPaths::in(api.run_dir, *id).vnc_socket), asio::detached);
  });
}

}  // namespace oriel::agent
