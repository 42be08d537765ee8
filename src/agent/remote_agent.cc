#include "oriel/agent/remote_agent.h"

#include "oriel/common/log.h"
#include "oriel/net/client.h"

namespace oriel::agent {
namespace {

// An answer outside 2xx as the agent's own error (the API's JSON error).
Error agent_error(const net::RawResponse& res, std::string_view what) {
  auto parsed = parse_json(res.body);
  if (parsed.ok() && parsed->is_object() && parsed->contains("error") && (*parsed)["error"].is_object()) {
    const Json& e = (*parsed)["error"];
    std::string message = e.value("message", "");
    return {net::parse_error_code(e.value("code", ""), res.status),
            fmt::format("agent: {}", message.empty() ? std::string(what) : message)};
  }
  return {net::parse_error_code("", res.status), fmt::format("agent answered HTTP {} to {}", res.status, what)};
}

bool transport_failure(const Error& e) {
  return e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
}

}  // namespace

RemoteAgent::RemoteAgent(RemoteAgentOptions options, Random& random) : options_(std::move(options)), random_(random) {}

RemoteAgent::~RemoteAgent() = default;

std::unique_ptr<net::ApiClient> RemoteAgent::borrow() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      auto client = std::move(idle_.back());
      idle_.pop_back();
      return client;
    }
  }
  auto created = net::ApiClient::create(options_.url, options_.token, options_.tls);
  if (!created.ok()) return nullptr;
  auto client = std::make_unique<net::ApiClient>(std::move(*created));
  client->set_timeout(options_.timeout);
  return client;
}

void RemoteAgent::give_back(std::unique_ptr<net::ApiClient> client) {
  MutexLock lock(mu_);
  if (idle_.size() < 8) idle_.push_back(std::move(client));
}

Result<Json> RemoteAgent::command(std::string_view method, const std::string& path, const Json& body) {
  auto client = borrow();
  if (!client) return Error::InvalidArgument(fmt::format("agent url '{}' is not usable", options_.url));
  // One id for every try: an agent that acted on a request whose answer was
  // lost answers the retry from memory.
  std::string request_id = random_.hex(12);
  std::string text = body.is_null() ? std::string() : body.dump();
  std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") + "request_id=" + request_id;
  Result<net::RawResponse> res = Error::Unavailable("no attempt made");
  for (int attempt = 0; attempt < std::max(1, options_.attempts); ++attempt) {
    res = client->request(method, target, text);
    if (res.ok() || !transport_failure(res.error())) break;
    spdlog::debug("agent {}: {} {} failed ({}); trying again", options_.url, method, path, res.error().message());
  }
  if (!res.ok()) return res.take_error().context(fmt::format("agent at {}", options_.url));
  give_back(std::move(client));
  if (res->status < 200 || res->status >= 300) return agent_error(*res, path);
  auto json = parse_json(res->body);
  if (!json.ok())
    return Error::Internal(fmt::format("agent at {} answered with a body that is not JSON", options_.url));
  if (json->is_object() && json->contains("snapshot")) {
    if (auto snap = agent_snapshot_from_json((*json)["snapshot"]); snap.ok()) update(*snap);
  }
  return std::move(json).value();
}

void RemoteAgent::update(const AgentSnapshot& snapshot) {
  std::vector<VmExitEvent> fresh;
  std::function<void(const std::string&, VmExit)> handler;
  {
    MutexLock lock(mu_);
    bool same_epoch = snapshot.epoch == known_.epoch;
    if (same_epoch && snapshot.seq < known_.seq) return;  // older than what we have
    for (const auto& e : snapshot.exits) {
      if (seen_exits_.insert({snapshot.epoch, e.seq}).second) fresh.push_back(e);
    }
    if (seen_exits_.size() > 4096) seen_exits_.erase(seen_exits_.begin());
    known_ = snapshot;
    handler = on_exit_;
  }
  if (!handler) return;
  for (const auto& e : fresh) handler(e.vm_id, e.why);
}

void RemoteAgent::set_hello(const AgentHello& hello) {
  {
    MutexLock lock(mu_);
    disks_dir_ = hello.disks_dir;
    report_ = hello.report;
  }
  update(hello.snapshot);
}

HostReport RemoteAgent::report() {
  MutexLock lock(mu_);
  return report_;
}

Result<ImportedImage> RemoteAgent::import_image(const ImageImportRequest&) {
  return Error::Unprocessable("golden images are imported by the controller into the shared storage, not by agents");
}

std::string RemoteAgent::disk_path(const std::string& vm_id) {
  MutexLock lock(mu_);
  return overlay_path(disks_dir_, vm_id);
}

Result<void> RemoteAgent::create_disk(const std::string& vm_id, const std::string& golden_path) {
  TRY(command("PUT", "/agent/v1/disks/" + vm_id, {{"golden_path", golden_path}}));
  return Ok();
}

Result<void> RemoteAgent::reset_disk(const std::string& vm_id, const std::string& golden_path) {
  TRY(command("POST", "/agent/v1/disks/" + vm_id + "/reset", {{"golden_path", golden_path}}));
  return Ok();
}

Result<void> RemoteAgent::delete_disk(const std::string& vm_id) {
  TRY(command("DELETE", "/agent/v1/disks/" + vm_id, nullptr));
  return Ok();
}

Result<void> RemoteAgent::start_vm(const VmSpec& spec) {
  TRY(command("PUT", "/agent/v1/vms/" + spec.id, spec.to_json()));
  return Ok();
}

Result<void> RemoteAgent::shutdown_vm(const std::string& vm_id) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/shutdown", nullptr));
  return Ok();
}

Result<void> RemoteAgent::kill_vm(const std::string& vm_id) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/kill", nullptr));
  return Ok();
}

Result<void> RemoteAgent::reboot_vm(const std::string& vm_id) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/reboot", nullptr));
  return Ok();
}

VmStatus RemoteAgent::vm_status(const std::string& vm_id) {
  MutexLock lock(mu_);
  auto it = known_.vms.find(vm_id);
  return it == known_.vms.end() ? VmStatus::kAbsent : it->second;
}

std::map<std::string, VmStatus> RemoteAgent::vms() {
  MutexLock lock(mu_);
  return known_.vms;
}

Result<std::string> RemoteAgent::get(const std::string& path) {
  auto client = borrow();
  if (!client) return Error::InvalidArgument(fmt::format("agent url '{}' is not usable", options_.url));
  auto res = client->request("GET", path, "");
  if (!res.ok()) return res.take_error().context(fmt::format("agent at {}", options_.url));
  give_back(std::move(client));
  if (res->status != 200) return agent_error(*res, path);
  return std::move(res->body);
}

Result<std::string> RemoteAgent::screenshot_png(const std::string& vm_id) {
  return get("/agent/v1/vms/" + vm_id + "/screenshot");
}

Result<MigrationTarget> RemoteAgent::prepare_incoming(const IncomingRequest& request) {
  Json answer = TRY(command("POST", "/agent/v1/vms/" + request.spec.id + "/incoming", request.to_json()));
  if (!answer.contains("target"))
    return Error::Internal(fmt::format("agent at {} sent no migration target", options_.url));
  return MigrationTarget::from_json(answer["target"]);
}

Result<void> RemoteAgent::finish_incoming(const std::string& vm_id, std::chrono::milliseconds timeout) {
  // The answer's snapshot lists the VM once it runs there.
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/finish-incoming", {{"timeout_ms", timeout.count()}}));
  return Ok();
}

Result<void> RemoteAgent::abort_incoming(const std::string& vm_id) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/abort-incoming", nullptr));
  return Ok();
}

Result<void> RemoteAgent::migrate(const std::string& vm_id, const MigrationTarget& target,
                                  const MigrationOptions& options) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/migrate",
              {{"target", target.to_json()}, {"options", options.to_json()}}));
  return Ok();
}

Result<MigrationProgress> RemoteAgent::migration_progress(const std::string& vm_id) {
  std::string body = TRY(get("/agent/v1/vms/" + vm_id + "/migration"));
  return MigrationProgress::from_json(TRY(parse_json(body)));
}

Result<void> RemoteAgent::cancel_migration(const std::string& vm_id) {
  TRY(command("POST", "/agent/v1/vms/" + vm_id + "/cancel-migration", nullptr));
  return Ok();
}

void RemoteAgent::set_exit_handler(std::function<void(const std::string&, VmExit)> handler) {
  MutexLock lock(mu_);
  on_exit_ = std::move(handler);
}

}  // namespace oriel::agent
