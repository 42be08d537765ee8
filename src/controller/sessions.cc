// Sessions: logon picks and assigns a desktop and issues a one-time display
// ticket; logoff gives a pooled desktop back reset to its image. Decisions
// are serialized per pool (and by the Placement lock where they spend capacity)
// and written with compare-and-swap, and the store's unique indexes refuse a
// second open session on one desktop: a desktop is never handed to two users.
#include "oriel/controller/sessions.h"

#include <set>

#include "access.h"
#include "auth.h"
#include "core.h"
#include "desktop_state.h"
#include "loops.h"
#include "oriel/common/log.h"
#include "oriel/common/metrics.h"

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

Result<DisplayTicket> Sessions::issue_ticket(const store::SessionRecord& session) {
  DisplayTicket t{core_.random.token(32), core_.clock.now() + core_.options.ticket_ttl};
  TRY(core_.store.insert_ticket({token_hash(t.ticket), session.id, session.desktop_id, t.expires_at, {}}));
  return t;
}

Result<SessionView> Sessions::view(store::SessionRecord session, std::optional<DisplayTicket> ticket) {
  std::string name = Usernames(core_.store).of(session.user_id);
  return SessionView{std::move(session), std::move(name), std::move(ticket)};
}

Result<SessionView> Sessions::logon(const Principal& who, std::string_view pool_id, std::string_view client_address) {
  static auto& seconds = metrics::histogram("oriel_logon_duration_seconds",
                                            "Logon: from the request to a desktop assigned and a ticket issued");
  static auto& logons = metrics::counter("oriel_logons_total", "Logons, by tenant and result");
  auto start = std::chrono::steady_clock::now();
  auto result = [&]() -> Result<SessionView> {
    // An entitlement implies the pool is in the caller's tenant (entitle()
    // checks it), so it is the whole visibility check here.
    auto entitled = TRY(core_.store.entitled_pool_ids(who.user_id));
    if (std::find(entitled.begin(), entitled.end(), pool_id) == entitled.end()) {
      if ((who.admin() || who.tenant_admin()) && visible_pool(core_.store, who, pool_id).ok()) {
        return Error::PermissionDenied(fmt::format("you are not entitled to pool '{}'", pool_id));
      }
      return Error::NotFound("pool", pool_id);
    }
    DisplayTicket ticket{core_.random.token(32), core_.clock.now() + core_.options.ticket_ttl};
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto session = try_logon(who, pool_id, client_address, ticket);
      if (session.ok()) {
        auto& [record, created] = *session;
        if (!created) ticket = TRY(issue_ticket(record));  // a reconnect: the new one has not been stored
        core_.poke_desktop(record.desktop_id);
        core_.poke_broker();
        return SessionView{std::move(record), who.username, std::move(ticket), created};
      }
      // A conflict is a race with the reconciler's own write: decide again.
      if (session.error().code() != ErrorCode::kConflict) return session.take_error();
    }
    return Error::Unavailable(fmt::format("pool '{}' is too busy; try again", pool_id));
  }();
  std::string outcome = result.ok() ? "ok" : std::string(error_code_name(result.error().code()));
  logons.Add({{"tenant", who.tenant_id}, {"result", outcome}}).Increment();
  if (result.ok()) {
    seconds.Add({{"tenant", who.tenant_id}}, metrics::seconds_buckets())
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return result;
}

Result<std::pair<store::SessionRecord, bool>> Sessions::try_logon(const Principal& who, std::string_view pool_id,
                                                                  std::string_view client_address,
                                                                  const DisplayTicket& ticket) {
  std::lock_guard pool_guard(core_.pool_locks.of(pool_id));
  auto now = core_.clock.now();
  auto pool = TRY(core_.store.pool(pool_id));  // current under the lock: new desktops bump its counter
  if (pool.state != "active") return Error::Conflict(fmt::format("pool '{}' is being deleted", pool.id));
  // Back to the session the user already has in this pool.
  auto open = TRY(core_.store.sessions({.user_id = who.user_id, .pool_id = pool.id}));
  if (!open.empty()) {
    store::SessionRecord s = open.front();
    // Start-on-connect also on a reconnect: the user may have stopped it.
    if (auto d = core_.store.desktop(s.desktop_id); d.ok() && d->desired == "stopped") {
      std::lock_guard placement(core_.placement.mutex());
      TRY(core_.placement.check_room_to_run(*d, &who));
      d->desired = "running";
      d->updated_at = now;
      TRY(core_.store.update_desktop(*d));
    }
    return std::pair{s, false};
  }
  store::DesktopRecord d = TRY(desktop_for(who, pool));
  // The capacity check and the write that spends it under one lock.
  std::unique_lock placement(core_.placement.mutex(), std::defer_lock);
  if (d.desired != "running") {
    placement.lock();
    TRY(core_.placement.check_room_to_run(d, &who));
  }
  if (d.state == state_name(DesktopState::kFailed)) {
    d.state = std::string(state_name(DesktopState::kStopped));  // start-on-connect also clears a failure
    d.error.clear();
  }
  d.assigned_user = who.user_id;
  d.desired = "running";
  d.updated_at = now;
  store::SessionRecord s{new_id(core_.random, "s"),
                         pool.id,
                         pool.tenant_id,
                         who.user_id,
                         d.id,
                         "connecting",
                         std::string(client_address),
                         now,
                         now,
                         WallTime{}};
  TRY(core_.store.open_session(s, d, {token_hash(ticket.ticket), s.id, d.id, ticket.expires_at, {}}));
  spdlog::info("session {}: {} logged on to pool {} and got desktop {}", s.id, who.username, pool.id, d.id);
  return std::pair{s, true};
}

// The desktop a new session gets: the user's own in a persistent pool, else
// the best free one, else a new one while the pool has room. Callers hold
// the pool's lock.
Result<store::DesktopRecord> Sessions::desktop_for(const Principal& who, store::PoolRecord& pool) {
  auto desktops = TRY(core_.store.desktops({.pool_id = pool.id}));
  const store::DesktopRecord* pick = nullptr;
  for (const auto& d : desktops) {
    if (pool.type == "persistent" && d.assigned_user == who.user_id && d.desired != "deleted") return d;
  }
  for (const auto& d : desktops) {
    if (!d.assigned_user.empty() || !usable(d, pool)) continue;
    if (!pick || logon_rank(d) < logon_rank(*pick)) pick = &d;
  }
  if (pick) return *pick;
  int64_t count = std::count_if(desktops.begin(), desktops.end(), [](const auto& x) { return x.desired != "deleted"; });
  if (count >= pool.size) {
    return Error::Unavailable(
        fmt::format("pool '{}' is full: all {} of its desktops are in use", pool.name, pool.size));
  }
  std::lock_guard placement(core_.placement.mutex());
  store::DesktopRecord d;
  d.tenant_id = pool.tenant_id;
  d.image_id = pool.image_id;
  d.vcpus = pool.vcpus;
  d.memory_mb = pool.memory_mb;
  d.desired = "running";
  return new_pool_desktop(core_, pool, true, TRY(core_.placement.place(d, &who)));
}

Result<std::vector<SessionView>> Sessions::list(const Principal& who, store::SessionFilter filter) {
  if (who.tenant_admin()) {
    if (!filter.tenant_id.empty() && filter.tenant_id != who.tenant_id) return std::vector<SessionView>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    if (!filter.user_id.empty() && filter.user_id != who.user_id) return std::vector<SessionView>{};
    filter.user_id = who.user_id;
  }
  std::vector<SessionView> views;
  Usernames names(core_.store);
  for (auto& s : TRY(core_.store.sessions(filter))) {
    std::string name = names.of(s.user_id);
    views.push_back({std::move(s), std::move(name)});
  }
  return views;
}

Result<SessionView> Sessions::get(const Principal& who, std::string_view id) {
  return view(TRY(visible_session(core_.store, who, id)));
}

Result<SessionView> Sessions::new_ticket(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(core_.store, who, session_id));
  if (s.user_id != who.user_id) return Error::PermissionDenied("only the session's user may connect to it");
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  auto ticket = TRY(issue_ticket(s));
  return view(std::move(s), std::move(ticket));
}

Result<SessionView> Sessions::disconnect(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(core_.store, who, session_id));
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  s.state = "disconnected";
  TRY(core_.store.update_session(s));
  core_.session_ended(s.id, SessionEnd::kDisconnected);
  return view(std::move(s));
}

Result<SessionView> Sessions::logoff(const Principal& who, std::string_view session_id) {
  auto s = TRY(visible_session(core_.store, who, session_id));
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has already ended", s.id));
    auto now = core_.clock.now();
    auto d = core_.store.desktop(s.desktop_id);
    auto pool = core_.store.pool(s.pool_id);
    Result<void> ended = Ok();
    if (!d.ok() || !pool.ok()) {
      ended = core_.store.end_session(s.id, now, nullptr);
    } else if (pool->type == "pooled") {
      // Back to the pool, reset to its image; the pool decides whether it runs.
      d->assigned_user.clear();
      d->pending_op = "reset";
      d->updated_at = now;
      ended = core_.store.end_session(s.id, now, &*d);
    } else if (d->image_id != pool->image_id || d->vcpus != pool->vcpus || d->memory_mb != pool->memory_mb) {
      // The pool has a new definition: the user's desktop is rebuilt from it now.
      d->image_id = pool->image_id;
      d->vcpus = pool->vcpus;
      d->memory_mb = pool->memory_mb;
      d->pending_op = "reset";
      d->updated_at = now;
      ended = core_.store.end_session(s.id, now, &*d);
    } else {
      ended = core_.store.end_session(s.id, now, nullptr);
    }
    if (ended.ok()) {
      spdlog::info("session {} logged off by {}", s.id, who.username);
      core_.session_ended(s.id, SessionEnd::kLoggedOff);
      core_.poke_desktops();
      core_.poke_broker();
      s.state = "ended";
      s.ended_at = now;
      return view(std::move(s));
    }
    if (ended.error().code() != ErrorCode::kConflict) return ended.take_error();
    s = TRY(core_.store.session(session_id));
  }
  return Error::Conflict(fmt::format("session '{}' is changing too fast; try again", session_id));
}

Result<TicketGrant> Sessions::redeem_ticket(std::string_view ticket) {
  auto t = TRY(core_.store.redeem_ticket(token_hash(ticket), core_.clock.now()));
  auto s = TRY(core_.store.session(t.session_id));
  if (s.state == "ended") return Error::NotFound("ticket", "(invalid, expired or already used)");
  s.state = "connected";
  s.last_activity_at = core_.clock.now();
  TRY(core_.store.update_session(s));
  auto pool = core_.store.pool(s.pool_id);
  std::string clipboard = pool.ok() ? pool->clipboard : "none";
  auto desktop = TRY(core_.store.desktop(t.desktop_id));
  // From the store, not this controller's fleet: a controller that does not
  // lead may never have heard from the desktop's agent.
  auto host = core_.store.host(desktop.host_id);
  std::string address = host.ok() ? host->address : std::string();
  return TicketGrant{std::move(s), std::move(desktop), std::move(clipboard), std::move(address)};
}

Result<void> Sessions::display_closed(std::string_view session_id) {
  auto s = TRY(core_.store.session(session_id));
  if (s.state != "connected") return Ok();
  s.state = "disconnected";
  return core_.store.update_session(s);
}

Result<void> Sessions::activity(std::string_view session_id) {
  auto s = TRY(core_.store.session(session_id));
  if (s.state == "ended") return Error::Conflict(fmt::format("session '{}' has ended", s.id));
  s.state = "connected";
  s.last_activity_at = core_.clock.now();
  return core_.store.update_session(s);
}

void expire_idle_sessions(Core& core, const std::vector<store::SessionRecord>& open_sessions,
                          const std::vector<store::DesktopRecord>& desktops,
                          const std::vector<store::PoolRecord>& pools) {
  auto now = core.clock.now();
  std::set<std::string_view> desktop_ids;
  for (const auto& d : desktops) desktop_ids.insert(d.id);
  std::map<std::string_view, int64_t> idle_timeout_s;
  for (const auto& p : pools) idle_timeout_s[p.id] = p.idle_timeout_s;
  for (auto s : open_sessions) {
    if (!desktop_ids.count(s.desktop_id)) {
      spdlog::info("session {}: its desktop {} is gone: session ended", s.id, s.desktop_id);
      (void)core.store.end_session(s.id, now, nullptr);
      continue;
    }
    auto timeout = idle_timeout_s.find(s.pool_id);
    if (s.state != "connected" || timeout == idle_timeout_s.end() || timeout->second <= 0) continue;
    if (now - s.last_activity_at >= std::chrono::seconds(timeout->second)) {
      spdlog::info("session {}: idle for {} s: disconnected", s.id, timeout->second);
      s.state = "disconnected";
      if (core.store.update_session(s).ok()) core.session_ended(s.id, SessionEnd::kIdle);
    }
  }
}

}  // namespace oriel::controller
