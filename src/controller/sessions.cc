// Sessions: logon picks and assigns a desktop and issues a one-time display
// ticket; logoff gives a pooled desktop back reset to its image. Decisions
// are serialized per pool (and by placement_mu_ where they spend capacity)
// and written with compare-and-swap, and the store's unique indexes refuse a
// second open session on one desktop: a desktop is never handed to two users.
#include "auth.h"
#include "desktop_state.h"
#include "oriel/common/log.h"
#include "oriel/controller/controller.h"

#include "reconciler.h"
#include "ticker.h"

namespace oriel::controller {
namespace {

// The best free desktop for a logon: running first (no boot), then booting,
// then stopped, then one still being made or reset.
int logon_rank(const store::DesktopRecord& d) {
  auto state = parse_state(d.state).value_or(DesktopState::kFailed);
  if (state == DesktopState::kRunning && d.pending_op.empty()) return 0;
  if (state == DesktopState::kStarting) return 1;
  if (state == DesktopState::kStopped && d.pending_op.empty()) return 2;
  return 3;
}

bool usable(const store::DesktopRecord& d, const store::PoolRecord& p) {
  return d.desired != "deleted" && d.state != state_name(DesktopState::kFailed) &&
         d.state != state_name(DesktopState::kDeleting) && d.image_id == p.image_id && d.vcpus == p.vcpus &&
         d.memory_mb == p.memory_mb;
}

}  // namespace

Result<DisplayTicket> Controller::issue_ticket(const store::SessionRecord& session) {
  DisplayTicket t{random_.token(32), clock_.now() + options_.ticket_ttl};
  TRY(store_.insert_ticket({token_hash(t.ticket), session.id, session.desktop_id, t.expires_at, {}}));
  return t;
}

const std::string& Controller::username_of(const std::string& user_id, UsernameCache& known) {
  auto [it, fresh] = known.try_emplace(user_id);
  if (fresh) {
    if (auto user = store_.user_by_id(user_id); user.ok()) it->second = user->username;
  }
  return it->second;  // empty for a user deleted since
}

Result<SessionView> Controller::session_view(store::SessionRecord session, std::optional<DisplayTicket> ticket) {
  UsernameCache names;
  std::string name = username_of(session.user_id, names);
  return SessionView{std::move(session), std::move(name), std::move(ticket)};
}

Result<SessionView> Controller::logon(const Principal& who, std::string_view pool_id, std::string_view client_address) {
  // An entitlement implies the pool is in the caller's tenant (entitle()
  // checks it), so it is the whole visibility check here.
  auto entitled = TRY(store_.entitled_pool_ids(who.user_id));
  if (std::find(entitled.begin(), entitled.end(), pool_id) == entitled.end()) {
    if ((who.admin() || who.tenant_admin()) && visible_pool(who, pool_id).ok()) {
      return Error::PermissionDenied(fmt::format("you are not entitled to pool '{}'", pool_id));
    }
    return Error::NotFound("pool", pool_id);
  }
  DisplayTicket ticket{random_.token(32), clock_.now() + options_.ticket_ttl};
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto session = try_logon(who, pool_id, client_address, ticket);
    if (session.ok()) {
      auto& [record, created] = *session;
      if (!created) ticket = TRY(issue_ticket(record));  // a reconnect: the new one has not been stored
      reconciler_->poke();
      broker_loop_->poke();
      return SessionView{std::move(record), who.username, std::move(ticket), created};
    }
    // A conflict is a race with the reconciler's own write: decide again.
    if (session.error().code() != ErrorCode::kConflict) return session.take_error();
  }
  return Error::Unavailable(fmt::format("pool '{}' is too busy; try again", pool_id));
}

Result<std::pair<store::SessionRecord, bool>> Controller::try_logon(const Principal& who, std::string_view pool_id,
                                                                    std::string_view client_address,
                                                                    const DisplayTicket& ticket) {
  std::lock_guard pool_guard(pool_lock(pool_id));
  auto now = clock_.now();
  auto pool = TRY(store_.pool(pool_id));  // current under the lock: new desktops bump its counter
  if (pool.state != "active") return Error::Conflict(fmt::format("pool '{}' is being deleted", pool.id));
  // Back to the session the user already has in this pool.
  auto open = TRY(store_.sessions({.user_id = who.user_id, .pool_id = pool.id}));
  if (!open.empty()) {
    store::SessionRecord s = open.front();
    // Start-on-connect also on a reconnect: the user may have stopped it.
    if (auto d = store_.desktop(s.desktop_id); d.ok() && d->desired == "stopped") {
      std::lock_guard placement(placement_mu_);
      TRY(check_room_to_run(*d));
      d->desired = "running";
      d->updated_at = now;
      TRY(store_.update_desktop(*d));
    }
    return std::pair{s, false};
  }
  auto desktops = TRY(store_.desktops({.pool_id = pool.id}));
  const store::DesktopRecord* pick = nullptr;
  for (const auto& d : desktops) {
    if (pool.type == "persistent" && d.assigned_user == who.user_id && d.desired != "deleted") {
      pick = &d;
      break;
    }
  }
  if (!pick) {
    for (const auto& d : desktops) {
      if (!d.assigned_user.empty() || !usable(d, pool)) continue;
      if (!pick || logon_rank(d) < logon_rank(*pick)) pick = &d;
    }
  }
  store::DesktopRecord d;
  if (pick) {
    d = *pick;
  } else {
    int64_t count = std::count_if(desktops.begin(), desktops.end(), [](const auto& x) { return x.desired != "deleted"; });
    if (count >= pool.size) {
      return Error::Unavailable(
          fmt::format("pool '{}' is full: all {} of its desktops are in use", pool.name, pool.size));
    }
    std::lock_guard placement(placement_mu_);
    d = TRY(new_pool_desktop(pool, true));
  }
  // The capacity check and the write that spends it under one lock.
  std::unique_lock placement(placement_mu_, std::defer_lock);
  if (d.desired != "running") {
    placement.lock();
    TRY(check_room_to_run(d));
  }
  if (d.state == state_name(DesktopState::kFailed)) {
    d.state = std::string(state_name(DesktopState::kStopped));  // start-on-connect also clears a failure
    d.error.clear();
  }
  d.assigned_user = who.user_id;
  d.desired = "running";
  d.updated_at = now;
  store::SessionRecord s{new_id(random_, "s"), pool.id,       pool.tenant_id, who.user_id, d.id, "connecting",
                         std::string(client_address), now, now,           WallTime{}};
  TRY(store_.open_session(s, d, {token_hash(ticket.ticket), s.id, d.id, ticket.expires_at, {}}));
  spdlog::info("session {}: {} logged on to pool {} and got desktop {}", s.id, who.username, pool.id, d.id);
  return std::pair{s, true};
}

Result<std::vector<SessionView>> Controller::sessions(const Principal& who, store::SessionFilter filter) {
  if (who.tenant_admin()) {
    if (!filter.tenant_id.empty() && filter.tenant_id != who.tenant_id) return std::vector<SessionView>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    if (!filter.user_id.empty() && filter.user_id != who.user_id) return std::vector<SessionView>{};
    filter.user_id = who.user_id;
  }
  std::vector<SessionView> views;
  UsernameCache names;
  for (auto& s : TRY(store_.sessions(filter))) {
    std::string name = username_of(s.user_id, names);
    views.push_back({std::move(s), std::move(name)});
  }
  return views;
}

Result<SessionView> Controller::session(const Principal& who, std::string_view id) {
  return session_view(TRY(visible_session(who, id)));
}

Result<SessionView> Controller::new_ticket(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(who, session_id));
  if (s.user_id != who.user_id) return Error::PermissionDenied("only the session's user may connect to it");
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  auto ticket = TRY(issue_ticket(s));
  return session_view(std::move(s), std::move(ticket));
}

Result<SessionView> Controller::disconnect(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(who, session_id));
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  s.state = "disconnected";
  TRY(store_.update_session(s));
  session_ended(s.id, SessionEnd::kDisconnected);
  return session_view(std::move(s));
}

Result<SessionView> Controller::logoff(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(who, session_id));
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has already ended", s.id));
    auto now = clock_.now();
    auto d = store_.desktop(s.desktop_id);
    auto pool = store_.pool(s.pool_id);
    Result<void> ended = Ok();
    if (!d.ok() || !pool.ok()) {
      ended = store_.end_session(s.id, now, nullptr);
    } else if (pool->type == "pooled") {
      // Back to the pool, reset to its image; the pool decides whether it runs.
      d->assigned_user.clear();
      d->pending_op = "reset";
      d->updated_at = now;
      ended = store_.end_session(s.id, now, &*d);
    } else if (d->image_id != pool->image_id || d->vcpus != pool->vcpus || d->memory_mb != pool->memory_mb) {
      // The pool has a new definition: the user's desktop is rebuilt from it now.
      d->image_id = pool->image_id;
      d->vcpus = pool->vcpus;
      d->memory_mb = pool->memory_mb;
      d->pending_op = "reset";
      d->updated_at = now;
      ended = store_.end_session(s.id, now, &*d);
    } else {
      ended = store_.end_session(s.id, now, nullptr);
    }
    if (ended.ok()) {
      spdlog::info("session {} logged off by {}", s.id, who.username);
      session_ended(s.id, SessionEnd::kLoggedOff);
      reconciler_->poke();
      broker_loop_->poke();
      s.state = "ended";
      s.ended_at = now;
      return session_view(std::move(s));
    }
    if (ended.error().code() != ErrorCode::kConflict) return ended.take_error();
    s = TRY(store_.session(session_id));
  }
  return Error::Conflict(fmt::format("session '{}' is changing too fast; try again", session_id));
}

Result<TicketGrant> Controller::redeem_ticket(std::string_view ticket) {
  auto t = TRY(store_.redeem_ticket(token_hash(ticket), clock_.now()));
  auto s = TRY(store_.session(t.session_id));
  if (s.state == "ended") return Error::NotFound("ticket", "(invalid, expired or already used)");
  s.state = "connected";
  s.last_activity_at = clock_.now();
  TRY(store_.update_session(s));
  auto pool = store_.pool(s.pool_id);
  std::string clipboard = pool.ok() ? pool->clipboard : "none";
  auto desktop = TRY(store_.desktop(t.desktop_id));
  // From the store, not this controller's fleet: a controller that does not
  // lead may never have heard from the desktop's agent.
  auto host = store_.host(desktop.host_id);
  std::string address = host.ok() ? host->address : std::string();
  return TicketGrant{std::move(s), std::move(desktop), std::move(clipboard), std::move(address)};
}

Result<void> Controller::display_closed(std::string_view session_id) {
  auto s = TRY(store_.session(session_id));
  if (s.state != "connected") return Ok();
  s.state = "disconnected";
  return store_.update_session(s);
}

Result<void> Controller::session_activity(std::string_view session_id) {
  auto s = TRY(store_.session(session_id));
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  s.state = "connected";
  s.last_activity_at = clock_.now();
  return store_.update_session(s);
}

}  // namespace oriel::controller
