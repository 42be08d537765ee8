// What the API shows of each object (../shared/docs/API-CONTRACT.md): one
// type per resource, made from the controller's records and views by `of`,
// rendered by `json`. A field is in the API because a view has it; a new
// column in the store is not an API field until a view adds it. Empty
// values of the store are "none" (JSON null) in the API: an optional here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/json.h"
#include "oriel/controller/controller.h"

namespace oriel::api::view {

struct Image {
  std::string id, name, state;
  double progress = 0;
  std::optional<std::string> source_path;  // none for tenant roles
  std::string format;
  std::optional<std::string> source_format, tenant_id;
  bool shared = false;
  int64_t virtual_size_bytes = 0, size_bytes = 0;
  Json boot;
  std::optional<std::string> error;
  WallTime created_at, updated_at;
  static Image of(const store::ImageRecord& image);
  Json json() const;
};

// A desktop's live migration: QEMU's progress (percent, remaining bytes,
// expected downtime, ...) and the hosts.
struct Migration {
  std::string source_host_id, target_host_id;
  bool active = false;
  agent::MigrationProgress progress;
  WallTime started_at;
  static Migration of(const controller::MigrationView& m);
  Json json() const;
};

struct Desktop {
  std::string id, name;
  std::string state;  // the contract's public state
  std::string desired_state;
  std::optional<std::string> pending_action, host_id, pool_id, tenant_id, assigned_user;
  std::string image_id;
  int64_t vcpus = 0, memory_mb = 0;
  std::optional<std::string> error;
  WallTime created_at, updated_at;
  std::optional<Migration> migration;  // for admins, on GET of one desktop
  static Desktop of(const store::DesktopRecord& desktop);
  Json json() const;
};

struct Host {
  std::string id, name, state, accelerator;
  int64_t cpus = 0, memory_mb = 0;
  int64_t cpus_allocated = 0, memory_allocated_mb = 0, desktops = 0;
  WallTime last_heartbeat_at;
  static Host of(const controller::HostView& host);
  Json json() const;
};

struct Tenant {
  std::string id, name;
  WallTime created_at;
  store::Quota quota;
  store::AuditPolicy audit;
  store::TenantAllocation usage;
  static Tenant of(const controller::TenantView& tenant);
  Json json() const;
};

struct User {
  std::string id, username, role;
  std::optional<std::string> tenant_id;
  std::optional<WallTime> locked_until;
  WallTime created_at;
  static User of(const store::UserRecord& user);
  Json json() const;
};

struct Pool {
  std::string id, name, tenant_id, image_id, type;
  int64_t size = 0, spare = 0, vcpus = 0, memory_mb = 0, idle_timeout_s = 0;
  std::string provisioning, clipboard, network, state;
  int64_t desktops = 0, assigned = 0, free = 0, running_free = 0, sessions = 0;
  std::optional<std::string> message;
  WallTime created_at, updated_at;
  static Pool of(const controller::PoolView& pool);
  Json json() const;
};

struct Entitlement {
  std::string pool_id, user_id, username, tenant_id;
  static Entitlement of(const std::string& pool_id, const store::UserRecord& user);
  Json json() const;
};

struct Session {
  std::string id, pool_id, tenant_id, user_id, username, desktop_id, state, client_address;
  WallTime created_at, last_activity_at;
  std::optional<WallTime> ended_at;
  // With a ticket (logon, reconnect, a new ticket): the WebSocket URL that
  // redeems it, wss:// on the authority the client used to reach orield
  // (ws:// over plain HTTP). Lists carry no tickets.
  std::optional<std::string> display_url;
  std::optional<WallTime> ticket_expires_at;
  // websocket_base: "wss://HOST:PORT", where display_url points.
  static Session of(const controller::SessionView& session, std::string_view websocket_base = {});
  Json json() const;
};

struct AuditEvent {
  int64_t seq = 0;
  WallTime at;
  std::optional<std::string> tenant_id, user_id;
  std::string username, action, target, address;
  int64_t status = 0;
  std::string result;
  std::optional<std::string> detail;
  static AuditEvent of(const store::AuditEvent& event);
  Json json() const;
};

Json audit_archive_json(const store::AuditArchive& archive);
Json usage_json(const controller::UsageReport& report);
std::string usage_csv(const controller::UsageReport& report);  // RFC 4180, CRLF lines

// A JSON array of the views of `items`.
template <typename View, typename T>
Json list(const std::vector<T>& items) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(View::of(item).json());
  return out;
}

}  // namespace oriel::api::view
