// Two controllers on one PostgreSQL database (a real server, started here)
// with two namespaced hosts: one controller leads and runs the control loops,
// both serve the API (a migration asked of the follower is carried out); kill -9 of the leader hands over within
// seconds, and a PostgreSQL restart costs nothing but a moment. After each: no desktop lost, none restarted, new
// desktops still start.
#include <gtest/gtest.h>

#include "cluster.h"
#include "display_client.h"
#include "pg_test_server.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using test_support::PgTestServer;

TEST(ControllersTest, OneOfTwoControllersLeadsAndTheOtherTakesOverWhenItDiesOrPostgresRestarts) {
  auto pg = PgTestServer::start();
  ASSERT_TRUE(pg.ok()) << pg.error().message();
  auto db = (*pg)->create_database();
  ASSERT_TRUE(db.ok()) << db.error().message();
  TestCluster cluster(2, {"--database", (*pg)->conninfo(*db)}, 2);
  cluster.start();
  ASSERT_TRUE(wait_until([&] { return leads(cluster.controller(0)) != leads(cluster.controller(1)); }, 15s))
      << "exactly one controller leads";
  int leader = leads(cluster.controller(0)) ? 0 : 1, follower = 1 - leader;

  // The follower serves the API; the leader's loops run what it records.
  auto admin = cluster.controller(follower).admin();
  std::string image = import_test_guest(admin, "ha-guest");
  std::string first = running_desktop(admin, image, "ha-1");
  int started_on = cluster.host_running(first);
  ASSERT_GE(started_on, 0);
  // A live migration asked of the follower is carried out by the leader.
  Reply migrate = call(admin, "POST", "/api/v1/desktops/" + first + "/actions/migrate", Json::object());
  ASSERT_EQ(migrate.status, 202) << migrate.body;
  EXPECT_EQ(migrate.json["state"], "migrating");
  ASSERT_TRUE(wait_until(
      [&] {
        Json d = admin.get("/api/v1/desktops/" + first).value();
        return d["state"] == "running" && d["pending_action"].is_null();
      },
      90s));
  int first_host = cluster.host_running(first);
  ASSERT_GE(first_host, 0);
  EXPECT_NE(first_host, started_on) << admin.get("/api/v1/desktops/" + first).value().dump();
  pid_t first_qemu = cluster.qemu_pid(first_host, first);

  // A user's display through the follower's gateway reaches a remote host's desktop.
  LoggedOnUser user = cluster.log_on_new_user(follower, image, "ha", "pooled", 1);
  DisplayClient display(user.display_url, user.tls);
  EXPECT_TRUE(display.hello_and_frames(1)) << display.error();

  auto killed_at = Steady::now();
  cluster.controller(leader).kill9();
  ASSERT_TRUE(wait_until([&] { return leads(cluster.controller(follower)); }, 30s)) << "no new leader";
  auto failover = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - killed_at);
  std::fprintf(stderr, "leader killed -> the other controller leads: %.1f s\n", failover.count() / 1000.0);
  EXPECT_LE(failover, 10s);
  std::string second = running_desktop(admin, image, "ha-2");
  EXPECT_EQ(cluster.qemu_pid(first_host, first), first_qemu) << "the first desktop was restarted";

  // PostgreSQL restarts: every connection, the leader's lock with them, is cut.
  ASSERT_TRUE((*pg)->restart().ok());
  // Its lock went with its session, but it says it leads until its next
  // check (every second) finds that out; then it takes the lock again. It
  // leads on the new server once it has said so for longer than a check
  // without a gap (polled every 50 ms).
  auto led_since = Steady::now();
  ASSERT_TRUE(wait_until(
      [&] {
        if (!leads(cluster.controller(follower))) led_since = Steady::now();
        return Steady::now() - led_since >= 2500ms;
      },
      30s))
      << "no leader after the restart";
  std::string third = running_desktop(admin, image, "ha-3");
  EXPECT_EQ(cluster.qemu_pid(first_host, first), first_qemu) << "the first desktop was restarted";
  Json all = admin.get("/api/v1/desktops").value();
  ASSERT_EQ(all.size(), 4u);
  for (const auto& d : all) {
    EXPECT_EQ(d["state"], "running") << d.dump();
    int runs = 0;
    for (int h = 0; h < cluster.hosts(); ++h) runs += cluster.qemu_pid(h, d["id"]) > 0;
    EXPECT_EQ(runs, 1) << d["id"] << " runs on " << runs << " hosts";
  }

  // The old leader comes back as a follower.
  cluster.controller(leader).start();
  EXPECT_FALSE(leads(cluster.controller(leader)));
  EXPECT_TRUE(leads(cluster.controller(follower)));
}

}  // namespace
}  // namespace oriel::testing
