// What only a database server can get wrong, on a real PostgreSQL: the
// schema the shared migrations make, writers on separate connections racing
// for one row, and the server going away under the store (restart, outage,
// killed connections). store_test.cc and store_broker_test.cc run the rest
// of the contract on PostgreSQL too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <latch>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "oriel/common/files.h"
#include "oriel/net/pki.h"
#include "store_test_backends.h"

namespace oriel::store {
namespace {

using namespace std::chrono_literals;
using test_support::Backend;
using test_support::PgTestServer;
using test_support::TestDatabase;

ImageRecord image(std::string id) {
  ImageRecord i;
  i.id = std::move(id);
  i.name = "golden";
  i.state = "ready";
  i.source_path = "/tmp/x.vhd";
  i.requested_format = "auto";
  return i;
}

DesktopRecord desktop(const std::string& id) {
  DesktopRecord d;
  d.id = id;
  d.name = id;
  d.image_id = "i-1";
  d.pool_id = "p-1";
  d.tenant_id = "t-1";
  d.state = "stopped";
  d.desired = "stopped";
  return d;
}

std::vector<std::string> column(const test_support::Rows& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row.at(0));
  std::sort(out.begin(), out.end());
  return out;
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = PgTestServer::shared();
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = *server;
    auto db = TestDatabase::create(Backend::kPostgres);
    ASSERT_TRUE(db.ok()) << db.error().message();
    db_ = std::move(db).value();
    store_ = open();
    ASSERT_TRUE(store_);
    ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
    ASSERT_TRUE(store_->insert_desktop(desktop("d-1")).ok());
  }
  void TearDown() override {
    // A test that stopped the server and failed before starting it again
    // must not take the next tests down with it.
    if (server_ && !server_->running()) {
      EXPECT_TRUE(server_->start_again().ok());
    }
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<Store> open() {
    auto store = db_->open();
    EXPECT_TRUE(store.ok()) << store.error().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Waits until `n` connections to the test's database wait for a lock: the
  // statements under test have reached the server and are held there.
  void wait_for_lock_waiters(int n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto rows = db_->query(
          "SELECT count(*) FROM pg_stat_activity WHERE datname=current_database() AND wait_event_type='Lock'");
      ASSERT_TRUE(rows.ok()) << rows.error().message();
      if (std::stoi(rows->at(0).at(0)) >= n) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the statements never reached the lock";
      std::this_thread::sleep_for(5ms);
    }
  }

  // Runs each call on a store of its own (as two controllers would), all of
  // them held up by a transaction beside them that first runs `hold_sql`
  // (taking a lock) and lets go once every call waits: a real race on the
  // server, not one the scheduler may or may not produce.
  std::vector<Result<void>> race(const std::string& hold_sql, std::vector<std::function<Result<void>(Store&)>> calls) {
    std::vector<std::unique_ptr<Store>> stores;
    for (size_t i = 0; i < calls.size(); ++i) {
      stores.push_back(open());
      if (!stores.back()) return std::vector<Result<void>>(calls.size(), Error::Internal("no store"));
    }
    pqxx::connection conn(db_->location());
    pqxx::work hold(conn);
    hold.exec(hold_sql);
    std::vector<Result<void>> results(calls.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < calls.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = calls[i](*stores[i]); });
    }
    wait_for_lock_waiters(static_cast<int>(calls.size()));
    hold.commit();
    for (auto& t : threads) t.join();
    return results;
  }

  PgTestServer* server_ = nullptr;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_F(PostgresStoreTest, BothBackendsMigrateToTheSameSchema) {
  auto sqlite = TestDatabase::create(Backend::kSqlite).value();
  EXPECT_EQ(store_->schema_version(), sqlite->open().value()->schema_version());
  auto sqlite_columns =
      sqlite->query("SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p "
                    "WHERE m.type='table' AND m.name NOT LIKE 'sqlite_%'");
  auto pg_columns = db_->query("SELECT table_name || '.' || column_name FROM information_schema.columns "
                               "WHERE table_schema=current_schema() AND table_name<>'oriel_schema'");
  ASSERT_TRUE(sqlite_columns.ok() && pg_columns.ok());
  EXPECT_EQ(column(*pg_columns), column(*sqlite_columns));
  // The indexes the migrations name (not those behind keys and UNIQUE).
  auto sqlite_indexes = sqlite->query("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL");
  auto pg_indexes = db_->query("SELECT indexname FROM pg_indexes WHERE schemaname=current_schema() "
                               "AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'");
  ASSERT_TRUE(sqlite_indexes.ok() && pg_indexes.ok());
  EXPECT_EQ(column(*pg_indexes), column(*sqlite_indexes));
  EXPECT_GT(column(*pg_indexes).size(), 10u);
}

TEST_F(PostgresStoreTest, ControllersStartingTogetherMigrateOnce) {
  auto name = server_->create_database().value();
  std::latch go(4);
  std::vector<Result<int>> versions(4, Error::Internal("not run"));
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      auto store = open_postgres_store(server_->conninfo(name));
      versions[i] = store.ok() ? Result<int>((*store)->schema_version()) : Result<int>(store.take_error());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& v : versions) {
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_EQ(*v, store_->schema_version());
  }
  EXPECT_TRUE(server_->drop_database(name).ok());
}

TEST_F(PostgresStoreTest, ConcurrentCompareAndSwapHasExactlyOneWinner) {
  auto base = store_->desktop("d-1").value();
  auto update_to = [&](const std::string& desired) {
    return [base, desired](Store& s) -> Result<void> {
      auto d = base;
      d.desired = desired;
      auto r = s.update_desktop(d);
      if (!r.ok()) return r.take_error();
      return Ok();
    };
  };
  auto results = race("SELECT 1 FROM desktops WHERE id='d-1' FOR UPDATE", {update_to("running"), update_to("deleted")});
  int won = results[0].ok() + results[1].ok();
  ASSERT_EQ(won, 1);
  const auto& lost = results[0].ok() ? results[1] : results[0];
  EXPECT_EQ(lost.error().code(), ErrorCode::kConflict) << lost.error().message();
  auto now = store_->desktop("d-1").value();
  EXPECT_EQ(now.version, 1);
  EXPECT_EQ(now.desired, results[0].ok() ? "running" : "deleted");
}

TEST_F(PostgresStoreTest, ATicketRacedForIsRedeemedOnce) {
  ASSERT_TRUE(store_->insert_ticket({"tk", "s-1", "d-1", from_unix_ms(60'000), {}}).ok());
  auto redeem = [](Store& s) -> Result<void> {
    auto r = s.redeem_ticket("tk", from_unix_ms(1000));
    if (!r.ok()) return r.take_error();
    return Ok();
  };
  auto results = race("SELECT 1 FROM tickets WHERE ticket_hash='tk' FOR UPDATE", {redeem, redeem, redeem});
  int won = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++won;
    } else {
      EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
    }
  }
  EXPECT_EQ(won, 1);
}

TEST_F(PostgresStoreTest, AnOpenSessionNotYetCommittedElsewhereStillBlocksTheDesktop) {
  // Another controller's logon holds an uncommitted session on d-1: this
  // one's insert waits on the unique index, then fails, and writes nothing.
  auto d = store_->desktop("d-1").value();
  d.assigned_user = "u-1";
  SessionRecord s{"s-1", "p-1", "t-1", "u-1", "d-1", "connecting", "", from_unix_ms(0), from_unix_ms(0), {}};
  auto results =
      race("INSERT INTO sessions (id, pool_id, tenant_id, user_id, desktop_id, state, created_ms, last_activity_ms) "
           "VALUES ('s-other', 'p-1', 't-1', 'u-2', 'd-1', 'connecting', 0, 0)",
           {[&](Store& store) -> Result<void> {
             auto r = store.open_session(s, d, {"tk-1", "s-1", "d-1", from_unix_ms(60'000), {}});
             if (!r.ok()) return r.take_error();
             return Ok();
           }});
  ASSERT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktop("d-1")->version, 0);
  EXPECT_EQ(store_->desktop("d-1")->assigned_user, "");
  EXPECT_EQ(store_->session("s-1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->open_usage("session")->empty());
}

TEST_F(PostgresStoreTest, TheStoreReconnectsAfterTheServerRestarts) {
  // Several pooled connections, all of which die with the server.
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      for (int j = 0; j < 20; ++j) EXPECT_TRUE(store_->desktops({}).ok());
    });
  }
  for (auto& t : readers) t.join();
  ASSERT_TRUE(server_->restart().ok());
  // No caller sees the dead connections: the first call finds one, drops
  // them all and runs again on a new one.
  for (int i = 0; i < 5; ++i) {
    auto read = store_->image("i-1");
    ASSERT_TRUE(read.ok()) << read.error().message();
  }
  ASSERT_TRUE(store_->insert_image(image("i-2")).ok());
  EXPECT_EQ(store_->images()->size(), 2u);
}

TEST_F(PostgresStoreTest, CallsDuringAnOutageAreUnavailableAndTheStoreRecovers) {
  ASSERT_TRUE(server_->stop().ok());
  auto read = store_->image("i-1");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code(), ErrorCode::kUnavailable) << read.error().message();
  auto write = store_->insert_image(image("i-2"));
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().code(), ErrorCode::kUnavailable) << write.error().message();
  auto opened = open_postgres_store(db_->location());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(opened.error().message().find("password"), std::string::npos) << "no secret in errors";
  ASSERT_TRUE(server_->start_again().ok());
  EXPECT_EQ(store_->image("i-1")->name, "golden");
  EXPECT_TRUE(store_->insert_image(image("i-2")).ok());
}

TEST_F(PostgresStoreTest, ACallInFlightWhenTheServerStopsFailsCleanlyAndWritesNothing) {
  pqxx::connection conn(db_->location());
  pqxx::work hold(conn);
  hold.exec("SELECT 1 FROM desktops WHERE id='d-1' FOR UPDATE");
  // A store whose connection is newer than the holder's: a shutdown signals
  // the newest backends first, so the held-up call is told to die before
  // the holder's death could hand it the row.
  auto store = open();
  ASSERT_TRUE(store);
  auto d = store->desktop("d-1").value();
  d.desired = "running";
  std::optional<Result<DesktopRecord>> result;
  std::thread update([&] { result = store->update_desktop(d); });
  wait_for_lock_waiters(1);
  auto stopped = server_->stop();
  update.join();
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().code(), ErrorCode::kUnavailable) << result->error().message();
  ASSERT_TRUE(server_->start_again().ok());
  EXPECT_EQ(store->desktop("d-1")->version, 0);
  EXPECT_EQ(store->desktop("d-1")->desired, "stopped");
}

TEST_F(PostgresStoreTest, KilledConnectionsAreReplaced) {
  ASSERT_TRUE(store_->desktops({}).ok());
  auto killed = db_->query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                           "WHERE datname=current_database() AND pid<>pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.error().message();
  ASSERT_FALSE(killed->empty());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(store_->desktop("d-1").ok());
}

TEST_F(PostgresStoreTest, OneControllerLeadsAndAnotherTakesOverWhenItLetsGoOrLosesItsConnection) {
  auto other = open();
  ASSERT_TRUE(other);
  EXPECT_TRUE(store_->hold_leadership());
  EXPECT_TRUE(store_->hold_leadership()) << "still the leader on the next check";
  EXPECT_FALSE(other->hold_leadership());
  store_->release_leadership();
  EXPECT_TRUE(other->hold_leadership());
  EXPECT_FALSE(store_->hold_leadership());
  // The leader's sessions end (its machine lost the database): the lock goes
  // with them, the leader notices on its next check, and another takes over.
  auto killed = db_->query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                           "WHERE datname=current_database() AND pid<>pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.error().message();
  EXPECT_FALSE(other->hold_leadership());
  EXPECT_TRUE(store_->hold_leadership());
  EXPECT_FALSE(other->hold_leadership());
  // A server restart: whoever asks first afterwards leads.
  ASSERT_TRUE(server_->restart().ok());
  EXPECT_FALSE(store_->hold_leadership()) << "the old session is gone";
  EXPECT_TRUE(other->hold_leadership());
  EXPECT_FALSE(store_->hold_leadership());
}

TEST_F(PostgresStoreTest, ManyThreadsShareThePool) {
  constexpr int kThreads = 16, kEach = 25;  // twice the pool's connections
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        AuditEvent e{0, from_unix_ms(i), "t-1", fmt::format("u-{}", t), "", "login", "", "", 200, "ok", ""};
        EXPECT_TRUE(store_->append_audit(e).ok());
        EXPECT_TRUE(store_->desktop("d-1").ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto events = store_->audit_events({.limit = -1}).value();
  ASSERT_EQ(events.size(), size_t{kThreads * kEach});
  std::set<int64_t> seqs;
  for (const auto& e : events) seqs.insert(e.seq);
  EXPECT_EQ(seqs.size(), events.size());
}

TEST_F(PostgresStoreTest, AnUnreachableServerOrABadConnectionStringIsAnError) {
  // A bound socket that never listens: connections to it are refused.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto refused = open_postgres_store(fmt::format("postgresql://oriel@127.0.0.1:{}/oriel", ntohs(addr.sin_port)));
  ::close(fd);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable) << refused.error().message();
  EXPECT_EQ(open_postgres_store("host=127.0.0.1 no_such_option=1").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(open_postgres_store("postgresql://[::1").error().code(), ErrorCode::kInvalidArgument);
}

// sslmode=verify-full, as a controller beside a remote database runs: the
// store works over TLS, and a server it cannot verify (another CA, another
// name) is refused before any password is sent.
TEST_F(PostgresStoreTest, VerifyFullConnectsOverTlsAndRefusesAServerItCannotVerify) {
  auto schema = server_->create_schema();
  ASSERT_TRUE(schema.ok()) << schema.error().message();
  std::string conninfo = server_->tls_conninfo(PgTestServer::kDatabase, *schema);
  auto store = open_postgres_store(conninfo);
  ASSERT_TRUE(store.ok()) << store.error().message();
  ASSERT_TRUE((*store)->insert_image(image("i-1")).ok());
  ASSERT_TRUE((*store)->insert_desktop(desktop("d-tls")).ok());
  EXPECT_EQ((*store)->desktop("d-tls").value().name, "d-tls");

  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  auto row = tx.exec1("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  EXPECT_TRUE(row[0].as<bool>());
  EXPECT_TRUE(row[1].as<std::string>() == "TLSv1.3" || row[1].as<std::string>() == "TLSv1.2") << row[1].c_str();

  auto wrong_name = open_postgres_store(server_->tls_conninfo(PgTestServer::kDatabase, *schema, "db.example.org"));
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_EQ(wrong_name.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(wrong_name.error().message().find("does not match host name"), std::string::npos)
      << wrong_name.error().message();

  // Another CA: the one this test makes and never used for the server.
  auto other_ca = net::make_ca("another CA", std::chrono::system_clock::now(), std::chrono::hours(1));
  ASSERT_TRUE(other_ca.ok());
  auto other_file = std::filesystem::temp_directory_path() / fmt::format("oriel-other-ca-{}.pem", ::getpid());
  ASSERT_TRUE(write_private_file(other_file, other_ca->cert_pem).ok());
  std::string untrusted = conninfo;
  untrusted.replace(untrusted.find(server_->ca_file().string()), server_->ca_file().string().size(), other_file);
  auto wrong_ca = open_postgres_store(untrusted);
  std::filesystem::remove(other_file);
  ASSERT_FALSE(wrong_ca.ok());
  EXPECT_NE(wrong_ca.error().message().find("certificate verify failed"), std::string::npos)
      << wrong_ca.error().message();
  // The password is in the connection string; no error repeats it.
  std::string password = conninfo.substr(conninfo.find("password=") + 9);
  password = password.substr(0, password.find(' '));
  EXPECT_EQ(wrong_ca.error().message().find(password), std::string::npos);
  EXPECT_EQ(wrong_name.error().message().find(password), std::string::npos);
}

TEST_F(PostgresStoreTest, TextWithANulByteIsRefusedNotCut) {
  auto d = desktop("d-2");
  d.name = std::string("desk\0evil", 9);
  auto r = store_->insert_desktop(d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->desktop("d-2").error().code(), ErrorCode::kNotFound);
}

TEST_F(PostgresStoreTest, TheAuditLogRefusesTruncateToo) {
  ASSERT_TRUE(store_->append_audit({0, from_unix_ms(1), "", "", "", "login", "", "", 401, "unauthenticated", ""}).ok());
  EXPECT_FALSE(db_->exec("TRUNCATE audit").ok());
  EXPECT_FALSE(db_->exec("UPDATE audit SET detail='x'").ok());
  EXPECT_EQ(store_->audit_events({})->size(), 1u);
}

}  // namespace
}  // namespace oriel::store
