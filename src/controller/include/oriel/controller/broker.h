// The broker's commands and views: tenants, users, pools, sessions, audit
// and usage. Commands are what an API request means once parsed; the
// controller checks their preconditions against the store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oriel/store/records.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct CreateUser {
  std::string username;
  std::string password;
  std::string role;       // admin | tenant-admin | user
  std::string tenant_id;  // required for the tenant roles; a tenant-admin's own when empty
};

struct UpdateUser {
  std::optional<std::string> password;
  bool unlock = false;
};

struct CreatePool {
  std::string name;
  std::string tenant_id;  // a tenant-admin's own when empty
  std::string image_id;
  std::string type;       // pooled | persistent
  int64_t size = 0;
  int64_t spare = 0;
  int64_t vcpus = 1;
  int64_t memory_mb = 1024;
  int64_t idle_timeout_s = 0;
  std::string provisioning = "on-demand";  // on-demand | up-front
  std::string clipboard = "both";          // both | to-desktop | to-client | none
};

// PATCH: only the fields present change.
struct UpdatePool {
  std::optional<std::string> name;
  std::optional<std::string> image_id;
  std::optional<int64_t> size;
  std::optional<int64_t> spare;
  std::optional<int64_t> vcpus;
  std::optional<int64_t> memory_mb;
  std::optional<int64_t> idle_timeout_s;
  std::optional<std::string> provisioning;
  std::optional<std::string> clipboard;
};

struct PoolView {
  store::PoolRecord pool;
  int64_t desktops = 0;      // not being deleted
  int64_t assigned = 0;
  int64_t free = 0;
  int64_t running_free = 0;  // free and running: a logon needs no boot
  int64_t sessions = 0;      // open
};

// A one-time display ticket: the ticket itself exists only here and in the
// display_url handed to the user; the store keeps its hash.
struct DisplayTicket {
  std::string ticket;
  WallTime expires_at;
};

struct SessionView {
  store::SessionRecord session;
  std::string username;
  std::optional<DisplayTicket> ticket;  // on logon and new_ticket only
  bool created = false;                 // a new session, not a reconnect
};

// What the gateway learns from a redeemed ticket.
// Why a session's display connection must close, for the gateway.
enum class SessionEnd { kLoggedOff, kDisconnected, kIdle };
using SessionListener = std::function<void(const std::string& session_id, SessionEnd why)>;

struct TicketGrant {
  store::SessionRecord session;
  store::DesktopRecord desktop;
  std::string clipboard;  // the pool's policy: both | to-desktop | to-client | none
  // The agent API of the desktop's host (http://ADDR:PORT), where the
  // gateway reaches its display; empty when it runs on this process's agent.
  std::string host_address;
};

struct UsageQuery {
  std::string from_day;  // YYYY-MM-DD
  std::string to_day;    // inclusive
  std::string tenant_id; // empty: all (admin only)
};

struct DesktopUsage {
  std::string day, tenant_id, pool_id;
  double hours = 0;
};

struct SessionUsage {
  std::string day, tenant_id, user_id, username;
  double hours = 0;
};

struct UsageReport {
  std::string from_day, to_day;
  std::vector<DesktopUsage> desktops;
  std::vector<SessionUsage> sessions;
};

// Splits metered intervals at UTC midnight and sums them per day and key,
// clipped to [from, to). Pure; `now` closes intervals still open.
UsageReport summarize_usage(const std::vector<store::UsageInterval>& intervals, WallTime from, WallTime to,
                            WallTime now);

}  // namespace oriel::controller
