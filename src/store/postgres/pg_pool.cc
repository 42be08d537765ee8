#include "postgres/pg_pool.h"

#include <libpq-fe.h>

#include <map>

namespace oriel::store {
namespace {

// Used where the connection string says nothing. Without a connect timeout a
// connection to a host that vanished waits for the kernel's (minutes); the
// keepalives notice a server gone silent under an idle connection.
constexpr std::pair<const char*, const char*> kConninfoDefaults[] = {
    {"connect_timeout", "5"},      {"keepalives", "1"},       {"keepalives_idle", "30"},
    {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"client_encoding", "UTF8"},
    {"application_name", "oriel"},
};

// A conninfo value, quoted: single quotes, with \ and ' escaped.
std::string quote_conninfo_value(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// libpq's messages span lines ("...failed: Connection refused\n\tIs the
// server running..."): one line for the store's errors and logs.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    bool space = c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// SQLSTATEs (PostgreSQL manual, appendix A) that mean the connection is gone
// or the server is not serving: class 08, and shutdown, crash and startup.
bool connection_state(const std::string& state) {
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
}

bool connection_lost(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e)) return true;
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  return sql && connection_state(sql->sqlstate());
}

Error sql_state_error(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  std::string what = one_line(e.what());
  if (state.starts_with("23")) return Error::Conflict(fmt::format("constraint violated: {}", what));
  if (state.starts_with("40")) return Error::Conflict(fmt::format("concurrent change, try again: {}", what));
  // The audit log's triggers refuse with RAISE (P0001), as SQLite's refuse with a constraint error.
  if (state == "P0001") return Error::Conflict(what);
  if (connection_state(state) || state.starts_with("53")) {
    return Error::Unavailable(fmt::format("PostgreSQL unavailable: {}", what));
  }
  if (state == "57014") return Error::Timeout(fmt::format("PostgreSQL statement cancelled: {}", what));
  if (state.starts_with("22")) return Error::InvalidArgument(fmt::format("PostgreSQL refused the data: {}", what));
  return Error::Internal(fmt::format("PostgreSQL: {} (SQLSTATE {})", what, state));
}

}  // namespace

Result<std::string> normalize_conninfo(const std::string& conninfo) {
  char* message = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &message);
  if (parsed == nullptr) {
    std::string why = message ? one_line(message) : "out of memory";
    PQfreemem(message);
    return Error::InvalidArgument(fmt::format("bad PostgreSQL connection string: {}", why));
  }
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> owned(parsed, PQconninfoFree);
  std::map<std::string, std::string> options;
  for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) options.emplace(o->keyword, o->val);
  }
  for (const auto& [key, value] : kConninfoDefaults) options.emplace(key, value);
  std::string out;
  for (const auto& [key, value] : options) {
    if (!out.empty()) out += ' ';
    out += key + "=" + quote_conninfo_value(value);
  }
  return out;
}

Error pg_error(const std::exception& e) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return Error::Unavailable(fmt::format(
        "PostgreSQL connection lost while committing; the change may or may not be stored: {}", one_line(e.what())));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    return Error::Unavailable(fmt::format("PostgreSQL unavailable: {}", one_line(e.what())));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return sql_state_error(*sql);
  if (dynamic_cast<const std::invalid_argument*>(&e)) return Error::InvalidArgument(e.what());
  return Error::Internal(fmt::format("PostgreSQL client: {}", one_line(e.what())));
}

Result<std::unique_ptr<pqxx::connection>> PgPool::connect() const {
  try {
    return std::make_unique<pqxx::connection>(conninfo_);
  } catch (const std::exception& e) {
    return pg_error(e);
  }
}

Result<PgPool::Lease> PgPool::acquire() {
  {
    UniqueMutexLock lock(mu_);
    auto available = [&]() ORIEL_REQUIRES(mu_) { return !idle_.empty() || open_ < kMaxConnections; };
    if (!cv_.wait_for(lock, kAcquireTimeout, available)) {
      return Error::Unavailable(
          fmt::format("all {} PostgreSQL connections stayed busy for {} s", kMaxConnections, kAcquireTimeout.count()));
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), true);
    }
    ++open_;  // the slot is ours while we connect, outside the lock
  }
  auto conn = connect();
  if (!conn.ok()) {
    MutexLock lock(mu_);
    --open_;
    cv_.notify_one();
    return conn.take_error();
  }
  return Lease(this, std::move(conn).value(), false);
}

void PgPool::give_back(std::unique_ptr<pqxx::connection> conn, bool healthy) {
  {
    MutexLock lock(mu_);
    if (healthy) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
  conn.reset();  // a broken one is closed outside the lock
}

void PgPool::drop_idle() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    MutexLock lock(mu_);
    dropped.swap(idle_);
    open_ -= dropped.size();
  }
  cv_.notify_all();
}

Error PgPool::failed(Lease& lease, const std::exception& e, bool first_attempt, bool& again) {
  Error error = pg_error(e);
  if (connection_lost(e) || !lease.conn().is_open()) {
    // However libpqxx reported it, a call cut off from the server is Unavailable.
    if (error.code() != ErrorCode::kUnavailable) {
      error = Error::Unavailable(fmt::format("PostgreSQL connection lost: {}", error.message()));
    }
    lease.set_broken();
    drop_idle();
    // The server rolls back a transaction whose connection is gone, so unless
    // the commit itself was cut off (in doubt) nothing was stored and running
    // the call again cannot apply it twice.
    again = first_attempt && lease.reused() && !dynamic_cast<const pqxx::in_doubt_error*>(&e);
  }
  return error;
}

}  // namespace oriel::store
