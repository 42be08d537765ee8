// Sessions: the broker's logon, which assigns a desktop and issues a
// one-time display ticket; reconnects, disconnects and logoff (a pooled
// desktop goes back reset to its image); and what the display gateway asks.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct Core;

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

// Why a session's display connection must close, for the gateway.
enum class SessionEnd { kLoggedOff, kDisconnected, kIdle };
using SessionListener = std::function<void(const std::string& session_id, SessionEnd why)>;

// What the gateway learns from a redeemed ticket.
struct TicketGrant {
  store::SessionRecord session;
  store::DesktopRecord desktop;
  std::string clipboard;  // the pool's policy: both | to-desktop | to-client | none
  // The agent API of the desktop's host (http://ADDR:PORT), where the
  // gateway reaches its display; empty when it runs on this process's agent.
  std::string host_address;
};

// A session is visible to admins, its tenant's admins and its user.
// Decisions are serialized per pool and written with compare-and-swap, so a
// desktop is never handed to two users. Thread-safe.
class Sessions {
 public:
  explicit Sessions(Core& core) : core_(core) {}
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;

  // Assigns a desktop and issues a display ticket, or gives back the
  // caller's open session in that pool with a new ticket.
  Result<SessionView> logon(const Principal& who, std::string_view pool_id, std::string_view client_address);
  Result<std::vector<SessionView>> list(const Principal& who, store::SessionFilter filter);
  Result<SessionView> get(const Principal& who, std::string_view id);
  Result<SessionView> new_ticket(const Principal& who, std::string_view session_id);
  Result<SessionView> disconnect(const Principal& who, std::string_view session_id);
  Result<SessionView> logoff(const Principal& who, std::string_view session_id);

  // For the display gateway: redeems a ticket once (NotFound if unknown,
  // expired or used) and marks the session connected.
  Result<TicketGrant> redeem_ticket(std::string_view ticket);
  Result<void> activity(std::string_view session_id);
  // The session's browser went away: a connected session is disconnected.
  Result<void> display_closed(std::string_view session_id);

 private:
  Result<DisplayTicket> issue_ticket(const store::SessionRecord& session);
  Result<SessionView> view(store::SessionRecord session, std::optional<DisplayTicket> ticket = {});
  // One attempt at a logon: (session, whether it is new). A new session is
  // stored with `ticket`; a reconnect leaves the ticket to the caller.
  // Conflict: a race, retry.
  Result<std::pair<store::SessionRecord, bool>> try_logon(const Principal& who, std::string_view pool_id,
                                                          std::string_view client_address, const DisplayTicket& ticket);
  Result<store::DesktopRecord> desktop_for(const Principal& who, store::PoolRecord& pool);

  Core& core_;
};

}  // namespace oriel::controller
